//! Configuration: `$CODEX_HOME/config.toml`, profiles, `key=value` overrides and typed
//! overrides, resolved into one [`Config`] per conversation.
//!
//! Precedence, highest first: typed overrides (a tool call's `model`, `cwd`, ...), then the
//! `key=value` overrides in the order given (the server's `-c` flags first, a tool call's
//! `config` map after them, so the call wins), then the selected profile, then config.toml,
//! then built-in defaults.

pub mod edit;
pub mod mcp_servers;
pub mod model_family;
pub mod overrides;
pub(crate) mod project_doc;
pub mod providers;
pub mod saved;

use std::any::Any;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Value;

use crate::auth::AuthSettings;
use crate::auth::DEFAULT_AUTH_ISSUER;
use crate::auth::DEFAULT_CLIENT_ID;
use crate::config::mcp_servers::McpServerConfig;
use crate::config::model_family::FamilyOverrides;
use crate::config::model_family::ModelFamily;
use crate::config::overrides::ConfigOverride;
use crate::config::providers::ModelProviderInfo;
use crate::config::providers::OPENAI_PROVIDER_ID;
use crate::config::providers::built_in_model_providers;
use crate::error::CodexErr;
use crate::error::Result;
use crate::exec::env::ShellEnvironmentPolicy;
use crate::protocol::AskForApproval;
use crate::protocol::AuthMode;
use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::SandboxMode;
use crate::protocol::SandboxPolicy;

pub const CONFIG_TOML_FILE: &str = "config.toml";
const DEFAULT_MODEL: &str = "gpt-5.2-codex";
/// An hour: long enough for a host to come back to a conversation, short enough that a
/// server running for days does not keep every conversation it ever had.
const DEFAULT_CONVERSATION_IDLE_TIMEOUT_SECS: u64 = 3600;
const DEFAULT_CHATGPT_BASE_URL: &str = "https://chatgpt.com/backend-api/";
/// The port the issuer knows as our redirect target; other ports may be refused by it.
pub const DEFAULT_LOGIN_CALLBACK_PORT: u16 = 1455;
/// Well under the 1,024 file descriptors a process often gets: each open request holds a
/// connection.
pub const DEFAULT_MAX_CONCURRENT_MODEL_REQUESTS: usize = 256;
/// AGENTS.md files beyond this many bytes are cut, so a huge doc cannot fill the context.
const DEFAULT_PROJECT_DOC_MAX_BYTES: usize = 32 * 1024;

/// config.toml as written by the user. Unknown keys are ignored so that files written for
/// newer or older versions keep loading.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigToml {
    pub model: Option<String>,
    pub model_provider: Option<String>,
    #[serde(default)]
    pub model_providers: HashMap<String, ModelProviderInfo>,
    pub approval_policy: Option<AskForApproval>,
    pub sandbox_mode: Option<SandboxMode>,
    pub sandbox_workspace_write: Option<SandboxWorkspaceWrite>,
    pub profile: Option<String>,
    #[serde(default)]
    pub profiles: HashMap<String, Value>,
    pub model_reasoning_effort: Option<ReasoningEffort>,
    pub model_reasoning_summary: Option<ReasoningSummary>,
    pub developer_instructions: Option<String>,
    pub project_doc_max_bytes: Option<usize>,
    #[serde(default)]
    pub shell_environment_policy: ShellEnvironmentPolicy,
    /// Compact the conversation once a request's token usage reaches this many tokens.
    pub model_auto_compact_token_limit: Option<u64>,
    /// The keys that override the model family's facts.
    #[serde(flatten)]
    pub family: FamilyOverrides,
    /// `[tools]`: tools turned on or off whatever the model family says.
    #[serde(default)]
    pub tools: ToolsToml,
    /// Unload a conversation from memory after this many idle seconds (its rollout stays).
    pub conversation_idle_timeout_secs: Option<u64>,
    /// `chatgpt` (default) or `apikey`: which credentials win when auth.json holds both.
    pub preferred_auth_method: Option<AuthMode>,
    /// Where requests signed in with ChatGPT go when the provider has no `base_url`.
    pub chatgpt_base_url: Option<String>,
    /// The OAuth issuer for the ChatGPT login and token refresh.
    pub auth_issuer: Option<String>,
    /// The 127.0.0.1 port of the ChatGPT login's callback server; 0 lets the system choose.
    pub login_callback_port: Option<u16>,
    /// How many model requests the server has open at once; more wait for a free slot.
    pub max_concurrent_model_requests: Option<usize>,
    /// The MCP servers whose tools the agent gets (`[mcp_servers.<name>]`).
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, McpServerConfig>,
}

