//! The server's own settings in config.toml: keys the engine does not read, loaded with the
//! rest of a conversation's config (same layers: file, profile, `-c`, a call's `config` map)
//! and carried in its [`Config::extension`], so they stay with the conversation.

use codex_core::Config;
use serde::Deserialize;

/// The MCP-only keys of config.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct McpSettings {
    #[serde(default)]
    pub(crate) approvals: ApprovalsConfig,
    /// `[http]`: the limits of `codex mcp --listen`.
    #[serde(default)]
    pub(crate) http: HttpSettings,
    /// Whether every engine event goes to the host as `codex/event` (default true); some
    /// hosts choke on notifications they do not know.
    codex_events: Option<bool>,
    /// Whether a tool result also names its thread in a second text block of `content`
    /// (default true): hosts that show their model only `content` (the Agents SDK by
    /// default) would otherwise never let it continue the thread.
    thread_id_in_content: Option<bool>,
    /// `postgres://…`: share threads, tasks and leases with other replicas in PostgreSQL
    /// (`docs/replicas.md`); absent, everything stays in this `CODEX_HOME`'s files.
    pub(crate) thread_store_url: Option<StoreUrl>,
    /// How long a thread's lease outlives its replica's last heartbeat (PostgreSQL store).
    pub(crate) thread_lease_secs: Option<u64>,
}

/// A store URL, which may hold a password: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct StoreUrl(pub(crate) String);

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreUrl(<redacted>)")
    }
}

impl McpSettings {
    /// The settings `config` was loaded with; the defaults for a config the server did not
    /// load itself.
    pub(crate) fn of(config: &Config) -> &McpSettings {
        static DEFAULTS: McpSettings = McpSettings {
            approvals: ApprovalsConfig {
                fallback: ApprovalFallback::Deny,
                timeout_secs: DEFAULT_APPROVAL_TIMEOUT_SECS,
            },
            http: HttpSettings::DEFAULT,
            codex_events: None,
            thread_id_in_content: None,
            thread_store_url: None,
            thread_lease_secs: None,
        };
        config.extension.get().unwrap_or(&DEFAULTS)
    }

    pub(crate) fn codex_events(&self) -> bool {
        self.codex_events.unwrap_or(true)
    }

    pub(crate) fn thread_id_in_content(&self) -> bool {
        self.thread_id_in_content.unwrap_or(true)
    }
}

const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 600;

/// `[http]`: the limits of `codex mcp --listen`, read once at start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct HttpSettings {
    /// `tools/call` requests one principal may have open at once; more get 429.
    pub(crate) max_concurrent_calls_per_principal: usize,
    /// The largest request body accepted; larger gets 413. As large as a stdio line may be.
    pub(crate) max_body_bytes: usize,
    /// A legacy session (`Mcp-Session-Id`) with no traffic for this long is closed.
    pub(crate) session_idle_secs: u64,
    /// After SIGTERM, how long running calls get to finish before their turns are
    /// interrupted.
    pub(crate) shutdown_grace_secs: u64,
}

impl HttpSettings {
    const DEFAULT: Self = Self {
        max_concurrent_calls_per_principal: 16,
        max_body_bytes: 16 * 1024 * 1024,
        session_idle_secs: 300,
        shutdown_grace_secs: 30,
    };
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `[approvals]`: what happens when an approval cannot be asked or is not answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ApprovalsConfig {
    /// Applied when the client cannot be asked (e.g. it does not support elicitation).
    #[serde(default)]
    pub(crate) fallback: ApprovalFallback,
    /// How long to wait for an answer before denying.
    #[serde(default = "default_approval_timeout_secs")]
    pub(crate) timeout_secs: u64,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            fallback: ApprovalFallback::default(),
            timeout_secs: default_approval_timeout_secs(),
        }
    }
}

fn default_approval_timeout_secs() -> u64 {
    DEFAULT_APPROVAL_TIMEOUT_SECS
}

/// The answer given for an approval that cannot be asked. Never an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ApprovalFallback {
    /// Deny the command; the model is told and the turn goes on.
    #[default]
    Deny,
    /// Deny and end the turn.
    Abort,
}

#[cfg(test)]
mod tests {
    use codex_core::ConfigOverride;
    use codex_core::ConfigOverrides;
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn the_server_keys_follow_the_config_layers() {
        let home = tempfile::TempDir::new().unwrap();
        std::fs::write(
            home.path().join("config.toml"),
            "codex_events = false\n[approvals]\nfallback = \"abort\"\n[profiles.slow.approvals]\ntimeout_secs = 5\n",
        )
        .unwrap();
        let overrides = [ConfigOverride::parse("thread_id_in_content=false").unwrap()];
        let typed = ConfigOverrides {
            profile: Some("slow".into()),
            ..Default::default()
        };
        let config =
            Config::load_with_extension::<McpSettings>(home.path(), &overrides, typed).unwrap();
        let settings = McpSettings::of(&config);
        assert_eq!(
            settings.approvals,
            ApprovalsConfig {
                fallback: ApprovalFallback::Abort,
                timeout_secs: 5
            }
        );
        assert!(!settings.codex_events());
        assert!(!settings.thread_id_in_content());
    }

    #[test]
    fn a_config_loaded_elsewhere_gets_the_defaults() {
        let home = tempfile::TempDir::new().unwrap();
        let config = Config::load(home.path(), &[], ConfigOverrides::default()).unwrap();
        let settings = McpSettings::of(&config);
        assert_eq!(settings.approvals, ApprovalsConfig::default());
        assert!(settings.codex_events());
        assert!(settings.thread_id_in_content());
    }

    #[test]
    fn a_bad_server_key_fails_the_load_and_names_the_key() {
        let home = tempfile::TempDir::new().unwrap();
        std::fs::write(
            home.path().join("config.toml"),
            "[approvals]\ntimeout_secs = \"soon\"\n",
        )
        .unwrap();
        let err = Config::load_with_extension::<McpSettings>(
            home.path(),
            &[],
            ConfigOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("approvals.timeout_secs"), "{err}");
    }
}
