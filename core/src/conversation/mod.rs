//! A handle to one conversation: the queue pair of its session task.

mod active_turns;
pub(crate) mod turn_lock;

pub use self::active_turns::ActiveTurns;

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use tokio::sync::MutexGuard;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::conversation::turn_lock::Acquired;
use crate::conversation::turn_lock::TurnLock;
use crate::error::CodexErr;
use crate::error::Result;
use crate::lock::lock;
use crate::mcp::McpConnectionManager;
use crate::protocol::ConversationId;
use crate::protocol::Event;
use crate::protocol::EventMsg;
use crate::protocol::McpServerSummary;
use crate::protocol::Op;
use crate::protocol::Submission;

/// `ConversationShared::rollout_len` before the length is known.
const UNKNOWN_LEN: u64 = u64::MAX;

/// How many streamed deltas may wait in the event queue for a reader. Past it the model
/// stream is read no further until the reader catches up, so a provider that streams without
/// end into a slow host holds a bounded amount of memory.
const STREAMED_BACKLOG: usize = 4096;

/// How many events an observer ([`CodexConversation::subscribe`]) may have unread. One that
/// falls further behind is dropped (its receiver ends) rather than allowed to grow.
const OBSERVER_BACKLOG: usize = 4096;

/// The events emitted with `Session::emit_streamed`, each holding a backlog slot until read.
pub(crate) fn is_streamed(msg: &crate::protocol::EventMsg) -> bool {
    matches!(
        msg,
        crate::protocol::EventMsg::AgentMessageDelta(_)
            | crate::protocol::EventMsg::AgentReasoningDelta(_)
    )
}

/// Submit `Op`s, read `Event`s. Dropping the last handle ends the session task and with it
/// any running turn.
#[derive(Debug)]
pub struct CodexConversation {
    conversation_id: ConversationId,
    config: Arc<Config>,
    rollout_path: PathBuf,
    /// Sending half of the session task's submission queue; the task ends when it closes.
    /// Submissions and events travel boxed, so that an idle conversation's queues hold small
    /// blocks (see `session::SpawnedSession`).
    tx_sub: mpsc::Sender<Box<Submission>>,
    /// Receiving half of the event queue. A tokio lock because a reader holds it while it
    /// waits: whoever drives a turn holds it for the whole turn (see [`Self::events`]).
    rx_event: tokio::sync::Mutex<mpsc::UnboundedReceiver<Box<Event>>>,
    shared: Arc<ConversationShared>,
    next_submission_id: AtomicU64,
}

impl Drop for ConversationShared {
    /// A conversation dropped mid-turn (its session task gone) no longer counts as running.
    fn drop(&mut self) {
        self.end_turn();
    }
}

/// What the session task and the handle both see.
#[derive(Debug)]
pub(crate) struct ConversationShared {
    /// A turn was started through [`CodexConversation::start_turn`] and has not ended. Set
    /// and cleared only through `begin_turn` and `end_turn`, which keep `running` counted.
    busy: AtomicBool,
    /// The count of busy conversations across the manager, for a graceful stop.
    running: ActiveTurns,
    /// When a turn last started or ended; what idle eviction measures from.
    last_active: Mutex<Instant>,
    /// Extra receivers of every event, beside the event queue (conversation listeners).
    /// A std lock: taken briefly per event, never across an `.await`.
    observers: Mutex<Vec<(mpsc::Sender<Event>, Arc<AtomicBool>)>>,
    /// The running turn's hold on the thread against other processes (`turn_lock.rs`).
    turn_lock: Mutex<Option<TurnLock>>,
    /// The rollout's length as this process last left it; another length under the turn
    /// lock means another process wrote to it.
    rollout_len: AtomicU64,
    /// Free slots for streamed deltas in the event queue; a reader gives a slot back for
    /// each one it takes (see [`STREAMED_BACKLOG`]).
    pub(crate) streamed_backlog: tokio::sync::Semaphore,
    /// The conversation's MCP servers, set by the session when it starts.
    mcp: std::sync::OnceLock<Arc<McpConnectionManager>>,
}

