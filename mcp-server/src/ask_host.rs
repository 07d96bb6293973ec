//! Asking the host a question (an approval today), in whatever protocol era it speaks.
//!
//! - A legacy session (`initialize`, 2025-11-25 and earlier) gets an `elicitation/create`
//!   request nested in the tool call.
//! - A 2026-07-28 client cannot be sent requests. Its questions wait in [`OpenQuestions`]
//!   until they travel out inside a result, as the `inputRequests` of an `input_required`
//!   result or of a task, and its answers come back with the retried call or `tasks/update`.
//! - A host that did not declare elicitation is not asked at all: the caller applies the
//!   configured fallback.
//!
//! Whichever way, the asker gets the host's raw reply or why there is none (an error reply, a
//! timeout), or `None` when the turn ended first. Nothing waits forever.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use codex_mcp_types::ELICITATION_CREATE_METHOD;
use rmcp::Peer;
use rmcp::RoleServer;
use rmcp::model::CancelledNotificationParam;
use rmcp::model::ClientCapabilities;
use rmcp::model::CustomRequest;
use rmcp::model::ElicitRequest;
use rmcp::model::ElicitRequestParams;
use rmcp::model::GetExtensions as _;
use rmcp::model::InputRequest;
use rmcp::model::InputRequests;
use rmcp::model::InputResponses;
use rmcp::model::ProtocolVersion;
use rmcp::model::RequestId;
use rmcp::model::ServerRequest;
use rmcp::service::OriginatingRequestId;
use rmcp::service::PeerRequestOptions;
use rmcp::service::RequestContext;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::stdio_transport::ElicitationReplies;

/// The host's reply as JSON, or why there is none.
pub(crate) type Reply = Result<Value, String>;

/// How one request's turn reaches its host with questions.
#[derive(Clone)]
pub(crate) enum HostChannel {
    /// A legacy session: `elicitation/create`, nested in the tool call (whose id is kept, so
    /// that over HTTP the question rides that call's stream). The replies are read as the
    /// host sent them.
    Elicitation(Peer<RoleServer>, Arc<ElicitationReplies>, RequestId),
    /// A 2026-07-28 client: questions wait here until a result carries them out.
    Inline(Arc<OpenQuestions>),
    /// The request did not declare elicitation.
    Unavailable,
}

/// Whether the request was made under MCP 2026-07-28 or later, where the server sends the
/// client no requests and every request carries its own capabilities in `_meta`.
pub(crate) fn is_modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// What the client declared for this request: in its `_meta` under 2026-07-28, at
/// `initialize` before.
pub(crate) fn capabilities(context: &RequestContext<RoleServer>) -> ClientCapabilities {
    context.client_capabilities().unwrap_or_default()
}

impl HostChannel {
    /// The channel for a request: `inline` holds the questions of a 2026-07-28 client's turn.
    /// Such a client can only be asked through a result, so a turn with no result to carry
    /// its questions (`inline` is `None`) cannot ask it.
    pub(crate) fn for_request(
        context: &RequestContext<RoleServer>,
        replies: &Arc<ElicitationReplies>,
        inline: Option<Arc<OpenQuestions>>,
    ) -> Self {
        if capabilities(context).elicitation.is_none() {
            return HostChannel::Unavailable;
        }
        match (is_modern(context), inline) {
            (false, _) => HostChannel::Elicitation(
                context.peer.clone(),
                Arc::clone(replies),
                context.id.clone(),
            ),
            (true, Some(questions)) => HostChannel::Inline(questions),
            (true, None) => HostChannel::Unavailable,
        }
    }

    /// Asks with `params` (an `elicitation/create`'s params) and waits at most `timeout`.
    /// `None` when `turn_ended` fires first; a legacy host is then told the request is
    /// cancelled, and an inline question is withdrawn.
    pub(crate) async fn ask(
        &self,
        params: Value,
        timeout: Duration,
        turn_ended: &CancellationToken,
    ) -> Option<Reply> {
        match self {
            HostChannel::Elicitation(peer, replies, call) => {
                elicit(peer, replies, call, params, timeout, turn_ended).await
            }
            HostChannel::Inline(questions) => questions.ask(params, timeout, turn_ended).await,
            HostChannel::Unavailable => Some(Err(
                "the MCP client did not declare elicitation for this request".to_string(),
            )),
        }
    }
}

fn timed_out(timeout: Duration) -> String {
    format!(
        "no answer within {} s (approvals.timeout_secs)",
        timeout.as_secs()
    )
}

