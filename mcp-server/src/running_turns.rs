//! Tool calls of 2026-07-28 clients, whose turns outlive the request that started them.
//!
//! Such a client cannot be sent requests. So its turn runs on a task of its own, and a call
//! whose turn needs an approval is answered with `resultType: "input_required"`: the open
//! questions and a sealed `requestState`. The turn keeps waiting. The client retries the call
//! (a new request) with its answers and the state; that call delivers the answers and then
//! carries the rest of the turn (its progress, further rounds, the final result). A client
//! that declared the tasks extension gets a task instead: the call is answered at once, and
//! `tasks/get`, `tasks/update` and `tasks/cancel` follow the same turn.
//!
//! A finished turn's result is kept for [`RETENTION`] for a retry that comes late; a task's
//! is also on disk (`task_store.rs`) for its TTL, across restarts.
//!
//! With the PostgreSQL thread store, the turn and its task record are also in the store, and a
//! retry, `tasks/get`, `tasks/update` or `tasks/cancel` that reaches another replica is served
//! from there (`running_turns/relay.rs`).

mod relay;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use codex_core::ConversationId;
use codex_core::ConversationManager;
use rmcp::RoleServer;
use rmcp::model::CallToolRequestParams;
use rmcp::model::CallToolResponse;
use rmcp::model::CallToolResult;
use rmcp::model::CreateTaskResult;
use rmcp::model::DetailedTask;
use rmcp::model::GetTaskResult;
use rmcp::model::InputRequiredResult;
use rmcp::model::InputResponses;
use rmcp::model::JsonObject;
use rmcp::model::Task;
use rmcp::model::TaskPayload;
use rmcp::model::TaskStatus;
use rmcp::service::RequestContext;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::ask_host::HostChannel;
use crate::ask_host::OpenQuestions;
use crate::ask_host::capabilities;
use crate::codex_tool_config::ServerConfigLayer;
use crate::codex_tool_runner;
use crate::codex_tool_runner::StartedTurn;
use crate::codex_tool_runner::TurnHost;
use crate::open_count::OpenCount;
use crate::request_state::CallBinding;
use crate::request_state::StateSealer;
use crate::request_state::TurnState;
use crate::stdio_transport::ElicitationReplies;
use crate::task_store::TaskRecord;
use crate::task_store::TaskStore;
use crate::task_store::TaskStoreError;
use crate::thread_store::ThreadStore;
use crate::tool_error::RoundTripError;
use crate::tool_error::ToolCallError;
use crate::turn_driver::ProgressTarget;

/// How long a finished turn's result waits for the retry that collects it, and how long a
/// `requestState` is good for from when it is issued. Longer than the default approval wait
/// (`approvals.timeout_secs`, 600 s), so a state outlives the questions it answers unless that
/// wait is set longer.
const RETENTION: Duration = Duration::from_secs(3600);
/// A task's TTL: its record, and its answer to `tasks/get`, last this long.
const TASK_TTL: Duration = Duration::from_secs(3600);
/// What `tasks/get` suggests between polls.
const TASK_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The turns of 2026-07-28 calls that are running, or finished and not yet collected.
pub(crate) struct RunningTurns {
    turns: Mutex<HashMap<Uuid, Arc<RunningTurn>>>,
    sealer: StateSealer,
    tasks: TaskStore,
    /// How many turns have not yet published their end (and, for a task, recorded it): what
    /// a graceful stop waits for, as the engine's own count ends before the record is written.
    unsettled: OpenCount,
    store: ThreadStore,
}

/// One turn, as the calls (or task requests) that follow it see it.
struct RunningTurn {
    key: Uuid,
    thread_id: ConversationId,
    questions: Arc<OpenQuestions>,
    progress: Arc<ProgressTarget>,
    /// Interrupts the turn and kills its commands.
    cancel: CancellationToken,
    /// How the turn ended, once it has (and, for a task, been recorded): decided once.
    outcome: watch::Receiver<Option<Ended>>,
    /// The call the turn belongs to; every `requestState` is bound to it.
    binding: CallBinding,
    rounds: Mutex<Rounds>,
    /// Set when the call asked for a task.
    task: Option<TaskTimes>,
}

/// How a turn ended.
#[derive(Clone)]
struct Ended {
    result: CallToolResult,
    /// Interrupted because its call or task was cancelled (not completed, not failed).
    cancelled: bool,
}

/// `input_required` answers issued, and the last one redeemed by a retry.
#[derive(Default)]
struct Rounds {
    issued: u64,
    redeemed: u64,
    /// The questions the latest round showed: a retry answers only these.
    shown: Vec<String>,
}

