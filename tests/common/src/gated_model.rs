//! A model provider that holds its answers at a gate, so that a test proves requests overlap
//! (or do not) by what the provider saw at once, never by how long the calls took.
//!
//! wiremock cannot do this: its responders are synchronous and its server runs on one thread,
//! so a responder that waited for the next request would stop that request from arriving.
//! This is a small hyper server on the test's runtime instead, answering every `POST` the way
//! [`crate::MockModel::mount_echo`] does.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use http_body_util::Full;
use hyper::Request;
use hyper::Response;
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::DEFAULT_READ_TIMEOUT;
use crate::Wire;
use crate::responses::last_user_text;

/// What the provider has seen.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// Requests received and not yet answered.
    open: usize,
    /// The most requests that were open at one time.
    most_open: usize,
    /// Whether the gate has opened (it stays open).
    released: bool,
}

/// A provider that answers no request until `release_at` requests are open at once (or the
/// test calls [`GatedModel::release`]); then it answers every request (held ones and later
/// ones) with "echo: <last user message>", each after `hold`. A gate that never opens answers
/// 503 after [`DEFAULT_READ_TIMEOUT`], so the test fails instead of hanging.
pub struct GatedModel {
    base_url: String,
    wire: Wire,
    seen: watch::Receiver<Seen>,
    gate: Arc<Gate>,
    server: JoinHandle<()>,
}

/// Holds every request until [`GatedModel::release`]: a model that is silent for as long as
/// the test needs.
pub const UNTIL_RELEASED: usize = usize::MAX;

impl GatedModel {
    /// `hold` is part of the scenario (a model that takes its time, giving requests a chance
    /// to overlap), not a wait for anything.
    pub async fn start(wire: Wire, release_at: usize, hold: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let (seen_tx, seen) = watch::channel(Seen::default());
        let gate = Arc::new(Gate {
            seen: seen_tx,
            release_at,
            hold,
            wire,
        });
        let serving = Arc::clone(&gate);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let gate = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let gate = Arc::clone(&gate);
                        async move { Ok::<_, Infallible>(gate.answer(request).await) }
                    });
                    // A client that hangs up mid-answer is no concern of the provider's.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            base_url,
            wire,
            seen,
            gate,
            server,
        })
    }

    /// Opens the gate: held requests are answered, and later ones at once.
    pub fn release(&self) {
        self.gate.seen.send_modify(|seen| seen.released = true);
    }

    /// Waits (bounded by [`DEFAULT_READ_TIMEOUT`]) until `count` requests are open at once.
    pub async fn wait_for_open(&self, count: usize) -> anyhow::Result<()> {
        let mut seen = self.seen.clone();
        tokio::time::timeout(DEFAULT_READ_TIMEOUT, seen.wait_for(|s| s.open >= count))
            .await
            .map_err(|_| anyhow::anyhow!("{count} requests were never open at once"))?
            .map_err(|_| anyhow::anyhow!("the provider stopped"))?;
        Ok(())
    }

    /// The provider `base_url` to put in config.toml.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Writes config.toml for this provider; `top_level` as in [`crate::write_mock_config`].
    pub fn write_config(&self, codex_home: &Path, top_level: &str) -> std::io::Result<()> {
        crate::mock_model::write_config(codex_home, &self.base_url, self.wire, top_level)
    }

    /// Like [`Self::write_config`], for a server in the test's own process (no key).
    pub fn write_in_process_config(
        &self,
        codex_home: &Path,
        top_level: &str,
    ) -> std::io::Result<()> {
        crate::mock_model::write_config_without_key(
            codex_home,
            &self.base_url,
            self.wire,
            top_level,
        )
    }

    /// The most requests that were open at the provider at one time.
    pub fn most_open(&self) -> usize {
        self.seen.borrow().most_open
    }
}

impl Drop for GatedModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Gate {
    seen: watch::Sender<Seen>,
    release_at: usize,
    hold: Duration,
    wire: Wire,
}

impl Gate {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        // A request is open once it has fully arrived.
        let body = request
            .into_body()
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes);
        self.seen.send_modify(|seen| {
            seen.open += 1;
            seen.most_open = seen.most_open.max(seen.open);
            seen.released |= seen.open >= self.release_at;
        });
        let mut seen = self.seen.subscribe();
        let opened = tokio::time::timeout(DEFAULT_READ_TIMEOUT, seen.wait_for(|s| s.released))
            .await
            .is_ok_and(|opened| opened.is_ok());
        let response = if opened {
            tokio::time::sleep(self.hold).await;
            self.echo(body.ok())
        } else {
            plain(503, "mock: the gate never opened")
        };
        // Counted closed before the answer goes out: a client's next request, which may only
        // follow the answer, never finds this one still open.
        self.seen.send_modify(|seen| seen.open -= 1);
        response
    }

    fn echo(&self, body: Option<Bytes>) -> Response<Full<Bytes>> {
        let text = body
            .and_then(|body| serde_json::from_slice::<Value>(&body).ok())
            .and_then(|body| last_user_text(&body))
            .unwrap_or_default();
        let sse = self.wire.answer(&format!("echo: {text}"));
        Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(Full::new(Bytes::from(sse)))
            .unwrap_or_else(|_| plain(500, "mock: cannot build the answer"))
    }
}

fn plain(status: u16, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}
