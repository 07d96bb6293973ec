//! Runs a `codex` or `codex-reply` call: starts or finds the conversation, submits the prompt,
//! forwards every event as a `codex/event` notification, and answers with the turn's outcome.

use std::sync::Arc;

use codex_core::CodexConversation;
use codex_core::CodexErr;
use codex_core::ConversationId;
use codex_core::ConversationManager;
use codex_core::Event;
use codex_core::EventMsg;
use codex_core::NewConversation;
use codex_core::Op;
use codex_core::protocol::InputItem;
use codex_core::protocol::Submission;
use codex_mcp_types::CODEX_REPLY_TOOL_NAME;
use codex_mcp_types::CODEX_TOOL_NAME;
use codex_mcp_types::CodexToolCallParam;
use codex_mcp_types::CodexToolCallReplyParam;
use codex_mcp_types::RequestId;
use rmcp::RoleServer;
use rmcp::model::CallToolResult;
use rmcp::model::JsonObject;
use rmcp::model::NumberOrString;
use rmcp::service::RequestContext;
use serde::de::DeserializeOwned;

use crate::codex_tool_config::ServerConfigLayer;
use crate::tool_error::ToolCallError;
use crate::tool_error::name_thread_in_content;
use crate::tool_error::success;
use crate::turn_driver::TurnOutcome;
use crate::turn_driver::TurnReporter;
use crate::turn_driver::drive_turn;

pub(crate) async fn run_codex(
    conversations: &ConversationManager,
    server_config: &ServerConfigLayer,
    arguments: Option<JsonObject>,
    context: RequestContext<RoleServer>,
) -> CallToolResult {
    let params: CodexToolCallParam = match parse_arguments(CODEX_TOOL_NAME, arguments) {
        Ok(params) => params,
        Err(err) => return err.into_result(None),
    };
    let config = match server_config.load_for_call(&params).await {
        Ok(config) => config,
        Err(err) => return ToolCallError::Config(err).into_result(None),
    };
    let NewConversation {
        conversation_id: _,
        conversation,
        session_configured,
    } = match conversations.new_conversation(config).await {
        Ok(new) => new,
        Err(err) => return ToolCallError::StartSession(err).into_result(None),
    };
    run_turn(
        conversation,
        server_config,
        params.prompt,
        Some(Event {
            id: String::new(),
            msg: EventMsg::SessionConfigured(session_configured),
        }),
        context,
    )
    .await
}

pub(crate) async fn run_codex_reply(
    conversations: &ConversationManager,
    config: &ServerConfigLayer,
    arguments: Option<JsonObject>,
    context: RequestContext<RoleServer>,
) -> CallToolResult {
    let params: CodexToolCallReplyParam = match parse_arguments(CODEX_REPLY_TOOL_NAME, arguments) {
        Ok(params) => params,
        Err(err) => return err.into_result(None),
    };
    let conversation_id = match params
        .thread_id()
        .map_err(ToolCallError::from)
        .and_then(|id| id.parse::<ConversationId>().map_err(ToolCallError::from))
    {
        Ok(id) => id,
        Err(err) => return err.into_result(None),
    };
    // A thread not in memory (the server restarted, or it was idle) is loaded from its
    // rollout, under the settings it last ran with.
    let conversation = match conversations
        .get_or_resume(conversation_id, |saved| config.load_for_resume(None, saved))
        .await
    {
        Ok(conversation) => conversation,
        Err(CodexErr::ConversationNotFound(id)) => {
            return ToolCallError::UnknownThread(id).into_result(None);
        }
        Err(err) => return ToolCallError::Resume(err).into_result(Some(conversation_id)),
    };
    run_turn(conversation, config, params.prompt, None, context).await
}

/// Submits `prompt` as a turn and answers with its outcome. `first_event` (the new
/// conversation's `session_configured`) is forwarded before the turn's own events.
async fn run_turn(
    conversation: Arc<CodexConversation>,
    server_config: &ServerConfigLayer,
    prompt: String,
    first_event: Option<Event>,
    context: RequestContext<RoleServer>,
) -> CallToolResult {
    let thread_id = conversation.conversation_id();
    let reporter = TurnReporter {
        peer: context.peer,
        request_id: request_id(&context.id),
        thread_id,
        forward_events: server_config.codex_events && conversation.config().codex_events,
        progress_token: context.meta.get_progress_token(),
    };
    if let Some(event) = first_event {
        reporter.forward(&event).await;
    }
    // The request id becomes the turn's submission id, so the host can match every event of
    // the turn to its call.
    let sub_id = reporter.request_id.to_string();
    // Cancelled while the conversation was starting: no turn. The host expects no answer.
    if context.ct.is_cancelled() {
        return ToolCallError::Aborted.into_result(Some(thread_id));
    }
    let submission = Submission {
        id: sub_id.clone(),
        op: Op::UserInput {
            items: vec![InputItem::Text { text: prompt }],
        },
    };
    match conversation.start_turn(submission).await {
        Ok(()) => {}
        Err(err @ CodexErr::Busy(_)) => {
            return ToolCallError::Busy(err).into_result(Some(thread_id));
        }
        Err(err) => return ToolCallError::Submit(err).into_result(Some(thread_id)),
    }
    let mut result = match drive_turn(&conversation, &sub_id, &reporter, context.ct).await {
        TurnOutcome::Completed(content) => success(thread_id, content),
        TurnOutcome::Failed(message) => ToolCallError::Turn(message).into_result(Some(thread_id)),
        TurnOutcome::Aborted => ToolCallError::Aborted.into_result(Some(thread_id)),
        TurnOutcome::Lost(err) => ToolCallError::Runtime(err).into_result(Some(thread_id)),
    };
    if conversation.config().thread_id_in_content {
        name_thread_in_content(&mut result, thread_id);
    }
    result
}

/// Deserializes tool arguments, naming the offending field in the error.
fn parse_arguments<T: DeserializeOwned>(
    tool: &'static str,
    arguments: Option<JsonObject>,
) -> Result<T, ToolCallError> {
    let arguments = arguments.ok_or(ToolCallError::MissingArguments(tool))?;
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = if path == "." {
            inner.to_string()
        } else {
            format!("`{path}`: {inner}")
        };
        ToolCallError::InvalidArguments { tool, message }
    })
}

pub(crate) fn request_id(id: &NumberOrString) -> RequestId {
    match id {
        NumberOrString::Number(n) => RequestId::Number(*n),
        NumberOrString::String(s) => RequestId::String(s.to_string()),
    }
}