#[derive(Clone, Copy)]
struct TaskTimes {
    created_at: chrono::DateTime<Utc>,
}

impl RunningTurns {
    /// Also removes task records whose TTL has passed. With the shared store, states are
    /// sealed with the replicas' shared key, and answers delivered by other replicas are
    /// taken from then on.
    pub(crate) async fn new(
        codex_home: &std::path::Path,
        store: &ThreadStore,
    ) -> anyhow::Result<Arc<Self>> {
        let tasks = TaskStore::new(codex_home);
        let sealer = match store.shared() {
            Some(shared) => {
                StateSealer::with_key(shared.pg.shared_secret("request_state").await?, RETENTION)?
            }
            None => StateSealer::new(RETENTION)?,
        };
        let sweep = TaskStore::new(codex_home);
        tokio::task::spawn_blocking(move || sweep.sweep_expired()).await?;
        let turns = Arc::new(Self {
            turns: Mutex::new(HashMap::new()),
            unsettled: OpenCount::default(),
            sealer,
            tasks,
            store: store.clone(),
        });
        if let Some(shared) = store.shared() {
            relay::take_deliveries(Arc::downgrade(&turns), Arc::clone(shared));
        }
        Ok(turns)
    }

    /// Writes a task's record where tasks are kept: the shared store, or this home's files.
    async fn write_task(&self, record: &TaskRecord) -> Result<(), TaskStoreError> {
        match self.store.shared() {
            Some(shared) => {
                let value = serde_json::to_value(record).unwrap_or_default();
                shared
                    .pg
                    .put_turn(
                        record.task_id,
                        &record.thread_id,
                        &shared.replica,
                        Some(&value),
                    )
                    .await
                    .map_err(|err| TaskStoreError::Write {
                        task_id: record.task_id,
                        path: "thread store".into(),
                        source: std::io::Error::other(err),
                    })
            }
            None => self.tasks.write(record).await,
        }
    }

    fn get(&self, key: Uuid) -> Option<Arc<RunningTurn>> {
        self.turns.lock().ok()?.get(&key).cloned()
    }

    fn forget(&self, key: Uuid) {
        if let Ok(mut turns) = self.turns.lock() {
            turns.remove(&key);
        }
    }

