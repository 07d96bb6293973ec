//! The settings a conversation runs under (approval policy, sandbox, reasoning), as spelled in
//! config.toml, in events and in the MCP tools' arguments.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;

/// When the agent must ask before acting.
///
/// Also the `approval-policy` argument of the `codex` tool, whose schema lists the values as a
/// plain enum: hence `//` rather than `///` on the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AskForApproval {
    // Ask for every command that is not known to be safe and read-only.
    #[serde(rename = "untrusted")]
    UnlessTrusted,
    // Run in the sandbox; ask to run again without it when a command fails.
    OnFailure,
    // Run in the sandbox; ask when the model requests to leave it.
    #[default]
    OnRequest,
    // Never ask; failures go back to the model.
    Never,
}

impl AskForApproval {
    pub fn as_str(self) -> &'static str {
        match self {
            AskForApproval::UnlessTrusted => "untrusted",
            AskForApproval::OnFailure => "on-failure",
            AskForApproval::OnRequest => "on-request",
            AskForApproval::Never => "never",
        }
    }
}

/// What the agent's commands may touch, as named in config.toml and in the `sandbox` argument
/// of the `codex` tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    #[default]
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

impl SandboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::DangerFullAccess => "danger-full-access",
        }
    }
}

/// The resolved sandbox policy of a conversation.
///
/// Tagged by `type` in events and rollouts. `sendUserTurn` takes it tagged by `mode`, as the
/// reference server's older engine spelled it; `codex_mcp_types` adapts that one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SandboxPolicy {
    /// Commands may read anything and write nothing.
    ReadOnly,
    /// Commands may write the working directory, the temp dirs and `writable_roots`.
    WorkspaceWrite {
        /// Directories writable besides the working directory.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(extend("default" = []))]
        writable_roots: Vec<PathBuf>,
        /// Whether commands may use the network.
        #[serde(default)]
        network_access: bool,
        /// Keep `$TMPDIR` read-only.
        #[serde(default)]
        exclude_tmpdir_env_var: bool,
        /// Keep `/tmp` read-only.
        #[serde(default)]
        exclude_slash_tmp: bool,
    },
    /// No sandbox.
    DangerFullAccess,
}

impl SandboxPolicy {
    pub fn mode(&self) -> SandboxMode {
        match self {
            SandboxPolicy::ReadOnly => SandboxMode::ReadOnly,
            SandboxPolicy::WorkspaceWrite { .. } => SandboxMode::WorkspaceWrite,
            SandboxPolicy::DangerFullAccess => SandboxMode::DangerFullAccess,
        }
    }

    pub fn has_network_access(&self) -> bool {
        match self {
            SandboxPolicy::ReadOnly => false,
            SandboxPolicy::WorkspaceWrite { network_access, .. } => *network_access,
            SandboxPolicy::DangerFullAccess => true,
        }
    }
}

/// How hard the model thinks before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// No reasoning.
    None,
    /// Minimal reasoning.
    Minimal,
    /// Low effort.
    Low,
    /// Medium effort.
    Medium,
    /// High effort.
    High,
    /// Extra-high effort.
    Xhigh,
}

impl ReasoningEffort {
    /// The spelling in config.toml and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::Xhigh => "xhigh",
        }
    }
}

/// How much of its reasoning the model summarises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningSummary {
    /// The model decides.
    #[default]
    Auto,
    /// A short summary.
    Concise,
    /// A detailed summary.
    Detailed,
    /// No summary.
    None,
}

/// How long the model's answers are.
// (`model_verbosity`: only read from config.toml and reported to clients so far; no request
// carries it yet.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// Short answers.
    Low,
    /// The model's default.
    Medium,
    /// Long answers.
    High,
}

/// How the user is signed in, as stored in auth.json and reported by `getAuthStatus`.
///
/// The account API's schema lists the values as a plain enum: hence `//` on the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum AuthMode {
    // An OpenAI API key.
    #[serde(rename = "apikey")]
    ApiKey,
    // ChatGPT tokens from the browser login.
    #[default]
    #[serde(rename = "chatgpt")]
    ChatGpt,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::ApiKey => "apikey",
            AuthMode::ChatGpt => "chatgpt",
        }
    }
}
