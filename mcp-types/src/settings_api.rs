//! The settings API: JSON-RPC methods that show and change the user's saved settings in
//! `$CODEX_HOME/config.toml` (`getUserSavedConfig`, `setDefaultModel`).
//!
//! Method names and field spellings are those of the reference `codex mcp-server`'s extension
//! API, so hosts written against it keep working. Enum values are spelled as in config.toml
//! (`on-request`, `workspace-write`, `high`). Only the wire lives here; the server reads and
//! edits the file through the engine.

use std::collections::BTreeMap;
use std::path::PathBuf;

use codex_protocol::AskForApproval;
use codex_protocol::ReasoningEffort;
use codex_protocol::ReasoningSummary;
use codex_protocol::SandboxMode;
use codex_protocol::Verbosity;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use crate::params::ConversationParamsError;
use crate::params::decode;

/// Returns the settings saved in config.toml.
pub const GET_USER_SAVED_CONFIG: &str = "getUserSavedConfig";
/// Saves the model (and reasoning effort) new conversations use.
pub const SET_DEFAULT_MODEL: &str = "setDefaultModel";

/// Params of `getUserSavedConfig`: none; any object (or no params) is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GetUserSavedConfigParams {}

/// Result of `getUserSavedConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GetUserSavedConfigResponse {
    /// The settings as saved in the file, without the server's `-c` flags.
    pub config: UserSavedConfig,
}

/// The user's saved settings. A field is present only when config.toml sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSavedConfig {
    /// `approval_policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,
    /// `sandbox_mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_mode: Option<SandboxMode>,
    /// `[sandbox_workspace_write]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_settings: Option<SandboxSettings>,
    /// `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `model_provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    /// `model_reasoning_effort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_reasoning_effort: Option<ReasoningEffort>,
    /// `model_reasoning_summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_reasoning_summary: Option<ReasoningSummary>,
    /// `model_verbosity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_verbosity: Option<Verbosity>,
    /// `[tools]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolSettings>,
    /// `profile`: the profile used when a conversation names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `[profiles.<name>]`, by name; always present, empty when there are none.
    #[serde(default)]
    pub profiles: BTreeMap<String, SavedProfile>,
}

/// `[sandbox_workspace_write]`: what `workspace-write` may touch besides the working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxSettings {
    /// Directories writable besides the working directory; empty when not set.
    #[serde(default)]
    pub writable_roots: Vec<PathBuf>,
    /// Whether commands may use the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_access: Option<bool>,
    /// Keep `$TMPDIR` read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_tmpdir_env_var: Option<bool>,
    /// Keep `/tmp` read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_slash_tmp: Option<bool>,
}

/// `[tools]`: optional tools turned on or off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolSettings {
    /// `web_search` (or its older name `web_search_request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search: Option<bool>,
    /// `view_image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_image: Option<bool>,
}

/// One `[profiles.<name>]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedProfile {
    /// `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `model_provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    /// `approval_policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,
    /// `model_reasoning_effort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_reasoning_effort: Option<ReasoningEffort>,
    /// `model_reasoning_summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_reasoning_summary: Option<ReasoningSummary>,
    /// `model_verbosity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_verbosity: Option<Verbosity>,
    /// `chatgpt_base_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatgpt_base_url: Option<String>,
}

/// Params of `setDefaultModel`. An absent or `null` field removes its key from config.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetDefaultModelParams {
    /// Saved as `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Saved as `model_reasoning_effort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// Result of `setDefaultModel`: `{}`, once the file is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetDefaultModelResponse {}

/// A settings API request, its params decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsRequest {
    /// `getUserSavedConfig`.
    GetUserSavedConfig(GetUserSavedConfigParams),
    /// `setDefaultModel`.
    SetDefaultModel(SetDefaultModelParams),
}

impl SettingsRequest {
    /// Decodes a request of this API; `Ok(None)` for a method that is not one of ours. Absent
    /// (or `null`) params count as `{}`.
    pub fn parse(
        method: &str,
        params: Option<Value>,
    ) -> Result<Option<SettingsRequest>, ConversationParamsError> {
        let params = match params {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(params) => params,
        };
        let request = match method {
            GET_USER_SAVED_CONFIG => {
                Self::GetUserSavedConfig(decode(GET_USER_SAVED_CONFIG, params)?)
            }
            SET_DEFAULT_MODEL => Self::SetDefaultModel(decode(SET_DEFAULT_MODEL, params)?),
            _ => return Ok(None),
        };
        Ok(Some(request))
    }

