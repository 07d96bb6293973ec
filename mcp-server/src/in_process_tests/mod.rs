//! The server in process: the real handler, transport and engine, serving a test client over
//! an in-memory pipe instead of stdin/stdout, against a mock provider on 127.0.0.1. Here the
//! turn driver and approval resolution are tested with settings a host cannot change (a
//! heartbeat of a few milliseconds), and without a process in between; the integration suite
//! (`tests/suite`) drives the binary for the wire contract.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod approval;
mod turn_driver;

use std::sync::Arc;
use std::time::Duration;

use codex_core::ConversationManager;
use codex_test_support::McpProcess;
use rmcp::ServiceExt as _;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;
use tokio::task::JoinHandle;

use crate::codex_tool_config::ServerConfigLayer;
use crate::server;
use crate::stdio_transport;
use crate::turn_driver::HEARTBEAT_INTERVAL;

/// How much the pipe between the test client and the server holds in each direction.
const PIPE_BYTES: usize = 1 << 20;

/// The server's settings for a test; each is what `codex mcp` runs with unless said otherwise.
pub(super) struct Settings {
    /// Top-level config.toml keys.
    pub(super) top_level: String,
    pub(super) heartbeat_interval: Duration,
    pub(super) codex_events: bool,
}

impl Settings {
    pub(super) fn new(top_level: &str) -> Self {
        Self {
            top_level: top_level.to_string(),
            heartbeat_interval: HEARTBEAT_INTERVAL,
            codex_events: true,
        }
    }

    pub(super) fn heartbeat_every(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    pub(super) fn without_codex_events(mut self) -> Self {
        self.codex_events = false;
        self
    }
}

/// A server on a pipe, and the client at the pipe's other end.
pub(super) struct InProcessServer {
    pub(super) mcp: McpProcess,
    pub(super) conversations: Arc<ConversationManager>,
    /// The server's `CODEX_HOME`, kept for its lifetime.
    home: TempDir,
    served: JoinHandle<()>,
}

impl InProcessServer {
    /// Starts a server whose config.toml `write_config` writes into `CODEX_HOME` (a mock
    /// provider's `write_in_process_config`, with `settings.top_level`), and opens a legacy
    /// session declaring elicitation, as `McpProcess::initialize` does.
    pub(super) async fn start(
        settings: Settings,
        write_config: impl FnOnce(&std::path::Path, &str) -> std::io::Result<()>,
    ) -> anyhow::Result<Self> {
        let mut server = Self::start_uninitialized(settings, write_config).await?;
        server.mcp.initialize().await?;
        Ok(server)
    }

    /// Like [`Self::start`], without `initialize`.
    pub(super) async fn start_uninitialized(
        settings: Settings,
        write_config: impl FnOnce(&std::path::Path, &str) -> std::io::Result<()>,
    ) -> anyhow::Result<Self> {
        let home = TempDir::new()?;
        write_config(home.path(), &settings.top_level)?;
        let config = ServerConfigLayer {
            codex_home: home.path().to_path_buf(),
            overrides: Vec::new(),
            profile: None,
            codex_events: settings.codex_events,
            // Not this test binary: commands that would be sandboxed are asked about instead
            // (the integration suite covers the sandbox).
            sandbox_exe: None,
            heartbeat_interval: settings.heartbeat_interval,
            store: Default::default(),
        };
        let (client, server_end) = tokio::io::duplex(PIPE_BYTES);
        let (server_reads, server_writes) = tokio::io::split(server_end);
        let stdio_transport::Stdio {
            transport,
            replies,
            in_flight,
            ..
        } = stdio_transport::over(server_reads, server_writes);
        let (service, conversations) = server::build(config, replies, in_flight).await?;
        let served = tokio::spawn(async move {
            if let Ok(running) = service.serve(transport).await {
                let _ = running.waiting().await;
            }
        });
        let (client_reads, client_writes) = tokio::io::split(client);
        Ok(Self {
            mcp: McpProcess::connect(client_reads, client_writes),
            conversations,
            home,
            served,
        })
    }

    pub(super) fn home(&self) -> &std::path::Path {
        self.home.path()
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        self.served.abort();
    }
}

pub(super) fn is_progress(message: &Value, token: &str) -> bool {
    message["method"] == "notifications/progress" && message["params"]["progressToken"] == token
}

pub(super) fn is_codex_event(message: &Value, request_id: i64, kind: &str) -> bool {
    message["method"] == "codex/event"
        && message["params"]["_meta"]["requestId"] == json!(request_id)
        && message["params"]["msg"]["type"] == kind
}

pub(super) fn is_elicitation(message: &Value) -> bool {
    message["method"] == "elicitation/create"
}