/// Sends an `elicitation/create` request to a legacy host.
async fn elicit(
    peer: &Peer<RoleServer>,
    replies: &ElicitationReplies,
    call: &RequestId,
    params: Value,
    timeout: Duration,
    turn_ended: &CancellationToken,
) -> Option<Reply> {
    let mut request =
        ServerRequest::CustomRequest(CustomRequest::new(ELICITATION_CREATE_METHOD, Some(params)));
    // rmcp marks this itself only within the call's own task, and approvals run on their
    // own; over HTTP the mark sends the question on the call's stream, not the GET stream.
    request
        .extensions_mut()
        .insert(OriginatingRequestId(call.clone()));
    let mut options = PeerRequestOptions::no_options();
    options.timeout = Some(timeout);
    let handle = match peer.send_request_with_option(request, options).await {
        Ok(handle) => handle,
        Err(err) => return Some(Err(err.to_string())),
    };
    let request_id = handle.id.clone();
    let reply = tokio::select! {
        reply = handle.await_response() => reply,
        () = turn_ended.cancelled() => {
            replies.take(&request_id);
            let cancelled = CancelledNotificationParam::new(
                Some(request_id),
                Some("the turn ended before the approval was answered".to_string()),
            );
            if let Err(err) = peer.notify_cancelled(cancelled).await {
                tracing::debug!("cancellation not delivered (host gone?): {err}");
            }
            return None;
        }
    };
    let as_sent = replies.take(&request_id);
    Some(match reply {
        Ok(reply) => match as_sent {
            Some(as_sent) => Ok(as_sent),
            None => serde_json::to_value(reply).map_err(|err| err.to_string()),
        },
        Err(rmcp::service::ServiceError::Timeout { .. }) => Err(timed_out(timeout)),
        Err(other) => Err(other.to_string()),
    })
}