    /// A `codex` or `codex-reply` call of a 2026-07-28 client: a new call, or the retry of
    /// one answered with `input_required`.
    pub(crate) async fn call(
        self: &Arc<Self>,
        conversations: &ConversationManager,
        server_config: &ServerConfigLayer,
        replies: &Arc<ElicitationReplies>,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, RoundTripError> {
        let binding = CallBinding::of(&request.name, request.arguments.as_ref());
        if let Some(state) = request.request_state.as_deref() {
            let TurnState { turn: key, round } = self
                .sealer
                .open(state, &binding)
                .map_err(RoundTripError::StateRefused)?;
            let Some(turn) = self.get(key) else {
                // Another replica runs it (or ran it): the answers go there.
                return match self.store.shared() {
                    Some(shared) => {
                        relay::retry_elsewhere(
                            shared,
                            key,
                            round,
                            request.input_responses,
                            &context,
                        )
                        .await
                    }
                    None => Err(RoundTripError::TurnGone),
                };
            };
            Self::redeem(&turn, round)?;
            if let Some(responses) = request.input_responses {
                Self::answer_shown(&turn, responses);
            }
            return Ok(self.carry(&turn, &context).await);
        }
        if request.input_responses.is_some() {
            return Err(RoundTripError::ResponsesWithoutState);
        }

        let questions = OpenQuestions::new();
        let progress = ProgressTarget::new(None);
        let host = TurnHost {
            channel: HostChannel::for_request(&context, replies, Some(Arc::clone(&questions))),
            progress: Arc::clone(&progress),
        };
        let started = match codex_tool_runner::start(
            conversations,
            server_config,
            &request.name,
            request.arguments,
            &context,
            host,
        )
        .await
        {
            Ok(started) => started,
            Err(result) => return Ok(result.into()),
        };
        let as_task = capabilities(&context).supports_tasks();
        let task = as_task.then(|| TaskTimes {
            created_at: Utc::now(),
        });
        let (outcome_tx, outcome) = watch::channel(None);
        let turn = Arc::new(RunningTurn {
            key: Uuid::new_v4(),
            thread_id: started.thread_id(),
            questions,
            progress,
            cancel: CancellationToken::new(),
            outcome,
            binding,
            rounds: Mutex::new(Rounds::default()),
            task,
        });
        if let Some(times) = task {
            // Durable before its id is returned, or a restart could leave the host with a
            // task the server has never heard of.
            let record = turn.record(times, TaskStatus::Working, None);
            if let Err(err) = self.write_task(&record).await {
                tracing::error!("{err}");
                // The turn was submitted: it is interrupted and followed to its end, so its
                // commands die and the thread is free again.
                turn.cancel.cancel();
                tokio::spawn(started.finish(turn.cancel.clone()));
                return Err(RoundTripError::TaskNotRecorded(err));
            }
        }
        if task.is_none()
            && let Some(shared) = self.store.shared()
        {
            // So that a retry reaching another replica finds this one.
            let thread = turn.thread_id.to_string();
            if let Err(err) = shared
                .pg
                .put_turn(turn.key, &thread, &shared.replica, None)
                .await
            {
                tracing::warn!("retries on other replicas will not find this turn: {err}");
            }
        }
        if let Ok(mut turns) = self.turns.lock() {
            turns.insert(turn.key, Arc::clone(&turn));
        }
        self.follow(Arc::clone(&turn), started, outcome_tx);
        match task {
            Some(times) => Ok(CallToolResponse::Task(CreateTaskResult::new(
                turn.task_fields(times, TaskStatus::Working),
            ))),
            None => Ok(self.carry(&turn, &context).await),
        }
    }

    /// Waits until every turn has published its end, and every task recorded it.
    pub(crate) async fn settled(&self) {
        self.unsettled.zero().await;
    }

    /// Runs the turn to its end on a task of its own, records a task's end, publishes the
    /// result, and drops it once it has waited long enough to be collected.
    fn follow(
        self: &Arc<Self>,
        turn: Arc<RunningTurn>,
        started: StartedTurn,
        outcome: watch::Sender<Option<Ended>>,
    ) {
        let turns = Arc::clone(self);
        let unsettled = self.unsettled.hold();
        tokio::spawn(async move {
            let questions = match (turn.task, turns.store.shared()) {
                (Some(times), Some(_)) => Some(tokio::spawn(relay::publish_questions(
                    Arc::clone(&turns),
                    Arc::clone(&turn),
                    times,
                ))),
                _ => None,
            };
            let (result, aborted) = started.finish_telling_aborted(turn.cancel.clone()).await;
            if let Some(questions) = questions {
                questions.abort();
            }
            let ended = Ended {
                cancelled: aborted && turn.cancel.is_cancelled(),
                result,
            };
            if let Some(times) = turn.task {
                let status = if ended.cancelled {
                    TaskStatus::Cancelled
                } else {
                    TaskStatus::Completed
                };
                let record = turn.record(times, status, Some(&ended.result));
                if let Err(err) = turns.write_task(&record).await {
                    tracing::error!("{err}");
                }
            }
            outcome.send_replace(Some(ended));
            drop(unsettled);
            tokio::time::sleep(RETENTION).await;
            turns.forget(turn.key);
        });
    }

    /// Redeems round `round` of `turn`, named by a retry's verified `requestState`. A state
    /// is good for one retry of the call it was issued to, within its TTL.
    fn redeem(turn: &RunningTurn, round: u64) -> Result<(), RoundTripError> {
        let mut rounds = turn.rounds.lock().map_err(|_| RoundTripError::TurnGone)?;
        if round != rounds.issued || round <= rounds.redeemed {
            return Err(RoundTripError::StateUsed);
        }
        rounds.redeemed = round;
        Ok(())
    }

    /// Delivers a retry's answers to the questions its round showed, and to no other.
    fn answer_shown(turn: &RunningTurn, mut responses: InputResponses) {
        let shown = turn
            .rounds
            .lock()
            .map(|rounds| rounds.shown.clone())
            .unwrap_or_default();
        responses.retain(|key, _| shown.contains(key));
        let delivered = turn.questions.answer(responses);
        tracing::debug!(turn = %turn.key, delivered, "answers delivered");
    }

    /// Follows the turn for one request until it ends (the result) or needs answers
    /// (`input_required`). Progress goes to this request's token meanwhile. A cancelled
    /// request interrupts the turn.
    async fn carry(
        &self,
        turn: &Arc<RunningTurn>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        turn.progress
            .attach(context.meta.get_progress_token())
            .await;
        let response = self.wait(turn, &context.ct).await;
        turn.progress.detach().await;
        // Cancelled just as the answer was decided: rmcp drops the answer, so nobody would
        // carry the turn on.
        if context.ct.is_cancelled() {
            turn.cancel.cancel();
        }
        response
    }

    async fn wait(
        &self,
        turn: &Arc<RunningTurn>,
        cancelled: &CancellationToken,
    ) -> CallToolResponse {
        let mut outcome = turn.outcome.clone();
        let mut asked = turn.questions.watch();
        loop {
            asked.borrow_and_update();
            if let Some(ended) = outcome.borrow_and_update().clone() {
                self.forget(turn.key);
                return ended.result.into();
            }
            let pending = turn.questions.pending();
            if !pending.is_empty() {
                let state = self.issue(turn, pending.keys().cloned().collect());
                return InputRequiredResult::new(Some(pending), state).into();
            }
            tokio::select! {
                changed = outcome.changed() => {
                    if changed.is_err() && outcome.borrow().is_none() {
                        return ToolCallError::Aborted.into_result(Some(turn.thread_id)).into();
                    }
                }
                _ = asked.changed() => {}
                () = cancelled.cancelled() => {
                    // The host expects no answer; the turn stops and records that it was
                    // aborted.
                    turn.cancel.cancel();
                    return ToolCallError::Aborted.into_result(Some(turn.thread_id)).into();
                }
            }
        }
    }

    /// A fresh `requestState` for the turn's next round, which shows the questions `shown`.
    fn issue(&self, turn: &RunningTurn, shown: Vec<String>) -> Option<String> {
        let mut rounds = turn.rounds.lock().ok()?;
        rounds.issued += 1;
        rounds.shown = shown;
        Some(self.sealer.seal(
            TurnState {
                turn: turn.key,
                round: rounds.issued,
            },
            &turn.binding,
        ))
    }

    /// `tasks/get`: the live turn's state, or else what was recorded.
    pub(crate) async fn get_task(&self, task_id: &str) -> Result<GetTaskResult, RoundTripError> {
        let key = task_key(task_id)?;
        if let Some(turn) = self.get(key)
            && let Some(times) = turn.task
        {
            let outcome = turn.outcome.borrow().clone();
            let payload = match outcome {
                Some(ended) if ended.cancelled => TaskPayload::Cancelled,
                Some(ended) => TaskPayload::Completed {
                    result: result_object(&ended.result),
                },
                None => {
                    let pending = turn.questions.pending();
                    if pending.is_empty() {
                        TaskPayload::Working
                    } else {
                        TaskPayload::InputRequired {
                            input_requests: pending,
                        }
                    }
                }
            };
            let mut task = turn.task_fields(times, payload.status());
            if matches!(payload, TaskPayload::Working)
                && let Some(message) = turn.progress.last_message()
            {
                task = task.with_status_message(message);
            }
            return Ok(GetTaskResult::new(DetailedTask::new(task, payload)));
        }
        if let Some(shared) = self.store.shared() {
            return relay::get_task_elsewhere(shared, key, task_id).await;
        }
        let record = self.recorded(key, task_id).await?;
        Ok(recorded_task(task_id, record, None))
    }

    /// `tasks/update`: the host's answers to the task's open questions.
    pub(crate) async fn update_task(
        &self,
        task_id: &str,
        responses: InputResponses,
    ) -> Result<(), RoundTripError> {
        let key = task_key(task_id)?;
        match self.get(key) {
            Some(turn) if turn.task.is_some() && turn.outcome.borrow().is_none() => {
                turn.questions.answer(responses);
                Ok(())
            }
            None if self.store.shared().is_some() => {
                relay::update_task_elsewhere(self, key, task_id, responses).await
            }
            _ => {
                let record = self.recorded(key, task_id).await?;
                Err(RoundTripError::TaskEnded {
                    task_id: task_id.to_string(),
                    status: status_name(record.status),
                })
            }
        }
    }

    /// `tasks/cancel`: interrupts the turn, which kills its commands; the task then reports
    /// `cancelled`.
    pub(crate) async fn cancel_task(&self, task_id: &str) -> Result<(), RoundTripError> {
        let key = task_key(task_id)?;
        match self.get(key) {
            Some(turn) if turn.task.is_some() => {
                if turn.outcome.borrow().is_none() {
                    turn.cancel.cancel();
                }
                Ok(())
            }
            None if self.store.shared().is_some() => {
                relay::cancel_task_elsewhere(self, key, task_id).await
            }
            _ => {
                // Ended already (or cut off by a restart): nothing left to stop.
                self.recorded(key, task_id).await.map(|_| ())
            }
        }
    }

    /// The record of a task this process no longer runs; an error for one it never knew
    /// (or forgot when its TTL passed).
    async fn recorded(&self, key: Uuid, task_id: &str) -> Result<TaskRecord, RoundTripError> {
        match self.tasks.read(key).await {
            Ok(Some(record)) if !record.expired(Utc::now()) => Ok(record),
            Ok(_) => Err(RoundTripError::UnknownTask(task_id.to_string())),
            Err(err) => Err(RoundTripError::TaskUnreadable(err)),
        }
    }
}

impl RunningTurn {
    fn task_fields(&self, times: TaskTimes, status: TaskStatus) -> Task {
        Task::new(
            self.key.to_string(),
            status,
            times.created_at.to_rfc3339(),
            Utc::now().to_rfc3339(),
        )
        .with_ttl_ms(millis(TASK_TTL))
        .with_poll_interval_ms(millis(TASK_POLL_INTERVAL))
    }

