//! The conversation API: JSON-RPC methods beside the MCP tools, for hosts that drive
//! conversations themselves (start, steer, interrupt, list, resume, fork, archive).
//!
//! The method names and field spellings are those of the extension API the reference
//! `codex mcp-server` shipped in 2025 (`newConversation`, `sendUserMessage`, ...), so orchestrators
//! written against it keep working. Only the wire lives here; the server maps it onto the engine.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use codex_protocol::AskForApproval;
use codex_protocol::EventMsg;
use codex_protocol::InputItem;
use codex_protocol::McpServerSummary;
use codex_protocol::ReasoningEffort;
use codex_protocol::ReasoningSummary;
use codex_protocol::SandboxMode;
use codex_protocol::TurnAbortReason;

use crate::sandbox_policy_by_mode::SandboxPolicyByMode;

/// Starts a conversation.
pub const NEW_CONVERSATION: &str = "newConversation";
/// Starts a turn with the conversation's current settings.
pub const SEND_USER_MESSAGE: &str = "sendUserMessage";
/// Starts a turn with new settings, which become the conversation's defaults.
pub const SEND_USER_TURN: &str = "sendUserTurn";
/// Aborts the running turn.
pub const INTERRUPT_CONVERSATION: &str = "interruptConversation";
/// Subscribes the connection to a conversation's events.
pub const ADD_CONVERSATION_LISTENER: &str = "addConversationListener";
/// Ends a subscription made with [`ADD_CONVERSATION_LISTENER`].
pub const REMOVE_CONVERSATION_LISTENER: &str = "removeConversationListener";
/// Lists recorded conversations, newest first.
pub const LIST_CONVERSATIONS: &str = "listConversations";
/// Loads a recorded conversation.
pub const RESUME_CONVERSATION: &str = "resumeConversation";
/// Copies a conversation, minus its last user messages, into a new one.
pub const FORK_CONVERSATION: &str = "forkConversation";
/// Shuts a conversation down and moves its rollout to the archive.
pub const ARCHIVE_CONVERSATION: &str = "archiveConversation";
/// Summarises a conversation now and continues it from the summary, to free context.
pub const COMPACT_CONVERSATION: &str = "compactConversation";
/// Lists a conversation's MCP servers (`[mcp_servers]`), their state and their tools.
pub const LIST_MCP_SERVERS: &str = "listMcpServers";

/// Page size of `listConversations` when the host names none.
pub const DEFAULT_LIST_PAGE_SIZE: usize = 25;

/// Method prefix of listener notifications; the event type follows it.
pub const CONVERSATION_EVENT_METHOD_PREFIX: &str = "codex/event/";

/// Params of `newConversation`; also the `overrides` of resume and fork.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewConversationParams {
    /// Model to use instead of the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Name of a `[profiles.<name>]` table in `$CODEX_HOME/config.toml` to take defaults from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Working directory; a relative path is resolved against the server's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// When the agent must ask before it acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,
    /// What the agent's commands may touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    /// Settings that override `$CODEX_HOME/config.toml`, as dotted keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    /// Instructions to use instead of the agent's built-in ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_instructions: Option<String>,
    /// Extra instructions, sent to the model as a developer message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_instructions: Option<String>,
    /// Prompt used when the conversation is compacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_prompt: Option<String>,
}

/// Result of `newConversation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewConversationResponse {
    /// The new conversation; the same id as the tools' `threadId`.
    pub conversation_id: String,
    /// The model the conversation runs on.
    pub model: String,
    /// The reasoning effort configured for that model, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Where the conversation is recorded.
    pub rollout_path: PathBuf,
}

/// Params of `sendUserMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendUserMessageParams {
    /// The conversation to continue.
    pub conversation_id: String,
    /// The user message.
    pub items: Vec<InputItem>,
}

/// Result of `sendUserMessage`: `{}`, sent once the turn has been accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SendUserMessageResponse {}

/// Params of `sendUserTurn`: a user message with settings that stay for later turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendUserTurnParams {
    /// The conversation to continue.
    pub conversation_id: String,
    /// The user message.
    pub items: Vec<InputItem>,
    /// Working directory from this turn on.
    pub cwd: PathBuf,
    /// Approval policy from this turn on.
    pub approval_policy: AskForApproval,
    /// Sandbox from this turn on.
    pub sandbox_policy: SandboxPolicyByMode,
    /// Model from this turn on.
    pub model: String,
    /// Reasoning effort from this turn on; absent means none (the model's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<ReasoningEffort>,
    /// Reasoning summary from this turn on; absent means `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ReasoningSummary>,
}

/// Result of `sendUserTurn`: `{}`, sent once the turn has been accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SendUserTurnResponse {}

/// Params of `interruptConversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterruptConversationParams {
    /// The conversation whose turn to abort.
    pub conversation_id: String,
}

