//! A model provider for the bench: raw HTTP/1.1 over loopback TCP, answering every request
//! with one prebuilt SSE response, so that the provider costs next to nothing and the figures
//! are the server's own.
//!
//! wiremock (what the tests use) matches every request against its mocks, records it and
//! builds a fresh response each time; here a request is read, its body skipped, and the same
//! bytes written back. `round_trip` measures what is left: the cost of one request as the
//! server sees it, minus the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context as _;
use anyhow::bail;
use tokio::io::AsyncReadExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// A request head larger than this is not a request this bench sends.
const MAX_HEAD: usize = 64 * 1024;

/// One provider: every request gets `response` after `delay`.
pub(crate) struct MockProvider {
    addr: SocketAddr,
    stats: Arc<MockStats>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
pub(crate) struct MockStats {
    requests: AtomicU64,
    /// Time from a complete request to the last byte of its answer written, delay excluded.
    busy_nanos: AtomicU64,
}

impl MockProvider {
    /// Starts a provider on 127.0.0.1 that answers every request with `sse_body`.
    pub(crate) async fn start(sse_body: &str, delay: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let response: Arc<[u8]> = http_response(sse_body).into();
        let stats = Arc::new(MockStats::default());
        let accept = tokio::spawn({
            let stats = Arc::clone(&stats);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(
                        stream,
                        Arc::clone(&response),
                        delay,
                        Arc::clone(&stats),
                    ));
                }
            }
        });
        Ok(Self {
            addr,
            stats,
            accept,
        })
    }

    /// The provider `base_url` for config.toml.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub(crate) fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }

    /// Mean time the provider spent on a request, delay excluded, in microseconds.
    pub(crate) fn mean_service_micros(&self) -> Option<f64> {
        let requests = self.requests();
        (requests > 0).then(|| {
            self.stats.busy_nanos.load(Ordering::Relaxed) as f64 / requests as f64 / 1000.0
        })
    }

    /// One request sent straight to the provider on a kept-alive connection, timed until the
    /// whole answer is read: the floor under every model request the server makes. Counted
    /// in [`Self::requests`] like any other, so probe a provider the server does not use.
    pub(crate) async fn round_trips(&self, count: usize) -> anyhow::Result<Vec<Duration>> {
        let mut stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let body = br#"{"model":"mock-model","input":[],"stream":true}"#;
        let request = format!(
            "POST /v1/responses HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let mut request = request.into_bytes();
        request.extend_from_slice(body);
        let mut buffer = Vec::with_capacity(64 * 1024);
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            stream.write_all(&request).await?;
            let (head_len, body_len) = read_head(&mut stream, &mut buffer).await?;
            fill(&mut stream, &mut buffer, head_len + body_len).await?;
            buffer.drain(..head_len + body_len);
            times.push(started.elapsed());
        }
        Ok(times)
    }
}

impl MockProvider {
    /// Starts a provider that answers every request with a stream of `delta` text deltas
    /// that does not end for `stream_for` (then the connection is closed mid-response): a
    /// model that talks without end.
    pub(crate) async fn endless(delta: &str, stream_for: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(MockStats::default());
        // Many deltas per write, so the provider keeps well ahead of the server.
        let batch: Arc<[u8]> = codex_test_support::responses::sse(
            &vec![codex_test_support::responses::ev_output_text_delta(delta); 256],
        )
        .into_bytes()
        .into();
        let accept = tokio::spawn({
            let stats = Arc::clone(&stats);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve_endless(
                        stream,
                        Arc::clone(&batch),
                        stream_for,
                        Arc::clone(&stats),
                    ));
                }
            }
        });
        Ok(Self {
            addr,
            stats,
            accept,
        })
    }
}

/// Answers one request with deltas until `stream_for` has passed, then hangs up.
async fn serve_endless(
    mut stream: TcpStream,
    batch: Arc<[u8]>,
    stream_for: Duration,
    stats: Arc<MockStats>,
) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    let Ok((head_len, body_len)) = read_head(&mut stream, &mut buffer).await else {
        return;
    };
    if fill(&mut stream, &mut buffer, head_len + body_len)
        .await
        .is_err()
    {
        return;
    }
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{}",
        codex_test_support::responses::sse(&[codex_test_support::responses::ev_response_created(
            "endless"
        )])
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let until = Instant::now() + stream_for;
    while Instant::now() < until {
        if stream.write_all(&batch).await.is_err() {
            return;
        }
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn http_response(sse_body: &str) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
        sse_body.len()
    )
    .into_bytes();
    response.extend_from_slice(sse_body.as_bytes());
    response
}

/// Serves one kept-alive connection until the client closes it.
async fn serve(mut stream: TcpStream, response: Arc<[u8]>, delay: Duration, stats: Arc<MockStats>) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        let Ok((head_len, body_len)) = read_head(&mut stream, &mut buffer).await else {
            return; // Closed, or not HTTP this mock speaks.
        };
        if fill(&mut stream, &mut buffer, head_len + body_len)
            .await
            .is_err()
        {
            return;
        }
        buffer.drain(..head_len + body_len);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let started = Instant::now();
        if stream.write_all(&response).await.is_err() {
            return;
        }
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats
            .busy_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Reads until `buffer` holds a whole head; returns its length and the body's
/// (`content-length`; chunked bodies are refused, no client here sends them).
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<(usize, usize)> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_len = end + 4;
            let head = std::str::from_utf8(&buffer[..end]).context("head is not UTF-8")?;
            let mut body_len = 0;
            for line in head.split("\r\n").skip(1) {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                if name.eq_ignore_ascii_case("content-length") {
                    body_len = value.trim().parse().context("bad content-length")?;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("chunked bodies are not supported by the bench mock");
                }
            }
            return Ok((head_len, body_len));
        }
        if buffer.len() > MAX_HEAD {
            bail!("request head too large");
        }
        if read_more(stream, buffer).await? == 0 {
            bail!("connection closed");
        }
    }
}

/// Reads until `buffer` holds at least `len` bytes.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>, len: usize) -> anyhow::Result<()> {
    while buffer.len() < len {
        buffer.reserve(len - buffer.len());
        if read_more(stream, buffer).await? == 0 {
            bail!("connection closed mid-body");
        }
    }
    Ok(())
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<usize> {
    if buffer.capacity() - buffer.len() < 16 * 1024 {
        buffer.reserve(64 * 1024);
    }
    Ok(stream.read_buf(buffer).await?)
}