/// The open questions of one 2026-07-28 turn, keyed as they appear in `inputRequests`.
/// Watchers learn of every change, so a waiting call can answer `input_required` as soon as a
/// question opens.
pub(crate) struct OpenQuestions {
    open: Mutex<Questions>,
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct Questions {
    /// Keys are never reused within a turn, so an answer can only reach its own question.
    asked: u64,
    open: BTreeMap<String, Question>,
}

struct Question {
    request: InputRequest,
    reply: oneshot::Sender<Value>,
}

impl OpenQuestions {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(Questions::default()),
            changed: watch::Sender::new(0),
        })
    }

    /// Changes whenever a question opens or closes.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The questions still waiting for an answer.
    pub(crate) fn pending(&self) -> InputRequests {
        self.open
            .lock()
            .map(|questions| {
                questions
                    .open
                    .iter()
                    .map(|(key, question)| (key.clone(), question.request.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Delivers the host's answers. An answer to a question that is no longer open (it timed
    /// out, or the turn moved on) is dropped; returns how many reached a question.
    pub(crate) fn answer(&self, responses: InputResponses) -> usize {
        let mut delivered = 0;
        if let Ok(mut questions) = self.open.lock() {
            for (key, reply) in responses {
                match questions.open.remove(&key) {
                    Some(question) => {
                        delivered += usize::from(question.reply.send(reply).is_ok());
                    }
                    None => tracing::debug!(key, "answer to a question that is not open"),
                }
            }
        }
        self.changed.send_modify(|version| *version += 1);
        delivered
    }

    async fn ask(
        &self,
        params: Value,
        timeout: Duration,
        turn_ended: &CancellationToken,
    ) -> Option<Reply> {
        let request = match input_request(params) {
            Ok(request) => request,
            Err(err) => return Some(Err(format!("the question could not be built: {err}"))),
        };
        let (reply, answer) = oneshot::channel();
        let key = {
            let Ok(mut questions) = self.open.lock() else {
                return Some(Err("the question table is unusable".to_string()));
            };
            questions.asked += 1;
            // Unguessable as well as unique: a client answers only what it was shown.
            let key = format!("approval-{}-{:08x}", questions.asked, rand::random::<u32>());
            questions
                .open
                .insert(key.clone(), Question { request, reply });
            key
        };
        self.changed.send_modify(|version| *version += 1);
        let _close = CloseOnDrop {
            questions: self,
            key,
        };
        tokio::select! {
            answer = answer => Some(answer.map_err(|_| "the question was withdrawn".to_string())),
            () = tokio::time::sleep(timeout) => Some(Err(timed_out(timeout))),
            () = turn_ended.cancelled() => None,
        }
    }
}

/// Takes a question off the table however its wait ends, so that no later result offers it.
struct CloseOnDrop<'a> {
    questions: &'a OpenQuestions,
    key: String,
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        let removed = self
            .questions
            .open
            .lock()
            .is_ok_and(|mut questions| questions.open.remove(&self.key).is_some());
        if removed {
            self.questions.changed.send_modify(|version| *version += 1);
        }
    }
}

/// The fields of an approval's params that are ours rather than the spec's: they ride in the
/// typed request's `_meta` and are put back at the top level by [`lift_codex_fields`].
fn is_codex_field(key: &str) -> bool {
    key.starts_with("codex_") || key == "threadId"
}

/// An `elicitation/create` for `inputRequests`, from the same params a legacy host gets.
fn input_request(params: Value) -> Result<InputRequest, serde_json::Error> {
    let Value::Object(mut fields) = params else {
        return Err(serde::de::Error::custom(
            "elicitation params must be an object",
        ));
    };
    let ours: serde_json::Map<String, Value> = fields
        .iter()
        .filter(|(key, _)| is_codex_field(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    fields.retain(|key, _| !is_codex_field(key));
    fields.insert("mode".to_string(), Value::from("form"));
    fields.insert("_meta".to_string(), Value::Object(ours));
    let params: ElicitRequestParams = serde_json::from_value(Value::Object(fields))?;
    Ok(InputRequest::Elicitation(ElicitRequest::new(params)))
}

/// Puts the `codex_*` fields (and `threadId`) of every elicitation in `inputRequests` back at
/// the top level of its params, where hosts of the replaced server read them. They stay in
/// `_meta` as well: some SDKs hand their elicitation callback nothing but `message`,
/// `requestedSchema` and `_meta`.
pub(crate) fn lift_codex_fields(result: &mut Value) {
    let Some(requests) = result
        .get_mut("inputRequests")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for request in requests.values_mut() {
        let Some(params) = request.get_mut("params").and_then(Value::as_object_mut) else {
            continue;
        };
        let ours: Vec<(String, Value)> = params
            .get("_meta")
            .and_then(Value::as_object)
            .map(|meta| {
                meta.iter()
                    .filter(|(key, _)| is_codex_field(key))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (key, value) in ours {
            params.entry(key).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use codex_mcp_types::approval_requested_schema;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    fn approval_params() -> Value {
        json!({
            "message": "Allow Codex to run `ls`?",
            "requestedSchema": approval_requested_schema(),
            "threadId": "t-1",
            "codex_elicitation": "exec-approval",
            "codex_call_id": "call-1",
            "codex_command": ["ls"],
        })
    }

    #[test]
    fn an_inline_question_carries_what_an_elicitation_carries() {
        let request = input_request(approval_params()).unwrap();
        let mut wire = json!({"inputRequests": {"approval-1": request}});
        lift_codex_fields(&mut wire);
        let params = &wire["inputRequests"]["approval-1"]["params"];
        assert_eq!(
            wire["inputRequests"]["approval-1"]["method"],
            "elicitation/create"
        );
        assert_eq!(params["mode"], "form");
        assert_eq!(params["message"], "Allow Codex to run `ls`?");
        assert_eq!(params["requestedSchema"], approval_requested_schema());
        for (key, value) in approval_params().as_object().unwrap() {
            assert_eq!(&params[key], value, "{key} at the top level");
            if is_codex_field(key) {
                assert_eq!(&params["_meta"][key], value, "{key} in _meta");
            }
        }
    }

    #[tokio::test]
    async fn a_question_is_answered_once_and_then_closed() {
        let questions = OpenQuestions::new();
        let turn_ended = CancellationToken::new();
        let asker = {
            let questions = Arc::clone(&questions);
            let turn_ended = turn_ended.clone();
            tokio::spawn(async move {
                questions
                    .ask(approval_params(), Duration::from_secs(60), &turn_ended)
                    .await
            })
        };
        let mut watch = questions.watch();
        while questions.pending().is_empty() {
            tokio::time::timeout(Duration::from_secs(10), watch.changed())
                .await
                .unwrap()
                .unwrap();
        }
        let key = questions.pending().keys().next().cloned().unwrap();
        assert!(key.starts_with("approval-1-"), "{key}");
        let delivered = questions.answer(BTreeMap::from([
            (key.clone(), json!({"action": "accept"})),
            ("approval-99".to_string(), json!({"action": "accept"})),
        ]));
        assert_eq!(delivered, 1);
        let reply = tokio::time::timeout(Duration::from_secs(10), asker)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply, Some(Ok(json!({"action": "accept"}))));
        assert!(questions.pending().is_empty());
        assert_eq!(
            questions.answer(BTreeMap::from([(key, json!({"action": "accept"}))])),
            0,
            "a second answer reaches nothing"
        );
    }

    #[tokio::test]
    async fn an_unanswered_question_times_out_and_a_moot_one_is_withdrawn() {
        let questions = OpenQuestions::new();
        let turn_ended = CancellationToken::new();
        let reply = questions
            .ask(approval_params(), Duration::from_millis(10), &turn_ended)
            .await;
        assert_eq!(
            reply,
            Some(Err(
                "no answer within 0 s (approvals.timeout_secs)".to_string()
            ))
        );
        assert!(questions.pending().is_empty());
        turn_ended.cancel();
        let reply = questions
            .ask(approval_params(), Duration::from_secs(60), &turn_ended)
            .await;
        assert_eq!(reply, None);
        assert!(questions.pending().is_empty());
    }
}