impl ConversationShared {
    pub(crate) fn new(running: ActiveTurns) -> Self {
        Self {
            busy: AtomicBool::new(false),
            running,
            last_active: Mutex::new(Instant::now()),
            observers: Mutex::new(Vec::new()),
            turn_lock: Mutex::new(None),
            rollout_len: AtomicU64::new(UNKNOWN_LEN),
            streamed_backlog: tokio::sync::Semaphore::new(STREAMED_BACKLOG),
            mcp: std::sync::OnceLock::new(),
        }
    }

    /// Lends the session's MCP servers to the handle, for [`CodexConversation::mcp_servers`].
    pub(crate) fn set_mcp(&self, mcp: Arc<McpConnectionManager>) {
        let _ = self.mcp.set(mcp);
    }

    /// Called by the session just before it announces the end of a turn, so a client that
    /// reacts to that event can start the next turn at once. `rollout_len` is the rollout's
    /// length as the turn left it (`None` if unknown); the thread is free for other processes
    /// once this returns.
    pub(crate) fn finish_turn(&self, rollout_len: Option<u64>) {
        self.rollout_len
            .store(rollout_len.unwrap_or(UNKNOWN_LEN), Ordering::Release);
        lock(&self.turn_lock).take();
        self.touch();
        self.end_turn();
    }

    /// Marks a turn as running, unless one already is.
    fn begin_turn(&self) -> bool {
        let began = self
            .busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if began {
            self.running.started();
        }
        began
    }

    fn end_turn(&self) {
        if self.busy.swap(false, Ordering::AcqRel) {
            self.running.ended();
        }
    }

    /// A reader took `event` off the queue: a streamed delta gives its slot back.
    fn taken(&self, event: &Event) {
        if is_streamed(&event.msg) {
            self.streamed_backlog.add_permits(1);
        }
    }

    /// Records the rollout's length when the conversation is loaded or created.
    pub(crate) fn set_rollout_len(&self, rollout_len: Option<u64>) {
        self.rollout_len
            .store(rollout_len.unwrap_or(UNKNOWN_LEN), Ordering::Release);
    }

    fn touch(&self) {
        *lock(&self.last_active) = Instant::now();
    }

    /// Sends a copy of `event` to every observer, forgetting those that went away.
    pub(crate) fn notify_observers(&self, event: &Event) {
        let mut observers = lock(&self.observers);
        if !observers.is_empty() {
            observers.retain(
                |(observer, lagged)| match observer.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(
                            "an observer fell {OBSERVER_BACKLOG} events behind and was dropped"
                        );
                        lagged.store(true, Ordering::Release);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                },
            );
        }
    }
}

/// The sending half of a conversation's event queue, with its observers: how the session and
/// the tools of its turns emit events.
pub(crate) struct EventSink {
    /// The conversation handle holds the receiver; when it is gone, sends fail silently and
    /// the session winds down with its submission channel. Events travel boxed: a tokio
    /// channel allocates its first block of 32 slots up front, and 32 pointers instead of 32
    /// events save every idle conversation about 7 KiB.
    tx_event: mpsc::UnboundedSender<Box<Event>>,
    shared: Arc<ConversationShared>,
}

impl EventSink {
    pub(crate) fn new(
        tx_event: mpsc::UnboundedSender<Box<Event>>,
        shared: Arc<ConversationShared>,
    ) -> Self {
        Self { tx_event, shared }
    }

    pub(crate) fn emit(&self, id: &str, msg: EventMsg) {
        let event = Event {
            id: id.to_string(),
            msg,
        };
        self.shared.notify_observers(&event);
        // The receiver is gone only when the conversation is being dropped; nobody is left
        // to tell.
        let _ = self.tx_event.send(Box::new(event));
    }

