//! Drives one turn to its end: reads its events, forwards them to the host, asks the host about
//! approvals, and reports how the turn ended. Shared by the tools and the conversation API.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::Mutex;

use codex_core::CodexConversation;
use codex_core::CodexErr;
use codex_core::ConversationId;
use codex_core::Event;
use codex_core::EventMsg;
use codex_core::Op;
use codex_mcp_types::CODEX_EVENT_METHOD;
use codex_mcp_types::CodexEventMeta;
use codex_mcp_types::CodexEventNotificationParams;
use codex_mcp_types::RequestId;
use rmcp::Peer;
use rmcp::RoleServer;
use rmcp::model::CustomNotification;
use rmcp::model::ServerNotification;
use tokio_util::sync::CancellationToken;

use crate::approval;
use crate::approval::ApprovalKind;
use crate::approval::ApprovalRequest;

/// How a turn ended.
pub(crate) enum TurnOutcome {
    /// The agent's last message, followed by any notes for the host (e.g. a denied approval).
    Completed(String),
    /// The turn failed with this message; the conversation stays usable.
    Failed(String),
    Aborted,
    /// The conversation itself ended.
    Lost(CodexErr),
}

/// The host a turn reports to.
pub(crate) struct TurnReporter {
    pub(crate) peer: Peer<RoleServer>,
    /// The request that started the turn; approvals name it.
    pub(crate) request_id: RequestId,
    pub(crate) thread_id: ConversationId,
    /// Whether to send every event as a `codex/event` notification (tool calls do; API
    /// conversations have listeners instead).
    pub(crate) forward_events: bool,
}

impl TurnReporter {
    /// Sends an event as a `codex/event` notification, if this reporter forwards events.
    pub(crate) async fn forward(&self, event: &Event) {
        if !self.forward_events {
            return;
        }
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

/// Reads the events of the turn submitted as `sub_id` until it ends. Holds the conversation's
/// event queue meanwhile, so no other reader can take this turn's events; events of other
/// submissions (leftovers of an abandoned turn) are skipped. `cancel` interrupts the turn,
/// which then ends as aborted.
pub(crate) async fn drive_turn(
    conversation: &Arc<CodexConversation>,
    sub_id: &str,
    reporter: &TurnReporter,
    cancel: CancellationToken,
) -> TurnOutcome {
    let mut events = conversation.events().await;
    let notes: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut interrupted = false;
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                if let Err(err) = conversation.submit(Op::Interrupt).await {
                    return TurnOutcome::Lost(err);
                }
                continue;
            }
            event = events.next() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(err) => return TurnOutcome::Lost(err),
        };
        if event.id != sub_id {
            tracing::debug!(event_id = %event.id, sub_id, "skipping an event of another turn");
            continue;
        }
        reporter.forward(&event).await;
        match event.msg {
            EventMsg::TaskComplete(done) => {
                let mut content = done.last_agent_message.unwrap_or_default();
                if let Ok(notes) = notes.lock() {
                    for note in notes.iter() {
                        content.push_str("\n\n");
                        content.push_str(note);
                    }
                }
                return TurnOutcome::Completed(content);
            }
            EventMsg::ExecApprovalRequest(request) => {
                spawn_approval(
                    ApprovalKind::Exec(request),
                    event.id,
                    conversation,
                    reporter,
                    &notes,
                );
            }
            EventMsg::ApplyPatchApprovalRequest(request) => {
                spawn_approval(
                    ApprovalKind::Patch(request),
                    event.id,
                    conversation,
                    reporter,
                    &notes,
                );
            }
            EventMsg::Error(err) => return TurnOutcome::Failed(err.message),
            EventMsg::TurnAborted(_) => return TurnOutcome::Aborted,
            _ => {}
        }
    }
}

/// Asks the host on a task of its own, so that the turn's events keep flowing.
fn spawn_approval(
    kind: ApprovalKind,
    event_id: String,
    conversation: &Arc<CodexConversation>,
    reporter: &TurnReporter,
    notes: &Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(approval::resolve(ApprovalRequest {
        peer: reporter.peer.clone(),
        conversation: Arc::clone(conversation),
        request_id: reporter.request_id.clone(),
        thread_id: reporter.thread_id.to_string(),
        event_id,
        kind,
        notes: Arc::clone(notes),
    }));
}