/// `[tools]`: the hosted `web_search` tool (off unless turned on; Responses API only) and
/// `view_image` (the model family decides unless set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ToolsToml {
    /// Older config files spell it `web_search_request`.
    #[serde(default, alias = "web_search_request")]
    pub web_search: Option<bool>,
    #[serde(default)]
    pub view_image: Option<bool>,
}

/// `[sandbox_workspace_write]`: what `workspace-write` may write besides the cwd.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SandboxWorkspaceWrite {
    #[serde(default)]
    pub writable_roots: Vec<PathBuf>,
    #[serde(default)]
    pub network_access: bool,
    #[serde(default)]
    pub exclude_tmpdir_env_var: bool,
    #[serde(default)]
    pub exclude_slash_tmp: bool,
}

/// Typed overrides: the highest-precedence layer (a tool call's named arguments).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigOverrides {
    pub model: Option<String>,
    pub model_provider: Option<String>,
    pub profile: Option<String>,
    pub cwd: Option<PathBuf>,
    pub approval_policy: Option<AskForApproval>,
    pub sandbox_mode: Option<SandboxMode>,
    pub base_instructions: Option<String>,
    pub developer_instructions: Option<String>,
    pub compact_prompt: Option<String>,
    /// The binary to run as `<exe> sandbox-exec` to sandbox commands (see
    /// [`Config::codex_linux_sandbox_exe`]).
    pub codex_linux_sandbox_exe: Option<PathBuf>,
}

/// The resolved settings of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub codex_home: PathBuf,
    pub model: String,
    pub model_provider_id: String,
    pub model_provider: ModelProviderInfo,
    pub approval_policy: AskForApproval,
    pub sandbox_policy: SandboxPolicy,
    /// Absolute working directory of the conversation.
    pub cwd: PathBuf,
    /// Replaces the built-in instructions when set.
    pub base_instructions: Option<String>,
    /// Sent as a developer message at the start of the conversation.
    pub developer_instructions: Option<String>,
    /// `$CODEX_HOME/AGENTS.md` and the project's AGENTS.md files, git root to cwd.
    pub user_instructions: Option<String>,
    pub compact_prompt: Option<String>,
    /// The program that confines commands: run as `<exe> sandbox-exec --policy ... -- argv`.
    /// The `codex` binary sets it to itself; without it commands cannot be sandboxed, and
    /// the approval policy asks (or refuses) instead. Not read from config.toml, so a call's
    /// `config` map cannot point it at another program.
    pub codex_linux_sandbox_exe: Option<PathBuf>,
    pub model_reasoning_effort: Option<ReasoningEffort>,
    pub model_reasoning_summary: ReasoningSummary,
    pub project_doc_max_bytes: usize,
    /// The profile that was applied, if any.
    pub profile: Option<String>,
    pub shell_environment_policy: ShellEnvironmentPolicy,
    pub model_auto_compact_token_limit: Option<u64>,
    /// What config.toml overrides of the model family's facts (see [`Config::model_family`]).
    pub family_overrides: FamilyOverrides,
    /// `[tools]`, as config.toml set it.
    pub tools: ToolsToml,
    /// How long a conversation may sit idle before it is unloaded from memory.
    pub conversation_idle_timeout: Duration,
    pub chatgpt_base_url: String,
    /// Server-wide: read once, when the server starts.
    pub auth: AuthSettings,
    /// Server-wide, like `auth`.
    pub login_callback_port: u16,
    /// Server-wide, like `auth`: at most this many model requests (their connections and
    /// streams) are open at once; turns beyond it wait for one to end.
    pub max_concurrent_model_requests: usize,
    /// The agent's MCP servers, by name; started with each conversation (see `crate::mcp`).
    pub mcp_servers: BTreeMap<String, McpServerConfig>,
    /// The embedding program's own settings (the MCP server's `[approvals]`, say), read from
    /// the same layers as the rest: see [`Config::load_with_extension`].
    pub extension: ConfigExtension,
}

