//! Requests about a 2026-07-28 turn that reach a replica other than the one running it, when
//! replicas share the PostgreSQL thread store.
//!
//! The replica that runs a turn records it (`codex_turns`: which replica, and its task record,
//! kept current while questions open and close). Another replica that gets a retry with a
//! `requestState` (sealed with the replicas' shared key, so it opens anywhere), a
//! `tasks/update` or a `tasks/cancel` for it writes a *delivery* for the running replica
//! (`codex_deliveries`), which polls for its own every [`DELIVERY_POLL`]. For a retry, the
//! running replica redeems the round, delivers the answers, follows the turn to its next
//! answer (the result, or `input_required` with a fresh state) and publishes it
//! (`codex_carried`); the replica holding the retry polls for that and answers it. Progress
//! notifications of the turn do not cross replicas. A `tasks/get` elsewhere reads the record,
//! and a record whose replica stopped heartbeating reads `failed`.

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;
use std::time::Instant;

use rmcp::RoleServer;
use rmcp::model::CallToolResponse;
use rmcp::model::CallToolResult;
use rmcp::model::GetTaskResult;
use rmcp::model::InputRequiredResult;
use rmcp::model::InputResponses;
use rmcp::model::TaskStatus;
use rmcp::service::RequestContext;
use serde_json::Value;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::RETENTION;
use super::RunningTurn;
use super::RunningTurns;
use super::TaskTimes;
use super::recorded_task;
use crate::task_store::TaskRecord;
use crate::thread_store::Shared;
use crate::tool_error::RoundTripError;
use crate::tool_error::ToolCallError;

/// How often a replica looks for deliveries to it, and for the answer to a relayed retry.
const DELIVERY_POLL: Duration = Duration::from_millis(100);
/// How long the poller waits after the store failed to answer.
const STORE_RETRY: Duration = Duration::from_secs(2);
/// How often a replica waiting for another's answer checks that the other is still alive.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// Takes this replica's deliveries, for as long as its turns live.
pub(super) fn take_deliveries(turns: Weak<RunningTurns>, shared: Arc<Shared>) {
    tokio::spawn(async move {
        loop {
            match shared.pg.take_deliveries(&shared.replica).await {
                Ok(deliveries) => {
                    let Some(turns) = turns.upgrade() else {
                        return;
                    };
                    for (key, kind, payload) in deliveries {
                        apply(&turns, &shared, key, &kind, payload);
                    }
                }
                Err(err) => {
                    tracing::warn!("thread store: deliveries not taken: {err}");
                    // The store is down or unreachable: ask again, but not ten times a second.
                    tokio::time::sleep(STORE_RETRY).await;
                }
            }
            if turns.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(DELIVERY_POLL).await;
        }
    });
}

fn apply(turns: &Arc<RunningTurns>, shared: &Arc<Shared>, key: Uuid, kind: &str, payload: Value) {
    let turn = turns.get(key);
    match kind {
        "retry" => {
            let round = payload.get("round").and_then(Value::as_u64).unwrap_or(0);
            let responses: Option<InputResponses> = payload
                .get("responses")
                .cloned()
                .and_then(|value| serde_json::from_value(value).ok());
            let (turns, shared) = (Arc::clone(turns), Arc::clone(shared));
            tokio::spawn(async move {
                let answer = match turn {
                    None => json!({"refused": "gone"}),
                    Some(turn) => match RunningTurns::redeem(&turn, round) {
                        Err(RoundTripError::StateUsed) => json!({"refused": "used"}),
                        Err(_) => json!({"refused": "gone"}),
                        Ok(()) => {
                            if let Some(responses) = responses {
                                RunningTurns::answer_shown(&turn, responses);
                            }
                            // The retry's own request is on the other replica; its
                            // cancellation arrives as a delivery.
                            let response = turns.wait(&turn, &CancellationToken::new()).await;
                            encode(&response)
                        }
                    },
                };
                let round = i64::try_from(round).unwrap_or(i64::MAX);
                if let Err(err) = shared.pg.put_carried(key, round, &answer).await {
                    tracing::error!(turn = %key, "a relayed retry's answer was not published: {err}");
                }
            });
        }
        "update" => {
            if let Some(turn) = turn
                && turn.outcome.borrow().is_none()
                && let Some(responses) = payload
                    .get("responses")
                    .cloned()
                    .and_then(|value| serde_json::from_value::<InputResponses>(value).ok())
            {
                turn.questions.answer(responses);
            }
        }
        "cancel" => {
            if let Some(turn) = turn
                && turn.outcome.borrow().is_none()
            {
                turn.cancel.cancel();
            }
        }
        other => tracing::warn!(kind = other, "unknown delivery kind ignored"),
    }
}

fn encode(response: &CallToolResponse) -> Value {
    match response {
        CallToolResponse::Complete(result) => json!({"complete": result}),
        CallToolResponse::InputRequired(result) => json!({"inputRequired": result}),
        _ => json!({"refused": "gone"}),
    }
}

fn decode(answer: Value) -> Result<CallToolResponse, RoundTripError> {
    if let Some(result) = answer.get("complete") {
        return serde_json::from_value::<CallToolResult>(result.clone())
            .map(CallToolResponse::from)
            .map_err(|_| RoundTripError::TurnGone);
    }
    if let Some(result) = answer.get("inputRequired") {
        return serde_json::from_value::<InputRequiredResult>(result.clone())
            .map(CallToolResponse::from)
            .map_err(|_| RoundTripError::TurnGone);
    }
    match answer.get("refused").and_then(Value::as_str) {
        Some("used") => Err(RoundTripError::StateUsed),
        _ => Err(RoundTripError::TurnGone),
    }
}

