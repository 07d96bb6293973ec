//! The ids of the host's requests, as the transport sees them go in and their answers go out.
//!
//! JSON-RPC leaves the id to the host, and two things go wrong when the server takes it on
//! trust: a second request under an id still in flight runs too, and only one of the two is
//! answered; and an integer id beyond 64 bits cannot be represented by rmcp, so it is echoed
//! as a float or not at all. Here the id is kept as the host wrote it ([`raw_id`]), a request
//! under an id in flight is refused, and the id is free again once its answer has gone out,
//! or, for a request the host cancelled (which gets no answer), once its handler has finished:
//! rmcp lets a cancelled handler run on, and an id reused before it ends would get its answer.

use std::collections::HashSet;
use std::sync::Mutex;

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// How every response rmcp writes begins (serde writes struct fields in order).
const RESPONSE_PREFIX: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":";

/// The parts of a message the transport looks at, borrowed from the line.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// The id of a message exactly as the host wrote it, or `null` when it has none or the line is
/// not a JSON object.
pub(crate) fn raw_id(line: &[u8]) -> String {
    serde_json::from_slice::<Probe<'_>>(line)
        .ok()
        .and_then(|probe| probe.id.map(|id| id.get().to_string()))
        .unwrap_or_else(|| "null".to_string())
}

/// The id of a line too long to parse whole: looked for in its first few KiB, where a host
/// writes it. `null` when it is not found there.
pub(crate) fn raw_id_in_prefix(prefix: &[u8]) -> String {
    let Some(at) = memmem::find(prefix, b"\"id\"") else {
        return "null".to_string();
    };
    let rest = &prefix[at + 4..];
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b":") else {
        return "null".to_string();
    };
    let mut values =
        serde_json::Deserializer::from_slice(rest.trim_ascii_start()).into_iter::<&RawValue>();
    match values.next() {
        Some(Ok(id)) if is_valid_id(id.get()) => id.get().to_string(),
        _ => "null".to_string(),
    }
}

fn is_valid_id(raw: &str) -> bool {
    matches!(
        serde_json::from_str::<Value>(raw),
        Ok(Value::Number(_) | Value::String(_))
    )
}

/// Whether rmcp can carry this id: a string, or an integer that fits in an `i64`.
pub(crate) fn rmcp_can_carry(raw: &str) -> bool {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::String(_)) => true,
        Ok(Value::Number(number)) => number.as_i64().is_some(),
        _ => false,
    }
}

/// The same id however it was spelled (`"\u0041"` and `"A"` are one id).
fn key(raw: &str) -> Option<String> {
    serde_json::from_str::<Value>(raw)
        .ok()
        .map(|value| value.to_string())
}

/// The host's requests that rmcp has and has not answered yet.
#[derive(Default)]
pub(crate) struct InFlight {
    ids: Mutex<Ids>,
}

#[derive(Default)]
struct Ids {
    running: HashSet<String>,
    /// Running, but cancelled by the host: freed when the handler ends.
    cancelled: HashSet<String>,
}

/// What to do with a line the host sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Pass,
    /// A request under an id whose request is still running.
    Duplicate(String),
}

