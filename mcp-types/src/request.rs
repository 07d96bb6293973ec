//! The custom JSON-RPC methods beside the MCP ones, decoded into one request type: the
//! conversation API's, the account API's and the settings API's share this routing.

use serde_json::Map;
use serde_json::Value;

use crate::account_api::AccountRequest;
use crate::conversation_api::*;
use crate::params::ConversationParamsError;
use crate::params::decode;
use crate::settings_api::SettingsRequest;

/// A request to one of the custom JSON-RPC methods, its params decoded: the conversation API's,
/// or another API's that shares its routing.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationRequest {
    /// `newConversation`.
    NewConversation(NewConversationParams),
    /// `sendUserMessage`.
    SendUserMessage(SendUserMessageParams),
    /// `sendUserTurn`.
    SendUserTurn(SendUserTurnParams),
    /// `interruptConversation`.
    InterruptConversation(InterruptConversationParams),
    /// `addConversationListener`.
    AddConversationListener(AddConversationListenerParams),
    /// `removeConversationListener`.
    RemoveConversationListener(RemoveConversationListenerParams),
    /// `listConversations`.
    ListConversations(ListConversationsParams),
    /// `resumeConversation`.
    ResumeConversation(ResumeConversationParams),
    /// `forkConversation`.
    ForkConversation(ForkConversationParams),
    /// `archiveConversation`.
    ArchiveConversation(ArchiveConversationParams),
    /// `compactConversation`.
    CompactConversation(CompactConversationParams),
    /// `listMcpServers`.
    ListMcpServers(ListMcpServersParams),
    /// `getUserSavedConfig` or `setDefaultModel` (see [`crate::settings_api`]).
    Settings(SettingsRequest),
    /// `getAuthStatus`, `loginApiKey`, ... (see [`crate::account_api`]).
    Account(AccountRequest),
}

impl ConversationRequest {
    /// Decodes a request of this API.
    ///
    /// `Ok(None)` means the method is not one of ours, so the caller can try the MCP methods or
    /// answer "method not found". Absent (or `null`) params count as `{}`, which lets
    /// `listConversations` be called bare while a missing required field still gets named.
    pub fn parse(
        method: &str,
        params: Option<Value>,
    ) -> Result<Option<ConversationRequest>, ConversationParamsError> {
        let params = match params {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(params) => params,
        };
        let request = match method {
            NEW_CONVERSATION => Self::NewConversation(decode(NEW_CONVERSATION, params)?),
            SEND_USER_MESSAGE => Self::SendUserMessage(decode(SEND_USER_MESSAGE, params)?),
            SEND_USER_TURN => Self::SendUserTurn(decode(SEND_USER_TURN, params)?),
            INTERRUPT_CONVERSATION => {
                Self::InterruptConversation(decode(INTERRUPT_CONVERSATION, params)?)
            }
            ADD_CONVERSATION_LISTENER => {
                Self::AddConversationListener(decode(ADD_CONVERSATION_LISTENER, params)?)
            }
            REMOVE_CONVERSATION_LISTENER => {
                Self::RemoveConversationListener(decode(REMOVE_CONVERSATION_LISTENER, params)?)
            }
            LIST_CONVERSATIONS => Self::ListConversations(decode(LIST_CONVERSATIONS, params)?),
            RESUME_CONVERSATION => Self::ResumeConversation(decode(RESUME_CONVERSATION, params)?),
            FORK_CONVERSATION => Self::ForkConversation(decode(FORK_CONVERSATION, params)?),
            ARCHIVE_CONVERSATION => {
                Self::ArchiveConversation(decode(ARCHIVE_CONVERSATION, params)?)
            }
            COMPACT_CONVERSATION => {
                Self::CompactConversation(decode(COMPACT_CONVERSATION, params)?)
            }
            LIST_MCP_SERVERS => Self::ListMcpServers(decode(LIST_MCP_SERVERS, params)?),
            _ if AccountRequest::is_account_method(method) => {
                return Ok(AccountRequest::parse(method, Some(params))?.map(Self::Account));
            }
            _ => return Ok(SettingsRequest::parse(method, Some(params))?.map(Self::Settings)),
        };
        Ok(Some(request))
    }

    /// Whether this is one of the methods that manage conversations (not the account or
    /// settings methods routed beside them).
    pub fn is_conversation_method(&self) -> bool {
        !matches!(self, Self::Settings(_) | Self::Account(_))
    }

