//! What the engine reports: an [`Event`] per thing that happens, with the id of the submission
//! that caused it.
//!
//! Wire names (snake_case `type` tags, field names) follow the engine the MCP server we
//! replace was built on, because hosts read these events verbatim from `codex/event`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;

use crate::config_types::AskForApproval;
use crate::config_types::ReasoningEffort;
use crate::config_types::SandboxPolicy;
use crate::ids::ConversationId;
use crate::mcp::McpStartupCompleteEvent;
use crate::mcp::McpStartupUpdateEvent;
use crate::mcp::McpToolCallBeginEvent;
use crate::mcp::McpToolCallEndEvent;
use crate::mcp::McpToolCallProgressEvent;
use crate::parsed_command::ParsedCommand;
use crate::plan::UpdatePlanArgs;

/// Something the engine reports. `id` is the id of the submission that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub id: String,
    pub msg: EventMsg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventMsg {
    /// The turn failed; the conversation stays usable. This ends the turn.
    Error(ErrorEvent),
    /// A transient failure that the engine is retrying.
    StreamError(StreamErrorEvent),
    TaskStarted(TaskStartedEvent),
    TaskComplete(TaskCompleteEvent),
    TokenCount(TokenCountEvent),
    AgentMessage(AgentMessageEvent),
    UserMessage(UserMessageEvent),
    AgentMessageDelta(AgentMessageDeltaEvent),
    AgentReasoning(AgentReasoningEvent),
    AgentReasoningDelta(AgentReasoningDeltaEvent),
    SessionConfigured(SessionConfiguredEvent),
    TurnAborted(TurnAbortedEvent),
    ShutdownComplete,
    /// The engine waits for an `Op::ExecApproval` with this `call_id`.
    ExecApprovalRequest(ExecApprovalRequestEvent),
    ExecCommandBegin(ExecCommandBeginEvent),
    ExecCommandOutputDelta(ExecCommandOutputDeltaEvent),
    ExecCommandEnd(ExecCommandEndEvent),
    /// Something worth showing that is not part of the model's output.
    BackgroundEvent(BackgroundEventEvent),
    /// The model's current plan (from the `update_plan` tool).
    PlanUpdate(UpdatePlanArgs),
    /// The engine waits for an `Op::PatchApproval` with this `call_id`.
    ApplyPatchApprovalRequest(ApplyPatchApprovalRequestEvent),
    PatchApplyBegin(PatchApplyBeginEvent),
    PatchApplyEnd(PatchApplyEndEvent),
    /// Every file change the turn made by patch, as one unified diff; sent once per turn.
    TurnDiff(TurnDiffEvent),
    /// The provider started a web search for the model.
    WebSearchBegin(WebSearchBeginEvent),
    /// A web search ended; `query` is what was searched for.
    WebSearchEnd(WebSearchEndEvent),
    /// The model asks the user questions; the engine waits for an `Op::UserInputAnswer` with
    /// this `call_id`.
    RequestUserInput(RequestUserInputEvent),
    /// One of the agent's MCP servers (`[mcp_servers]`) started, failed or is starting.
    McpStartupUpdate(McpStartupUpdateEvent),
    /// Every MCP server has started or failed; sent once, before the first model request.
    McpStartupComplete(McpStartupCompleteEvent),
    McpToolCallBegin(McpToolCallBeginEvent),
    McpToolCallProgress(McpToolCallProgressEvent),
    McpToolCallEnd(McpToolCallEndEvent),
}

