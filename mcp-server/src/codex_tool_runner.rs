//! Runs a `codex` or `codex-reply` call: starts or finds the conversation, submits the prompt,
//! forwards every event as a `codex/event` notification, and answers with the turn's outcome.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::Mutex;

use codex_core::CodexConversation;
use codex_core::ConversationId;
use codex_core::ConversationManager;
use codex_core::Event;
use codex_core::EventMsg;
use codex_core::NewConversation;
use codex_core::Op;
use codex_core::protocol::InputItem;
use codex_core::protocol::Submission;
use codex_mcp_types::CODEX_EVENT_METHOD;
use codex_mcp_types::CODEX_REPLY_TOOL_NAME;
use codex_mcp_types::CODEX_TOOL_NAME;
use codex_mcp_types::CodexEventMeta;
use codex_mcp_types::CodexEventNotificationParams;
use codex_mcp_types::CodexToolCallParam;
use codex_mcp_types::CodexToolCallReplyParam;
use codex_mcp_types::RequestId;
use rmcp::Peer;
use rmcp::RoleServer;
use rmcp::model::CallToolResult;
use rmcp::model::CustomNotification;
use rmcp::model::JsonObject;
use rmcp::model::NumberOrString;
use rmcp::model::ServerNotification;
use rmcp::service::RequestContext;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::approval;
use crate::approval::ApprovalKind;
use crate::approval::ApprovalRequest;
use crate::codex_tool_config::ServerConfigLayer;
use crate::tool_error::ToolCallError;
use crate::tool_error::success;

pub(crate) async fn run_codex(
    conversations: &ConversationManager,
    config: &ServerConfigLayer,
    arguments: Option<JsonObject>,
    context: RequestContext<RoleServer>,
) -> CallToolResult {
    let params: CodexToolCallParam = match parse_arguments(CODEX_TOOL_NAME, arguments) {
        Ok(params) => params,
        Err(err) => return err.into_result(None),
    };
    let config = match config.load_for_call(&params).await {
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
    let Ok(conversation) = conversations.get_conversation(conversation_id) else {
        return ToolCallError::UnknownThread(conversation_id).into_result(None);
    };
    run_turn(conversation, params.prompt, None, context).await
}

/// Submits `prompt` as a turn and answers with its outcome. `first_event` (the new
/// conversation's `session_configured`) is forwarded before the turn's own events.
async fn run_turn(
    conversation: Arc<CodexConversation>,
    prompt: String,
    first_event: Option<Event>,
    context: RequestContext<RoleServer>,
) -> CallToolResult {
    let request_id = request_id(&context.id);
    let events = EventForwarder {
        peer: context.peer,
        request_id: request_id.clone(),
        thread_id: conversation.conversation_id(),
    };
    if let Some(event) = first_event {
        events.forward(&event).await;
    }
    // The request id becomes the turn's submission id, so the host can match every event of
    // the turn to its call.
    let submission = Submission {
        id: request_id.to_string(),
        op: Op::UserInput {
            items: vec![InputItem::Text { text: prompt }],
        },
    };
    if let Err(err) = conversation.submit_with_id(submission).await {
        return ToolCallError::Submit(err).into_result(Some(events.thread_id));
    }
    drive_turn(conversation, &events, context.ct).await
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

/// Reads the conversation's events until the turn ends, forwarding each to the host.
async fn drive_turn(
    conversation: Arc<CodexConversation>,
    events: &EventForwarder,
    cancel: CancellationToken,
) -> CallToolResult {
    let thread_id = events.thread_id;
    let mut interrupted = false;
    let notes: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                if let Err(err) = conversation.submit(Op::Interrupt).await {
                    return ToolCallError::Runtime(err).into_result(Some(thread_id));
                }
                continue;
            }
            event = conversation.next_event() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(err) => return ToolCallError::Runtime(err).into_result(Some(thread_id)),
        };
        events.forward(&event).await;
        match event.msg {
            EventMsg::TaskComplete(done) => {
                let mut content = done.last_agent_message.unwrap_or_default();
                if let Ok(notes) = notes.lock() {
                    for note in notes.iter() {
                        content.push_str("\n\n");
                        content.push_str(note);
                    }
                }
                return success(thread_id, content);
            }
            EventMsg::ExecApprovalRequest(request) => {
                spawn_approval(
                    ApprovalKind::Exec(request),
                    event.id,
                    &conversation,
                    events,
                    &notes,
                );
            }
            EventMsg::ApplyPatchApprovalRequest(request) => {
                spawn_approval(
                    ApprovalKind::Patch(request),
                    event.id,
                    &conversation,
                    events,
                    &notes,
                );
            }
            EventMsg::Error(err) => {
                return ToolCallError::Turn(err.message).into_result(Some(thread_id));
            }
            EventMsg::TurnAborted(_) => return ToolCallError::Aborted.into_result(Some(thread_id)),
            _ => {}
        }
    }
}

/// Asks the host on a task of its own, so that the turn's events keep flowing.
fn spawn_approval(
    kind: ApprovalKind,
    event_id: String,
    conversation: &Arc<CodexConversation>,
    events: &EventForwarder,
    notes: &Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(approval::resolve(ApprovalRequest {
        peer: events.peer.clone(),
        conversation: Arc::clone(conversation),
        request_id: events.request_id.clone(),
        thread_id: events.thread_id.to_string(),
        event_id,
        kind,
        notes: Arc::clone(notes),
    }));
}

/// Sends a call's events to the host as `codex/event` notifications.
struct EventForwarder {
    peer: Peer<RoleServer>,
    request_id: RequestId,
    thread_id: ConversationId,
}

impl EventForwarder {
    async fn forward(&self, event: &Event) {
        let params = CodexEventNotificationParams {
            meta: CodexEventMeta {
                request_id: self.request_id.clone(),
                thread_id: Some(self.thread_id.to_string()),
            },
            id: Cow::Borrowed(&event.id),
            msg: &event.msg,
        };
        let params = match serde_json::to_value(params) {
            Ok(params) => params,
            Err(err) => {
                tracing::error!("cannot serialize event: {err}");
                return;
            }
        };
        let notification = ServerNotification::CustomNotification(CustomNotification::new(
            CODEX_EVENT_METHOD,
            Some(params),
        ));
        if let Err(err) = self.peer.send_notification(notification).await {
            tracing::debug!("event not delivered (host gone?): {err}");
        }
    }
}

fn request_id(id: &NumberOrString) -> RequestId {
    match id {
        NumberOrString::Number(n) => RequestId::Number(*n),
        NumberOrString::String(s) => RequestId::String(s.to_string()),
    }
}
