//! Server-sent events decoded in one pass over the bytes, as the model's answer streams in.
//!
//! The `eventsource-stream` crate this replaces copied the rest of its buffer after every
//! line, which is quadratic in the size of a network chunk: streaming an answer in small
//! deltas spent 90 % of the server's CPU in `memmove` (see docs/performance.md). Here each
//! byte is looked at once and moved at most once, and only what the engine reads (`event`
//! and `data`) is kept.

use std::collections::VecDeque;

use futures::Stream;
use futures::StreamExt;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field, or `message` when the event named none.
    pub(crate) event: String,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// The transport failed mid-stream; the message carries the whole `source()` chain, because
/// the outermost error of an HTTP client rarely says what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transport error: {0}")]
pub(crate) struct Error(String);

impl Error {
    fn from_transport(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self(message)
    }
}

/// The events of a byte stream, e.g. `reqwest::Response::bytes_stream()`. A partial event
/// at the end of the stream is dropped, as the SSE specification says; a transport error is
/// passed on, and nothing follows it.
pub(crate) fn events<S, B, E>(bytes: S) -> impl Stream<Item = Result<Event, Error>> + Send
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]>,
    E: std::error::Error + 'static,
{
    let state = (Box::pin(bytes), Decoder::default(), false);
    futures::stream::unfold(state, |(mut bytes, mut decoder, mut ended)| async move {
        loop {
            if let Some(event) = decoder.next_event() {
                return Some((Ok(event), (bytes, decoder, ended)));
            }
            if ended {
                return None;
            }
            match bytes.next().await {
                Some(Ok(chunk)) => decoder.push(chunk.as_ref()),
                Some(Err(err)) => {
                    ended = true;
                    decoder = Decoder::default();
                    return Some((Err(Error::from_transport(&err)), (bytes, decoder, ended)));
                }
                None => ended = true,
            }
        }
    })
}

/// The incremental parser: bytes in, events out.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// Bytes received and not yet parsed into lines: at most one partial line between calls,
    /// never searched twice (only new bytes are looked at for its end).
    pending: Vec<u8>,
    /// The previous line ended with CR, so an LF at the start of the next chunk belongs to it.
    after_cr: bool,
    /// Whether the byte-order mark that may open the stream has been dealt with.
    started: bool,
    event_type: String,
    data: String,
    /// Whether a `data` field was seen since the last dispatch (its value may be empty).
    has_data: bool,
    ready: VecDeque<Event>,
}

impl Decoder {
    /// Parses every complete line in `chunk` (with what was left over before it).
    pub(crate) fn push(&mut self, mut chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        if !self.started {
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            // The mark may itself arrive split; wait until there are enough bytes to tell.
            let have = self.pending.len() + chunk.len();
            if have < BOM.len() && BOM.starts_with(&[&self.pending[..], chunk].concat()) {
                self.pending.extend_from_slice(chunk);
                return;
            }
            self.started = true;
            let mut head = std::mem::take(&mut self.pending);
            head.extend_from_slice(chunk);
            let body = head.strip_prefix(BOM).unwrap_or(&head).to_vec();
            self.consume(&body);
            return;
        }
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        self.consume(chunk);
    }

    /// The next complete event, if one has been parsed.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    fn consume(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        // A line that started in an earlier chunk: complete it first.
        if !self.pending.is_empty() {
            match find_line_end(rest) {
                None => {
                    self.pending.extend_from_slice(rest);
                    return;
                }
                Some(end) => {
                    self.pending.extend_from_slice(&rest[..end]);
                    let line = std::mem::take(&mut self.pending);
                    rest = self.skip_line_end(rest, end);
                    self.line(&line);
                }
            }
        }
        while let Some(end) = find_line_end(rest) {
            let line = &rest[..end];
            let after = self.skip_line_end(rest, end);
            self.line(line);
            rest = after;
        }
        self.pending.extend_from_slice(rest);
    }

    /// `rest` after the line end at `end` (CRLF, LF or CR); a CR that ends the chunk may be
    /// half of a CRLF split across chunks.
    fn skip_line_end<'a>(&mut self, rest: &'a [u8], end: usize) -> &'a [u8] {
        match (rest[end], rest.get(end + 1)) {
            (b'\r', Some(b'\n')) => &rest[end + 2..],
            (b'\r', None) => {
                self.after_cr = true;
                &rest[end + 1..]
            }
            _ => &rest[end + 1..],
        }
    }

    fn line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            return; // A comment (keep-alive).
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            // `id` and `retry` matter to a reconnecting browser, not to one model request.
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        let event_type = std::mem::take(&mut self.event_type);
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        let event = if event_type.is_empty() {
            "message".to_string()
        } else {
            event_type
        };
        self.ready.push_back(Event {
            event,
            data: std::mem::take(&mut self.data),
        });
    }
}

fn find_line_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n' || b == b'\r')
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn event(event: &str, data: &str) -> Event {
        Event {
            event: event.to_string(),
            data: data.to_string(),
        }
    }

    fn decode_in_chunks(input: &[u8], chunk: usize) -> Vec<Event> {
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            decoder.push(piece);
            while let Some(event) = decoder.next_event() {
                out.push(event);
            }
        }
        out
    }

    #[test]
    fn fields_comments_and_line_ends_follow_the_specification() {
        let input = "\u{feff}: keep-alive\nevent: a\ndata: one\ndata:two\n\n\
                     data: no type\r\n\r\n\
                     event: empty\n\n\
                     id: 7\rretry: 10\rdata\r\r\
                     data:  two spaces\n\n\
                     data: cut off at the end";
        let expected = vec![
            event("a", "one\ntwo"),
            event("message", "no type"),
            event("message", ""),
            event("message", " two spaces"),
        ];
        // Every split point, including inside the BOM, inside CRLF and inside UTF-8.
        for chunk in 1..=input.len() {
            assert_eq!(
                decode_in_chunks(input.as_bytes(), chunk),
                expected,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn multibyte_text_survives_any_split() {
        let input = "data: héllo wörld ✓\n\n".repeat(3);
        for chunk in 1..=input.len() {
            let events = decode_in_chunks(input.as_bytes(), chunk);
            assert_eq!(events, vec![event("message", "héllo wörld ✓"); 3]);
        }
    }

    #[test]
    fn a_large_stream_in_small_chunks_decodes_whole() {
        let mut input = String::new();
        for i in 0..10_000 {
            input.push_str(&format!("event: delta\ndata: {{\"delta\":\"{i}\"}}\n\n"));
        }
        let long = "x".repeat(300_000);
        input.push_str(&format!("data: {long}\n\n"));
        let events = decode_in_chunks(input.as_bytes(), 1_000);
        assert_eq!(events.len(), 10_001);
        assert_eq!(events[9_999], event("delta", "{\"delta\":\"9999\"}"));
        assert_eq!(events[10_000].data, long);
    }

    #[tokio::test]
    async fn transport_errors_end_the_stream_with_their_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("connection reset")]
        struct Reset;
        #[derive(Debug, thiserror::Error)]
        #[error("body failed")]
        struct Body(#[source] Reset);

        let chunks: Vec<Result<&[u8], Body>> =
            vec![Ok(b"data: 1\n\ndata: 2"), Err(Body(Reset)), Ok(b"\n\n")];
        let events: Vec<_> = events(futures::stream::iter(chunks)).collect().await;
        assert_eq!(
            events,
            vec![
                Ok(event("message", "1")),
                Err(Error("body failed: connection reset".to_string())),
            ]
        );
    }
}