/// What a patch does to one file, as shown to approval prompts and in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileChange {
    Add {
        content: String,
    },
    /// `content` is what the file held before it was deleted.
    Delete {
        content: String,
    },
    /// `unified_diff` holds the hunks only, without `---`/`+++` lines. `move_path` is the
    /// resolved destination of a rename.
    Update {
        unified_diff: String,
        move_path: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplyPatchApprovalRequestEvent {
    pub call_id: String,
    pub changes: BTreeMap<PathBuf, FileChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A directory whose write access would make the request unnecessary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_root: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PatchApplyBeginEvent {
    pub call_id: String,
    /// Applied without asking (inside the writable roots).
    pub auto_approved: bool,
    pub changes: BTreeMap<PathBuf, FileChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PatchApplyEndEvent {
    pub call_id: String,
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnDiffEvent {
    pub unified_diff: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecApprovalRequestEvent {
    pub call_id: String,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    /// Why the agent asks (its justification, or why the command needs approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub parsed_cmd: Vec<ParsedCommand>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecCommandBeginEvent {
    pub call_id: String,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub parsed_cmd: Vec<ParsedCommand>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecOutputStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecCommandOutputDeltaEvent {
    pub call_id: String,
    pub stream: ExecOutputStream,
    /// Raw output bytes, base64-encoded (output need not be UTF-8).
    pub chunk: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecCommandEndEvent {
    pub call_id: String,
    pub stdout: String,
    pub stderr: String,
    pub aggregated_output: String,
    pub exit_code: i32,
    pub duration: Duration,
    /// The output as the model sees it.
    pub formatted_output: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BackgroundEventEvent {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorEvent {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamErrorEvent {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskStartedEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_context_window: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskCompleteEvent {
    pub last_agent_message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
    pub total_tokens: u64,
}

impl TokenUsage {
    fn add(&mut self, other: &TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_output_tokens += other.reasoning_output_tokens;
        self.total_tokens += other.total_tokens;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct TokenUsageInfo {
    pub total_token_usage: TokenUsage,
    pub last_token_usage: TokenUsage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_context_window: Option<u64>,
}

impl TokenUsageInfo {
    pub fn record(&mut self, last: TokenUsage) {
        self.total_token_usage.add(&last);
        self.last_token_usage = last;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCountEvent {
    pub info: Option<TokenUsageInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentMessageEvent {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserMessageEvent {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentMessageDeltaEvent {
    pub delta: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentReasoningEvent {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentReasoningDeltaEvent {
    pub delta: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionConfiguredEvent {
    /// The conversation id (named `session_id` on the wire for compatibility).
    pub session_id: ConversationId,
    pub model: String,
    pub model_provider_id: String,
    pub approval_policy: AskForApproval,
    pub sandbox_policy: SandboxPolicy,
    pub cwd: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    pub history_log_id: u64,
    pub history_entry_count: usize,
    /// The persisted events of a resumed or forked conversation, for clients to replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_messages: Option<Vec<EventMsg>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_path: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebSearchBeginEvent {
    pub call_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebSearchEndEvent {
    pub call_id: String,
    pub query: String,
}

/// Questions the model puts to the user (`request_user_input`), each with a few choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequestUserInputEvent {
    pub call_id: String,
    pub questions: Vec<UserInputQuestion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserInputQuestion {
    /// How the answer is keyed.
    pub id: String,
    /// A short label (at most 12 characters).
    pub header: String,
    pub question: String,
    pub options: Vec<UserInputOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserInputOption {
    pub label: String,
    pub description: String,
}

/// The user's answers, by question id (the chosen option's label). No answers, with a note
/// saying why, when nobody could be asked or the user declined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequestUserInputResponse {
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a turn was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnAbortReason {
    /// The host interrupted it.
    Interrupted,
    /// A newer turn took its place.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnAbortedEvent {
    pub reason: TurnAbortReason,
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn events_use_snake_case_type_tags() {
        let event = Event {
            id: "1".into(),
            msg: EventMsg::TaskComplete(TaskCompleteEvent {
                last_agent_message: Some("hi".into()),
            }),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"id": "1", "msg": {"type": "task_complete", "last_agent_message": "hi"}})
        );
        assert_eq!(
            serde_json::to_value(EventMsg::ShutdownComplete).unwrap(),
            json!({"type": "shutdown_complete"})
        );
    }

    #[test]
    fn approval_policy_wire_names() {
        assert_eq!(
            serde_json::to_value(AskForApproval::UnlessTrusted).unwrap(),
            json!("untrusted")
        );
        assert_eq!(
            serde_json::from_value::<AskForApproval>(json!("on-failure")).unwrap(),
            AskForApproval::OnFailure
        );
    }

    #[test]
    fn conversation_ids_parse_or_explain() {
        let id = ConversationId::new();
        assert_eq!(id.to_string().parse::<ConversationId>().unwrap(), id);
        assert_eq!(
            "nope".parse::<ConversationId>().unwrap_err().to_string(),
            "`nope` is not a valid thread id (expected a UUID such as the threadId returned by `codex`)"
        );
    }
}
