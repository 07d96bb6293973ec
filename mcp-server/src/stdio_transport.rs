//! stdin/stdout for rmcp, with one addition: every line the host sends gets an answer.
//!
//! rmcp drops a line it cannot read as a client message without a word, which leaves a host
//! waiting forever for a reply. Here such a line is answered with the JSON-RPC error it
//! deserves (-32700 for text that is not JSON, -32600 for JSON that is not a message, -32602
//! for a known method with unusable params, or an `initialize` that lacks a field or offers
//! a version this server does not speak), and everything else passes through to rmcp
//! untouched. One task owns stdout and writes whole lines only, so these answers never split
//! one of rmcp's messages.
//!
//! On the way out, one thing is taken off: rmcp stamps every request it sends with a
//! `_meta.progressToken` of its own. An `elicitation/create` is a question for a person, and a
//! token there invites hosts to expect progress that never comes, so it goes.
//!
//! And the host's answers to those questions are kept as sent ([`ElicitationReplies`]): rmcp
//! reads a reply into its typed `ElicitResult`, which drops what it does not know (a legacy
//! `decision` beside an `action`), and an approval must be judged on everything the host said.

use memchr::memmem;
use rmcp::model::ClientJsonRpcMessage;
use rmcp::model::InitializeRequestParams;
use rmcp::model::NumberOrString;
use rmcp::model::ProtocolVersion;
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;

use serde_json::Value;
use serde_json::json;
use tokio::io::AsyncBufReadExt as _;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::AsyncWriteExt as _;
use tokio::io::BufReader;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::request_ids::Admission;
use crate::request_ids::InFlight;
use crate::request_ids::raw_id;
use crate::request_ids::raw_id_in_prefix;
use crate::request_ids::rmcp_can_carry;
use crate::tool_error::MAX_ECHOED_DETAIL;
use crate::tool_error::MAX_ECHOED_NAME;
use crate::tool_error::bounded;
use crate::tool_error::naming_the_field;
use crate::wire_log;

/// Room for a few large messages in each direction before the writer waits.
const PIPE_CAPACITY: usize = 256 * 1024;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;
const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// The longest line read; rmcp drops longer ones without a word, so they are answered here.
/// rmcp's own limit, so nothing that passes can be dropped there.
const MAX_LINE_BYTES: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
/// How much of an oversized line is kept to find its id in.
const ID_SEARCH_BYTES: usize = 4096;
const NULL_ID: &str = "null";

/// Lines holding this are the only ones the writer looks into.
const ELICITATION_CREATE: &[u8] = b"\"elicitation/create\"";

/// The transport to hand to rmcp: what it reads comes from stdin, what it writes goes to
/// stdout. The token is cancelled when the host closes stdin: rmcp itself waits for the
/// requests still running before it reports the end, and a host that has gone should not
/// have to wait for them.
pub(crate) fn stdio() -> Stdio {
    over(tokio::io::stdin(), tokio::io::stdout())
}

/// Like [`stdio`], for a host at the other end of `host_in` and `host_out`: the in-process
/// tests' pipe.
pub(crate) fn over(
    host_in: impl AsyncRead + Unpin + Send + 'static,
    host_out: impl AsyncWrite + Unpin + Send + 'static,
) -> Stdio {
    let (rmcp_reads, to_rmcp) = tokio::io::duplex(PIPE_CAPACITY);
    let (from_rmcp, rmcp_writes) = tokio::io::duplex(PIPE_CAPACITY);
    let (answers, pending_answers) = mpsc::unbounded_channel();
    let host_gone = CancellationToken::new();
    let replies = Arc::new(ElicitationReplies::default());
    let in_flight = Arc::new(InFlight::default());
    tokio::spawn(read_host(
        host_in,
        to_rmcp,
        answers,
        host_gone.clone(),
        Arc::clone(&replies),
        Arc::clone(&in_flight),
    ));
    let written = tokio::spawn(write_host(
        from_rmcp,
        host_out,
        pending_answers,
        Arc::clone(&replies),
        Arc::clone(&in_flight),
    ));
    Stdio {
        transport: (rmcp_reads, rmcp_writes),
        host_gone,
        replies,
        in_flight,
        written,
    }
}