/// Settings that belong to the program around the engine, not to the engine: typed by that
/// program, carried by each conversation's [`Config`] so that they follow the same layers
/// (config.toml, profile, `-c`, a call's `config` map) and stay with the conversation.
#[derive(Clone, Default)]
pub struct ConfigExtension(Option<Arc<dyn Any + Send + Sync>>);

impl ConfigExtension {
    /// The settings, if they were loaded as an `E`.
    pub fn get<E: Any>(&self) -> Option<&E> {
        self.0.as_deref()?.downcast_ref()
    }
}

impl std::fmt::Debug for ConfigExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ConfigExtension(..)"
        } else {
            "ConfigExtension(None)"
        })
    }
}

/// Two configs are alike whatever their extensions hold: the engine cannot look inside.
impl PartialEq for ConfigExtension {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Config {
    /// Loads config.toml from `codex_home` and resolves it with `overrides` (applied in order,
    /// later ones win) and the typed `typed` overrides on top. Reads files: call it off the
    /// async runtime's worker threads when latency matters.
    pub fn load(
        codex_home: &Path,
        overrides: &[ConfigOverride],
        typed: ConfigOverrides,
    ) -> Result<Self> {
        let file = read_config_file(codex_home)?;
        let layered = layer(file, overrides, typed.profile.as_deref())?;
        let profile = layered.profile.clone();
        let toml: ConfigToml = deserialize_config(layered.tree)?;
        Self::resolve(codex_home, toml, typed, profile)
    }

    /// What the model of this config expects of its harness: its family's facts with
    /// config.toml's overrides. Computed when asked, because a turn may change the model.
    pub fn model_family(&self) -> ModelFamily {
        ModelFamily::find(&self.model, &self.family_overrides)
    }

    /// The token count at which the conversation is compacted: config.toml's, else the
    /// family's.
    pub fn auto_compact_token_limit(&self) -> Option<u64> {
        self.model_auto_compact_token_limit
            .or(self.model_family().auto_compact_token_limit)
    }

    /// [`Config::load`], also reading the embedding program's settings `E` from the same
    /// layered tree (keys the engine ignores); they travel in [`Config::extension`].
    pub fn load_with_extension<E>(
        codex_home: &Path,
        overrides: &[ConfigOverride],
        typed: ConfigOverrides,
    ) -> Result<Self>
    where
        E: DeserializeOwned + Send + Sync + 'static,
    {
        let file = read_config_file(codex_home)?;
        let layered = layer(file, overrides, typed.profile.as_deref())?;
        let profile = layered.profile.clone();
        let extension: E = deserialize_config(layered.tree.clone())?;
        let toml: ConfigToml = deserialize_config(layered.tree)?;
        let mut config = Self::resolve(codex_home, toml, typed, profile)?;
        config.extension = ConfigExtension(Some(Arc::new(extension)));
        Ok(config)
    }