    /// The JSON-RPC method this request came as.
    pub fn method(&self) -> &'static str {
        match self {
            Self::NewConversation(_) => NEW_CONVERSATION,
            Self::SendUserMessage(_) => SEND_USER_MESSAGE,
            Self::SendUserTurn(_) => SEND_USER_TURN,
            Self::InterruptConversation(_) => INTERRUPT_CONVERSATION,
            Self::AddConversationListener(_) => ADD_CONVERSATION_LISTENER,
            Self::RemoveConversationListener(_) => REMOVE_CONVERSATION_LISTENER,
            Self::ListConversations(_) => LIST_CONVERSATIONS,
            Self::ResumeConversation(_) => RESUME_CONVERSATION,
            Self::ForkConversation(_) => FORK_CONVERSATION,
            Self::ArchiveConversation(_) => ARCHIVE_CONVERSATION,
            Self::CompactConversation(_) => COMPACT_CONVERSATION,
            Self::ListMcpServers(_) => LIST_MCP_SERVERS,
            Self::Settings(request) => request.method(),
            Self::Account(request) => request.method(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use codex_protocol::AskForApproval;
    use codex_protocol::InputItem;
    use codex_protocol::ReasoningEffort;
    use codex_protocol::ReasoningSummary;
    use codex_protocol::SandboxPolicy;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;
    use crate::SandboxPolicyByMode;
    use crate::params::INVALID_PARAMS;

    #[test]
    fn parse_reads_a_send_user_turn() {
        let request = ConversationRequest::parse(
            SEND_USER_TURN,
            Some(json!({
                "conversationId": "c1",
                "items": [{"type": "text", "data": {"text": "go"}}],
                "cwd": "/work",
                "approvalPolicy": "on-request",
                "sandboxPolicy": {"mode": "workspace-write", "network_access": true},
                "model": "gpt-5.2",
                "effort": "high",
                "summary": "concise",
                "someFutureField": 1
            })),
        )
        .unwrap();
        assert_eq!(
            request,
            Some(ConversationRequest::SendUserTurn(SendUserTurnParams {
                conversation_id: "c1".into(),
                items: vec![InputItem::Text { text: "go".into() }],
                cwd: PathBuf::from("/work"),
                approval_policy: AskForApproval::OnRequest,
                sandbox_policy: SandboxPolicyByMode(SandboxPolicy::WorkspaceWrite {
                    writable_roots: Vec::new(),
                    network_access: true,
                    exclude_tmpdir_env_var: false,
                    exclude_slash_tmp: false,
                }),
                model: "gpt-5.2".into(),
                effort: Some(ReasoningEffort::High),
                summary: Some(ReasoningSummary::Concise),
            }))
        );
        assert_eq!(request.map(|r| r.method()), Some(SEND_USER_TURN));
    }

    #[test]
    fn parse_leaves_unknown_methods_to_the_caller() {
        assert_eq!(
            ConversationRequest::parse("tools/call", Some(json!({"name": "codex"}))),
            Ok(None)
        );
        assert_eq!(ConversationRequest::parse("getUserAgentX", None), Ok(None));
        assert_eq!(
            ConversationRequest::parse(
                crate::settings_api::SET_DEFAULT_MODEL,
                Some(json!({"model": "m"}))
            ),
            Ok(Some(ConversationRequest::Settings(
                SettingsRequest::SetDefaultModel(crate::SetDefaultModelParams {
                    model: Some("m".into()),
                    reasoning_effort: None,
                })
            )))
        );
    }

    #[test]
    fn parse_names_the_offending_field() {
        let err = ConversationRequest::parse(
            SEND_USER_MESSAGE,
            Some(json!({"conversationId": "c1", "items": [{"type": "video", "data": {}}]})),
        )
        .unwrap_err();
        assert_eq!(err.path.as_deref(), Some("items[0].type"));
        assert_eq!(err.code(), INVALID_PARAMS);
        let message = err.to_string();
        assert!(
            message.starts_with(
                "invalid params for sendUserMessage: `items[0].type`: unknown variant `video`"
            ),
            "{message}"
        );

        let err = ConversationRequest::parse(SEND_USER_MESSAGE, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid params for sendUserMessage: missing field `conversationId`"
        );

        let err = ConversationRequest::parse(
            FORK_CONVERSATION,
            Some(json!({"conversationId": "c1", "dropLastMessages": -1})),
        )
        .unwrap_err();
        assert_eq!(err.path.as_deref(), Some("dropLastMessages"));
    }

    #[test]
    fn list_conversations_without_params_uses_defaults() {
        let request = ConversationRequest::parse(LIST_CONVERSATIONS, None).unwrap();
        assert_eq!(
            request,
            Some(ConversationRequest::ListConversations(
                ListConversationsParams::default()
            ))
        );
        assert_eq!(
            ListConversationsParams::default().page_size(),
            DEFAULT_LIST_PAGE_SIZE
        );
        assert_eq!(
            ConversationRequest::parse(LIST_CONVERSATIONS, Some(Value::Null)).unwrap(),
            request
        );
    }
}
