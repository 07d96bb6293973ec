//! Streamed text goes to the host in fewer, larger `codex/event` notifications.
//!
//! A model streams its answer a few bytes at a time, and a notification per delta costs far
//! more than the bytes it carries (the per-delta cost dominated the server's CPU). So
//! consecutive deltas of the same kind (and, for command output, the same command and stream)
//! are merged into one event, which goes out when something else happens, when the first of
//! them has waited [`COALESCE_WINDOW`], or when it reaches [`MAX_HELD_BYTES`]. The host reads
//! the same text, in the same order relative to every other event.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use codex_core::Event;
use codex_core::EventMsg;
use tokio::time::Instant;

/// How long the first held delta may wait for others to join it.
pub(crate) const COALESCE_WINDOW: Duration = Duration::from_millis(5);
/// A held event goes out once it carries this many bytes.
const MAX_HELD_BYTES: usize = 64 * 1024;

/// At most one delta event held back, with what has joined it.
#[derive(Default)]
pub(crate) struct HeldDelta {
    held: Option<Held>,
}

struct Held {
    event: Event,
    /// Command output is base64 on the wire: held decoded, encoded once when it goes out.
    output: Option<Vec<u8>>,
    bytes: usize,
    send_by: Instant,
}

/// Whether events of this kind are held and merged.
pub(crate) fn is_delta(msg: &EventMsg) -> bool {
    matches!(
        msg,
        EventMsg::AgentMessageDelta(_)
            | EventMsg::AgentReasoningDelta(_)
            | EventMsg::ExecCommandOutputDelta(_)
    )
}

impl HeldDelta {
    /// When the held event must go out, if one is held.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().map(|held| held.send_by)
    }

    /// Holds `event` (a delta, see [`is_delta`]): merged into the held one when they belong
    /// together, otherwise in its place. Returns what must go out now, oldest first.
    pub(crate) fn hold(&mut self, event: Event) -> Option<Event> {
        if let Some(held) = self.held.as_mut()
            && held.bytes < MAX_HELD_BYTES
            && held.absorb(&event)
        {
            return None;
        }
        let due = self.take();
        self.held = Some(Held::new(event));
        due
    }

    /// The held event, ready to send.
    pub(crate) fn take(&mut self) -> Option<Event> {
        self.held.take().map(Held::into_event)
    }
}

impl Held {
    fn new(mut event: Event) -> Self {
        let (output, bytes) = match &mut event.msg {
            EventMsg::ExecCommandOutputDelta(delta) => {
                let raw = BASE64.decode(&delta.chunk).ok();
                let bytes = raw.as_ref().map_or(delta.chunk.len(), Vec::len);
                (raw, bytes)
            }
            EventMsg::AgentMessageDelta(delta) => (None, delta.delta.len()),
            EventMsg::AgentReasoningDelta(delta) => (None, delta.delta.len()),
            _ => (None, 0),
        };
        Self {
            event,
            output,
            bytes,
            send_by: Instant::now() + COALESCE_WINDOW,
        }
    }

    /// Appends `next` to the held event if they belong together.
    fn absorb(&mut self, next: &Event) -> bool {
        if next.id != self.event.id {
            return false;
        }
        match (&mut self.event.msg, &next.msg) {
            (EventMsg::AgentMessageDelta(held), EventMsg::AgentMessageDelta(next)) => {
                held.delta.push_str(&next.delta);
                self.bytes += next.delta.len();
                true
            }
            (EventMsg::AgentReasoningDelta(held), EventMsg::AgentReasoningDelta(next)) => {
                held.delta.push_str(&next.delta);
                self.bytes += next.delta.len();
                true
            }
            (EventMsg::ExecCommandOutputDelta(held), EventMsg::ExecCommandOutputDelta(next))
                if held.call_id == next.call_id && held.stream == next.stream =>
            {
                let (Some(output), Ok(more)) = (self.output.as_mut(), BASE64.decode(&next.chunk))
                else {
                    return false;
                };
                self.bytes += more.len();
                output.extend_from_slice(&more);
                true
            }
            _ => false,
        }
    }

    fn into_event(mut self) -> Event {
        if let (EventMsg::ExecCommandOutputDelta(delta), Some(output)) =
            (&mut self.event.msg, self.output)
        {
            delta.chunk = BASE64.encode(output);
        }
        self.event
    }
}

#[cfg(test)]
mod tests {
    use codex_core::protocol::AgentMessageDeltaEvent;
    use codex_core::protocol::ExecCommandOutputDeltaEvent;
    use codex_core::protocol::ExecOutputStream;
    use pretty_assertions::assert_eq;

    use super::*;

    fn text(id: &str, delta: &str) -> Event {
        Event {
            id: id.to_string(),
            msg: EventMsg::AgentMessageDelta(AgentMessageDeltaEvent {
                delta: delta.to_string(),
            }),
        }
    }

    fn output(call_id: &str, stream: ExecOutputStream, bytes: &[u8]) -> Event {
        Event {
            id: "1".to_string(),
            msg: EventMsg::ExecCommandOutputDelta(ExecCommandOutputDeltaEvent {
                call_id: call_id.to_string(),
                stream,
                chunk: BASE64.encode(bytes),
            }),
        }
    }

    #[test]
    fn deltas_that_belong_together_become_one_event() {
        let mut held = HeldDelta::default();
        assert!(held.hold(text("1", "Hel")).is_none());
        assert!(held.hold(text("1", "lo, ")).is_none());
        assert!(held.hold(text("1", "world")).is_none());
        assert!(held.deadline().is_some());
        assert_eq!(held.take(), Some(text("1", "Hello, world")));
        assert_eq!(held.take(), None);
        assert_eq!(held.deadline(), None);
    }

    #[test]
    fn output_is_merged_per_command_and_stream_as_bytes() {
        let mut held = HeldDelta::default();
        // One byte at a time: base64 of each is padded, so the bytes must be joined, not the
        // text.
        assert!(
            held.hold(output("a", ExecOutputStream::Stdout, b"x"))
                .is_none()
        );
        assert!(
            held.hold(output("a", ExecOutputStream::Stdout, b"y\xff"))
                .is_none()
        );
        let stderr = held.hold(output("a", ExecOutputStream::Stderr, b"!"));
        assert_eq!(
            stderr,
            Some(output("a", ExecOutputStream::Stdout, b"xy\xff"))
        );
        let other_command = held.hold(output("b", ExecOutputStream::Stderr, b"?"));
        assert_eq!(
            other_command,
            Some(output("a", ExecOutputStream::Stderr, b"!"))
        );
        // A different kind, or another turn's, goes out separately.
        assert_eq!(
            held.hold(text("1", "hi")),
            Some(output("b", ExecOutputStream::Stderr, b"?"))
        );
        assert_eq!(held.hold(text("2", "there")), Some(text("1", "hi")));
    }

    #[test]
    fn a_held_event_stops_growing_at_the_cap() {
        let mut held = HeldDelta::default();
        let chunk = "x".repeat(MAX_HELD_BYTES / 2);
        assert!(held.hold(text("1", &chunk)).is_none());
        assert!(held.hold(text("1", &chunk)).is_none());
        let full = held.hold(text("1", "more"));
        assert_eq!(full, Some(text("1", &chunk.repeat(2))));
        assert_eq!(held.take(), Some(text("1", "more")));
    }
}