    fn resolve(
        codex_home: &Path,
        toml: ConfigToml,
        typed: ConfigOverrides,
        profile: Option<String>,
    ) -> Result<Self> {
        let mut providers = built_in_model_providers();
        providers.extend(toml.model_providers);
        let model_provider_id = typed
            .model_provider
            .or(toml.model_provider)
            .unwrap_or_else(|| OPENAI_PROVIDER_ID.to_string());
        let model_provider = providers
            .remove(&model_provider_id)
            .ok_or_else(|| CodexErr::ProviderNotFound(model_provider_id.clone()))?;

        let cwd = resolve_cwd(typed.cwd)?;
        mcp_servers::check_server_names(&toml.mcp_servers)?;
        let sandbox_mode = typed.sandbox_mode.or(toml.sandbox_mode).unwrap_or_default();
        let sandbox_policy = match sandbox_mode {
            SandboxMode::ReadOnly => SandboxPolicy::ReadOnly,
            SandboxMode::DangerFullAccess => SandboxPolicy::DangerFullAccess,
            SandboxMode::WorkspaceWrite => {
                let settings = toml.sandbox_workspace_write.unwrap_or_default();
                SandboxPolicy::WorkspaceWrite {
                    writable_roots: settings.writable_roots,
                    network_access: settings.network_access,
                    exclude_tmpdir_env_var: settings.exclude_tmpdir_env_var,
                    exclude_slash_tmp: settings.exclude_slash_tmp,
                }
            }
        };
        let project_doc_max_bytes = toml
            .project_doc_max_bytes
            .unwrap_or(DEFAULT_PROJECT_DOC_MAX_BYTES);
        let user_instructions =
            project_doc::user_instructions(codex_home, &cwd, project_doc_max_bytes);

        Ok(Self {
            codex_home: codex_home.to_path_buf(),
            model: typed
                .model
                .or(toml.model)
                .unwrap_or_else(|| DEFAULT_MODEL.to_string()),
            model_provider_id,
            model_provider,
            approval_policy: typed
                .approval_policy
                .or(toml.approval_policy)
                .unwrap_or_default(),
            sandbox_policy,
            cwd,
            base_instructions: typed.base_instructions,
            developer_instructions: typed.developer_instructions.or(toml.developer_instructions),
            user_instructions,
            compact_prompt: typed.compact_prompt,
            codex_linux_sandbox_exe: typed.codex_linux_sandbox_exe,
            model_reasoning_effort: toml.model_reasoning_effort,
            model_reasoning_summary: toml.model_reasoning_summary.unwrap_or_default(),
            project_doc_max_bytes,
            profile,
            shell_environment_policy: toml.shell_environment_policy,
            model_auto_compact_token_limit: toml.model_auto_compact_token_limit,
            family_overrides: toml.family,
            tools: toml.tools,
            conversation_idle_timeout: Duration::from_secs(
                toml.conversation_idle_timeout_secs
                    .unwrap_or(DEFAULT_CONVERSATION_IDLE_TIMEOUT_SECS),
            ),
            chatgpt_base_url: toml
                .chatgpt_base_url
                .unwrap_or_else(|| DEFAULT_CHATGPT_BASE_URL.to_string()),
            auth: AuthSettings {
                preferred_auth_method: toml.preferred_auth_method.unwrap_or_default(),
                issuer: toml
                    .auth_issuer
                    .unwrap_or_else(|| DEFAULT_AUTH_ISSUER.to_string()),
                client_id: DEFAULT_CLIENT_ID.to_string(),
            },
            login_callback_port: toml
                .login_callback_port
                .unwrap_or(DEFAULT_LOGIN_CALLBACK_PORT),
            max_concurrent_model_requests: toml
                .max_concurrent_model_requests
                .unwrap_or(DEFAULT_MAX_CONCURRENT_MODEL_REQUESTS)
                .max(1),
            mcp_servers: toml.mcp_servers,
            extension: ConfigExtension::default(),
        })
    }
}

/// `$CODEX_HOME` if set (it must exist), else `~/.codex` (which need not exist yet).
pub fn find_codex_home() -> Result<PathBuf> {
    if let Some(value) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return path
            .canonicalize()
            .map_err(|source| CodexErr::CodexHome { path, source });
    }
    let home = dirs::home_dir().ok_or_else(|| CodexErr::CodexHome {
        path: PathBuf::from("~/.codex"),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no home directory; set CODEX_HOME",
        ),
    })?;
    Ok(home.join(".codex"))
}

