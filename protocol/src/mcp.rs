//! The agent's own MCP servers (`[mcp_servers]` in config.toml) as the engine reports them: the
//! events of their start-up and of each tool call, and the state a client can list.
//!
//! Field and tag names follow the engine we replace (`mcp_startup_update`,
//! `mcp_tool_call_begin`, ...), so a host written for it reads them unchanged.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

/// Where one server is in its start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum McpStartupStatus {
    Starting,
    Ready,
    /// It did not start (or stopped since); its tools are not offered.
    Failed {
        error: String,
    },
}

/// One server's start-up moved on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpStartupUpdateEvent {
    pub server: String,
    pub status: McpStartupStatus,
}

/// One server that did not start, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpStartupFailure {
    pub server: String,
    pub error: String,
}

/// Every server has started or failed: the first model request goes out now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpStartupCompleteEvent {
    pub ready: Vec<String>,
    pub failed: Vec<McpStartupFailure>,
}

/// Which tool of which server a call names, with the model's arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpInvocation {
    pub server: String,
    /// The tool's name as its server knows it (the model sees `mcp__<server>__<tool>`).
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpToolCallBeginEvent {
    pub call_id: String,
    pub invocation: McpInvocation,
}

/// A server's report on a call in progress (`notifications/progress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpToolCallProgressEvent {
    pub call_id: String,
    pub invocation: McpInvocation,
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpToolCallEndEvent {
    pub call_id: String,
    pub invocation: McpInvocation,
    pub duration: Duration,
    /// `Ok`: the server's `CallToolResult` as it sent it (`content`, `structuredContent`,
    /// `isError`); `Err`: why there is none (not approved, timed out, the server is gone).
    pub result: Result<Value, String>,
}

/// How a server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum McpTransportKind {
    Stdio,
    StreamableHttp,
}

/// A configured server as a client lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServerSummary {
    pub name: String,
    pub transport: McpTransportKind,
    /// `disabled` (`enabled = false`) servers are listed but never started.
    #[serde(flatten)]
    pub status: McpServerState,
    /// The tools offered to the model (after `enabled_tools` / `disabled_tools`); empty unless
    /// `ready`.
    pub tools: Vec<McpToolSummary>,
}

/// Where a listed server is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum McpServerState {
    Disabled,
    Starting,
    Ready,
    Failed { error: String },
}

/// One tool of a server, as offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpToolSummary {
    /// The name the server knows it by.
    pub name: String,
    /// The name the model calls it by.
    pub model_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: Value,
    /// The server's `annotations` (`readOnlyHint`, `destructiveHint`, ...), when it gave any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}