/// Result of `interruptConversation`, sent once the turn is aborted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterruptConversationResponse {
    /// Why the turn ended.
    pub abort_reason: TurnAbortReason,
}

/// Params of `listMcpServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMcpServersParams {
    /// The conversation whose servers to list (loaded from its rollout if it is not live,
    /// which starts its servers).
    pub conversation_id: String,
}

/// Result of `listMcpServers`: every configured server in name order, `disabled` ones too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMcpServersResponse {
    pub servers: Vec<McpServerSummary>,
}

/// Params of `addConversationListener`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddConversationListenerParams {
    /// The conversation to listen to.
    pub conversation_id: String,
}

/// Result of `addConversationListener`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddConversationListenerResponse {
    /// Pass this to `removeConversationListener` to stop the notifications.
    pub subscription_id: String,
}

/// Params of `removeConversationListener`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoveConversationListenerParams {
    /// The subscription to end.
    pub subscription_id: String,
}

/// Result of `removeConversationListener`: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveConversationListenerResponse {}

/// Params of `listConversations`; no params at all means the first page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListConversationsParams {
    /// At most this many items; [`DEFAULT_LIST_PAGE_SIZE`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<usize>,
    /// The `nextCursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl ListConversationsParams {
    /// The page size to use: the requested one, else [`DEFAULT_LIST_PAGE_SIZE`].
    pub fn page_size(&self) -> usize {
        self.page_size.unwrap_or(DEFAULT_LIST_PAGE_SIZE)
    }
}

/// Result of `listConversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListConversationsResponse {
    /// Recorded conversations, newest first.
    pub items: Vec<ConversationSummary>,
    /// Opaque; pass it as `cursor` for the next page. Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One recorded conversation in a `listConversations` page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    /// The conversation's id.
    pub conversation_id: String,
    /// Its rollout file.
    pub path: PathBuf,
    /// Its first user message.
    pub preview: String,
    /// When it started (RFC 3339), if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// Params of `resumeConversation`: a rollout `path` or a `conversationId` to look one up by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResumeConversationParams {
    /// The rollout file to load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The conversation to load, when no `path` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Settings to run the resumed conversation with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<NewConversationParams>,
}

/// Result of `resumeConversation` and `forkConversation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResumeConversationResponse {
    /// The loaded (or, for a fork, the new) conversation.
    pub conversation_id: String,
    /// The model it runs on.
    pub model: String,
    /// The recorded events, replayed so a host can redraw the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_messages: Option<Vec<Value>>,
    /// Where the conversation is recorded.
    pub rollout_path: PathBuf,
}

/// Params of `forkConversation`: a `conversationId` or a rollout `path` to copy from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForkConversationParams {
    /// The conversation to copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The rollout file to copy, when no `conversationId` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How many of the last user messages, and what followed each, to leave out of the copy.
    #[serde(default)]
    pub drop_last_messages: usize,
    /// Settings to run the new conversation with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<NewConversationParams>,
}

/// Result of `forkConversation`: the new conversation.
pub type ForkConversationResponse = ResumeConversationResponse;

/// Params of `archiveConversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveConversationParams {
    /// The conversation to archive.
    pub conversation_id: String,
    /// Its rollout file; must lie in `$CODEX_HOME/sessions` and end with `<conversationId>.jsonl`.
    pub rollout_path: PathBuf,
}

/// Result of `archiveConversation`: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArchiveConversationResponse {}

/// Params of `compactConversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactConversationParams {
    /// The conversation to compact; it must have no running turn.
    pub conversation_id: String,
}

/// Result of `compactConversation`: `{}`, sent once the compaction has started. Listeners see
/// it run as a turn (`task_started`, `background_event`, `task_complete`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CompactConversationResponse {}

/// The JSON-RPC method of a listener notification: `codex/event/<event type>`.
pub fn conversation_event_method(event_type: &str) -> String {
    format!("{CONVERSATION_EVENT_METHOD_PREFIX}{event_type}")
}

/// Params of a listener notification: `{id, msg, conversationId}`.
///
/// Borrows everything because the server sends each event to every listener; the event is
/// serialized straight from the engine's value, never copied.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationEventNotificationParams<'a> {
    /// The id of the submission (turn) that caused the event.
    pub id: &'a str,
    /// The event itself: `{"type": "<snake_case>", ...}`.
    pub msg: &'a EventMsg,
    /// The conversation the event belongs to.
    pub conversation_id: &'a str,
}

