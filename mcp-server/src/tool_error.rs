//! The one place where failures cross the MCP boundary.
//!
//! A tool call that fails is still answered with a `CallToolResult` (`isError: true`) whose
//! text tells the calling model what went wrong and what to do; `structuredContent` carries the
//! `threadId` whenever a conversation exists, as the output schema promises. A retry or task
//! request the server cannot honour (a refused `requestState`, an unknown task) is a protocol
//! error instead: the client library sent it, not the model ([`RoundTripError`]).

use codex_core::CodexErr;
use codex_core::ConversationId;
use codex_core::protocol::MalformedConversationId;
use codex_mcp_types::CodexToolCallResult;
use codex_mcp_types::McpTypesError;

use crate::request_state::StateError;
use crate::task_store::TaskStoreError;
use rmcp::ErrorData as McpError;
use rmcp::model::CallToolResult;
use rmcp::model::ContentBlock;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolCallError {
    #[error("Unknown tool '{0}'; this server offers the tools `codex` and `codex-reply`.")]
    UnknownTool(String),

    #[error("Missing arguments for the `{0}` tool; the `prompt` field is required.")]
    MissingArguments(&'static str),

    #[error("Invalid arguments for the `{tool}` tool: {message}")]
    InvalidArguments { tool: &'static str, message: String },

    #[error("{0}")]
    MissingThreadId(#[from] McpTypesError),

    #[error("{0}")]
    MalformedThreadId(#[from] MalformedConversationId),

    #[error("no conversation with id {0}; start a new one with the `codex` tool")]
    UnknownThread(ConversationId),

    #[error("Failed to load Codex configuration: {0}")]
    Config(CodexErr),

    #[error("Failed to start Codex session: {0}")]
    StartSession(CodexErr),

    #[error("Failed to load the conversation: {0}")]
    Resume(CodexErr),

    /// Another call is running a turn of this thread.
    #[error("{0}")]
    Busy(CodexErr),

    #[error("Failed to submit the prompt: {0}")]
    Submit(CodexErr),

    /// The turn ended with an `error` event.
    #[error("{0}")]
    Turn(String),

    #[error("The turn was aborted before it finished; call `codex-reply` to continue.")]
    Aborted,

    #[error("Codex runtime error: {0}")]
    Runtime(CodexErr),

    /// The replica that ran the turn stopped heartbeating before the turn ended.
    #[error(
        "The replica running this turn stopped before the turn ended; every completed turn is saved: call `codex-reply` to continue the thread."
    )]
    ReplicaGone,

    /// The shared thread store (PostgreSQL) failed.
    #[error(
        "{0}. The thread's committed history is intact; call `codex-reply` to continue it (a turn not committed may have to be repeated)."
    )]
    Store(crate::thread_store::StoreError),
}

impl ToolCallError {
    pub(crate) fn into_result(self, thread_id: Option<ConversationId>) -> CallToolResult {
        let message = self.to_string();
        let mut result = CallToolResult::error(vec![ContentBlock::text(message.clone())]);
        if let Some(thread_id) = thread_id {
            result.structured_content = structured(thread_id, message);
        }
        result
    }
}

/// The successful answer: the agent's last message, in `content` and `structuredContent`
/// alike, because some hosts read only one of them.
pub(crate) fn success(thread_id: ConversationId, content: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(content.clone())]);
    result.structured_content = structured(thread_id, content);
    result
}

/// Names the thread in a second text block of `content`, after the answer, for hosts that
/// show their model only `content` and so would never let it call `codex-reply`.
pub(crate) fn name_thread_in_content(result: &mut CallToolResult, thread_id: ConversationId) {
    result
        .content
        .push(ContentBlock::text(thread_hint(thread_id)));
}

/// The second text block of a result: the thread id, and what it is for.
pub(crate) fn thread_hint(thread_id: ConversationId) -> String {
    format!("threadId: {thread_id} (pass it to `codex-reply` to continue this conversation)")
}

fn structured(thread_id: ConversationId, content: String) -> Option<serde_json::Value> {
    serde_json::to_value(CodexToolCallResult {
        thread_id: thread_id.to_string(),
        content,
    })
    .ok()
}

/// Why a retried call (`requestState`) or a task request cannot be served. Each says what was
/// (not) done, so that a client never takes a refusal for an approval.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RoundTripError {
    #[error("`requestState` was refused: {0}. Nothing was approved.")]
    StateRefused(StateError),

    #[error(
        "`requestState` was refused: its turn is no longer held by this server (its result was collected, or it ended over an hour ago); continue the thread with `codex-reply`. Nothing was approved."
    )]
    TurnGone,

    #[error(
        "`requestState` was refused: it was already used or a later one was issued; each `requestState` is good for one retry. Nothing was approved."
    )]
    StateUsed,

    #[error(
        "`inputResponses` came without `requestState`: a retry must echo the `requestState` of the `input_required` result it answers. Nothing was approved."
    )]
    ResponsesWithoutState,

    #[error("unknown task {0} (never created here, or its TTL has passed)")]
    UnknownTask(String),

    #[error("task {task_id} has ended ({status}); it asks nothing more")]
    TaskEnded {
        task_id: String,
        status: &'static str,
    },

    #[error("the task could not be recorded, so its turn was cancelled: {0}")]
    TaskNotRecorded(TaskStoreError),

    #[error("{0}")]
    TaskUnreadable(TaskStoreError),

    /// The shared thread store failed while routing a request to another replica.
    #[error("{0}. Nothing was approved.")]
    Store(crate::thread_store::StoreError),
}

impl From<RoundTripError> for McpError {
    fn from(err: RoundTripError) -> Self {
        match err {
            RoundTripError::TaskNotRecorded(_)
            | RoundTripError::TaskUnreadable(_)
            | RoundTripError::Store(_) => McpError::internal_error(err.to_string(), None),
            _ => McpError::invalid_params(err.to_string(), None),
        }
    }
}

/// A deserialization error that names the field at fault: "`clientInfo`: missing field
/// `version`".
pub(crate) fn naming_the_field(err: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if path == "." {
        inner.to_string()
    } else {
        format!("`{path}`: {inner}")
    }
}

/// Names (a method, a version) and details from the host are echoed in errors at most this
/// many characters long, so that a huge one does not come back whole.
pub(crate) const MAX_ECHOED_NAME: usize = 100;
pub(crate) const MAX_ECHOED_DETAIL: usize = 500;

/// `text` cut to at most `max` characters, marked where it was cut.
pub(crate) fn bounded(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((at, _)) => format!("{}… ({} bytes in all)", &text[..at], text.len()).into(),
    }
}
