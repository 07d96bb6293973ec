//! The model's questions to the user (`request_user_input`), asked of the host the way
//! approvals are: an elicitation in a legacy session, `input_required` or a task question under
//! 2026-07-28. A host that cannot be asked, or that does not answer in time, gives the model
//! no answer and a note saying why; the turn never hangs on it.

use std::sync::Arc;
use std::time::Duration;

use codex_core::CodexConversation;
use codex_core::Op;
use codex_core::protocol::RequestUserInputEvent;
use codex_core::protocol::RequestUserInputResponse;
use codex_mcp_types::ApprovalElicitCommon;
use codex_mcp_types::RequestId;
use codex_mcp_types::USER_INPUT_ELICITATION;
use codex_mcp_types::UserInputElicitParams;
use codex_mcp_types::parse_user_input_reply;
use codex_mcp_types::user_input_requested_schema;
use tokio_util::sync::CancellationToken;

use crate::ask_host::HostChannel;
use crate::mcp_settings::McpSettings;

/// Everything needed to ask the model's questions, detached from the turn's event loop.
pub(crate) struct UserInputRequest {
    pub(crate) host: HostChannel,
    pub(crate) conversation: Arc<CodexConversation>,
    pub(crate) request_id: RequestId,
    pub(crate) thread_id: String,
    pub(crate) event_id: String,
    pub(crate) event: RequestUserInputEvent,
    /// Cancelled when the turn has ended: the questions are moot.
    pub(crate) turn_ended: CancellationToken,
}

/// Asks, waits (as long as an approval may), and submits the answers.
pub(crate) async fn resolve(request: UserInputRequest) {
    let Some(response) = answers(&request).await else {
        return; // The turn ended first.
    };
    if request.turn_ended.is_cancelled() {
        return;
    }
    let op = Op::UserInputAnswer {
        id: request.event.call_id.clone(),
        response,
    };
    if let Err(err) = request.conversation.submit(op).await {
        tracing::warn!("answers not delivered, the conversation has ended: {err}");
    }
}

async fn answers(request: &UserInputRequest) -> Option<RequestUserInputResponse> {
    let no_answer = |note: String| RequestUserInputResponse {
        answers: Default::default(),
        note: Some(note),
    };
    if matches!(request.host, HostChannel::Unavailable) {
        return Some(no_answer(
            "the MCP client cannot be asked (it declared no elicitation for this call)".to_string(),
        ));
    }
    let questions = &request.event.questions;
    let message = questions
        .iter()
        .map(|question| question.question.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let params = UserInputElicitParams {
        common: ApprovalElicitCommon {
            message,
            requested_schema: user_input_requested_schema(questions),
            thread_id: request.thread_id.clone(),
            codex_elicitation: USER_INPUT_ELICITATION.to_string(),
            codex_mcp_tool_call_id: request.request_id.to_string(),
            codex_event_id: request.event_id.clone(),
            codex_call_id: request.event.call_id.clone(),
            codex_reason: None,
        },
        codex_questions: questions.clone(),
    };
    let params = match serde_json::to_value(params) {
        Ok(params) => params,
        Err(err) => {
            return Some(no_answer(format!(
                "the questions could not be sent ({err})"
            )));
        }
    };
    let timeout = Duration::from_secs(
        McpSettings::of(request.conversation.config())
            .approvals
            .timeout_secs,
    );
    let reply = request
        .host
        .ask(params, timeout, &request.turn_ended)
        .await?;
    Some(match reply {
        Ok(reply) => parse_user_input_reply(&reply, questions),
        Err(err) => no_answer(err),
    })
}
