//! The wire contract of the `codex` MCP server: what a host sends and receives.
//!
//! Everything here is plain data (serde + schemars, no runtime), so a host author can
//! depend on this crate alone. The spelling of every field follows the server this one
//! replaces (OpenAI's `codex mcp-server`), so existing host configurations keep working:
//! `codex` takes kebab-case arguments, `codex-reply` takes camelCase ones.

pub mod account_api;
pub mod conversation_api;
mod elicitation;
mod error;
mod event_notification;
mod params;
mod request;
mod sandbox_policy_by_mode;
pub mod settings_api;
mod tool_schema;

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;

/// The engine's types that are also wire types, so a host needs only this crate.
pub use codex_protocol::AskForApproval;
pub use codex_protocol::AuthMode;
pub use codex_protocol::EventMsg;
pub use codex_protocol::FileChange;
pub use codex_protocol::InputItem;
pub use codex_protocol::ParsedCommand;
pub use codex_protocol::ReasoningEffort;
pub use codex_protocol::ReasoningSummary;
pub use codex_protocol::ReviewDecision;
pub use codex_protocol::SandboxMode;
pub use codex_protocol::SandboxPolicy;
pub use codex_protocol::TurnAbortReason;
pub use codex_protocol::Verbosity;

pub use crate::account_api::AccountRequest;
pub use crate::conversation_api::ADD_CONVERSATION_LISTENER;
pub use crate::conversation_api::ARCHIVE_CONVERSATION;
pub use crate::conversation_api::AddConversationListenerParams;
pub use crate::conversation_api::AddConversationListenerResponse;
pub use crate::conversation_api::ArchiveConversationParams;
pub use crate::conversation_api::ArchiveConversationResponse;
pub use crate::conversation_api::COMPACT_CONVERSATION;
pub use crate::conversation_api::CONVERSATION_EVENT_METHOD_PREFIX;
pub use crate::conversation_api::CompactConversationParams;
pub use crate::conversation_api::CompactConversationResponse;
pub use crate::conversation_api::ConversationEventNotificationParams;
pub use crate::conversation_api::ConversationSummary;
pub use crate::conversation_api::DEFAULT_LIST_PAGE_SIZE;
pub use crate::conversation_api::FORK_CONVERSATION;
pub use crate::conversation_api::ForkConversationParams;
pub use crate::conversation_api::ForkConversationResponse;
pub use crate::conversation_api::INTERRUPT_CONVERSATION;
pub use crate::conversation_api::InterruptConversationParams;
pub use crate::conversation_api::InterruptConversationResponse;
pub use crate::conversation_api::LIST_CONVERSATIONS;
pub use crate::conversation_api::LIST_MCP_SERVERS;
pub use crate::conversation_api::ListConversationsParams;
pub use crate::conversation_api::ListConversationsResponse;
pub use crate::conversation_api::ListMcpServersParams;
pub use crate::conversation_api::ListMcpServersResponse;
pub use crate::conversation_api::NEW_CONVERSATION;
pub use crate::conversation_api::NewConversationParams;
pub use crate::conversation_api::NewConversationResponse;
pub use crate::conversation_api::REMOVE_CONVERSATION_LISTENER;
pub use crate::conversation_api::RESUME_CONVERSATION;
pub use crate::conversation_api::RemoveConversationListenerParams;
pub use crate::conversation_api::RemoveConversationListenerResponse;
pub use crate::conversation_api::ResumeConversationParams;
pub use crate::conversation_api::ResumeConversationResponse;
pub use crate::conversation_api::SEND_USER_MESSAGE;
pub use crate::conversation_api::SEND_USER_TURN;
pub use crate::conversation_api::SendUserMessageParams;
pub use crate::conversation_api::SendUserMessageResponse;
pub use crate::conversation_api::SendUserTurnParams;
pub use crate::conversation_api::SendUserTurnResponse;
pub use crate::conversation_api::conversation_event_method;
pub use crate::elicitation::ApprovalElicitCommon;
pub use crate::elicitation::ELICITATION_CREATE_METHOD;
pub use crate::elicitation::EXEC_APPROVAL_ELICITATION;
pub use crate::elicitation::ExecApprovalElicitParams;
pub use crate::elicitation::PATCH_APPROVAL_ELICITATION;
pub use crate::elicitation::PatchApprovalElicitParams;
pub use crate::elicitation::USER_INPUT_ELICITATION;
pub use crate::elicitation::UserInputElicitParams;
pub use crate::elicitation::approval_requested_schema;
pub use crate::elicitation::parse_approval_reply;
pub use crate::elicitation::parse_user_input_reply;
pub use crate::elicitation::user_input_requested_schema;
pub use crate::error::McpTypesError;
pub use crate::event_notification::CODEX_EVENT_METHOD;
pub use crate::event_notification::CodexEventMeta;
pub use crate::event_notification::CodexEventNotificationParams;
pub use crate::params::ConversationParamsError;
pub use crate::params::INTERNAL_ERROR;
pub use crate::params::INVALID_PARAMS;
pub use crate::params::INVALID_REQUEST;
pub use crate::params::METHOD_NOT_FOUND;
pub use crate::request::ConversationRequest;
pub use crate::sandbox_policy_by_mode::SandboxPolicyByMode;
pub use crate::settings_api::GET_USER_SAVED_CONFIG;
pub use crate::settings_api::GetUserSavedConfigParams;
pub use crate::settings_api::GetUserSavedConfigResponse;
pub use crate::settings_api::SET_DEFAULT_MODEL;
pub use crate::settings_api::SandboxSettings;
pub use crate::settings_api::SavedProfile;
pub use crate::settings_api::SetDefaultModelParams;
pub use crate::settings_api::SetDefaultModelResponse;
pub use crate::settings_api::SettingsRequest;
pub use crate::settings_api::ToolSettings;
pub use crate::settings_api::UserSavedConfig;
pub use crate::tool_schema::tool_input_schema;
pub use crate::tool_schema::tool_output_schema;

