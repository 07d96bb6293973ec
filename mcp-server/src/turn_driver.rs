//! Drives one turn to its end: reads its events, forwards them to the host, asks the host about
//! approvals, and reports how the turn ended. Shared by the tools and the conversation API.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

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
use rmcp::model::ProgressNotificationParam;
use rmcp::model::ProgressToken;
use rmcp::model::ServerNotification;
use tokio_util::sync::CancellationToken;

use crate::approval;
use crate::approval::ApprovalKind;
use crate::approval::ApprovalRequest;
use crate::approval::shell_join;
use crate::ask_host::HostChannel;
use crate::delta_coalescing::HeldDelta;
use crate::delta_coalescing::is_delta;
use crate::user_input;
use crate::user_input::UserInputRequest;

/// A running turn reports progress after at most this much silence, so that hosts which
/// reset their timeout on progress keep waiting. Well under 5 s: a host with a 5 s timeout
/// must never come within a timer's jitter of it. The server's setting
/// (`ServerConfigLayer::heartbeat_interval`), which the in-process tests shorten.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(3500);
/// Step messages closer together than this are dropped: progress is for humans and timers.
const MIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

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
    /// The request that started the turn; approvals and events name it.
    pub(crate) request_id: RequestId,
    pub(crate) thread_id: ConversationId,
    /// Whether to send every event as a `codex/event` notification (tool calls do, unless
    /// turned off; API conversations have listeners instead).
    pub(crate) forward_events: bool,
    /// Where progress goes: the progress token of the request that carries the turn now, if
    /// it asked for progress.
    pub(crate) progress: Arc<ProgressTarget>,
    /// How approvals reach the host.
    pub(crate) host: HostChannel,
    /// Progress after at most this much silence ([`HEARTBEAT_INTERVAL`] but in tests).
    pub(crate) heartbeat_interval: Duration,
}

/// The progress token a turn reports to, and the last thing it reported. A legacy call's
/// token is fixed; a 2026-07-28 turn outlives its first request, so each retried call that
/// carries it attaches its own token, and between calls there is none. A task reads the last
/// message as its status.
#[derive(Default)]
pub(crate) struct ProgressTarget {
    /// Held while a notification is sent, so that once `detach` returns nothing more goes to
    /// the detached token: no progress may follow a request's result.
    token: tokio::sync::Mutex<Option<ProgressToken>>,
    last_message: Mutex<Option<String>>,
}

impl ProgressTarget {
    pub(crate) fn new(token: Option<ProgressToken>) -> Arc<Self> {
        Arc::new(Self {
            token: tokio::sync::Mutex::new(token),
            last_message: Mutex::new(None),
        })
    }

    /// From now on progress goes to `token` (or nowhere, when `None`).
    pub(crate) async fn attach(&self, token: Option<ProgressToken>) {
        *self.token.lock().await = token;
    }

    pub(crate) async fn detach(&self) {
        self.attach(None).await;
    }

    /// The last step or heartbeat message, whether or not a token was attached.
    pub(crate) fn last_message(&self) -> Option<String> {
        self.last_message
            .lock()
            .ok()
            .and_then(|message| message.clone())
    }
}

/// `notifications/progress` for a turn: strictly increasing, rate-limited, with a heartbeat.
/// Owned by the turn's driver.
struct ProgressReporter<'a> {
    peer: &'a Peer<RoleServer>,
    target: &'a ProgressTarget,
    sent: u32,
    started: Instant,
    /// The last notification that went out: steps closer to it than
    /// [`MIN_PROGRESS_INTERVAL`] are not sent. A request that attaches later gets its first
    /// step at once.
    last_sent: Option<Instant>,
    /// The last step or heartbeat, sent or not: the heartbeat comes after this much silence.
    last_report: Instant,
    heartbeat_interval: Duration,
}

impl<'a> ProgressReporter<'a> {
    fn new(
        peer: &'a Peer<RoleServer>,
        target: &'a ProgressTarget,
        heartbeat_interval: Duration,
    ) -> Self {
        let now = Instant::now();
        Self {
            peer,
            target,
            sent: 0,
            started: now,
            last_sent: None,
            last_report: now,
            heartbeat_interval,
        }
    }

    fn next_heartbeat(&self) -> Instant {
        self.last_report + self.heartbeat_interval
    }

    async fn step(&mut self, message: String) {
        let rate_limited = self
            .last_sent
            .is_some_and(|at| at.elapsed() < MIN_PROGRESS_INTERVAL);
        self.report(message, !rate_limited).await;
    }

    async fn heartbeat(&mut self) {
        let elapsed = self.started.elapsed().as_secs();
        self.report(format!("working ({elapsed} s)"), true).await;
    }

    /// Records `message` as the turn's latest status and, if `send` and a request is
    /// listening, sends it.
    async fn report(&mut self, message: String, send: bool) {
        self.last_report = Instant::now();
        if send {
            let token = self.target.token.lock().await;
            if let Some(token) = token.as_ref() {
                // One counter across tokens: still strictly increasing for each of them.
                self.sent += 1;
                self.last_sent = Some(self.last_report);
                let param = ProgressNotificationParam::new(token.clone(), f64::from(self.sent))
                    .with_message(message.clone());
                if let Err(err) = self.peer.notify_progress(param).await {
                    tracing::debug!("progress not delivered (host gone?): {err}");
                }
            }
        }
        if let Ok(mut last) = self.target.last_message.lock() {
            *last = Some(message);
        }
    }
}