#[cfg(test)]
pub(crate) mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use codex_protocol::SandboxPolicy;

    use super::*;
    use crate::params::assert_wire;

    #[test]
    fn input_items_are_adjacently_tagged() {
        assert_wire(
            &InputItem::Text { text: "hi".into() },
            json!({"type": "text", "data": {"text": "hi"}}),
        );
        assert_wire(
            &InputItem::Image {
                image_url: "data:image/png;base64,AA==".into(),
            },
            json!({"type": "image", "data": {"imageUrl": "data:image/png;base64,AA=="}}),
        );
        assert_wire(
            &InputItem::LocalImage {
                path: PathBuf::from("/tmp/a.png"),
            },
            json!({"type": "localImage", "data": {"path": "/tmp/a.png"}}),
        );
    }

    #[test]
    fn sandbox_policies_are_tagged_by_mode() {
        assert_wire(
            &SandboxPolicyByMode(SandboxPolicy::ReadOnly),
            json!({"mode": "read-only"}),
        );
        assert_wire(
            &SandboxPolicyByMode(SandboxPolicy::WorkspaceWrite {
                writable_roots: vec![PathBuf::from("/srv/shared")],
                network_access: true,
                exclude_tmpdir_env_var: false,
                exclude_slash_tmp: true,
            }),
            json!({
                "mode": "workspace-write",
                "writable_roots": ["/srv/shared"],
                "network_access": true,
                "exclude_tmpdir_env_var": false,
                "exclude_slash_tmp": true
            }),
        );
        assert_wire(
            &SandboxPolicyByMode(SandboxPolicy::DangerFullAccess),
            json!({"mode": "danger-full-access"}),
        );
    }

    #[test]
    fn workspace_write_settings_default_to_off() {
        let policy: SandboxPolicyByMode =
            serde_json::from_value(json!({"mode": "workspace-write"})).unwrap();
        assert_eq!(
            policy.0,
            SandboxPolicy::WorkspaceWrite {
                writable_roots: Vec::new(),
                network_access: false,
                exclude_tmpdir_env_var: false,
                exclude_slash_tmp: false,
            }
        );
    }

    #[test]
    fn new_conversation_response_wire() {
        assert_wire(
            &NewConversationResponse {
                conversation_id: "c1".into(),
                model: "gpt-5.2".into(),
                reasoning_effort: Some(ReasoningEffort::Xhigh),
                rollout_path: PathBuf::from("/h/sessions/2025/01/02/rollout-x-c1.jsonl"),
            },
            json!({
                "conversationId": "c1",
                "model": "gpt-5.2",
                "reasoningEffort": "xhigh",
                "rolloutPath": "/h/sessions/2025/01/02/rollout-x-c1.jsonl"
            }),
        );
        assert_wire(
            &NewConversationResponse {
                conversation_id: "c1".into(),
                model: "m".into(),
                reasoning_effort: None,
                rollout_path: PathBuf::from("/r.jsonl"),
            },
            json!({"conversationId": "c1", "model": "m", "rolloutPath": "/r.jsonl"}),
        );
    }

    #[test]
    fn list_conversations_response_wire() {
        assert_wire(
            &ListConversationsResponse {
                items: vec![
                    ConversationSummary {
                        conversation_id: "c2".into(),
                        path: PathBuf::from("/h/sessions/c2.jsonl"),
                        preview: "fix the tests".into(),
                        timestamp: Some("2025-01-02T03:04:05Z".into()),
                    },
                    ConversationSummary {
                        conversation_id: "c1".into(),
                        path: PathBuf::from("/h/sessions/c1.jsonl"),
                        preview: "hello".into(),
                        timestamp: None,
                    },
                ],
                next_cursor: Some("opaque".into()),
            },
            json!({
                "items": [
                    {
                        "conversationId": "c2",
                        "path": "/h/sessions/c2.jsonl",
                        "preview": "fix the tests",
                        "timestamp": "2025-01-02T03:04:05Z"
                    },
                    {"conversationId": "c1", "path": "/h/sessions/c1.jsonl", "preview": "hello"}
                ],
                "nextCursor": "opaque"
            }),
        );
    }

    #[test]
    fn empty_responses_are_empty_objects() {
        assert_wire(&SendUserMessageResponse {}, json!({}));
        assert_wire(&SendUserTurnResponse {}, json!({}));
        assert_wire(&RemoveConversationListenerResponse {}, json!({}));
        assert_wire(&ArchiveConversationResponse {}, json!({}));
        assert_wire(
            &InterruptConversationResponse {
                abort_reason: TurnAbortReason::Interrupted,
            },
            json!({"abortReason": "interrupted"}),
        );
    }

    #[test]
    fn listener_notification_params_wrap_the_borrowed_event() {
        let event = EventMsg::TaskComplete(codex_protocol::TaskCompleteEvent {
            last_agent_message: Some("Done.".into()),
        });
        let params = ConversationEventNotificationParams {
            id: "7",
            msg: &event,
            conversation_id: "c1",
        };
        assert_eq!(
            conversation_event_method("task_complete"),
            "codex/event/task_complete"
        );
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({
                "id": "7",
                "msg": {"type": "task_complete", "last_agent_message": "Done."},
                "conversationId": "c1"
            })
        );
    }
}