/// The transport and what the server needs to know about it.
pub(crate) struct Stdio {
    /// For rmcp: what it reads, and where it writes.
    pub(crate) transport: (DuplexStream, DuplexStream),
    /// Cancelled when the host closes stdin.
    pub(crate) host_gone: CancellationToken,
    pub(crate) replies: Arc<ElicitationReplies>,
    /// The host's requests in flight, which the handler tells when each ends.
    pub(crate) in_flight: Arc<InFlight>,
    /// Ends once everything rmcp wrote is on stdout (after rmcp has let go of the
    /// transport): the process must not exit before that.
    pub(crate) written: tokio::task::JoinHandle<()>,
}

/// The host's results for the `elicitation/create` requests the server sent, exactly as the
/// host wrote them, by request id, until the asker takes them. Only ids of questions that are
/// still open are kept, so the table stays as small as the number of open questions.
#[derive(Default)]
pub(crate) struct ElicitationReplies {
    inner: Mutex<Replies>,
}

#[derive(Default)]
struct Replies {
    asked: HashSet<String>,
    answered: HashMap<String, Value>,
    /// Questions given up on (the turn ended, or no answer came) before the writer saw them
    /// go out: when it does, they are not noted as open.
    given_up: HashSet<String>,
}

impl ElicitationReplies {
    fn asked(&self, id: &Value) {
        if let Ok(mut replies) = self.inner.lock() {
            let key = id.to_string();
            if !replies.given_up.remove(&key) {
                replies.asked.insert(key);
            }
        }
    }

    fn is_waiting(&self) -> bool {
        self.inner
            .lock()
            .is_ok_and(|replies| !replies.asked.is_empty())
    }

    /// Keeps `result` if `id` is an open question's.
    fn answered(&self, id: &Value, result: &Value) {
        if let Ok(mut replies) = self.inner.lock() {
            let key = id.to_string();
            if replies.asked.remove(&key) {
                replies.answered.insert(key, result.clone());
            }
        }
    }

    /// The host's result for request `id` as it sent it, if it came; forgets the question
    /// either way.
    pub(crate) fn take(&self, id: &NumberOrString) -> Option<Value> {
        let key = match id {
            NumberOrString::Number(n) => Value::from(*n),
            NumberOrString::String(s) => Value::from(s.as_ref()),
        }
        .to_string();
        let mut replies = self.inner.lock().ok()?;
        if let Some(answer) = replies.answered.remove(&key) {
            return Some(answer);
        }
        if !replies.asked.remove(&key) {
            // Not out yet: the writer must not note it when it goes.
            replies.given_up.insert(key);
        }
        None
    }
}

/// Passes the host's messages to rmcp and answers the lines rmcp would drop. Ends at EOF,
/// which closes rmcp's input in turn: rmcp still answers every request it has been given.
async fn read_host(
    host: impl AsyncRead + Unpin,
    mut to_rmcp: DuplexStream,
    answers: mpsc::UnboundedSender<String>,
    host_gone: CancellationToken,
    replies: Arc<ElicitationReplies>,
    in_flight: Arc<InFlight>,
) {
    let mut host = BufReader::new(host);
    let mut line = Vec::new();
    loop {
        let answer = match read_line(&mut host, &mut line).await {
            Ok(Line::End) => break,
            Err(err) => {
                tracing::warn!("cannot read stdin: {err}");
                break;
            }
            Ok(Line::TooLong { bytes, id }) => Some(error_response(
                &id,
                INVALID_REQUEST,
                &format!(
                    "Invalid Request: a message of {bytes} bytes is over the limit of {MAX_LINE_BYTES} bytes (16 MiB); it was dropped"
                ),
            )),
            Ok(Line::Whole) => {
                let message = line.trim_ascii();
                if message.is_empty() {
                    continue;
                }
                match check(message) {
                    Some(answer) => Some(answer),
                    None => match in_flight.admit(message) {
                        Admission::Duplicate(id) => Some(error_response(
                            &id,
                            INVALID_REQUEST,
                            "Invalid Request: a request with this id is still running; ids of requests in flight must be unique",
                        )),
                        Admission::Pass => {
                            wire_log::log("host → server:", message);
                            // Kept before rmcp sees the line, so it is there when the asker
                            // wakes.
                            if replies.is_waiting() {
                                keep_elicitation_reply(&replies, message);
                            }
                            let forwarded = async {
                                to_rmcp.write_all(message).await?;
                                to_rmcp.write_all(b"\n").await
                            };
                            if forwarded.await.is_err() {
                                break; // rmcp has stopped.
                            }
                            None
                        }
                    },
                }
            }
        };
        if let Some(answer) = answer {
            tracing::warn!(
                "answered an unusable message: {}",
                bounded(&answer, MAX_ECHOED_DETAIL)
            );
            if answers.send(answer).is_err() {
                break;
            }
        }
    }
    host_gone.cancel();
    let _ = to_rmcp.shutdown().await;
}