pub(crate) fn read_config_file(codex_home: &Path) -> Result<Value> {
    let path = codex_home.join(CONFIG_TOML_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Value::Table(toml::Table::new()));
        }
        Err(err) => {
            return Err(CodexErr::ConfigFile {
                path,
                message: err.to_string(),
            });
        }
    };
    text.parse::<toml::Table>()
        .map(Value::Table)
        .map_err(|err| CodexErr::ConfigFile {
            path,
            message: err.to_string(),
        })
}

struct Layered {
    tree: Value,
    profile: Option<String>,
}

/// Builds the effective TOML tree: the file, then the selected profile over it, then the
/// overrides over that (so `-c` beats a profile, as users expect of a command-line flag).
fn layer(
    file: Value,
    overrides: &[ConfigOverride],
    typed_profile: Option<&str>,
) -> Result<Layered> {
    let mut probe = file.clone();
    for o in overrides {
        o.apply(&mut probe);
    }
    let profile = match typed_profile {
        Some(name) => Some(name.to_string()),
        None => match probe.get("profile") {
            None => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(other) => {
                return Err(CodexErr::ConfigValue {
                    key: "profile".into(),
                    message: format!("expected a profile name, found {}", other.type_str()),
                });
            }
        },
    };
    let mut tree = file;
    if let Some(name) = &profile {
        let table = probe
            .get("profiles")
            .and_then(|profiles| profiles.get(name))
            .ok_or_else(|| CodexErr::ProfileNotFound(name.clone()))?;
        let Value::Table(table) = table else {
            return Err(CodexErr::ConfigValue {
                key: format!("profiles.{name}"),
                message: "expected a table".into(),
            });
        };
        merge_tables(&mut tree, table);
    }
    for o in overrides {
        o.apply(&mut tree);
    }
    Ok(Layered { tree, profile })
}