    /// The record of the task: kept for [`TASK_TTL`] after its last change, however long it
    /// ran (`ttlMs` counts from creation, and may grow).
    fn record(
        &self,
        times: TaskTimes,
        status: TaskStatus,
        result: Option<&CallToolResult>,
    ) -> TaskRecord {
        let now = Utc::now();
        let ran = (now - times.created_at).to_std().unwrap_or_default();
        TaskRecord {
            task_id: self.key,
            thread_id: self.thread_id.to_string(),
            status,
            created_at: times.created_at,
            last_updated_at: now,
            ttl_ms: millis(ran + TASK_TTL),
            poll_interval_ms: millis(TASK_POLL_INTERVAL),
            result: result.map(result_object),
            input_requests: None,
        }
    }
}

/// A task as its record tells it. `elsewhere` says whether another replica still runs it
/// (`Some(true)`), or ran it and has stopped (`Some(false)`); `None` on the files backend, where
/// a record still running with no live turn here means this server stopped while it ran.
fn recorded_task(task_id: &str, record: TaskRecord, elsewhere: Option<bool>) -> GetTaskResult {
    let task = Task::new(
        task_id,
        record.status,
        record.created_at.to_rfc3339(),
        record.last_updated_at.to_rfc3339(),
    )
    .with_ttl_ms(record.ttl_ms)
    .with_poll_interval_ms(record.poll_interval_ms);
    let input_requests = record
        .input_requests
        .and_then(|value| serde_json::from_value(value).ok());
    let payload = match (record.status, record.result, input_requests) {
        (TaskStatus::Completed, Some(result), _) => TaskPayload::Completed { result },
        (TaskStatus::Cancelled, ..) => TaskPayload::Cancelled,
        (TaskStatus::InputRequired, _, Some(input_requests)) if elsewhere == Some(true) => {
            TaskPayload::InputRequired { input_requests }
        }
        (TaskStatus::Working | TaskStatus::InputRequired, ..) if elsewhere == Some(true) => {
            TaskPayload::Working
        }
        // Recorded as running, yet no turn stands behind it: the server that ran it stopped
        // before the turn ended.
        _ => {
            let message = if elsewhere.is_some() {
                format!(
                    "the replica that ran this task stopped (crashed, killed or restarted) before its turn ended; every turn completed before it is saved in thread {}: continue it with `codex-reply` on any replica",
                    record.thread_id
                )
            } else {
                format!(
                    "the server stopped (restarted or crashed) while this task ran, which cut its turn off; what the turn did before that is saved in thread {}: continue it with `codex-reply`",
                    record.thread_id
                )
            };
            TaskPayload::Failed {
                error: json!({
                    "code": -32603,
                    "message": message,
                    "data": {"threadId": record.thread_id},
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            }
        }
    };
    GetTaskResult::new(DetailedTask::new(task, payload))
}

fn task_key(task_id: &str) -> Result<Uuid, RoundTripError> {
    task_id
        .parse()
        .map_err(|_| RoundTripError::UnknownTask(task_id.to_string()))
}

fn result_object(result: &CallToolResult) -> JsonObject {
    serde_json::to_value(result)
        .ok()
        .and_then(|value| value.as_object().cloned())
        .unwrap_or_default()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Working => "working",
        TaskStatus::InputRequired => "input_required",
        TaskStatus::Completed => "completed",
        TaskStatus::Failed => "failed",
        TaskStatus::Cancelled => "cancelled",
        _ => "ended",
    }
}