/// What [`read_line`] found.
enum Line {
    /// A whole line, in the buffer.
    Whole,
    /// A line over [`MAX_LINE_BYTES`], read to its end and dropped; `id` is its id if one was
    /// found at its start.
    TooLong {
        bytes: usize,
        id: String,
    },
    End,
}

/// Reads one line into `line` (cleared first) without ever holding more than
/// [`MAX_LINE_BYTES`] of it: a longer line is consumed and dropped, and the buffer shrinks back.
async fn read_line(
    host: &mut BufReader<impl AsyncRead + Unpin>,
    line: &mut Vec<u8>,
) -> std::io::Result<Line> {
    line.clear();
    let mut dropped: Option<(usize, String)> = None;
    loop {
        let available = host.fill_buf().await?;
        if available.is_empty() {
            return Ok(match dropped {
                Some((bytes, id)) => Line::TooLong { bytes, id },
                None if line.is_empty() => Line::End,
                None => Line::Whole,
            });
        }
        let (chunk, ends) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..at], true),
            None => (available, false),
        };
        let taken = chunk.len() + usize::from(ends);
        match &mut dropped {
            Some((bytes, _)) => *bytes += chunk.len(),
            None if line.len() + chunk.len() > MAX_LINE_BYTES => {
                let bytes = line.len() + chunk.len();
                let mut prefix = std::mem::take(line);
                prefix.truncate(ID_SEARCH_BYTES);
                let wanted = ID_SEARCH_BYTES
                    .saturating_sub(prefix.len())
                    .min(chunk.len());
                prefix.extend_from_slice(&chunk[..wanted]);
                dropped = Some((bytes, raw_id_in_prefix(&prefix)));
                // Give the memory back.
                *line = Vec::new();
            }
            None => line.extend_from_slice(chunk),
        }
        host.consume(taken);
        if ends {
            return Ok(match dropped {
                Some((bytes, id)) => Line::TooLong { bytes, id },
                None => Line::Whole,
            });
        }
    }
}

/// `None` when rmcp can read `line`; otherwise the error response to send instead.
fn check(line: &[u8]) -> Option<String> {
    if serde_json::from_slice::<ClientJsonRpcMessage>(line).is_ok() {
        // rmcp reads an `initialize` it cannot use as some other request and answers about
        // missing `_meta`; the host deserves to hear which field is wrong.
        return memmem::find(line, b"\"initialize\"").and_then(|_| check_initialize(line));
    }
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(err) => {
            return Some(error_response(
                NULL_ID,
                PARSE_ERROR,
                &format!("Parse error: {err}"),
            ));
        }
    };
    // As the host wrote it: a float or an integer beyond 64 bits must come back unchanged.
    let id = raw_id(line);
    let method = value.get("method").and_then(Value::as_str);
    Some(match (&value, method) {
        (Value::Array(_), _) => error_response(
            NULL_ID,
            INVALID_REQUEST,
            "Invalid Request: batches are not supported",
        ),
        // A notification with bad params: JSON-RPC forbids answering a notification.
        (_, Some(_)) if id == NULL_ID => return None,
        (_, Some(_)) if !rmcp_can_carry(&id) => error_response(
            &id,
            INVALID_REQUEST,
            "Invalid Request: `id` must be a string or an integer between -2^63 and 2^63-1",
        ),
        (_, Some(method)) => error_response(
            &id,
            INVALID_PARAMS,
            &format!(
                "Invalid params for `{}`: {}",
                bounded(method, MAX_ECHOED_NAME),
                why_unreadable(line)
            ),
        ),
        // A response to a request we never sent, or no method at all.
        _ if value.get("result").is_some() || value.get("error").is_some() => return None,
        _ => error_response(
            &id,
            INVALID_REQUEST,
            "Invalid Request: expected a JSON-RPC 2.0 request with a `method`",
        ),
    })
}

