//! The session task: the one task that owns a conversation's state and runs its turns.
//!
//! Ownership does the synchronisation. The submission loop owns the [`SessionState`] while
//! idle and lends it to the turn it starts; the turn hands it back when it ends, whether it
//! completed, failed or was interrupted. No lock guards the history.
//!
//! Everything worth keeping goes to the conversation's rollout: history items at request
//! boundaries (so a retried request never leaves a duplicate), the replayable events as they
//! happen, and a flush before a turn's end is announced, so a client that saw the result can
//! rely on the file.

mod compaction;
mod environment_context;

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

use crate::client::ModelClient;
use crate::client::ModelTransport;
use crate::client::Prompt;
use crate::client::ResponseEvent;
use crate::config::Config;
use crate::conversation::ConversationShared;
use crate::conversation::lock;
use crate::error::CodexErr;
use crate::error::Result;
use crate::net::backoff;
use crate::protocol::AgentMessageDeltaEvent;
use crate::protocol::AgentMessageEvent;
use crate::protocol::AgentReasoningDeltaEvent;
use crate::protocol::AgentReasoningEvent;
use crate::protocol::ApplyPatchApprovalRequestEvent;
use crate::protocol::AskForApproval;
use crate::protocol::BackgroundEventEvent;
use crate::protocol::ConversationId;
use crate::protocol::ErrorEvent;
use crate::protocol::Event;
use crate::protocol::EventMsg;
use crate::protocol::ExecApprovalRequestEvent;
use crate::protocol::FileChange;
use crate::protocol::InputItem;
use crate::protocol::Op;
use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::ReasoningSummaryPart;
use crate::protocol::ResponseItem;
use crate::protocol::ReviewDecision;
use crate::protocol::SandboxPolicy;
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
use crate::rollout::CompactedItem;
use crate::rollout::LoadedRollout;
use crate::rollout::RolloutItem;
use crate::rollout::RolloutRecorder;
use crate::rollout::SessionMeta;
use crate::rollout::SessionSource;
use crate::rollout::TurnContextItem;
use crate::rollout::collect_git_info;
use crate::rollout::is_persisted_event;
use crate::rollout::utc_timestamp;
use crate::safety::parse_command::parse_command;
use crate::session::compaction::SUMMARIZATION_PROMPT;
use crate::session::compaction::compacted_history;
use crate::session::environment_context::environment_context;
use crate::session::environment_context::user_shell_name;
use crate::tools::ToolOutput;
use crate::tools::ToolRouter;
use crate::tools::turn_diff::TurnDiffTracker;

/// Submissions waiting for the session task. Small: a client submits one turn at a time and
/// then reads events; a full queue makes `submit` wait, which is the back-pressure we want.
pub(crate) const SUBMISSION_CHANNEL_CAPACITY: usize = 64;

const BASE_INSTRUCTIONS: &str = include_str!("prompt.md");
/// Output given to a call whose turn was interrupted before it produced one.
const ABORTED_CALL_OUTPUT: &str = "aborted: the turn was interrupted before this call finished";

/// Where a conversation's history comes from.
pub(crate) enum InitialHistory {
    New,
    /// An existing rollout, appended to from now on.
    Resumed(Box<LoadedRollout>),
    /// Items copied from another conversation into a new rollout.
    Forked(Vec<RolloutItem>),
}