/// Name of the tool that starts a conversation.
pub const CODEX_TOOL_NAME: &str = "codex";
/// Name of the tool that continues a conversation.
pub const CODEX_REPLY_TOOL_NAME: &str = "codex-reply";

/// Arguments of the `codex` tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CodexToolCallParam {
    /// The task for the coding agent, written as you would brief a colleague: what to do, where,
    /// and how to know it is done. This is the first user message of a new conversation.
    pub prompt: String,

    /// Model to use instead of the configured one (e.g. `gpt-5.2`, `gpt-5.2-codex`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,

    /// Name of a `[profiles.<name>]` table in `$CODEX_HOME/config.toml` to take defaults from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,

    /// Working directory of the conversation. A relative path is resolved against the server
    /// process's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,

    /// When the agent must ask before running a command: `untrusted` (ask for anything not
    /// known to be read-only), `on-failure` (ask to retry without the sandbox after a failure),
    /// `on-request` (ask when the agent wants to leave the sandbox), `never` (never ask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,

    /// What the agent's commands may touch: `read-only`, `workspace-write` (the working
    /// directory and temp dirs), or `danger-full-access` (no sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,

    /// Settings that override `$CODEX_HOME/config.toml`, as dotted keys, e.g.
    /// `{"model_reasoning_effort": "high", "sandbox_workspace_write.network_access": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,

    /// Instructions to use instead of the agent's built-in ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_instructions: Option<String>,

    /// Extra instructions, sent to the model as a developer message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_instructions: Option<String>,

    /// Prompt used when the conversation is compacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_prompt: Option<String>,

    /// Images to show the agent with the prompt: paths of local image files (png, jpeg, gif,
    /// webp), relative to `cwd` or absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
}

/// Arguments of the `codex-reply` tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodexToolCallReplyParam {
    /// The next user message of the conversation.
    pub prompt: String,

    /// The `threadId` returned by the `codex` call that started the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,

    /// DEPRECATED: use `threadId` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,

    /// Images to show the agent with the prompt: paths of local image files (png, jpeg, gif,
    /// webp), relative to the conversation's working directory or absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
}

impl CodexToolCallReplyParam {
    /// The thread to continue: `threadId`, else the deprecated `conversationId`.
    pub fn thread_id(&self) -> Result<&str, McpTypesError> {
        self.thread_id
            .as_deref()
            .or(self.conversation_id.as_deref())
            .ok_or(McpTypesError::MissingThreadId)
    }
}

/// The structured result of both tools (`structuredContent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodexToolCallResult {
    /// Pass this to `codex-reply` to continue the conversation.
    pub thread_id: String,
    /// The agent's last message of the turn.
    pub content: String,
}

/// A JSON-RPC request id as the host sent it: a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RequestId {
    Number(i64),
    String(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn codex_arguments_use_kebab_case() {
        let param: CodexToolCallParam = serde_json::from_value(json!({
            "prompt": "hi",
            "approval-policy": "on-request",
            "sandbox": "workspace-write",
            "base-instructions": "b",
            "developer-instructions": "d",
            "compact-prompt": "c",
            "config": {"model": "x"}
        }))
        .unwrap();
        assert_eq!(
            param,
            CodexToolCallParam {
                prompt: "hi".into(),
                approval_policy: Some(AskForApproval::OnRequest),
                sandbox: Some(SandboxMode::WorkspaceWrite),
                base_instructions: Some("b".into()),
                developer_instructions: Some("d".into()),
                compact_prompt: Some("c".into()),
                config: json!({"model": "x"}).as_object().cloned(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn reply_prefers_thread_id_over_the_deprecated_alias() {
        let both: CodexToolCallReplyParam =
            serde_json::from_value(json!({"prompt": "p", "threadId": "a", "conversationId": "b"}))
                .unwrap();
        assert_eq!(both.thread_id(), Ok("a"));
        let alias: CodexToolCallReplyParam =
            serde_json::from_value(json!({"prompt": "p", "conversationId": "b"})).unwrap();
        assert_eq!(alias.thread_id(), Ok("b"));
        let neither: CodexToolCallReplyParam =
            serde_json::from_value(json!({"prompt": "p"})).unwrap();
        assert_eq!(neither.thread_id(), Err(McpTypesError::MissingThreadId));
    }

    #[test]
    fn request_ids_keep_their_json_type() {
        assert_eq!(
            serde_json::to_value(RequestId::Number(7)).unwrap(),
            json!(7)
        );
        assert_eq!(
            serde_json::from_value::<RequestId>(json!("a")).unwrap(),
            RequestId::String("a".into())
        );
    }
}
