//! The session task: the one task that owns a conversation's state and runs its turns.
//!
//! Ownership does the synchronisation. The submission loop owns the [`SessionState`] while
//! idle and lends it to the turn it starts; the turn hands it back when it ends, whether it
//! completed, failed or was interrupted. No lock guards the history.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::HashSet;
use std::collections::VecDeque;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::apply_patch::FileChange;
use crate::auth::AuthManager;
use crate::config::Config;
use crate::environment_context::environment_context;
use crate::environment_context::user_shell_name;
use crate::error::CodexErr;
use crate::error::Result;
use crate::model_client::ModelClient;
use crate::model_client::Prompt;
use crate::model_client::ResponseEvent;
use crate::model_client::backoff;
use crate::parse_command::parse_command;
use crate::protocol::AgentMessageDeltaEvent;
use crate::protocol::AgentMessageEvent;
use crate::protocol::AgentReasoningDeltaEvent;
use crate::protocol::AgentReasoningEvent;
use crate::protocol::ApplyPatchApprovalRequestEvent;
use crate::protocol::ConversationId;
use crate::protocol::ErrorEvent;
use crate::protocol::Event;
use crate::protocol::EventMsg;
use crate::protocol::ExecApprovalRequestEvent;
use crate::protocol::InputItem;
use crate::protocol::Op;
use crate::protocol::ReviewDecision;
use crate::protocol::SessionConfiguredEvent;
use crate::protocol::StreamErrorEvent;
use crate::protocol::Submission;
use crate::protocol::TaskCompleteEvent;
use crate::protocol::TaskStartedEvent;
use crate::protocol::TokenCountEvent;
use crate::protocol::TokenUsageInfo;
use crate::protocol::TurnAbortReason;
use crate::protocol::TurnAbortedEvent;
use crate::protocol::TurnDiffEvent;
use crate::protocol::UserMessageEvent;
use crate::response_item::ReasoningSummaryPart;
use crate::response_item::ResponseItem;
use crate::tool_router::ToolOutput;
use crate::tool_router::ToolRouter;
use crate::turn_diff::TurnDiffTracker;

/// Submissions waiting for the session task. Small: a client submits one turn at a time and
/// then reads events; a full queue makes `submit` wait, which is the back-pressure we want.
pub(crate) const SUBMISSION_CHANNEL_CAPACITY: usize = 64;

const BASE_INSTRUCTIONS: &str = include_str!("prompt.md");
/// Output given to a call whose turn was interrupted before it produced one.
const ABORTED_CALL_OUTPUT: &str = "aborted: the turn was interrupted before this call finished";

/// What never changes during a conversation; shared by the loop and its turns.
struct Session {
    conversation_id: ConversationId,
    config: Arc<Config>,
    client: ModelClient,
    tools: ToolRouter,
    instructions: String,
    /// The event queue's sending half. The conversation handle holds the receiver; when it
    /// is gone, sends fail silently and the session winds down with its submission channel.
    tx_event: mpsc::UnboundedSender<Event>,
    /// Approval requests waiting for an `Op::ExecApproval`, by call id. A std lock: entries
    /// are inserted and taken, never held across an `.await`. A dropped sender (the turn
    /// ended) reads as a denial on the waiting side.
    pending_approvals: Mutex<HashMap<String, oneshot::Sender<ReviewDecision>>>,
    /// Commands the user approved for the rest of the conversation, by exact argv.
    approved_commands: Mutex<HashSet<Vec<String>>>,
    /// Files the user approved patches to for the rest of the conversation.
    approved_paths: Mutex<HashSet<PathBuf>>,
}

impl Session {
    fn resolve_approval(&self, call_id: &str, decision: ReviewDecision) {
        let waiting = lock(&self.pending_approvals).remove(call_id);
        match waiting {
            Some(sender) => {
                let _ = sender.send(decision);
            }
            None => tracing::warn!(call_id, "approval for a request that is not pending"),
        }
    }

    fn emit(&self, id: &str, msg: EventMsg) {
        // The receiver is gone only when the conversation is being dropped; nobody is left
        // to tell.
        let _ = self.tx_event.send(Event {
            id: id.to_string(),
            msg,
        });
    }
}

/// The mutable state of a conversation, owned by whoever is running it.
struct SessionState {
    history: Vec<ResponseItem>,
    token_info: Option<TokenUsageInfo>,
}

struct RunningTurn {
    cancel: CancellationToken,
    handle: JoinHandle<SessionState>,
}