/// The answer to an `initialize` request rmcp should not see: one that lacks a field (named in
/// the error) or offers a protocol version this server does not speak (-32022, with the
/// versions it does).
fn check_initialize(line: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(line).ok()?;
    if value.get("method").and_then(Value::as_str) != Some("initialize") {
        return None;
    }
    let id = raw_id(line);
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    let params: InitializeRequestParams = match serde_path_to_error::deserialize(params) {
        Ok(params) => params,
        Err(err) => {
            let why = naming_the_field(err);
            return Some(error_response(
                &id,
                INVALID_PARAMS,
                &format!(
                    "Invalid params for `initialize`: {}",
                    bounded(&why, MAX_ECHOED_DETAIL)
                ),
            ));
        }
    };
    let supported = ProtocolVersion::KNOWN_VERSIONS;
    if supported.contains(&params.protocol_version) {
        return None;
    }
    let supported: Vec<&str> = supported.iter().map(ProtocolVersion::as_str).collect();
    let requested = bounded(params.protocol_version.as_str(), MAX_ECHOED_NAME);
    let error = json!({
        "code": UNSUPPORTED_PROTOCOL_VERSION,
        "message": format!(
            "Unsupported protocol version {requested}; this server supports {}",
            supported.join(", ")
        ),
        "data": {"requested": requested, "supported": supported},
    });
    Some(format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{error}}}"#))
}

/// If `line` is the host's result for an open `elicitation/create`, keeps it.
fn keep_elicitation_reply(replies: &ElicitationReplies, line: &[u8]) {
    if memmem::find(line, b"\"result\"").is_none() {
        return;
    }
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    if message.contains_key("method") {
        return;
    }
    if let (Some(id), Some(result)) = (message.get("id"), message.get("result")) {
        replies.answered(id, result);
    }
}

fn why_unreadable(line: &[u8]) -> String {
    match serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        Ok(_) => "unreadable".to_string(),
        Err(err) => bounded(&err.to_string(), MAX_ECHOED_DETAIL).into_owned(),
    }
}

/// An error response; `raw_id` is the request's id as the host wrote it (valid JSON).
fn error_response(raw_id: &str, code: i64, message: &str) -> String {
    let error = json!({"code": code, "message": message});
    format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"error":{error}}}"#)
}