/// A retry (its `requestState` verified) of a turn this replica does not run: its answers go
/// to the replica that does, and this request then waits there for the turn's next answer.
pub(super) async fn retry_elsewhere(
    shared: &Arc<Shared>,
    key: Uuid,
    round: u64,
    responses: Option<InputResponses>,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, RoundTripError> {
    let turn = shared
        .pg
        .turn(key, shared.lease_ttl)
        .await
        .map_err(RoundTripError::Store)?
        .ok_or(RoundTripError::TurnGone)?;
    if turn.replica == shared.replica || !turn.replica_alive {
        return Err(RoundTripError::TurnGone);
    }
    let payload = json!({"round": round, "responses": responses});
    shared
        .pg
        .deliver(&turn.replica, key, "retry", &payload)
        .await
        .map_err(RoundTripError::Store)?;
    let round = i64::try_from(round).unwrap_or(i64::MAX);
    let thread = turn.thread_id.parse().ok();
    let deadline = Instant::now() + RETENTION;
    let mut checked = Instant::now();
    loop {
        if let Some(answer) = shared
            .pg
            .carried(key, round)
            .await
            .map_err(RoundTripError::Store)?
        {
            return decode(answer);
        }
        if checked.elapsed() >= LIVENESS_CHECK {
            checked = Instant::now();
            let alive = shared
                .pg
                .turn(key, shared.lease_ttl)
                .await
                .map_err(RoundTripError::Store)?
                .is_some_and(|turn| turn.replica_alive);
            if !alive {
                return Ok(ToolCallError::ReplicaGone.into_result(thread).into());
            }
        }
        if Instant::now() >= deadline {
            return Err(RoundTripError::TurnGone);
        }
        tokio::select! {
            () = context.ct.cancelled() => {
                // The host expects no answer; the turn stops where it runs.
                if let Err(err) = shared.pg.deliver(&turn.replica, key, "cancel", &json!({})).await {
                    tracing::warn!("a cancellation was not relayed: {err}");
                }
                return Ok(ToolCallError::Aborted.into_result(thread).into());
            }
            () = tokio::time::sleep(DELIVERY_POLL) => {}
        }
    }
}

/// Keeps a task's record in the store current while questions open and close, so that
/// `tasks/get` on any replica shows them.
pub(super) async fn publish_questions(
    turns: Arc<RunningTurns>,
    turn: Arc<RunningTurn>,
    times: TaskTimes,
) {
    let mut asked = turn.questions.watch();
    while asked.changed().await.is_ok() {
        let pending = turn.questions.pending();
        let mut record = turn.record(
            times,
            if pending.is_empty() {
                TaskStatus::Working
            } else {
                TaskStatus::InputRequired
            },
            None,
        );
        if !pending.is_empty() {
            record.input_requests = serde_json::to_value(&pending).ok();
        }
        if let Err(err) = turns.write_task(&record).await {
            tracing::warn!("{err}");
        }
    }
}

/// The task's record in the store, and whether the replica running it is alive.
async fn stored_task(
    shared: &Shared,
    key: Uuid,
    task_id: &str,
) -> Result<(TaskRecord, String, bool), RoundTripError> {
    let turn = shared
        .pg
        .turn(key, shared.lease_ttl)
        .await
        .map_err(RoundTripError::Store)?;
    let Some(turn) = turn else {
        return Err(RoundTripError::UnknownTask(task_id.to_string()));
    };
    let record = turn
        .task
        .and_then(|task| serde_json::from_value::<TaskRecord>(task).ok())
        .filter(|record| !record.expired(chrono::Utc::now()))
        .ok_or_else(|| RoundTripError::UnknownTask(task_id.to_string()))?;
    // This replica's own turns are all in memory: one recorded for it but not there belongs
    // to this replica's earlier life.
    let alive = turn.replica_alive && turn.replica != shared.replica;
    Ok((record, turn.replica, alive))
}

pub(super) async fn get_task_elsewhere(
    shared: &Shared,
    key: Uuid,
    task_id: &str,
) -> Result<GetTaskResult, RoundTripError> {
    let (record, _, alive) = stored_task(shared, key, task_id).await?;
    Ok(recorded_task(task_id, record, Some(alive)))
}

pub(super) async fn update_task_elsewhere(
    turns: &RunningTurns,
    key: Uuid,
    task_id: &str,
    responses: InputResponses,
) -> Result<(), RoundTripError> {
    let Some(shared) = turns.store.shared() else {
        return Err(RoundTripError::UnknownTask(task_id.to_string()));
    };
    let (record, replica, alive) = stored_task(shared, key, task_id).await?;
    if !alive
        || !matches!(
            record.status,
            TaskStatus::Working | TaskStatus::InputRequired
        )
    {
        let status = if alive {
            record.status
        } else {
            TaskStatus::Failed
        };
        return Err(RoundTripError::TaskEnded {
            task_id: task_id.to_string(),
            status: super::status_name(status),
        });
    }
    shared
        .pg
        .deliver(&replica, key, "update", &json!({"responses": responses}))
        .await
        .map_err(RoundTripError::Store)
}

pub(super) async fn cancel_task_elsewhere(
    turns: &RunningTurns,
    key: Uuid,
    task_id: &str,
) -> Result<(), RoundTripError> {
    let Some(shared) = turns.store.shared() else {
        return Err(RoundTripError::UnknownTask(task_id.to_string()));
    };
    let (record, replica, alive) = stored_task(shared, key, task_id).await?;
    if alive
        && matches!(
            record.status,
            TaskStatus::Working | TaskStatus::InputRequired
        )
    {
        shared
            .pg
            .deliver(&replica, key, "cancel", &json!({}))
            .await
            .map_err(RoundTripError::Store)?;
    }
    Ok(())
}