/// Starts the session task of a new conversation and emits `session_configured` first.
pub(crate) fn spawn(
    config: Arc<Config>,
    auth: Arc<AuthManager>,
    http: reqwest::Client,
    conversation_id: ConversationId,
) -> (mpsc::Sender<Submission>, mpsc::UnboundedReceiver<Event>) {
    let (tx_sub, rx_sub) = mpsc::channel(SUBMISSION_CHANNEL_CAPACITY);
    let (tx_event, rx_event) = mpsc::unbounded_channel();
    let instructions = config
        .base_instructions
        .clone()
        .unwrap_or_else(|| BASE_INSTRUCTIONS.to_string());
    let session = Arc::new(Session {
        conversation_id,
        client: ModelClient::new(http, Arc::clone(&config), auth, conversation_id),
        tools: ToolRouter::new(),
        instructions,
        config,
        tx_event,
        pending_approvals: Mutex::new(HashMap::new()),
        approved_commands: Mutex::new(HashSet::new()),
        approved_paths: Mutex::new(HashSet::new()),
    });
    let state = SessionState {
        history: initial_context(&session.config),
        token_info: None,
    };
    session.emit(
        "",
        EventMsg::SessionConfigured(SessionConfiguredEvent {
            session_id: conversation_id,
            model: session.config.model.clone(),
            model_provider_id: session.config.model_provider_id.clone(),
            approval_policy: session.config.approval_policy,
            sandbox_policy: session.config.sandbox_policy.clone(),
            cwd: session.config.cwd.clone(),
            reasoning_effort: session.config.model_reasoning_effort,
            history_log_id: 0,
            history_entry_count: 0,
            rollout_path: None,
        }),
    );
    tokio::spawn(submission_loop(session, rx_sub, state));
    (tx_sub, rx_event)
}

/// The messages every conversation starts with: developer instructions, AGENTS.md, and the
/// environment context.
fn initial_context(config: &Config) -> Vec<ResponseItem> {
    let mut items = Vec::with_capacity(3);
    if let Some(developer) = &config.developer_instructions {
        items.push(ResponseItem::text_message("developer", developer.clone()));
    }
    if let Some(user_instructions) = &config.user_instructions {
        items.push(ResponseItem::text_message(
            "user",
            format!("<user_instructions>\n\n{user_instructions}\n\n</user_instructions>"),
        ));
    }
    items.push(ResponseItem::text_message(
        "user",
        environment_context(
            &config.cwd,
            config.approval_policy,
            &config.sandbox_policy,
            user_shell_name().as_deref(),
        ),
    ));
    items
}

async fn submission_loop(
    session: Arc<Session>,
    mut rx_sub: mpsc::Receiver<Submission>,
    state: SessionState,
) {
    let mut idle_state = Some(state);
    let mut running: Option<RunningTurn> = None;
    let mut queued: VecDeque<(String, Vec<InputItem>)> = VecDeque::new();
    loop {
        if running.is_none()
            && let Some((id, items)) = queued.pop_front()
            && let Some(state) = idle_state.take()
        {
            let cancel = CancellationToken::new();
            let handle = tokio::spawn(run_turn(
                Arc::clone(&session),
                state,
                id,
                items,
                cancel.clone(),
            ));
            running = Some(RunningTurn { cancel, handle });
        }

        let submission = tokio::select! {
            submission = rx_sub.recv() => submission,
            state = join_turn(&mut running) => {
                idle_state = state;
                running = None;
                continue;
            }
        };
        let Some(submission) = submission else {
            // Every handle to the conversation is gone: stop the turn with it.
            if let Some(turn) = running.take() {
                turn.cancel.cancel();
                let _ = turn.handle.await;
            }
            return;
        };
        match submission.op {
            Op::UserInput { items } => queued.push_back((submission.id, items)),
            Op::Interrupt => {
                if let Some(turn) = &running {
                    turn.cancel.cancel();
                }
            }
            Op::ExecApproval { id, decision } | Op::PatchApproval { id, decision } => {
                session.resolve_approval(&id, decision);
            }
            Op::Shutdown => {
                queued.clear();
                if let Some(turn) = running.take() {
                    turn.cancel.cancel();
                    let _ = turn.handle.await;
                }
                session.emit(&submission.id, EventMsg::ShutdownComplete);
                return;
            }
        }
    }
}