/// Deep-merges `overlay` into `base`: tables merge, everything else is replaced.
fn merge_tables(base: &mut Value, overlay: &toml::Table) {
    let Value::Table(base) = base else {
        return;
    };
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(existing @ Value::Table(_)), Value::Table(inner)) => {
                merge_tables(existing, inner)
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn deserialize_config<T: DeserializeOwned>(tree: Value) -> Result<T> {
    serde_path_to_error::deserialize(tree).map_err(|err| CodexErr::ConfigValue {
        key: err.path().to_string(),
        message: err.into_inner().message().to_string(),
    })
}

fn resolve_cwd(cwd: Option<PathBuf>) -> Result<PathBuf> {
    let process_cwd = std::env::current_dir()?;
    let cwd = match cwd {
        None => return Ok(process_cwd),
        Some(cwd) if cwd.is_absolute() => cwd,
        Some(cwd) => process_cwd.join(cwd),
    };
    if !cwd.is_dir() {
        return Err(CodexErr::ConfigValue {
            key: "cwd".into(),
            message: format!("`{}` is not an existing directory", cwd.display()),
        });
    }
    Ok(cwd)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;
    use crate::config::providers::WireApi;

    const FILE: &str = r#"
model = "file-model"
model_provider = "mock"
approval_policy = "untrusted"
sandbox_mode = "workspace-write"

[sandbox_workspace_write]
network_access = true

[model_providers.mock]
name = "Mock"
base_url = "http://127.0.0.1:1/v1"
wire_api = "responses"
env_key = "MOCK_KEY"

[profiles.fast]
model = "profile-model"
approval_policy = "never"
"#;

    fn home(text: &str) -> TempDir {
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join(CONFIG_TOML_FILE), text).unwrap();
        dir
    }

    fn load(dir: &TempDir, overrides: &[&str], typed: ConfigOverrides) -> Result<Config> {
        let overrides: Vec<ConfigOverride> = overrides
            .iter()
            .map(|raw| ConfigOverride::parse(raw).unwrap())
            .collect();
        Config::load(dir.path(), &overrides, typed)
    }

    #[test]
    fn missing_file_means_defaults() {
        let dir = TempDir::new().unwrap();
        let config = load(&dir, &[], ConfigOverrides::default()).unwrap();
        assert_eq!(config.model, DEFAULT_MODEL);
        assert_eq!(config.model_provider_id, "openai");
        assert_eq!(config.model_provider.wire_api, WireApi::Responses);
        assert_eq!(config.approval_policy, AskForApproval::OnRequest);
        assert_eq!(config.sandbox_policy, SandboxPolicy::ReadOnly);
        assert_eq!(config.project_doc_max_bytes, 32 * 1024);
    }

    #[test]
    fn file_values_are_read() {
        let dir = home(FILE);
        let config = load(&dir, &[], ConfigOverrides::default()).unwrap();
        assert_eq!(config.model, "file-model");
        assert_eq!(config.model_provider.name, "Mock");
        assert_eq!(config.model_provider.env_key.as_deref(), Some("MOCK_KEY"));
        assert_eq!(config.approval_policy, AskForApproval::UnlessTrusted);
        assert_eq!(
            config.sandbox_policy,
            SandboxPolicy::WorkspaceWrite {
                writable_roots: vec![],
                network_access: true,
                exclude_tmpdir_env_var: false,
                exclude_slash_tmp: false,
            }
        );
    }

    #[test]
    fn each_layer_beats_the_one_below() {
        let dir = home(FILE);
        let profile = ConfigOverrides {
            profile: Some("fast".into()),
            ..Default::default()
        };
        // profile beats file
        let config = load(&dir, &[], profile.clone()).unwrap();
        assert_eq!(config.model, "profile-model");
        assert_eq!(config.approval_policy, AskForApproval::Never);
        assert_eq!(config.profile.as_deref(), Some("fast"));
        // -c beats profile
        let config = load(&dir, &["model=server-model"], profile.clone()).unwrap();
        assert_eq!(config.model, "server-model");
        // a later override (the call's config map) beats an earlier one (-c)
        let config = load(&dir, &["model=server-model", "model=call-model"], profile).unwrap();
        assert_eq!(config.model, "call-model");
        // typed beats everything
        let config = load(
            &dir,
            &["model=server-model", "model=call-model"],
            ConfigOverrides {
                model: Some("typed-model".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(config.model, "typed-model");
    }

    #[test]
    fn profile_can_be_selected_by_override_or_file() {
        let dir = home(&format!("profile = \"fast\"\n{FILE}"));
        let config = load(&dir, &[], ConfigOverrides::default()).unwrap();
        assert_eq!(config.model, "profile-model");
        let dir = home(FILE);
        let config = load(&dir, &["profile=fast"], ConfigOverrides::default()).unwrap();
        assert_eq!(config.model, "profile-model");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let dir = home(FILE);
        let err = load(
            &dir,
            &[],
            ConfigOverrides {
                profile: Some("nope".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config profile `nope` not found in config.toml"
        );

        let err = load(
            &dir,
            &["approval_policy=sometimes"],
            ConfigOverrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid config value at `approval_policy`: unknown variant `sometimes`"
            ),
            "{err}"
        );

        let err = load(
            &dir,
            &["model_providers.mock.request_max_retries=many"],
            ConfigOverrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid config value at `model_providers.mock.request_max_retries`"),
            "{err}"
        );

        let err = load(
            &dir,
            &["model_provider=elsewhere"],
            ConfigOverrides::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "model provider `elsewhere` not found: define [model_providers.elsewhere] in config.toml"
        );

        let bad = home("model = ");
        let err = load(&bad, &[], ConfigOverrides::default()).unwrap_err();
        assert!(err.to_string().starts_with("cannot load "), "{err}");
        assert!(err.to_string().contains("config.toml"), "{err}");
    }

    #[test]
    fn relative_cwd_resolves_against_the_process_cwd_and_must_exist() {
        let dir = TempDir::new().unwrap();
        let config = load(
            &dir,
            &[],
            ConfigOverrides {
                cwd: Some(dir.path().to_path_buf()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(config.cwd, dir.path());
        let err = load(
            &dir,
            &[],
            ConfigOverrides {
                cwd: Some(dir.path().join("missing")),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid config value at `cwd`"),
            "{err}"
        );
    }
}
