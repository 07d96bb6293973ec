//! The HTTP side of `server::LiftCodexFields`: rmcp's HTTP transport takes a `ServerHandler`,
//! not a wrapped `Service`, so an approval's `codex_*` fields are put back at the top level of
//! `inputRequests` params here, in the answer's bytes, as stdio hosts get them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::Context;
use std::task::Poll;

use hyper::body::Body;
use hyper::body::Bytes;
use hyper::body::Frame;
use serde_json::Value;

use super::gate::HttpBody;
use crate::ask_host::lift_codex_fields;

/// `body`, with every JSON-RPC result that holds `inputRequests` lifted.
pub(crate) fn lifted(body: HttpBody) -> HttpBody {
    HttpBody::new(Lifting { body })
}

struct Lifting {
    body: HttpBody,
}

impl Body for Lifting {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.body).poll_frame(cx).map(|frame| {
            frame.map(|frame| {
                frame.map(|frame| {
                    frame.map_data(|data| {
                        // Most frames are deltas and progress: one search, no parse.
                        if memchr::memmem::find(&data, b"\"inputRequests\"").is_none() {
                            return data;
                        }
                        lift_frame(&data).map_or(data, Bytes::from)
                    })
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}

/// A frame is a whole JSON answer (`application/json`) or one whole SSE event (rmcp writes
/// each event as one frame, its data on one line). `None`: left as it is.
fn lift_frame(data: &[u8]) -> Option<Vec<u8>> {
    if let Some(lifted) = lift_message(data) {
        return Some(lifted);
    }
    let text = std::str::from_utf8(data).ok()?;
    let mut out = String::with_capacity(text.len() + 256);
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let (content, end) = match line.strip_suffix('\n') {
            Some(content) => (content, "\n"),
            None => (line, ""),
        };
        if let Some(json) = content.strip_prefix("data:")
            && let Some(lifted) = lift_message(json.trim_start().as_bytes())
        {
            out.push_str("data: ");
            out.push_str(std::str::from_utf8(&lifted).ok()?);
            out.push_str(end);
            changed = true;
            continue;
        }
        out.push_str(line);
    }
    changed.then(|| out.into_bytes())
}

fn lift_message(json: &[u8]) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(json).ok()?;
    lift_codex_fields(message.get_mut("result")?);
    serde_json::to_vec(&message).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_fields_are_lifted_in_json_and_in_sse() {
        let message = r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"approval-1":{"method":"elicitation/create","params":{"message":"m","_meta":{"codex_command":["ls"]}}}}}}"#;
        let expected: Value = serde_json::json!({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"approval-1":{"method":"elicitation/create","params":{"message":"m","codex_command":["ls"],"_meta":{"codex_command":["ls"]}}}}}});
        let json = lift_frame(message.as_bytes()).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&json).unwrap(), expected);

        let sse = format!("data: {message}\nid: 3\n\n");
        let lifted = String::from_utf8(lift_frame(sse.as_bytes()).unwrap()).unwrap();
        let (data, rest) = lifted.split_once('\n').unwrap();
        assert_eq!(rest, "id: 3\n\n");
        let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data, expected);
    }
}
