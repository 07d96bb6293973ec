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
mod orphans;
mod permissions;
mod retry;
mod turn;

use self::turn::run_task;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::ModelClient;
use crate::client::ModelTransport;
use crate::config::Config;
use crate::conversation::ConversationShared;
use crate::conversation::EventSink;
use crate::error::CodexErr;
use crate::error::Result;
use crate::exec::sessions::ExecSessions;
use crate::mcp::McpConnectionManager;
use crate::protocol::AskForApproval;
use crate::protocol::ConversationId;
use crate::protocol::Event;
use crate::protocol::EventMsg;
use crate::protocol::InputItem;
use crate::protocol::Op;
use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::ResponseItem;
use crate::protocol::SandboxPolicy;
use crate::protocol::SessionConfiguredEvent;
use crate::protocol::Submission;
use crate::protocol::TokenUsageInfo;
use crate::rollout::CompactedItem;
use crate::rollout::LoadedRollout;
use crate::rollout::RolloutItem;
use crate::rollout::RolloutRecorder;
use crate::rollout::SessionMeta;
use crate::rollout::SessionSource;
use crate::rollout::TurnContextItem;
use crate::rollout::collect_git_info;
use crate::rollout::utc_timestamp;
use crate::session::compaction::compacted_history;
use crate::session::environment_context::environment_context;
use crate::session::environment_context::user_shell_name;
use crate::tools::ToolRouter;
use crate::tools::context::Approvals;

/// Submissions waiting for the session task. Small: a client submits one turn at a time and
/// then reads events; a full queue makes `submit` wait, which is the back-pressure we want.
pub(crate) const SUBMISSION_CHANNEL_CAPACITY: usize = 64;

const BASE_INSTRUCTIONS: &str = include_str!("prompt.md");

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
    /// The event queue's sending half (see [`EventSink`]).
    events: EventSink,
    shared: Arc<ConversationShared>,
    /// Approval requests of the running turn and what was approved for the conversation.
    approvals: Approvals,
    /// Processes started by `exec_command`, which outlive their call; dropped (and killed)
    /// with the session.
    exec_sessions: Arc<ExecSessions>,
    /// The conversation's MCP servers; they stop when the session and the handle are gone.
    mcp: Arc<McpConnectionManager>,
}

impl Session {
    fn emit(&self, id: &str, msg: EventMsg) {
        self.events.emit(id, msg);
    }

    /// Emits a streamed delta, waiting while the queue holds its share of them.
    async fn emit_streamed(&self, id: &str, msg: EventMsg) {
        self.events.emit_streamed(id, msg).await;
    }

    /// Emits an event that is also kept in the rollout.
    async fn emit_persisted(&self, id: &str, msg: EventMsg) {
        self.rollout
            .record(vec![RolloutItem::EventMsg(msg.clone())])
            .await;
        self.emit(id, msg);
    }

    /// The settings of the request about to be made, for the rollout.
    async fn record_turn_context(&self, config: &Config) {
        self.rollout
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
    /// Boxed like the events, for the same reason (see [`EventSink`]).
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
    let mcp = Arc::new(McpConnectionManager::start(
        &config.mcp_servers,
        &config.cwd,
    ));
    shared.set_mcp(Arc::clone(&mcp));
    let session = Arc::new(Session {
        conversation_id,
        client: ModelClient::new(transport, conversation_id),
        tools: ToolRouter::new(),
        instructions,
        rollout,
        events: EventSink::new(tx_event, Arc::clone(&shared)),
        shared,
        approvals: Approvals::default(),
        exec_sessions: {
            let sessions = Arc::new(ExecSessions::default());
            ExecSessions::reap_idle(&sessions);
            sessions
        },
        mcp: Arc::clone(&mcp),
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
    let mut items = Vec::with_capacity(4);
    items.push(permissions::permissions_message(config));
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
                session.approvals.resolve(&id, decision);
            }
            Op::UserInputAnswer { id, response } => {
                session.approvals.answer_questions(&id, response);
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
}