/// Waits for the running turn to hand the state back; never resolves when nothing runs.
async fn join_turn(running: &mut Option<RunningTurn>) -> Option<SessionState> {
    match running {
        Some(turn) => match (&mut turn.handle).await {
            Ok(state) => Some(state),
            Err(err) => {
                // A panicking turn loses the state; the conversation cannot continue.
                tracing::error!("turn task failed: {err}");
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// One turn: the user's input, then model requests until the model stops calling tools.
async fn run_turn(
    session: Arc<Session>,
    mut state: SessionState,
    sub_id: String,
    items: Vec<InputItem>,
    cancel: CancellationToken,
) -> SessionState {
    session.emit(
        &sub_id,
        EventMsg::TaskStarted(TaskStartedEvent {
            model_context_window: None,
        }),
    );
    let text: String = items
        .into_iter()
        .map(|item| match item {
            InputItem::Text { text } => text,
        })
        .collect::<Vec<_>>()
        .join("\n");
    state
        .history
        .push(ResponseItem::text_message("user", text.clone()));
    session.emit(
        &sub_id,
        EventMsg::UserMessage(UserMessageEvent { message: text }),
    );

    let turn = TurnContext {
        session: &session,
        sub_id: &sub_id,
        cancel: &cancel,
        diff: Mutex::new(TurnDiffTracker::default()),
    };
    // Dropping the requests future on cancel also drops any running command, whose process
    // group is killed with it.
    let outcome = tokio::select! {
        biased;
        () = cancel.cancelled() => Err(CodexErr::Interrupted),
        outcome = run_model_requests(&turn, &mut state) => outcome,
    };
    match outcome {
        Ok(last_agent_message) => {
            if let Some(unified_diff) = lock(&turn.diff).unified_diff() {
                session.emit(&sub_id, EventMsg::TurnDiff(TurnDiffEvent { unified_diff }));
            }
            session.emit(
                &sub_id,
                EventMsg::TaskComplete(TaskCompleteEvent { last_agent_message }),
            );
        }
        Err(CodexErr::Interrupted) => {
            answer_orphaned_calls(&mut state.history);
            session.emit(
                &sub_id,
                EventMsg::TurnAborted(TurnAbortedEvent {
                    reason: TurnAbortReason::Interrupted,
                }),
            );
        }
        Err(err) => {
            answer_orphaned_calls(&mut state.history);
            tracing::warn!(conversation_id = %session.conversation_id, "turn failed: {err}");
            session.emit(
                &sub_id,
                EventMsg::Error(ErrorEvent {
                    message: err.to_string(),
                }),
            );
        }
    }
    state
}

/// Model requests until the model stops calling tools; returns its last message. Transient
/// failures are retried here, each retry announced to the client as a `stream_error`.
async fn run_model_requests(
    turn: &TurnContext<'_>,
    state: &mut SessionState,
) -> Result<Option<String>> {
    let provider = &turn.session.config.model_provider;
    let mut last_agent_message = None;
    let mut retries: u64 = 0;
    loop {
        let checkpoint = state.history.len();
        match run_one_request(turn, state, &mut last_agent_message).await {
            Ok(true) => retries = 0,
            Ok(false) => return Ok(last_agent_message),
            Err(err) => {
                let budget = if err.is_request_failure() {
                    provider.request_max_retries()
                } else {
                    provider.stream_max_retries()
                };
                if !err.is_retryable() || retries >= budget {
                    return Err(err);
                }
                retries += 1;
                // What the failed attempt added is dropped: the retry asks the same question.
                state.history.truncate(checkpoint);
                let delay = err.retry_after().unwrap_or_else(|| backoff(retries));
                tracing::warn!(
                    retries,
                    budget,
                    ?delay,
                    "model request failed, retrying: {err}"
                );
                turn.emit(EventMsg::StreamError(StreamErrorEvent {
                    message: format!("Reconnecting... {retries}/{budget} ({err})"),
                }));
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// One model request. Returns whether tools ran (so another request must follow).
async fn run_one_request(
    turn: &TurnContext<'_>,
    state: &mut SessionState,
    last_agent_message: &mut Option<String>,
) -> Result<bool> {
    let session = turn.session;
    let sub_id = turn.sub_id;
    let prompt = Prompt {
        instructions: &session.instructions,
        input: &state.history,
        tools: session.tools.specs(),
    };
    let mut stream = session.client.stream(&prompt).await?;
    let mut called_tools = false;
    while let Some(event) = stream.next().await {
        match event? {
            ResponseEvent::Created => {}
            ResponseEvent::OutputTextDelta(delta) => session.emit(
                sub_id,
                EventMsg::AgentMessageDelta(AgentMessageDeltaEvent { delta }),
            ),
            ResponseEvent::ReasoningSummaryDelta(delta) => session.emit(
                sub_id,
                EventMsg::AgentReasoningDelta(AgentReasoningDeltaEvent { delta }),
            ),
            ResponseEvent::OutputItemDone(item) => {
                match handle_output_item(turn, state, item).await {
                    ItemOutcome::AgentMessage(text) => *last_agent_message = Some(text),
                    ItemOutcome::ToolCalled => called_tools = true,
                    ItemOutcome::AbortTurn => return Err(CodexErr::Interrupted),
                    ItemOutcome::Recorded => {}
                }
            }
            ResponseEvent::Completed { token_usage, .. } => {
                if let Some(usage) = token_usage {
                    let info = state.token_info.get_or_insert_with(TokenUsageInfo::default);
                    info.record(usage);
                    session.emit(
                        sub_id,
                        EventMsg::TokenCount(TokenCountEvent {
                            info: Some(info.clone()),
                        }),
                    );
                }
            }
        }
    }
    Ok(called_tools)
}

enum ItemOutcome {
    AgentMessage(String),
    /// A tool ran; its output must go back to the model in another request.
    ToolCalled,
    /// The user aborted the turn from an approval.
    AbortTurn,
    Recorded,
}

/// Records a finished output item and runs it if it is a tool call.
async fn handle_output_item(
    turn: &TurnContext<'_>,
    state: &mut SessionState,
    item: ResponseItem,
) -> ItemOutcome {
    let session = turn.session;
    let sub_id = turn.sub_id;
    match &item {
        ResponseItem::Message { role, .. } if role == "assistant" => {
            let text = item.message_text().unwrap_or_default();
            state.history.push(item);
            session.emit(
                sub_id,
                EventMsg::AgentMessage(AgentMessageEvent {
                    message: text.clone(),
                }),
            );
            ItemOutcome::AgentMessage(text)
        }
        ResponseItem::Reasoning { summary, .. } => {
            for ReasoningSummaryPart::SummaryText { text } in summary {
                session.emit(
                    sub_id,
                    EventMsg::AgentReasoning(AgentReasoningEvent { text: text.clone() }),
                );
            }
            state.history.push(item);
            ItemOutcome::Recorded
        }
        ResponseItem::FunctionCall {
            name,
            arguments,
            call_id,
        } => {
            // Recorded before it runs: an interrupted call stays visible to the model, and
            // `answer_orphaned_calls` gives it an output.
            let (name, arguments, call_id) = (name.clone(), arguments.clone(), call_id.clone());
            state.history.push(item);
            let output = session
                .tools
                .dispatch(turn, &name, &arguments, &call_id)
                .await;
            record_tool_output(state, output, |output| ResponseItem::FunctionCallOutput {
                call_id,
                output,
            })
        }
        ResponseItem::CustomToolCall {
            call_id,
            name,
            input,
        } => {
            let (call_id, name, input) = (call_id.clone(), name.clone(), input.clone());
            state.history.push(item);
            let output = session
                .tools
                .dispatch_custom(turn, &name, &input, &call_id)
                .await;
            record_tool_output(state, output, |output| ResponseItem::CustomToolCallOutput {
                call_id,
                output,
            })
        }
        ResponseItem::Message { .. }
        | ResponseItem::FunctionCallOutput { .. }
        | ResponseItem::CustomToolCallOutput { .. } => {
            state.history.push(item);
            ItemOutcome::Recorded
        }
        ResponseItem::Other => ItemOutcome::Recorded,
    }
}

/// Records a tool's output in the history item shape of its call.
fn record_tool_output(
    state: &mut SessionState,
    output: ToolOutput,
    item: impl FnOnce(String) -> ResponseItem,
) -> ItemOutcome {
    state.history.push(item(output.output));
    if output.abort_turn {
        ItemOutcome::AbortTurn
    } else {
        ItemOutcome::ToolCalled
    }
}

/// What a running turn offers the tools it runs.
pub(crate) struct TurnContext<'a> {
    session: &'a Session,
    sub_id: &'a str,
    cancel: &'a CancellationToken,
    /// What the turn changed by patch; a std lock, never held across an `.await`.
    diff: Mutex<TurnDiffTracker>,
}

impl TurnContext<'_> {
    pub(crate) fn config(&self) -> &Config {
        &self.session.config
    }

    pub(crate) fn emit(&self, msg: EventMsg) {
        self.session.emit(self.sub_id, msg);
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        self.cancel
    }

    pub(crate) fn is_approved_for_session(&self, command: &[String]) -> bool {
        lock(&self.session.approved_commands).contains(command)
    }

    pub(crate) fn approve_for_session(&self, command: Vec<String>) {
        lock(&self.session.approved_commands).insert(command);
    }

    pub(crate) fn is_path_approved_for_session(&self, path: &Path) -> bool {
        lock(&self.session.approved_paths).contains(path)
    }

    pub(crate) fn approve_paths_for_session(&self, paths: Vec<PathBuf>) {
        lock(&self.session.approved_paths).extend(paths);
    }

    /// Remembers the content of files about to be patched, for the turn's diff.
    pub(crate) fn record_patch_originals(&self, paths: Vec<PathBuf>) {
        lock(&self.diff).record(paths);
    }

    /// Asks the client whether a patch may be applied; like `request_exec_approval`.
    pub(crate) async fn request_patch_approval(
        &self,
        call_id: &str,
        changes: BTreeMap<PathBuf, FileChange>,
        reason: Option<String>,
        grant_root: Option<PathBuf>,
    ) -> ReviewDecision {
        let (tx, rx) = oneshot::channel();
        let _pending = PendingApproval::register(self.session, call_id, tx);
        self.emit(EventMsg::ApplyPatchApprovalRequest(
            ApplyPatchApprovalRequestEvent {
                call_id: call_id.to_string(),
                changes,
                reason,
                grant_root,
            },
        ));
        rx.await.unwrap_or_default()
    }

    /// Asks the client whether `command` may run and waits for the answer. Every way the
    /// wait can end without an answer (the client goes away, the turn is dropped) is a denial.
    pub(crate) async fn request_exec_approval(
        &self,
        call_id: &str,
        command: &[String],
        cwd: &Path,
        reason: Option<String>,
    ) -> ReviewDecision {
        let (tx, rx) = oneshot::channel();
        let _pending = PendingApproval::register(self.session, call_id, tx);
        self.emit(EventMsg::ExecApprovalRequest(ExecApprovalRequestEvent {
            call_id: call_id.to_string(),
            command: command.to_vec(),
            cwd: cwd.to_path_buf(),
            reason,
            parsed_cmd: parse_command(command),
        }));
        rx.await.unwrap_or_default()
    }
}

/// Removes a pending approval when its waiter goes away, answered or not.
struct PendingApproval<'a> {
    session: &'a Session,
    call_id: String,
}

impl<'a> PendingApproval<'a> {
    fn register(session: &'a Session, call_id: &str, tx: oneshot::Sender<ReviewDecision>) -> Self {
        lock(&session.pending_approvals).insert(call_id.to_string(), tx);
        Self {
            session,
            call_id: call_id.to_string(),
        }
    }
}

impl Drop for PendingApproval<'_> {
    fn drop(&mut self) {
        lock(&self.session.pending_approvals).remove(&self.call_id);
    }
}

/// Locks a std mutex, recovering from poisoning: the data is plain and stays consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Gives every call without an output a placeholder one, so the next request is valid.
fn answer_orphaned_calls(history: &mut Vec<ResponseItem>) {
    let answered: HashSet<&str> = history
        .iter()
        .filter_map(|item| match item {
            ResponseItem::FunctionCallOutput { call_id, .. }
            | ResponseItem::CustomToolCallOutput { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    let orphans: Vec<ResponseItem> = history
        .iter()
        .filter_map(|item| match item {
            ResponseItem::FunctionCall { call_id, .. } if !answered.contains(call_id.as_str()) => {
                Some(ResponseItem::FunctionCallOutput {
                    call_id: call_id.clone(),
                    output: ABORTED_CALL_OUTPUT.to_string(),
                })
            }
            ResponseItem::CustomToolCall { call_id, .. }
                if !answered.contains(call_id.as_str()) =>
            {
                Some(ResponseItem::CustomToolCallOutput {
                    call_id: call_id.clone(),
                    output: ABORTED_CALL_OUTPUT.to_string(),
                })
            }
            _ => None,
        })
        .collect();
    history.extend(orphans);
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn orphaned_calls_get_an_output() {
        let call = |id: &str| ResponseItem::FunctionCall {
            name: "shell".into(),
            arguments: "{}".into(),
            call_id: id.into(),
        };
        let output = |id: &str, text: &str| ResponseItem::FunctionCallOutput {
            call_id: id.into(),
            output: text.into(),
        };
        let mut history = vec![call("a"), output("a", "done"), call("b")];
        answer_orphaned_calls(&mut history);
        assert_eq!(
            history,
            vec![
                call("a"),
                output("a", "done"),
                call("b"),
                output("b", ABORTED_CALL_OUTPUT)
            ]
        );
    }
}