impl InFlight {
    /// Notes a request's id as it goes to rmcp, and frees the id of a request the host
    /// cancels; a request under an id already in flight is refused.
    pub(crate) fn admit(&self, line: &[u8]) -> Admission {
        let Ok(probe) = serde_json::from_slice::<Probe<'_>>(line) else {
            return Admission::Pass;
        };
        let Ok(mut ids) = self.ids.lock() else {
            return Admission::Pass;
        };
        match (probe.id, probe.method.as_deref()) {
            (Some(id), Some(_)) => {
                let Some(key) = key(id.get()) else {
                    return Admission::Pass;
                };
                if ids.running.insert(key) {
                    Admission::Pass
                } else {
                    Admission::Duplicate(id.get().to_string())
                }
            }
            (None, Some("notifications/cancelled")) => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Cancelled<'a> {
                    #[serde(borrow)]
                    request_id: &'a RawValue,
                }
                if let Some(cancelled) = probe
                    .params
                    .and_then(|params| serde_json::from_str::<Cancelled<'_>>(params.get()).ok())
                    && let Some(key) = key(cancelled.request_id.get())
                    && ids.running.contains(&key)
                {
                    ids.cancelled.insert(key);
                }
                Admission::Pass
            }
            _ => Admission::Pass,
        }
    }

    /// Frees the ids of the responses in `batch` (whole lines rmcp wrote). The batch is on
    /// the per-event path, so it is searched (SIMD) for the start of a response rather than
    /// split into lines; only what follows such a start at a line's beginning is parsed.
    pub(crate) fn answered(&self, batch: &[u8]) {
        for at in memmem::find_iter(batch, RESPONSE_PREFIX) {
            if at > 0 && batch[at - 1] != b'\n' {
                continue;
            }
            let rest = &batch[at + RESPONSE_PREFIX.len()..];
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<&RawValue>();
            let Some(Ok(id)) = values.next() else {
                continue;
            };
            let after = &rest[values.byte_offset()..];
            let is_response = after.starts_with(b",\"result\"") || after.starts_with(b",\"error\"");
            if is_response
                && let Some(key) = key(id.get())
                && let Ok(mut ids) = self.ids.lock()
            {
                ids.running.remove(&key);
                ids.cancelled.remove(&key);
            }
        }
    }

    /// The handler of request `id` has finished: if the host had cancelled the request, no
    /// answer will go out, and the id is free now.
    pub(crate) fn handled(&self, id: &rmcp::model::NumberOrString) {
        let key = match id {
            rmcp::model::NumberOrString::Number(n) => Value::from(*n),
            rmcp::model::NumberOrString::String(s) => Value::from(s.as_ref()),
        }
        .to_string();
        if let Ok(mut ids) = self.ids.lock()
            && ids.cancelled.remove(&key)
        {
            ids.running.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn a_second_request_under_a_running_id_is_refused_until_the_first_is_answered() {
        let in_flight = InFlight::default();
        let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}"#;
        assert_eq!(in_flight.admit(call), Admission::Pass);
        assert_eq!(in_flight.admit(call), Admission::Duplicate("7".to_string()));
        // Another id, a notification and a string id that spells 7 differently all pass.
        assert_eq!(
            in_flight.admit(br#"{"jsonrpc":"2.0","id":"7","method":"ping"}"#),
            Admission::Pass
        );
        assert_eq!(
            in_flight.admit(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Admission::Pass
        );
        // A server request with the same id is not an answer; the response is.
        in_flight.answered(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"elicitation/create\"}\n");
        assert_eq!(in_flight.admit(call), Admission::Duplicate("7".to_string()));
        in_flight.answered(b"{\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n");
        assert_eq!(in_flight.admit(call), Admission::Pass);

        // A cancelled request (which gets no answer) frees its id once its handler ends.
        in_flight.admit(call);
        in_flight.admit(
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#,
        );
        assert_eq!(in_flight.admit(call), Admission::Duplicate("7".to_string()));
        in_flight.handled(&rmcp::model::NumberOrString::Number(7));
        assert_eq!(in_flight.admit(call), Admission::Pass);
        // A handler that ends without a cancel leaves the id to its answer.
        in_flight.handled(&rmcp::model::NumberOrString::Number(7));
        assert_eq!(in_flight.admit(call), Admission::Duplicate("7".to_string()));
        // Spelled with an escape, the same string id.
        in_flight.admit(br#"{"jsonrpc":"2.0","id":"A","method":"ping"}"#);
        assert_eq!(
            in_flight.admit(br#"{"jsonrpc":"2.0","id":"\u0041","method":"ping"}"#),
            Admission::Duplicate(r#""\u0041""#.to_string())
        );
    }

    #[test]
    fn ids_are_kept_as_written() {
        assert_eq!(
            raw_id(br#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"}"#),
            "18446744073709551616"
        );
        assert_eq!(
            raw_id(br#"{"jsonrpc":"2.0","id":"x","method":"ping"}"#),
            r#""x""#
        );
        assert_eq!(raw_id(b"[1,2]"), "null");
        assert!(!rmcp_can_carry("18446744073709551616"));
        assert!(!rmcp_can_carry("1.5"));
        assert!(rmcp_can_carry("-3"));
        assert!(rmcp_can_carry(r#""x""#));
        assert_eq!(
            raw_id_in_prefix(br#"{"jsonrpc":"2.0", "id" : 42, "method":"tools/call","params":{"arguments":{"prompt":"xxxx"#),
            "42"
        );
        assert_eq!(
            raw_id_in_prefix(br#"{"jsonrpc":"2.0","method":"tools/call","params":{"#),
            "null"
        );
    }
}
