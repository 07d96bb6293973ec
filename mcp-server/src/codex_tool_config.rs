//! From `codex` tool arguments to an engine [`Config`], layered over the server's own settings.

use std::path::PathBuf;

use codex_core::AuthSettings;
use codex_core::CodexErr;
use codex_core::Config;
use codex_core::ConfigOverride;
use codex_core::ConfigOverrides;
use codex_core::SavedSettings;
use codex_core::config::DEFAULT_LOGIN_CALLBACK_PORT;
use codex_core::config::DEFAULT_MAX_CONCURRENT_MODEL_REQUESTS;
use codex_mcp_types::CodexToolCallParam;
use codex_mcp_types::NewConversationParams;

use crate::mcp_settings::HttpSettings;
use crate::mcp_settings::McpSettings;
use crate::mcp_settings::StoreUrl;
use crate::thread_store::DEFAULT_LEASE_SECS;
use crate::thread_store::StoreSlot;

/// Settings the server was started with; every session starts from them.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfigLayer {
    pub(crate) codex_home: PathBuf,
    /// The `-c key=value` flags, in command-line order.
    pub(crate) overrides: Vec<ConfigOverride>,
    /// `--profile`, used when a call names none.
    pub(crate) profile: Option<String>,
    /// False with `--no-codex-events`; `codex_events = false` in config.toml also turns the
    /// notifications off.
    pub(crate) codex_events: bool,
    /// This binary, which sandboxes commands as `codex sandbox-exec`; `None` if its path
    /// could not be found, and then commands are not sandboxed.
    pub(crate) sandbox_exe: Option<PathBuf>,
    /// How long a running turn may go without reporting progress: always
    /// `turn_driver::HEARTBEAT_INTERVAL`, except in the in-process tests, which shorten it so
    /// that a test of the heartbeat takes milliseconds. Not a config.toml key: hosts have no
    /// reason to change it.
    pub(crate) heartbeat_interval: std::time::Duration,
    /// Where threads are shared with other replicas (`thread_store.rs`): set once at start,
    /// files until then.
    pub(crate) store: StoreSlot,
}

/// Settings that hold for the whole server, read once at start-up.
pub(crate) struct ServerSettings {
    pub(crate) auth: AuthSettings,
    pub(crate) login_callback_port: u16,
    pub(crate) max_concurrent_model_requests: usize,
    /// `[http]`, for `codex mcp --listen`.
    pub(crate) http: HttpSettings,
    /// `thread_store_url`: the PostgreSQL thread store, if any.
    pub(crate) thread_store_url: Option<StoreUrl>,
    pub(crate) thread_lease_secs: u64,
}

impl ServerConfigLayer {
    /// The server-wide settings (auth issuer, preferred auth method, login port). A config
    /// that does not load leaves the defaults in place: every call will report the error
    /// itself, and a broken config.toml must not keep the server from starting.
    pub(crate) async fn server_settings(&self) -> ServerSettings {
        match self.load_for_call(&CodexToolCallParam::default()).await {
            Ok(config) => ServerSettings {
                http: McpSettings::of(&config).http.clone(),
                thread_store_url: McpSettings::of(&config).thread_store_url.clone(),
                thread_lease_secs: McpSettings::of(&config)
                    .thread_lease_secs
                    .unwrap_or(DEFAULT_LEASE_SECS)
                    .max(1),
                auth: config.auth,
                login_callback_port: config.login_callback_port,
                max_concurrent_model_requests: config.max_concurrent_model_requests,
            },
            Err(err) => {
                tracing::warn!("config not loaded at start-up, using default auth settings: {err}");
                ServerSettings {
                    auth: AuthSettings::default(),
                    login_callback_port: DEFAULT_LOGIN_CALLBACK_PORT,
                    max_concurrent_model_requests: DEFAULT_MAX_CONCURRENT_MODEL_REQUESTS,
                    http: HttpSettings::default(),
                    thread_store_url: None,
                    thread_lease_secs: DEFAULT_LEASE_SECS,
                }
            }
        }
    }

    /// The config of a new conversation: config.toml, the server's `-c` flags, the call's
    /// `config` map, and the call's typed arguments, each layer above the one before.
    /// Reads files, so it runs on the blocking pool.
    pub(crate) async fn load_for_call(
        &self,
        params: &CodexToolCallParam,
    ) -> Result<Config, CodexErr> {
        let mut overrides = self.overrides.clone();
        for (key, value) in params.config.iter().flatten() {
            overrides.push(ConfigOverride::from_json(key, value)?);
        }
        let typed = ConfigOverrides {
            model: params.model.clone(),
            profile: params.profile.clone().or_else(|| self.profile.clone()),
            cwd: params.cwd.as_ref().map(PathBuf::from),
            approval_policy: params.approval_policy,
            sandbox_mode: params.sandbox,
            base_instructions: params.base_instructions.clone(),
            developer_instructions: params.developer_instructions.clone(),
            compact_prompt: params.compact_prompt.clone(),
            model_provider: None,
            codex_linux_sandbox_exe: self.sandbox_exe.clone(),
        };
        let codex_home = self.codex_home.clone();
        tokio::task::spawn_blocking(move || {
            Config::load_with_extension::<McpSettings>(&codex_home, &overrides, typed)
        })
        .await
        .map_err(|err| CodexErr::Io(std::io::Error::other(err)))?
    }

    /// The config of a conversation loaded from its rollout: what it last ran with, except
    /// where `overrides` says otherwise.
    pub(crate) async fn load_for_resume(
        &self,
        overrides: Option<CodexToolCallParam>,
        saved: SavedSettings,
    ) -> Result<Config, CodexErr> {
        let mut params = overrides.unwrap_or_default();
        let explicit_model = params.model.is_some();
        let explicit_sandbox = params.sandbox.is_some();
        // A directory that is gone would make the conversation unusable; it then runs in the
        // server's default directory instead.
        if params.cwd.is_none() && saved.cwd.is_dir() {
            params.cwd = Some(saved.cwd.display().to_string());
        }
        params.model = params.model.or(saved.model);
        params.base_instructions = params.base_instructions.or(saved.base_instructions);
        params.approval_policy = params.approval_policy.or(saved.approval_policy);
        let mut config = self.load_for_call(&params).await?;
        if !explicit_sandbox && let Some(policy) = saved.sandbox_policy {
            config.sandbox_policy = policy;
        }
        if !explicit_model {
            config.model_reasoning_effort = saved.effort.or(config.model_reasoning_effort);
            if let Some(summary) = saved.summary {
                config.model_reasoning_summary = summary;
            }
        }
        Ok(config)
    }
}

/// The `codex` tool's settings named by conversation API params, so both share one loader.
pub(crate) fn tool_params(params: NewConversationParams) -> CodexToolCallParam {
    CodexToolCallParam {
        prompt: String::new(),
        model: params.model,
        profile: params.profile,
        cwd: params.cwd,
        approval_policy: params.approval_policy,
        sandbox: params.sandbox,
        config: params.config,
        base_instructions: params.base_instructions,
        developer_instructions: params.developer_instructions,
        compact_prompt: params.compact_prompt,
        images: None,
    }
}