    /// The JSON-RPC method this request came as.
    pub fn method(&self) -> &'static str {
        match self {
            Self::GetUserSavedConfig(_) => GET_USER_SAVED_CONFIG,
            Self::SetDefaultModel(_) => SET_DEFAULT_MODEL,
        }
    }
}

#[cfg(test)]
mod tests {

    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;
    use crate::params::INVALID_PARAMS;
    use crate::params::assert_wire;

    #[test]
    fn a_full_saved_config_is_camel_case_with_config_toml_values() {
        assert_wire(
            &GetUserSavedConfigResponse {
                config: UserSavedConfig {
                    approval_policy: Some(AskForApproval::OnRequest),
                    sandbox_mode: Some(SandboxMode::WorkspaceWrite),
                    sandbox_settings: Some(SandboxSettings {
                        writable_roots: vec![PathBuf::from("/srv")],
                        network_access: Some(true),
                        exclude_tmpdir_env_var: Some(false),
                        exclude_slash_tmp: None,
                    }),
                    model: Some("gpt-5.2-codex".into()),
                    model_provider: Some("openai".into()),
                    model_reasoning_effort: Some(ReasoningEffort::High),
                    model_reasoning_summary: Some(ReasoningSummary::Detailed),
                    model_verbosity: Some(Verbosity::Medium),
                    tools: Some(ToolSettings {
                        web_search: Some(false),
                        view_image: Some(true),
                    }),
                    profile: Some("work".into()),
                    profiles: BTreeMap::from([(
                        "work".to_string(),
                        SavedProfile {
                            model: Some("o3".into()),
                            model_provider: Some("openai".into()),
                            approval_policy: Some(AskForApproval::UnlessTrusted),
                            model_reasoning_effort: Some(ReasoningEffort::Xhigh),
                            model_reasoning_summary: Some(ReasoningSummary::None),
                            model_verbosity: Some(Verbosity::Low),
                            chatgpt_base_url: Some("https://example.invalid/".into()),
                        },
                    )]),
                },
            },
            json!({"config": {
                "approvalPolicy": "on-request",
                "sandboxMode": "workspace-write",
                "sandboxSettings": {
                    "writableRoots": ["/srv"],
                    "networkAccess": true,
                    "excludeTmpdirEnvVar": false
                },
                "model": "gpt-5.2-codex",
                "modelProvider": "openai",
                "modelReasoningEffort": "high",
                "modelReasoningSummary": "detailed",
                "modelVerbosity": "medium",
                "tools": {"webSearch": false, "viewImage": true},
                "profile": "work",
                "profiles": {"work": {
                    "model": "o3",
                    "modelProvider": "openai",
                    "approvalPolicy": "untrusted",
                    "modelReasoningEffort": "xhigh",
                    "modelReasoningSummary": "none",
                    "modelVerbosity": "low",
                    "chatgptBaseUrl": "https://example.invalid/"
                }}
            }}),
        );
    }

    #[test]
    fn an_empty_saved_config_has_only_profiles() {
        assert_wire(
            &GetUserSavedConfigResponse::default(),
            json!({"config": {"profiles": {}}}),
        );
        assert_wire(&SetDefaultModelResponse {}, json!({}));
    }

    #[test]
    fn parse_reads_both_methods_and_names_a_bad_field() {
        assert_eq!(
            SettingsRequest::parse(GET_USER_SAVED_CONFIG, None),
            Ok(Some(SettingsRequest::GetUserSavedConfig(
                GetUserSavedConfigParams {}
            )))
        );
        let set = SettingsRequest::parse(
            SET_DEFAULT_MODEL,
            Some(json!({"model": "gpt-5.2", "reasoningEffort": null})),
        )
        .unwrap();
        assert_eq!(
            set,
            Some(SettingsRequest::SetDefaultModel(SetDefaultModelParams {
                model: Some("gpt-5.2".into()),
                reasoning_effort: None,
            }))
        );
        assert_eq!(set.map(|r| r.method()), Some(SET_DEFAULT_MODEL));
        assert_eq!(SettingsRequest::parse("getAuthStatus", None), Ok(None));

        let err = SettingsRequest::parse(
            SET_DEFAULT_MODEL,
            Some(json!({"reasoningEffort": "extreme"})),
        )
        .unwrap_err();
        assert_eq!(err.code(), INVALID_PARAMS);
        assert_eq!(err.path.as_deref(), Some("reasoningEffort"));
        let message = err.to_string();
        assert!(
            message.starts_with(
                "invalid params for setDefaultModel: `reasoningEffort`: unknown variant `extreme`"
            ),
            "{message}"
        );
    }
}
