//! The settings API: `getUserSavedConfig` and `setDefaultModel`, which show and change the
//! user's saved config.toml. See docs/account-api.md.
//!
//! The engine reads and edits the file (`SavedConfig`, `config_edit`); this module maps its
//! types to the wire, in one place.

use codex_core::config::edit;
use codex_core::config::edit::ConfigEditError;
use codex_core::config::edit::ModelSelection;
use codex_core::config::saved::SavedConfig;
use codex_core::config::saved::SavedProfile as CoreProfile;
use codex_mcp_types::GetUserSavedConfigResponse;
use codex_mcp_types::SandboxSettings;
use codex_mcp_types::SavedProfile;
use codex_mcp_types::SetDefaultModelParams;
use codex_mcp_types::SetDefaultModelResponse;
use codex_mcp_types::SettingsRequest;
use codex_mcp_types::ToolSettings;
use codex_mcp_types::UserSavedConfig;

use crate::api::error::ApiError;
use crate::api::error::to_json;
use crate::codex_tool_config::ServerConfigLayer;

impl From<ConfigEditError> for ApiError {
    fn from(err: ConfigEditError) -> Self {
        match err {
            // The user's file is what must change, as with a config.toml that does not load.
            ConfigEditError::Parse { .. } | ConfigEditError::NotATable { .. } => {
                ApiError::InvalidRequest(err.to_string())
            }
            ConfigEditError::Io { .. } => ApiError::Internal(err.to_string()),
        }
    }
}

/// Answers a settings request. Both methods touch the disk, so they run on the blocking pool.
pub(crate) async fn dispatch(
    config: &ServerConfigLayer,
    request: SettingsRequest,
) -> Result<serde_json::Value, ApiError> {
    match request {
        SettingsRequest::GetUserSavedConfig(_) => {
            let codex_home = config.codex_home.clone();
            let saved = tokio::task::spawn_blocking(move || SavedConfig::load(&codex_home))
                .await
                .map_err(|err| ApiError::Internal(err.to_string()))??;
            to_json(GetUserSavedConfigResponse {
                config: user_saved_config(saved),
            })
        }
        SettingsRequest::SetDefaultModel(params) => {
            let selection = model_selection(params)?;
            let codex_home = config.codex_home.clone();
            let profile = edit::profile_from_flags(config.profile.as_deref(), &config.overrides);
            tokio::task::spawn_blocking(move || {
                edit::persist_model_selection(&codex_home, profile.as_deref(), &selection)
            })
            .await
            .map_err(|err| ApiError::Internal(err.to_string()))??;
            to_json(SetDefaultModelResponse {})
        }
    }
}

fn model_selection(params: SetDefaultModelParams) -> Result<ModelSelection, ApiError> {
    if params
        .model
        .as_deref()
        .is_some_and(|model| model.trim().is_empty())
    {
        return Err(ApiError::InvalidParams(
            "invalid params for setDefaultModel: `model` must not be empty; send null to remove it"
                .to_string(),
        ));
    }
    Ok(ModelSelection {
        model: params.model,
        effort: params.reasoning_effort,
    })
}

/// The engine's view of config.toml, in wire spelling.
fn user_saved_config(saved: SavedConfig) -> UserSavedConfig {
    UserSavedConfig {
        approval_policy: saved.approval_policy,
        sandbox_mode: saved.sandbox_mode,
        sandbox_settings: saved.sandbox_workspace_write.map(|s| SandboxSettings {
            writable_roots: s.writable_roots,
            network_access: s.network_access,
            exclude_tmpdir_env_var: s.exclude_tmpdir_env_var,
            exclude_slash_tmp: s.exclude_slash_tmp,
        }),
        model: saved.model,
        model_provider: saved.model_provider,
        model_reasoning_effort: saved.model_reasoning_effort,
        model_reasoning_summary: saved.model_reasoning_summary,
        model_verbosity: saved.model_verbosity,
        tools: saved.tools.map(|t| ToolSettings {
            web_search: t.web_search,
            view_image: t.view_image,
        }),
        profile: saved.profile,
        profiles: saved
            .profiles
            .into_iter()
            .map(|(name, profile)| (name, saved_profile(profile)))
            .collect(),
    }
}

fn saved_profile(profile: CoreProfile) -> SavedProfile {
    SavedProfile {
        model: profile.model,
        model_provider: profile.model_provider,
        approval_policy: profile.approval_policy,
        model_reasoning_effort: profile.model_reasoning_effort,
        model_reasoning_summary: profile.model_reasoning_summary,
        model_verbosity: profile.model_verbosity,
        chatgpt_base_url: profile.chatgpt_base_url,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use pretty_assertions::assert_eq;
    use rmcp::model::ErrorCode;

    use super::*;

    #[test]
    fn edit_errors_in_the_file_are_invalid_requests_and_io_errors_internal() {
        let code = |err: ConfigEditError| ApiError::from(err).into_mcp().code;
        assert_eq!(
            code(ConfigEditError::Parse {
                path: PathBuf::from("/h/config.toml"),
                message: "bad".into()
            }),
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(
            code(ConfigEditError::Io {
                path: PathBuf::from("/h/config.toml"),
                source: std::io::Error::other("disk full")
            }),
            ErrorCode::INTERNAL_ERROR
        );
    }

    #[test]
    fn an_empty_model_is_refused() {
        let err = model_selection(SetDefaultModelParams {
            model: Some(" ".into()),
            reasoning_effort: None,
        })
        .unwrap_err();
        assert_eq!(err.into_mcp().code, ErrorCode::INVALID_PARAMS);
    }
}
