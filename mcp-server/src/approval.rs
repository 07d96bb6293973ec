//! Approvals (commands and patches) as elicitations: ask the host (see `ask_host.rs` for how
//! each protocol era is asked), and turn whatever happens into a decision.
//!
//! Every path ends in an answer to the engine: the host's reply, a denial for an error reply,
//! an unreadable reply or a timeout, or the configured fallback when the host cannot be asked.
//! Nothing waits forever.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use codex_core::CodexConversation;
use codex_core::Op;
use codex_core::protocol::ApplyPatchApprovalRequestEvent;
use codex_core::protocol::ExecApprovalRequestEvent;
use codex_core::protocol::ReviewDecision;
use codex_mcp_types::ApprovalElicitCommon;
use codex_mcp_types::EXEC_APPROVAL_ELICITATION;
use codex_mcp_types::ExecApprovalElicitParams;
use codex_mcp_types::PATCH_APPROVAL_ELICITATION;
use codex_mcp_types::PatchApprovalElicitParams;
use codex_mcp_types::RequestId;
use codex_mcp_types::approval_requested_schema;
use codex_mcp_types::parse_approval_reply;
use tokio_util::sync::CancellationToken;

use crate::ask_host::HostChannel;
use crate::mcp_settings::ApprovalFallback;
use crate::mcp_settings::McpSettings;

/// What is asked about.
pub(crate) enum ApprovalKind {
    Exec(ExecApprovalRequestEvent),
    Patch(ApplyPatchApprovalRequestEvent),
}

impl ApprovalKind {
    fn call_id(&self) -> &str {
        match self {
            ApprovalKind::Exec(event) => &event.call_id,
            ApprovalKind::Patch(event) => &event.call_id,
        }
    }

    /// Short words for notes: "run `ls`" / "apply changes to 2 files".
    fn action(&self) -> String {
        match self {
            ApprovalKind::Exec(event) => format!("run `{}`", shell_join(&event.command)),
            ApprovalKind::Patch(event) => {
                format!("apply changes to {} file(s)", event.changes.len())
            }
        }
    }
}

/// Everything needed to ask about one action, detached from the turn's event loop.
pub(crate) struct ApprovalRequest {
    pub(crate) host: HostChannel,
    pub(crate) conversation: Arc<CodexConversation>,
    pub(crate) request_id: RequestId,
    pub(crate) thread_id: String,
    pub(crate) event_id: String,
    pub(crate) kind: ApprovalKind,
    /// Notes for the final result, e.g. that approval was unavailable.
    pub(crate) notes: Arc<Mutex<Vec<String>>>,
    /// Cancelled when the turn has ended: the question is moot, and the host is told so.
    pub(crate) turn_ended: CancellationToken,
}

/// Asks, waits (bounded), and submits the decision. Runs on its own task so the turn's other
/// events keep flowing and several approvals can be outstanding at once.
pub(crate) async fn resolve(request: ApprovalRequest) {
    let Some(decision) = decide(&request).await else {
        return; // The turn ended first; the engine already counted the approval as denied.
    };
    if request.turn_ended.is_cancelled() {
        return; // The answer came as the turn ended: it is moot, and must reach no later turn.
    }
    let id = request.kind.call_id().to_string();
    let op = match request.kind {
        ApprovalKind::Exec(_) => Op::ExecApproval { id, decision },
        ApprovalKind::Patch(_) => Op::PatchApproval { id, decision },
    };
    if let Err(err) = request.conversation.submit(op).await {
        tracing::warn!("approval not delivered, the conversation has ended: {err}");
    }
}

/// The decision, or `None` when the turn ended before there was one.
async fn decide(request: &ApprovalRequest) -> Option<ReviewDecision> {
    let approvals = &McpSettings::of(request.conversation.config()).approvals;
    let action = request.kind.action();
    if matches!(request.host, HostChannel::Unavailable) {
        let note = format!(
            "Approval to {action} could not be requested: the MCP client did not declare elicitation for this call, so it was {} by the configured fallback (approvals.fallback).",
            match approvals.fallback {
                ApprovalFallback::Deny => "denied",
                ApprovalFallback::Abort => "denied and the turn aborted",
            }
        );
        add_note(request, &note);
        return Some(match approvals.fallback {
            ApprovalFallback::Deny => ReviewDecision::DeniedWithReason(
                "approval unavailable: the MCP client cannot be asked (it declared no elicitation), so this was not done; do not retry it, continue without it or explain what the user must do"
                    .to_string(),
            ),
            ApprovalFallback::Abort => ReviewDecision::Abort,
        });
    }

    let params = match elicitation_params(request) {
        Ok(params) => params,
        Err(err) => {
            return Some(ReviewDecision::DeniedWithReason(format!(
                "approval request failed ({err})"
            )));
        }
    };
    let timeout = Duration::from_secs(approvals.timeout_secs);
    let reply = request
        .host
        .ask(params, timeout, &request.turn_ended)
        .await?;
    Some(match reply {
        Ok(reply) => parse_approval_reply(&reply),
        Err(err) => {
            tracing::warn!(call_id = request.kind.call_id(), "approval denied: {err}");
            add_note(
                request,
                &format!("Approval to {action} was denied because the request failed: {err}."),
            );
            ReviewDecision::DeniedWithReason(format!(
                "approval request failed ({err}); it was not done"
            ))
        }
    })
}

/// The `elicitation/create` params, in the shape the replaced server sent.
fn elicitation_params(request: &ApprovalRequest) -> Result<serde_json::Value, serde_json::Error> {
    let common = |message: String, elicitation: &str, call_id: &str, reason: &Option<String>| {
        ApprovalElicitCommon {
            message,
            requested_schema: approval_requested_schema(),
            thread_id: request.thread_id.clone(),
            codex_elicitation: elicitation.to_string(),
            codex_mcp_tool_call_id: request.request_id.to_string(),
            codex_event_id: request.event_id.clone(),
            codex_call_id: call_id.to_string(),
            codex_reason: reason.clone(),
        }
    };
    match &request.kind {
        ApprovalKind::Exec(event) => serde_json::to_value(ExecApprovalElicitParams {
            common: common(
                format!(
                    "Allow Codex to run `{}` in `{}`?",
                    shell_join(&event.command),
                    event.cwd.display()
                ),
                EXEC_APPROVAL_ELICITATION,
                &event.call_id,
                &event.reason,
            ),
            codex_command: event.command.clone(),
            codex_cwd: event.cwd.display().to_string(),
            codex_parsed_cmd: event.parsed_cmd.clone(),
        }),
        ApprovalKind::Patch(event) => {
            let question = "Allow Codex to apply proposed code changes?";
            let message = match &event.reason {
                Some(reason) => format!("{reason}\n{question}"),
                None => question.to_string(),
            };
            serde_json::to_value(PatchApprovalElicitParams {
                common: common(
                    message,
                    PATCH_APPROVAL_ELICITATION,
                    &event.call_id,
                    &event.reason,
                ),
                codex_grant_root: event
                    .grant_root
                    .as_ref()
                    .map(|root| root.display().to_string()),
                codex_changes: event.changes.clone(),
            })
        }
    }
}

fn add_note(request: &ApprovalRequest, note: &str) {
    if let Ok(mut notes) = request.notes.lock() {
        notes.push(note.to_string());
    }
}

/// The argv as a user would type it.
pub(crate) fn shell_join(command: &[String]) -> String {
    shlex::try_join(command.iter().map(String::as_str)).unwrap_or_else(|_| command.join(" "))
}