    /// Emits a streamed delta (see [`is_streamed`]): waits while the queue already holds its
    /// share of them, so that a reader that falls behind slows the model stream down instead
    /// of letting the queue grow.
    pub(crate) async fn emit_streamed(&self, id: &str, msg: EventMsg) {
        debug_assert!(is_streamed(&msg));
        match self.shared.streamed_backlog.acquire().await {
            // The slot goes with the event; its reader gives it back.
            Ok(slot) => slot.forget(),
            Err(closed) => tracing::debug!("event backlog closed: {closed}"),
        }
        self.emit(id, msg);
    }
}

impl CodexConversation {
    pub(crate) fn new(
        conversation_id: ConversationId,
        config: Arc<Config>,
        rollout_path: PathBuf,
        tx_sub: mpsc::Sender<Box<Submission>>,
        rx_event: mpsc::UnboundedReceiver<Box<Event>>,
        shared: Arc<ConversationShared>,
    ) -> Self {
        Self {
            conversation_id,
            config,
            rollout_path,
            tx_sub,
            rx_event: tokio::sync::Mutex::new(rx_event),
            shared,
            next_submission_id: AtomicU64::new(0),
        }
    }

    pub fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }

    /// The settings the conversation started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The conversation's MCP servers (`[mcp_servers]`): each one's state and tools.
    pub fn mcp_servers(&self) -> Vec<McpServerSummary> {
        self.shared
            .mcp
            .get()
            .map(|mcp| mcp.summaries())
            .unwrap_or_default()
    }

    /// The JSONL file the conversation is recorded in.
    pub fn rollout_path(&self) -> &Path {
        &self.rollout_path
    }

    /// Submits `op` under a generated id and returns that id.
    pub async fn submit(&self, op: Op) -> Result<String> {
        let id = self
            .next_submission_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        self.submit_with_id(Submission { id: id.clone(), op })
            .await?;
        Ok(id)
    }

    /// Submits with a caller-chosen id (e.g. the MCP request id), which its events will carry.
    pub async fn submit_with_id(&self, submission: Submission) -> Result<()> {
        self.tx_sub
            .send(Box::new(submission))
            .await
            .map_err(|_| CodexErr::InternalAgentDied)
    }

    /// Starts a turn (`UserInput`, `UserTurn` or `Compact`) unless one is already running:
    /// one turn at a time per conversation, refused rather than queued, so two clients never
    /// share one turn's events.
    pub async fn start_turn(&self, submission: Submission) -> Result<()> {
        if !self.shared.begin_turn() {
            return Err(CodexErr::Busy(self.conversation_id));
        }
        if let Err(err) = self.lock_thread().await {
            self.shared.end_turn();
            return Err(err);
        }
        self.shared.touch();
        let submitted = self.submit_with_id(submission).await;
        if submitted.is_err() {
            lock(&self.shared.turn_lock).take();
            self.shared.end_turn();
        }
        submitted
    }

    /// Takes the thread for a turn against other processes, and checks under that lock that
    /// none of them has written to it since this process did.
    async fn lock_thread(&self) -> Result<()> {
        let path = turn_lock::lock_path(&self.config.codex_home, &self.conversation_id.to_string());
        let acquired = turn_lock::acquire(path.clone(), self.rollout_path.clone())
            .await
            .map_err(|source| {
                CodexErr::Rollout(crate::rollout::RolloutError::Io { path, source })
            })?;
        match acquired {
            Acquired::HeldBy(pid) => Err(CodexErr::BusyElsewhere {
                id: self.conversation_id,
                pid,
            }),
            Acquired::Locked {
                lock: held,
                rollout_len,
            } => {
                let known = self.shared.rollout_len.load(Ordering::Acquire);
                if known != UNKNOWN_LEN && known != rollout_len {
                    return Err(CodexErr::ChangedElsewhere(self.conversation_id));
                }
                *lock(&self.shared.turn_lock) = Some(held);
                Ok(())
            }
        }
    }

    /// Whether a turn started with [`Self::start_turn`] is still running.
    pub fn is_busy(&self) -> bool {
        self.shared.busy.load(Ordering::Acquire)
    }

    /// How long since a turn last started or ended.
    pub fn idle_for(&self) -> Duration {
        lock(&self.shared.last_active).elapsed()
    }

    /// The next event; an error once the session task has ended and all events are read.
    pub async fn next_event(&self) -> Result<Event> {
        let event = self
            .rx_event
            .lock()
            .await
            .recv()
            .await
            .map(|event| *event)
            .ok_or(CodexErr::InternalAgentDied)?;
        self.shared.taken(&event);
        Ok(event)
    }

    /// Exclusive access to the event queue, for whoever drives a turn: nobody else reads the
    /// turn's events while this is held.
    pub async fn events(&self) -> EventReceiver<'_> {
        EventReceiver {
            rx: self.rx_event.lock().await,
            shared: &self.shared,
        }
    }

    /// A copy of every event from now on, without taking anything from the event queue.
    /// Drop the receiver to stop. A receiver that falls [`OBSERVER_BACKLOG`] events behind is
    /// dropped: it then ends.
    pub fn subscribe(&self) -> Subscription {
        let (tx, events) = mpsc::channel(OBSERVER_BACKLOG);
        let lagged = Arc::new(AtomicBool::new(false));
        lock(&self.shared.observers).push((tx, Arc::clone(&lagged)));
        Subscription { events, lagged }
    }

    /// Whether anyone observes the conversation through [`Self::subscribe`].
    pub fn has_observers(&self) -> bool {
        let mut observers = lock(&self.shared.observers);
        observers.retain(|(observer, _)| !observer.is_closed());
        !observers.is_empty()
    }
}

