//! Rollouts: every conversation as an append-only JSONL file under `$CODEX_HOME/sessions`, so
//! that it outlives the process, can be listed, resumed, forked and archived.
//!
//! One line per record, `{"timestamp", "type", "payload"}`. The format is the one the server we
//! replace wrote, so existing session files stay readable.

use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;

use crate::protocol::AskForApproval;
use crate::protocol::ConversationId;
use crate::protocol::EventMsg;
use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::ResponseItem;
use crate::protocol::SandboxPolicy;

mod archive;
mod git_info;
mod line_de;
mod list;
mod reader;
mod recorder;

pub use archive::archive_rollout;
pub use archive::validate_archive_path;
pub(crate) use git_info::collect_git_info;
pub use list::ConversationSummary;
pub use list::ConversationsPage;
pub use list::find_conversation_path;
pub use list::list_conversations;
pub use list::list_conversations_where;
pub use reader::LoadedRollout;
pub use reader::load_rollout;
pub use reader::truncate_before_last_user_messages;
pub use recorder::RolloutRecorder;
pub(crate) use recorder::utc_timestamp;

/// Live conversations, by date: `sessions/YYYY/MM/DD/rollout-….jsonl`.
pub const SESSIONS_SUBDIR: &str = "sessions";
/// Archived conversations, flat.
pub const ARCHIVED_SESSIONS_SUBDIR: &str = "archived_sessions";

/// One line of a rollout file. Read by hand (`line_de.rs`), for speed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutLine {
    /// UTC, `YYYY-MM-DDThh:mm:ss.mmmZ`.
    pub timestamp: String,
    #[serde(flatten)]
    pub item: RolloutItem,
}

/// What a rollout line records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum RolloutItem {
    /// Always the first line.
    SessionMeta(SessionMeta),
    /// A history item, in history order.
    ResponseItem(ResponseItem),
    /// The settings a model request ran with; one per request.
    TurnContext(TurnContextItem),
    /// The history was replaced by a summary.
    Compacted(CompactedItem),
    /// An event worth replaying to a client (see [`is_persisted_event`]).
    EventMsg(EventMsg),
}

/// Who started a conversation. Only `mcp` is written by this server; the others are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionSource {
    Cli,
    #[default]
    Vscode,
    Exec,
    Mcp,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub id: ConversationId,
    /// UTC, `YYYY-MM-DDThh:mm:ss.mmmZ`.
    pub timestamp: String,
    pub cwd: PathBuf,
    pub originator: String,
    pub cli_version: String,
    /// The user instructions (AGENTS.md) the conversation started with.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Base instructions given in place of the built-in prompt; kept so a resumed
    /// conversation runs under the same instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_instructions: Option<String>,
    #[serde(default)]
    pub source: SessionSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GitInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnContextItem {
    pub cwd: PathBuf,
    pub approval_policy: AskForApproval,
    pub sandbox_policy: SandboxPolicy,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<ReasoningEffort>,
    #[serde(default)]
    pub summary: ReasoningSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompactedItem {
    /// The summary the model wrote.
    pub message: String,
    /// The whole history that replaced the old one, so a resume rebuilds exactly what the
    /// model saw. Absent in files written by other tools; then it is rebuilt from `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement_history: Option<Vec<ResponseItem>>,
}

/// Events kept in the rollout: what a client needs to replay the conversation. Deltas, command
/// output and approvals are not kept.
pub(crate) fn is_persisted_event(msg: &EventMsg) -> bool {
    matches!(
        msg,
        EventMsg::UserMessage(_)
            | EventMsg::AgentMessage(_)
            | EventMsg::AgentReasoning(_)
            | EventMsg::TokenCount(_)
            | EventMsg::TurnAborted(_)
    )
}

/// Rollout files that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("cannot access rollout `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rollout `{path}` is empty")]
    Empty { path: PathBuf },
    #[error("rollout `{path}` has no session_meta line")]
    MissingSessionMeta { path: PathBuf },
    #[error("rollout path `{path}` must be in the sessions directory `{sessions_dir}`")]
    OutsideSessions {
        path: PathBuf,
        sessions_dir: PathBuf,
    },
    #[error("rollout path `{path}` does not match conversation id {id}")]
    IdMismatch { path: PathBuf, id: ConversationId },
    #[error("the rollout writer has stopped")]
    WriterGone,
}