/// What never changes during a conversation; shared by the loop and its turns.
struct Session {
    conversation_id: ConversationId,
    client: ModelClient,
    tools: ToolRouter,
    instructions: String,
    rollout: RolloutRecorder,
    /// The event queue's sending half. The conversation handle holds the receiver; when it
    /// is gone, sends fail silently and the session winds down with its submission channel.
    /// Events travel boxed: a tokio channel allocates its first block of 32 slots up front,
    /// and 32 pointers instead of 32 events save every idle conversation about 7 KiB.
    tx_event: mpsc::UnboundedSender<Box<Event>>,
    shared: Arc<ConversationShared>,
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
        let event = Event {
            id: id.to_string(),
            msg,
        };
        self.shared.notify_observers(&event);
        // The receiver is gone only when the conversation is being dropped; nobody is left
        // to tell.
        let _ = self.tx_event.send(Box::new(event));
    }

    /// Emits a streamed delta (see `conversation::is_streamed`): waits while the queue already
    /// holds its share of them, so that a reader that falls behind slows the model stream down
    /// instead of letting the queue grow.
    async fn emit_streamed(&self, id: &str, msg: EventMsg) {
        debug_assert!(crate::conversation::is_streamed(&msg));
        match self.shared.streamed_backlog.acquire().await {
            // The slot goes with the event; its reader gives it back.
            Ok(slot) => slot.forget(),
            Err(closed) => tracing::debug!("event backlog closed: {closed}"),
        }
        self.emit(id, msg);
    }

    /// Emits an event that is also kept in the rollout.
    async fn emit_persisted(&self, id: &str, msg: EventMsg) {
        self.rollout
            .record(vec![RolloutItem::EventMsg(msg.clone())])
            .await;
        self.emit(id, msg);
    }

    /// Appends the history items not yet in the rollout.
    async fn persist_history(&self, state: &mut SessionState) {
        persist_items(&self.rollout, &state.history, &mut state.persisted).await;
    }

    /// Writes and syncs everything recorded so far; an error means part of the conversation
    /// may not be on disk.
    async fn flush_rollout(&self) -> std::result::Result<(), crate::rollout::RolloutError> {
        let flushed = self.rollout.flush().await;
        if let Err(err) = &flushed {
            tracing::error!(conversation_id = %self.conversation_id, "rollout not saved: {err}");
        }
        flushed
    }
}

/// The mutable state of a conversation, owned by whoever is running it.
struct SessionState {
    /// The settings turns run with; `Op::UserTurn` replaces them.
    config: Arc<Config>,
    history: Vec<ResponseItem>,
    /// How many history items are already in the rollout.
    persisted: usize,
    token_info: Option<TokenUsageInfo>,
    /// Tokens the last request's context took; what auto-compaction compares to its limit.
    /// Cleared by a compaction until the next request reports again.
    context_tokens: Option<u64>,
}

/// Work queued for the session: a user turn, or a compaction.
enum Task {
    Turn {
        items: Vec<InputItem>,
        settings: Option<TurnSettings>,
    },
    Compact,
}

/// The settings an `Op::UserTurn` brings.
struct TurnSettings {
    cwd: PathBuf,
    approval_policy: AskForApproval,
    sandbox_policy: SandboxPolicy,
    model: String,
    effort: Option<ReasoningEffort>,
    summary: ReasoningSummary,
}

struct RunningTurn {
    cancel: CancellationToken,
    handle: JoinHandle<SessionState>,
}

/// A started session: its queue pair and the file it records to.
pub(crate) struct SpawnedSession {
    /// Boxed like the events, for the same reason (see `Session::tx_event`).
    pub(crate) tx_sub: mpsc::Sender<Box<Submission>>,
    pub(crate) rx_event: mpsc::UnboundedReceiver<Box<Event>>,
    pub(crate) rollout_path: PathBuf,
}