/// The event queue, held by one reader.
pub struct EventReceiver<'a> {
    rx: MutexGuard<'a, mpsc::UnboundedReceiver<Box<Event>>>,
    shared: &'a ConversationShared,
}

impl EventReceiver<'_> {
    /// The next event; an error once the session task has ended and all events are read.
    pub async fn next(&mut self) -> Result<Event> {
        let event = self
            .rx
            .recv()
            .await
            .map(|event| *event)
            .ok_or(CodexErr::InternalAgentDied)?;
        self.shared.taken(&event);
        Ok(event)
    }
}

/// A copy of a conversation's events, from [`CodexConversation::subscribe`].
pub struct Subscription {
    events: mpsc::Receiver<Event>,
    lagged: Arc<AtomicBool>,
}

impl Subscription {
    /// The next event; `None` once the conversation has ended or this subscription was
    /// dropped for falling behind (see [`Self::lagged`]).
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Whether the subscription ended because it fell too far behind, rather than because
    /// the conversation ended: events after that point were not delivered.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod subscription_tests {
    use super::*;
    use crate::protocol::BackgroundEventEvent;
    use crate::protocol::EventMsg;

    fn event(n: usize) -> Event {
        Event {
            id: "1".to_string(),
            msg: EventMsg::BackgroundEvent(BackgroundEventEvent {
                message: n.to_string(),
            }),
        }
    }

    #[tokio::test]
    async fn an_observer_that_falls_behind_is_dropped_and_says_so() {
        let shared = ConversationShared::new(ActiveTurns::default());
        let (tx, events) = mpsc::channel(OBSERVER_BACKLOG);
        let lagged = Arc::new(AtomicBool::new(false));
        lock(&shared.observers).push((tx, Arc::clone(&lagged)));
        let mut subscription = Subscription { events, lagged };
        for n in 0..=OBSERVER_BACKLOG {
            shared.notify_observers(&event(n));
        }
        assert!(lock(&shared.observers).is_empty(), "dropped");
        let mut received = 0;
        while let Some(got) = subscription.recv().await {
            assert_eq!(got, event(received));
            received += 1;
        }
        assert_eq!(received, OBSERVER_BACKLOG);
        assert!(subscription.lagged());
    }
}