/// What a host should read in its progress display for an event, if anything.
fn progress_message(msg: &EventMsg) -> Option<String> {
    match msg {
        EventMsg::TaskStarted(_) => Some("turn started".to_string()),
        EventMsg::ExecCommandBegin(event) => {
            let command = shell_join(&event.command);
            let mut shown: String = command.chars().take(80).collect();
            if shown.len() < command.len() {
                shown.push('…');
            }
            Some(format!("running `{shown}`"))
        }
        EventMsg::PatchApplyBegin(event) => Some(format!(
            "applying patch to {} file{}",
            event.changes.len(),
            if event.changes.len() == 1 { "" } else { "s" }
        )),
        EventMsg::McpToolCallBegin(event) => Some(format!(
            "calling `{}` of MCP server `{}`",
            event.invocation.tool, event.invocation.server
        )),
        // The server's own words, passed through.
        EventMsg::McpToolCallProgress(event) => Some(match (&event.message, event.total) {
            (Some(message), _) => format!("{}: {message}", event.invocation.tool),
            (None, Some(total)) => {
                format!("{}: {} of {total}", event.invocation.tool, event.progress)
            }
            (None, None) => format!("{}: {}", event.invocation.tool, event.progress),
        }),
        EventMsg::McpStartupComplete(event) if !event.failed.is_empty() => Some(format!(
            "MCP servers unavailable: {}",
            event
                .failed
                .iter()
                .map(|failure| failure.server.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        EventMsg::ExecApprovalRequest(_) | EventMsg::ApplyPatchApprovalRequest(_) => {
            Some("waiting for approval".to_string())
        }
        EventMsg::RequestUserInput(_) => Some("waiting for the user's answers".to_string()),
        EventMsg::StreamError(event) => Some(event.message.clone()),
        EventMsg::BackgroundEvent(event) => Some(event.message.clone()),
        _ => None,
    }
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
            msg: Cow::Borrowed(&event.msg),
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
    let mut progress = ProgressReporter::new(
        &reporter.peer,
        &reporter.progress,
        reporter.heartbeat_interval,
    );
    // Approvals still open when the turn ends are withdrawn from the host.
    let turn_ended = CancellationToken::new();
    let _withdraw_approvals = turn_ended.clone().drop_guard();
    let mut interrupted = false;
    // Streamed deltas go to the host merged (`delta_coalescing.rs`); only forwarded events
    // are held.
    let mut held = HeldDelta::default();
    loop {
        let heartbeat_at = progress.next_heartbeat();
        let send_held_at = held.deadline();
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
            () = sleep_until(send_held_at) => {
                if let Some(event) = held.take() {
                    reporter.forward(&event).await;
                }
                continue;
            }
            () = tokio::time::sleep_until(heartbeat_at) => {
                progress.heartbeat().await;
                continue;
            }
        };
        let event = match event {
            Ok(event) => event,
            Err(err) => return TurnOutcome::Lost(err),
        };
        // While events keep coming the branches above never win: their deadlines are
        // honoured here.
        let now = Instant::now();
        if held.deadline().is_some_and(|at| at <= now)
            && let Some(due) = held.take()
        {
            reporter.forward(&due).await;
        }
        if progress.next_heartbeat() <= now {
            progress.heartbeat().await;
        }
        if event.id != sub_id {
            tracing::debug!(event_id = %event.id, sub_id, "skipping an event of another turn");
            continue;
        }
        if reporter.forward_events && is_delta(&event.msg) {
            if let Some(due) = held.hold(event) {
                reporter.forward(&due).await;
            }
            continue;
        }
        // Whatever was held goes before this event, so the host sees them in order.
        if let Some(due) = held.take() {
            reporter.forward(&due).await;
        }
        // The status first: a host that has seen an event finds the task's status up to date.
        if let Some(message) = progress_message(&event.msg) {
            progress.step(message).await;
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
                    &turn_ended,
                );
            }
            EventMsg::ApplyPatchApprovalRequest(request) => {
                spawn_approval(
                    ApprovalKind::Patch(request),
                    event.id,
                    conversation,
                    reporter,
                    &notes,
                    &turn_ended,
                );
            }
            EventMsg::RequestUserInput(questions) => {
                tokio::spawn(user_input::resolve(UserInputRequest {
                    host: reporter.host.clone(),
                    conversation: Arc::clone(conversation),
                    request_id: reporter.request_id.clone(),
                    thread_id: reporter.thread_id.to_string(),
                    event_id: event.id,
                    event: questions,
                    turn_ended: turn_ended.child_token(),
                }));
            }
            EventMsg::Error(err) => return TurnOutcome::Failed(err.message),
            EventMsg::TurnAborted(_) => return TurnOutcome::Aborted,
            _ => {}
        }
    }
}

/// Sleeps until `at`; forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Asks the host on a task of its own, so that the turn's events keep flowing.
fn spawn_approval(
    kind: ApprovalKind,
    event_id: String,
    conversation: &Arc<CodexConversation>,
    reporter: &TurnReporter,
    notes: &Arc<Mutex<Vec<String>>>,
    turn_ended: &CancellationToken,
) {
    tokio::spawn(approval::resolve(ApprovalRequest {
        host: reporter.host.clone(),
        conversation: Arc::clone(conversation),
        request_id: reporter.request_id.clone(),
        thread_id: reporter.thread_id.to_string(),
        event_id,
        kind,
        notes: Arc::clone(notes),
        turn_ended: turn_ended.child_token(),
    }));
}