/// The only writer of stdout: rmcp's messages and our answers, whole lines only.
///
/// rmcp's output goes out in batches: everything it has written that ends in a newline, in
/// one write. Each write to tokio's stdout is a hop to the blocking pool, so writing (and
/// flushing) line by line cost two context switches per streamed delta; batches form by
/// themselves while a write is in flight.
async fn write_host(
    from_rmcp: DuplexStream,
    mut host: impl AsyncWrite + Unpin,
    mut answers: mpsc::UnboundedReceiver<String>,
    replies: Arc<ElicitationReplies>,
    in_flight: Arc<InFlight>,
) {
    let mut from_rmcp = BufReader::with_capacity(PIPE_CAPACITY, from_rmcp);
    // The start of a line rmcp has not finished writing, held back until its end arrives so
    // that an answer never lands inside it.
    let mut partial = Vec::new();
    let mut batch = Vec::new();
    let mut answers_open = true;
    loop {
        tokio::select! {
            // Cancel-safe: `fill_buf` consumes nothing, so a read the other branch beats is
            // simply done again.
            read = from_rmcp.fill_buf() => {
                let available = match read {
                    Ok([]) | Err(_) => {
                        // rmcp is done; answers already queued still go out.
                        while let Ok(mut answer) = answers.try_recv() {
                            answer.push('\n');
                            if write_all(&mut host, answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        break;
                    }
                    Ok(available) => available,
                };
                let taken = available.len();
                match available.iter().rposition(|&b| b == b'\n') {
                    Some(last) => {
                        batch.append(&mut partial);
                        batch.extend_from_slice(&available[..=last]);
                        partial.extend_from_slice(&available[last + 1..]);
                    }
                    None => partial.extend_from_slice(available),
                }
                from_rmcp.consume(taken);
                if !batch.is_empty() {
                    if memmem::find(&batch, ELICITATION_CREATE).is_some() {
                        batch = prepare_elicitations(&batch, &replies);
                    }
                    in_flight.answered(&batch);
                    wire_log::log_lines("server → host:", &batch);
                    if write_all(&mut host, &batch).await.is_err() {
                        return;
                    }
                    batch.clear();
                }
            }
            answer = answers.recv(), if answers_open => match answer {
                Some(mut answer) => {
                    answer.push('\n');
                    if write_all(&mut host, answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
                None => answers_open = false,
            },
        }
    }
}

/// `batch` (whole lines) with the `_meta.progressToken` rmcp put on each `elicitation/create`
/// request taken off, and the ids of those requests noted so their replies are kept; every
/// other line is kept byte for byte.
fn prepare_elicitations(batch: &[u8], replies: &ElicitationReplies) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.len());
    for line in batch.split_inclusive(|&b| b == b'\n') {
        match strip_progress_token(line, replies) {
            Some(mut rewritten) => {
                rewritten.push(b'\n');
                out.append(&mut rewritten);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// The rewritten line when `line` is an `elicitation/create` request with a progress token.
fn strip_progress_token(line: &[u8], replies: &ElicitationReplies) -> Option<Vec<u8>> {
    memmem::find(line, ELICITATION_CREATE)?;
    let mut message: Value = serde_json::from_slice(line).ok()?;
    if message.get("method").and_then(Value::as_str) != Some("elicitation/create") {
        return None;
    }
    if let Some(id) = message.get("id") {
        replies.asked(id);
    }
    let meta = message
        .get_mut("params")?
        .get_mut("_meta")?
        .as_object_mut()?;
    meta.remove("progressToken")?;
    if meta.is_empty()
        && let Some(params) = message.get_mut("params").and_then(Value::as_object_mut)
    {
        params.remove("_meta");
    }
    serde_json::to_vec(&message).ok()
}

async fn write_all(host: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> std::io::Result<()> {
    host.write_all(bytes).await?;
    host.flush().await
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn answer(line: &str) -> Option<Value> {
        check(line.as_bytes()).map(|text| serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn messages_rmcp_reads_pass_through() {
        assert_eq!(answer(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","id":2,"method":"someCustomMethod","params":{}}"#),
            None
        );
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
    }

    #[test]
    fn unusable_lines_get_the_matching_error() {
        let parse = answer("{not json").unwrap();
        assert_eq!(parse["id"], Value::Null);
        assert_eq!(parse["error"]["code"], json!(PARSE_ERROR));

        let batch = answer("[]").unwrap();
        assert_eq!(batch["error"]["code"], json!(INVALID_REQUEST));

        let no_method = answer(r#"{"jsonrpc":"2.0","id":7}"#).unwrap();
        assert_eq!(no_method["id"], json!(7));
        assert_eq!(no_method["error"]["code"], json!(INVALID_REQUEST));

        let bad_params =
            answer(r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":5}"#).unwrap();
        assert_eq!(bad_params["id"], json!("x"));
        assert_eq!(bad_params["error"]["code"], json!(INVALID_PARAMS));
    }

    #[test]
    fn an_initialize_that_lacks_a_field_is_told_which() {
        let no_version = answer(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(no_version["id"], json!(1));
        assert_eq!(no_version["error"]["code"], json!(INVALID_PARAMS));
        let message = no_version["error"]["message"].as_str().unwrap();
        assert!(message.contains("`clientInfo`"), "{message}");
        assert!(message.contains("missing field `version`"), "{message}");

        let no_capabilities = answer(
            r#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-11-25","clientInfo":{"name":"x","version":"1"}}}"#,
        )
        .unwrap();
        let message = no_capabilities["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("missing field `capabilities`"),
            "{message}"
        );

        let fine = r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#;
        assert_eq!(answer(fine), None);
        // A prompt that merely mentions the word is not an initialize.
        assert_eq!(
            answer(
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"codex","arguments":{"prompt":"\"initialize\""}}}"#
            ),
            None
        );
    }

    #[test]
    fn an_initialize_with_an_unknown_version_gets_the_supported_list() {
        let old = answer(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#,
        )
        .unwrap();
        assert_eq!(old["error"]["code"], json!(UNSUPPORTED_PROTOCOL_VERSION));
        assert_eq!(old["error"]["data"]["requested"], json!("1999-01-01"));
        let supported = old["error"]["data"]["supported"].as_array().unwrap();
        assert!(supported.contains(&json!("2025-11-25")), "{old}");
        assert!(supported.contains(&json!("2026-07-28")), "{old}");
    }

    #[test]
    fn elicitations_lose_only_their_progress_token() {
        let batch = concat!(
            r#"{"jsonrpc":"2.0","method":"codex/event","params":{"msg":"elicitation/create"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{"_meta":{"progressToken":0},"message":"ok?"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":1,"method":"elicitation/create","params":{"_meta":{"progressToken":1,"x":2},"message":"ok?"}}"#,
            "\n",
        );
        let replies = ElicitationReplies::default();
        let out = String::from_utf8(prepare_elicitations(batch.as_bytes(), &replies)).unwrap();
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(out.lines().next(), batch.lines().next(), "untouched");
        assert_eq!(
            lines[1],
            json!({"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{"message":"ok?"}})
        );
        assert_eq!(lines[2]["params"]["_meta"], json!({"x": 2}));
        assert!(out.ends_with('\n'));

        // Their replies are kept as sent; others are not.
        keep_elicitation_reply(
            &replies,
            br#"{"jsonrpc":"2.0","id":1,"result":{"action":"accept","decision":"denied"}}"#,
        );
        keep_elicitation_reply(&replies, br#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
        assert_eq!(
            replies.take(&NumberOrString::Number(1)),
            Some(json!({"action": "accept", "decision": "denied"}))
        );
        assert_eq!(replies.take(&NumberOrString::Number(7)), None);
        assert_eq!(replies.take(&NumberOrString::Number(0)), None);
        assert!(!replies.is_waiting(), "taking forgets the question");
    }

    #[tokio::test]
    async fn output_goes_out_in_whole_lines_with_answers_between_them() {
        let (mut rmcp, from_rmcp) = tokio::io::duplex(64);
        let (answers, pending) = mpsc::unbounded_channel();
        let mut host = Vec::new();
        let writer = async {
            write_host(
                from_rmcp,
                &mut host,
                pending,
                Arc::default(),
                Arc::default(),
            )
            .await;
        };
        let feeder = async {
            rmcp.write_all(b"first\nsecond, begun").await.unwrap();
            tokio::task::yield_now().await;
            answers.send("answer".to_string()).unwrap();
            tokio::task::yield_now().await;
            rmcp.write_all(b" and ended\n").await.unwrap();
            for i in 0..100 {
                rmcp.write_all(format!("line {i}\n").as_bytes())
                    .await
                    .unwrap();
            }
            drop(answers);
            drop(rmcp);
        };
        tokio::join!(writer, feeder);
        let text = String::from_utf8(host).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 103, "{text}");
        let without_answer: Vec<&str> = lines.iter().copied().filter(|l| *l != "answer").collect();
        let mut expected = vec!["first".to_string(), "second, begun and ended".to_string()];
        expected.extend((0..100).map(|i| format!("line {i}")));
        assert_eq!(without_answer, expected);
        assert!(text.ends_with('\n'));
    }
}