/// Starts the session task of a conversation and emits `session_configured` first.
pub(crate) async fn spawn(
    config: Arc<Config>,
    transport: ModelTransport,
    conversation_id: ConversationId,
    initial: InitialHistory,
    shared: Arc<ConversationShared>,
) -> Result<SpawnedSession> {
    let instructions = config
        .base_instructions
        .clone()
        .unwrap_or_else(|| BASE_INSTRUCTIONS.to_string());
    // The length the history below corresponds to: what was read of a loaded file (another
    // process may write to it before this one looks again), or the new file as created.
    let mut loaded_len = None;
    let (rollout, history, initial_messages) = match initial {
        InitialHistory::New => {
            let meta = session_meta(conversation_id, &config).await;
            let rollout = RolloutRecorder::create(&config.codex_home, meta, Vec::new()).await?;
            (rollout, initial_context(&config), None)
        }
        InitialHistory::Resumed(loaded) => {
            let LoadedRollout {
                path, items, len, ..
            } = *loaded;
            loaded_len = Some(len);
            let rollout = RolloutRecorder::resume(path);
            let (history, events) = rebuild_history(items, &config);
            (rollout, history, Some(events))
        }
        InitialHistory::Forked(items) => {
            let meta = session_meta(conversation_id, &config).await;
            let rollout = RolloutRecorder::create(&config.codex_home, meta, items.clone()).await?;
            let (history, events) = rebuild_history(items, &config);
            (rollout, history, Some(events))
        }
    };
    // A new conversation's opening context is recorded with its first request; a loaded
    // history is in the file already.
    let persisted = if initial_messages.is_some() {
        history.len()
    } else {
        0
    };
    let rollout_path = rollout.path().to_path_buf();
    let (tx_sub, rx_sub) = mpsc::channel(SUBMISSION_CHANNEL_CAPACITY);
    let (tx_event, rx_event) = mpsc::unbounded_channel();
    let session = Arc::new(Session {
        conversation_id,
        client: ModelClient::new(transport, conversation_id),
        tools: ToolRouter::new(),
        instructions,
        rollout,
        tx_event,
        shared,
        pending_approvals: Mutex::new(HashMap::new()),
        approved_commands: Mutex::new(HashSet::new()),
        approved_paths: Mutex::new(HashSet::new()),
    });
    session.emit(
        "",
        EventMsg::SessionConfigured(SessionConfiguredEvent {
            session_id: conversation_id,
            model: config.model.clone(),
            model_provider_id: config.model_provider_id.clone(),
            approval_policy: config.approval_policy,
            sandbox_policy: config.sandbox_policy.clone(),
            cwd: config.cwd.clone(),
            reasoning_effort: config.model_reasoning_effort,
            history_log_id: 0,
            history_entry_count: 0,
            initial_messages,
            rollout_path: Some(rollout_path.clone()),
        }),
    );
    let rollout_len = match loaded_len {
        Some(len) => Some(len),
        None => crate::conversation::turn_lock::rollout_len(rollout_path.clone()).await,
    };
    session.shared.set_rollout_len(rollout_len);
    let state = SessionState {
        config,
        history,
        persisted,
        token_info: None,
        context_tokens: None,
    };
    tokio::spawn(submission_loop(session, rx_sub, state));
    Ok(SpawnedSession {
        tx_sub,
        rx_event,
        rollout_path,
    })
}

async fn session_meta(conversation_id: ConversationId, config: &Config) -> SessionMeta {
    SessionMeta {
        id: conversation_id,
        timestamp: utc_timestamp(),
        cwd: config.cwd.clone(),
        originator: crate::ORIGINATOR.to_string(),
        cli_version: env!("CARGO_PKG_VERSION").to_string(),
        instructions: config.user_instructions.clone(),
        base_instructions: config.base_instructions.clone(),
        source: SessionSource::Mcp,
        model_provider: Some(config.model_provider_id.clone()),
        git: collect_git_info(&config.cwd).await,
    }
}

/// The history a rollout describes, and its events for clients to replay. A `compacted`
/// line replaces everything before it, as the compaction did when it happened.
fn rebuild_history(items: Vec<RolloutItem>, config: &Config) -> (Vec<ResponseItem>, Vec<EventMsg>) {
    let mut history = Vec::new();
    let mut events = Vec::new();
    for item in items {
        match item {
            RolloutItem::ResponseItem(item) => history.push(item),
            RolloutItem::Compacted(CompactedItem {
                message,
                replacement_history,
            }) => {
                history = match replacement_history {
                    Some(replacement) => replacement,
                    None => compacted_history(initial_context(config), &history, &message),
                };
            }
            RolloutItem::EventMsg(msg) => events.push(msg),
            RolloutItem::SessionMeta(_) | RolloutItem::TurnContext(_) => {}
        }
    }
    if history.is_empty() {
        history = initial_context(config);
    }
    (history, events)
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
    items.push(environment_message(config));
    items
}

fn environment_message(config: &Config) -> ResponseItem {
    ResponseItem::text_message(
        "user",
        environment_context(
            &config.cwd,
            config.approval_policy,
            &config.sandbox_policy,
            user_shell_name().as_deref(),
        ),
    )
}

