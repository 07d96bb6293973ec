//! From `codex` tool arguments to an engine [`Config`], layered over the server's own settings.

use std::path::PathBuf;

use codex_core::CodexErr;
use codex_core::Config;
use codex_core::ConfigOverride;
use codex_core::ConfigOverrides;
use codex_core::protocol::AskForApproval;
use codex_core::protocol::SandboxMode;
use codex_mcp_types::CodexToolCallApprovalPolicy;
use codex_mcp_types::CodexToolCallParam;
use codex_mcp_types::CodexToolCallSandboxMode;

/// Settings the server was started with; every session starts from them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerConfigLayer {
    pub(crate) codex_home: PathBuf,
    /// The `-c key=value` flags, in command-line order.
    pub(crate) overrides: Vec<ConfigOverride>,
    /// `--profile`, used when a call names none.
    pub(crate) profile: Option<String>,
}

impl ServerConfigLayer {
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
            approval_policy: params.approval_policy.map(approval_policy),
            sandbox_mode: params.sandbox.map(sandbox_mode),
            base_instructions: params.base_instructions.clone(),
            developer_instructions: params.developer_instructions.clone(),
            compact_prompt: params.compact_prompt.clone(),
            model_provider: None,
        };
        let codex_home = self.codex_home.clone();
        tokio::task::spawn_blocking(move || Config::load(&codex_home, &overrides, typed))
            .await
            .map_err(|err| CodexErr::Io(std::io::Error::other(err)))?
    }
}

fn approval_policy(policy: CodexToolCallApprovalPolicy) -> AskForApproval {
    match policy {
        CodexToolCallApprovalPolicy::Untrusted => AskForApproval::UnlessTrusted,
        CodexToolCallApprovalPolicy::OnFailure => AskForApproval::OnFailure,
        CodexToolCallApprovalPolicy::OnRequest => AskForApproval::OnRequest,
        CodexToolCallApprovalPolicy::Never => AskForApproval::Never,
    }
}

fn sandbox_mode(mode: CodexToolCallSandboxMode) -> SandboxMode {
    match mode {
        CodexToolCallSandboxMode::ReadOnly => SandboxMode::ReadOnly,
        CodexToolCallSandboxMode::WorkspaceWrite => SandboxMode::WorkspaceWrite,
        CodexToolCallSandboxMode::DangerFullAccess => SandboxMode::DangerFullAccess,
    }
}
