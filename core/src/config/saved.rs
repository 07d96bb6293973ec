//! config.toml exactly as the user saved it, typed, for clients that show the user's settings.
//!
//! Unlike [`crate::Config`], nothing is layered here: no `-c` overrides, no profile merged in,
//! no defaults filled. A key that is absent from the file stays `None`, so a client can tell
//! "not set" from "set to the default". Keys this view does not cover are ignored, as in
//! [`crate::config::ConfigToml`].

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::CONFIG_TOML_FILE;
use crate::config::read_config_file;
use crate::error::CodexErr;
use crate::error::Result;
use crate::protocol::AskForApproval;
use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::SandboxMode;
use crate::protocol::Verbosity;

/// The settings a user keeps in `$CODEX_HOME/config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SavedConfig {
    pub approval_policy: Option<AskForApproval>,
    pub sandbox_mode: Option<SandboxMode>,
    pub sandbox_workspace_write: Option<SavedSandboxWorkspaceWrite>,
    pub model: Option<String>,
    pub model_provider: Option<String>,
    pub model_reasoning_effort: Option<ReasoningEffort>,
    pub model_reasoning_summary: Option<ReasoningSummary>,
    pub model_verbosity: Option<Verbosity>,
    pub tools: Option<SavedTools>,
    /// The profile config.toml selects for conversations that name none.
    pub profile: Option<String>,
    /// Sorted by name, so a client lists them the same way every time.
    #[serde(default)]
    pub profiles: BTreeMap<String, SavedProfile>,
}

/// `[sandbox_workspace_write]` as saved. The switches stay optional (the engine reads a
/// missing one as `false`) so that a client sees only what the user wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SavedSandboxWorkspaceWrite {
    #[serde(default)]
    pub writable_roots: Vec<PathBuf>,
    pub network_access: Option<bool>,
    pub exclude_tmpdir_env_var: Option<bool>,
    pub exclude_slash_tmp: Option<bool>,
}

/// `[tools]`: which optional tools the user turned on or off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SavedTools {
    /// Older config files spell it `web_search_request`.
    #[serde(alias = "web_search_request")]
    pub web_search: Option<bool>,
    pub view_image: Option<bool>,
}

/// One `[profiles.<name>]` table: the keys a profile may set that clients show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SavedProfile {
    pub model: Option<String>,
    pub model_provider: Option<String>,
    pub approval_policy: Option<AskForApproval>,
    pub model_reasoning_effort: Option<ReasoningEffort>,
    pub model_reasoning_summary: Option<ReasoningSummary>,
    pub model_verbosity: Option<Verbosity>,
    pub chatgpt_base_url: Option<String>,
}

impl SavedConfig {
    /// Reads `codex_home/config.toml`; a missing file is an empty config. A file that does
    /// not parse, or a covered key with a value of the wrong shape, is a
    /// [`CodexErr::ConfigFile`] naming the file and, for a bad value, the dotted key.
    pub fn load(codex_home: &Path) -> Result<Self> {
        let tree = read_config_file(codex_home)?;
        serde_path_to_error::deserialize(tree).map_err(|err| {
            let key = err.path().to_string();
            CodexErr::ConfigFile {
                path: codex_home.join(CONFIG_TOML_FILE),
                message: format!("invalid value at `{key}`: {}", err.into_inner().message()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    fn load(text: &str) -> Result<SavedConfig> {
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join(CONFIG_TOML_FILE), text).unwrap();
        SavedConfig::load(dir.path())
    }

    #[test]
    fn a_missing_file_is_an_empty_config() {
        let dir = TempDir::new().unwrap();
        assert_eq!(
            SavedConfig::load(dir.path()).unwrap(),
            SavedConfig::default()
        );
    }

    #[test]
    fn every_covered_key_is_read_as_saved() {
        let saved = load(
            r#"
model = "gpt-5.2-codex"
model_provider = "openai"
approval_policy = "on-request"
sandbox_mode = "workspace-write"
model_reasoning_effort = "high"
model_reasoning_summary = "detailed"
model_verbosity = "medium"
profile = "work"
something_else = [1, 2]

[sandbox_workspace_write]
writable_roots = ["/srv/shared"]
network_access = true

[tools]
web_search_request = true

[profiles.work]
model = "o3"
approval_policy = "never"
chatgpt_base_url = "https://example.invalid/api/"
"#,
        )
        .unwrap();
        assert_eq!(
            saved,
            SavedConfig {
                approval_policy: Some(AskForApproval::OnRequest),
                sandbox_mode: Some(SandboxMode::WorkspaceWrite),
                sandbox_workspace_write: Some(SavedSandboxWorkspaceWrite {
                    writable_roots: vec![PathBuf::from("/srv/shared")],
                    network_access: Some(true),
                    exclude_tmpdir_env_var: None,
                    exclude_slash_tmp: None,
                }),
                model: Some("gpt-5.2-codex".into()),
                model_provider: Some("openai".into()),
                model_reasoning_effort: Some(ReasoningEffort::High),
                model_reasoning_summary: Some(ReasoningSummary::Detailed),
                model_verbosity: Some(Verbosity::Medium),
                tools: Some(SavedTools {
                    web_search: Some(true),
                    view_image: None,
                }),
                profile: Some("work".into()),
                profiles: BTreeMap::from([(
                    "work".to_string(),
                    SavedProfile {
                        model: Some("o3".into()),
                        approval_policy: Some(AskForApproval::Never),
                        chatgpt_base_url: Some("https://example.invalid/api/".into()),
                        ..Default::default()
                    },
                )]),
            }
        );
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let err = load("model = ").unwrap_err().to_string();
        assert!(err.starts_with("cannot load "), "{err}");
        assert!(err.contains("config.toml"), "{err}");

        let err = load("[profiles.work]\nmodel_verbosity = \"loud\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.toml: invalid value at `profiles.work.model_verbosity`: unknown variant `loud`"), "{err}");
    }
}