async fn submission_loop(
    session: Arc<Session>,
    mut rx_sub: mpsc::Receiver<Box<Submission>>,
    state: SessionState,
) {
    let mut idle_state = Some(state);
    let mut running: Option<RunningTurn> = None;
    let mut queued: VecDeque<(String, Task)> = VecDeque::new();
    loop {
        if running.is_none()
            && let Some((id, task)) = queued.pop_front()
            && let Some(state) = idle_state.take()
        {
            let cancel = CancellationToken::new();
            let handle = tokio::spawn(run_task(
                Arc::clone(&session),
                state,
                id,
                task,
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
            if let Err(err) = session.rollout.shutdown().await {
                tracing::warn!(conversation_id = %session.conversation_id, "rollout not closed: {err}");
            }
            return;
        };
        match submission.op {
            Op::UserInput { items } => queued.push_back((
                submission.id,
                Task::Turn {
                    items,
                    settings: None,
                },
            )),
            Op::UserTurn {
                items,
                cwd,
                approval_policy,
                sandbox_policy,
                model,
                effort,
                summary,
            } => queued.push_back((
                submission.id,
                Task::Turn {
                    items,
                    settings: Some(TurnSettings {
                        cwd,
                        approval_policy,
                        sandbox_policy,
                        model,
                        effort,
                        summary,
                    }),
                },
            )),
            Op::Compact => queued.push_back((submission.id, Task::Compact)),
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
                if let Err(err) = session.rollout.shutdown().await {
                    tracing::warn!(conversation_id = %session.conversation_id, "rollout not closed: {err}");
                }
                session.emit(&submission.id, EventMsg::ShutdownComplete);
                return;
            }
        }
    }
}

/// Queues `history[*persisted..]` for the rollout and then advances `persisted`: only once
/// they are queued, so that a turn cancelled while the writer was behind leaves them for the
/// next call, which the end of every turn makes.
async fn persist_items(rollout: &RolloutRecorder, history: &[ResponseItem], persisted: &mut usize) {
    let items: Vec<RolloutItem> = history[*persisted..]
        .iter()
        .cloned()
        .map(RolloutItem::ResponseItem)
        .collect();
    rollout.record(items).await;
    *persisted = history.len();
}

/// `work`'s result, or [`CodexErr::TurnPanicked`] if it panics. The history it was building
/// stays as it was at the panic: what was recorded is kept, and the conversation goes on.
async fn catching_panics<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            tracing::error!("a turn panicked: {message}");
            Err(CodexErr::TurnPanicked(message))
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

/// Runs one queued task to its end and hands the state back.
async fn run_task(
    session: Arc<Session>,
    mut state: SessionState,
    sub_id: String,
    task: Task,
    cancel: CancellationToken,
) -> SessionState {
    session.emit(
        &sub_id,
        EventMsg::TaskStarted(TaskStartedEvent {
            model_context_window: None,
        }),
    );
    let compact_only = matches!(task, Task::Compact);
    if let Task::Turn {
        settings: Some(settings),
        ..
    } = &task
    {
        apply_turn_settings(&mut state, settings);
    }
    let turn = TurnContext {
        session: &session,
        config: Arc::clone(&state.config),
        sub_id: &sub_id,
        cancel: &cancel,
        diff: Mutex::new(TurnDiffTracker::default()),
    };
    // Dropping the work future on cancel also drops any running command, whose process group
    // is killed with it. A panic in the work ends this turn with an error instead of taking
    // the state (and with it the conversation) down.
    let outcome = tokio::select! {
        biased;
        () = cancel.cancelled() => Err(CodexErr::Interrupted),
        outcome = catching_panics(async {
            match task {
                Task::Turn { items, .. } => run_turn(&turn, &mut state, items).await,
                Task::Compact => compact(&turn, &mut state).await.map(|()| None),
            }
        }) => outcome,
    };
    let terminal = match outcome {
        Ok(last_agent_message) => {
            let tracker = lock(&turn.diff).clone();
            let diff = tokio::task::spawn_blocking(move || tracker.unified_diff())
                .await
                .unwrap_or_default();
            if let Some(unified_diff) = diff {
                session.emit(&sub_id, EventMsg::TurnDiff(TurnDiffEvent { unified_diff }));
            }
            if compact_only {
                session.emit(
                    &sub_id,
                    EventMsg::BackgroundEvent(BackgroundEventEvent {
                        message: "conversation compacted".to_string(),
                    }),
                );
            }
            EventMsg::TaskComplete(TaskCompleteEvent { last_agent_message })
        }
        Err(CodexErr::Interrupted) => EventMsg::TurnAborted(TurnAbortedEvent {
            reason: TurnAbortReason::Interrupted,
        }),
        Err(err) => {
            tracing::warn!(conversation_id = %session.conversation_id, "turn failed: {err}");
            EventMsg::Error(ErrorEvent {
                message: err.to_string(),
            })
        }
    };
    answer_orphaned_calls(&mut state.history);
    session.persist_history(&mut state).await;
    if is_persisted_event(&terminal) {
        session
            .rollout
            .record(vec![RolloutItem::EventMsg(terminal.clone())])
            .await;
    }
    // Durable before announced: a client that saw the result may rely on the file, so a turn
    // that could not be saved is not reported as done.
    let terminal = match (session.flush_rollout().await, terminal) {
        (Err(err), EventMsg::TaskComplete(done)) => EventMsg::Error(ErrorEvent {
            message: format!(
                "the turn finished but the conversation could not be saved ({err}), so a restart would lose it{}",
                done.last_agent_message
                    .map(|text| format!("; its answer was:\n\n{text}"))
                    .unwrap_or_default()
            ),
        }),
        (_, terminal) => terminal,
    };
    let rollout_len =
        crate::conversation::turn_lock::rollout_len(session.rollout.path().to_path_buf()).await;
    session.shared.finish_turn(rollout_len);
    session.emit(&sub_id, terminal);
    state
}

/// Makes an `Op::UserTurn`'s settings the conversation's own, telling the model when the
/// environment it acts in changed.
fn apply_turn_settings(state: &mut SessionState, settings: &TurnSettings) {
    let mut config = (*state.config).clone();
    let environment_changed = config.cwd != settings.cwd
        || config.approval_policy != settings.approval_policy
        || config.sandbox_policy != settings.sandbox_policy;
    config.cwd = settings.cwd.clone();
    config.approval_policy = settings.approval_policy;
    config.sandbox_policy = settings.sandbox_policy.clone();
    config.model = settings.model.clone();
    config.model_reasoning_effort = settings.effort;
    config.model_reasoning_summary = settings.summary;
    if environment_changed {
        state.history.push(environment_message(&config));
    }
    state.config = Arc::new(config);
}

/// One user turn: the input, then model requests until the model stops calling tools.
async fn run_turn(
    turn: &TurnContext<'_>,
    state: &mut SessionState,
    items: Vec<InputItem>,
) -> Result<Option<String>> {
    // A conversation already past its limit is compacted before the new input, so the input
    // follows the summary.
    if needs_compaction(state) {
        compact(turn, state).await?;
    }
    // Image items are refused where they enter (the conversation API) until the engine sends
    // images to the model; text is all a turn carries.
    let text: String = items
        .into_iter()
        .filter_map(|item| match item {
            InputItem::Text { text } => Some(text),
            InputItem::Image { .. } | InputItem::LocalImage { .. } => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    state
        .history
        .push(ResponseItem::text_message("user", text.clone()));
    // The message goes to the rollout before its event, so a fork that cuts at the message
    // also drops the event.
    turn.session.persist_history(state).await;
    turn.session
        .emit_persisted(
            turn.sub_id,
            EventMsg::UserMessage(UserMessageEvent { message: text }),
        )
        .await;
    run_model_requests(turn, state).await
}

fn needs_compaction(state: &SessionState) -> bool {
    match (
        state.config.model_auto_compact_token_limit,
        state.context_tokens,
    ) {
        (Some(limit), Some(used)) => used >= limit,
        _ => false,
    }
}

/// Model requests until the model stops calling tools; returns its last message.
async fn run_model_requests(
    turn: &TurnContext<'_>,
    state: &mut SessionState,
) -> Result<Option<String>> {
    let mut last_agent_message = None;
    let mut retries = Retries::new(turn);
    loop {
        turn.session.persist_history(state).await;
        let checkpoint = state.history.len();
        match run_one_request(turn, state, &mut last_agent_message).await {
            Ok(true) => {
                retries.reset();
                if needs_compaction(state) {
                    turn.session.persist_history(state).await;
                    compact(turn, state).await?;
                }
            }
            Ok(false) => return Ok(last_agent_message),
            Err(err) => {
                // What the failed attempt added is dropped: the retry asks the same question.
                state.history.truncate(checkpoint);
                retries.wait_or_fail(err).await?;
            }
        }
    }
}

/// Transient failures are retried with backoff, each retry announced to the client as a
/// `stream_error`; the provider's budgets bound them.
struct Retries<'a, 'b> {
    turn: &'a TurnContext<'b>,
    count: u64,
}

impl<'a, 'b> Retries<'a, 'b> {
    fn new(turn: &'a TurnContext<'b>) -> Self {
        Self { turn, count: 0 }
    }

    fn reset(&mut self) {
        self.count = 0;
    }

    /// Waits before the next attempt, or gives `err` back when it is final.
    async fn wait_or_fail(&mut self, err: CodexErr) -> Result<()> {
        let provider = &self.turn.config.model_provider;
        let budget = if err.is_request_failure() {
            provider.request_max_retries()
        } else {
            provider.stream_max_retries()
        };
        if !err.is_retryable() || self.count >= budget {
            return Err(err);
        }
        self.count += 1;
        let delay = err.retry_after().unwrap_or_else(|| backoff(self.count));
        tracing::warn!(
            retries = self.count,
            budget,
            ?delay,
            "model request failed, retrying: {err}"
        );
        self.turn.emit(EventMsg::StreamError(StreamErrorEvent {
            message: format!("Reconnecting... {}/{budget} ({err})", self.count),
        }));
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// Asks the model to summarise the conversation and restarts the history from the summary.
async fn compact(turn: &TurnContext<'_>, state: &mut SessionState) -> Result<()> {
    let session = turn.session;
    let instruction = turn
        .config
        .compact_prompt
        .as_deref()
        .unwrap_or(SUMMARIZATION_PROMPT);
    let mut input = state.history.clone();
    input.push(ResponseItem::text_message("user", instruction));
    let mut retries = Retries::new(turn);
    let summary = loop {
        match summarise(turn, &input).await {
            Ok(summary) => break summary,
            Err(err) => retries.wait_or_fail(err).await?,
        }
    };
    let history = compacted_history(initial_context(&turn.config), &state.history, &summary);
    session.persist_history(state).await;
    // The state moves on before the line is queued: if the turn is cancelled while it waits,
    // the file simply holds the whole history without the compaction, and loses nothing.
    state.history = history.clone();
    state.persisted = state.history.len();
    state.context_tokens = None;
    session
        .rollout
        .record(vec![RolloutItem::Compacted(CompactedItem {
            message: summary,
            replacement_history: Some(history),
        })])
        .await;
    Ok(())
}

/// One summary request, without tools: the text of the model's answer.
async fn summarise(turn: &TurnContext<'_>, input: &[ResponseItem]) -> Result<String> {
    let session = turn.session;
    let prompt = Prompt {
        instructions: &session.instructions,
        input,
        tools: &[],
    };
    record_turn_context(turn).await;
    let mut stream = session.client.stream(&turn.config, &prompt).await?;
    let mut summary = String::new();
    while let Some(event) = stream.next().await {
        if let ResponseEvent::OutputItemDone(item @ ResponseItem::Message { .. }) = event?
            && let Some(text) = item.message_text()
        {
            summary.push_str(&text);
        }
    }
    if summary.trim().is_empty() {
        return Err(CodexErr::ResponseFailed(
            "the model returned an empty summary".to_string(),
        ));
    }
    Ok(summary)
}

/// The settings of the request about to be made, for the rollout.
async fn record_turn_context(turn: &TurnContext<'_>) {
    let config = &turn.config;
    turn.session
        .rollout
        .record(vec![RolloutItem::TurnContext(TurnContextItem {
            cwd: config.cwd.clone(),
            approval_policy: config.approval_policy,
            sandbox_policy: config.sandbox_policy.clone(),
            model: config.model.clone(),
            effort: config.model_reasoning_effort,
            summary: config.model_reasoning_summary,
        })])
        .await;
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
    record_turn_context(turn).await;
    let mut stream = session.client.stream(&turn.config, &prompt).await?;
    let mut called_tools = false;
    while let Some(event) = stream.next().await {
        match event? {
            ResponseEvent::Created => {}
            ResponseEvent::OutputTextDelta(delta) => {
                session
                    .emit_streamed(
                        sub_id,
                        EventMsg::AgentMessageDelta(AgentMessageDeltaEvent { delta }),
                    )
                    .await;
            }
            ResponseEvent::ReasoningSummaryDelta(delta) => {
                session
                    .emit_streamed(
                        sub_id,
                        EventMsg::AgentReasoningDelta(AgentReasoningDeltaEvent { delta }),
                    )
                    .await;
            }
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
                    state.context_tokens = Some(usage.total_tokens);
                    let info = state.token_info.get_or_insert_with(TokenUsageInfo::default);
                    info.record(usage);
                    let info = Some(info.clone());
                    session
                        .emit_persisted(sub_id, EventMsg::TokenCount(TokenCountEvent { info }))
                        .await;
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
            session
                .emit_persisted(
                    sub_id,
                    EventMsg::AgentMessage(AgentMessageEvent {
                        message: text.clone(),
                    }),
                )
                .await;
            ItemOutcome::AgentMessage(text)
        }
        ResponseItem::Reasoning { summary, .. } => {
            for ReasoningSummaryPart::SummaryText { text } in summary {
                session
                    .emit_persisted(
                        sub_id,
                        EventMsg::AgentReasoning(AgentReasoningEvent { text: text.clone() }),
                    )
                    .await;
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
    /// The settings this turn runs with.
    config: Arc<Config>,
    sub_id: &'a str,
    cancel: &'a CancellationToken,
    /// What the turn changed by patch; a std lock, never held across an `.await`.
    diff: Mutex<TurnDiffTracker>,
}

impl TurnContext<'_> {
    pub(crate) fn config(&self) -> &Config {
        &self.config
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

    /// Remembers the content of files about to be patched, for the turn's diff; the files are
    /// read on the blocking pool.
    pub(crate) async fn record_patch_originals(&self, paths: Vec<PathBuf>) {
        let unseen = lock(&self.diff).unseen(paths);
        if unseen.is_empty() {
            return;
        }
        let originals =
            tokio::task::spawn_blocking(move || crate::tools::turn_diff::read_originals(unseen))
                .await
                .unwrap_or_default();
        lock(&self.diff).insert_originals(originals);
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

    /// A cancel while the writer is behind (its queue full) must not count the items as
    /// persisted: the end of the turn writes them.
    #[tokio::test]
    async fn history_cancelled_on_its_way_to_the_rollout_is_not_counted_as_persisted() {
        let dir = tempfile::TempDir::new().unwrap();
        let fifo = dir.path().join("stalled.jsonl");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|status| status.success()), "mkfifo");
        // Opening a FIFO for writing waits for a reader: the writer stalls on its first batch.
        let rollout = RolloutRecorder::resume(fifo.clone());
        let filler = || {
            vec![RolloutItem::ResponseItem(ResponseItem::text_message(
                "user", "x",
            ))]
        };
        let mut queued = 0;
        while tokio::time::timeout(std::time::Duration::from_secs(1), rollout.record(filler()))
            .await
            .is_ok()
        {
            queued += 1;
            assert!(queued < 10_000, "the writer never stalled");
        }
        let history = vec![ResponseItem::text_message("user", "keep me")];
        let mut persisted = 0;
        let cancelled = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            persist_items(&rollout, &history, &mut persisted),
        )
        .await;
        // Unstall the writer first, so that its blocking thread ends whatever is asserted.
        let reader = std::thread::spawn(move || std::fs::read(&fifo));
        drop(rollout);
        assert!(cancelled.is_err(), "the queue was full");
        assert_eq!(
            persisted, 0,
            "nothing was queued, so nothing counts as persisted"
        );
        let _ = reader.join();
    }

    #[tokio::test]
    async fn a_panicking_turn_becomes_an_error() {
        let outcome: Result<()> = catching_panics(async {
            let cut: &[u8] = &[];
            #[allow(clippy::indexing_slicing)]
            let _ = cut[3];
            Ok(())
        })
        .await;
        match outcome {
            Err(CodexErr::TurnPanicked(message)) => {
                assert!(message.contains("index out of bounds"), "{message}");
            }
            other => panic!("expected TurnPanicked, got {other:?}"),
        }
        assert!(matches!(catching_panics(async { Ok(7) }).await, Ok(7)));
    }

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
