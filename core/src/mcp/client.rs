//! One connection to an MCP server: starting it (spawn or connect, `initialize`, `tools/list`),
//! calling its tools with a timeout, and answering what the server asks of us.
//!
//! What a server may ask: sampling is refused (we do not lend the model to servers, and we do
//! not advertise it), elicitations are declined (nobody is asked; the server reads a clear
//! `decline`), and progress notifications are routed to the call they belong to, by progress
//! token, through a bounded channel that drops what a slow reader cannot take.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmcp::ClientHandler;
use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequest;
use rmcp::model::CallToolRequestParams;
use rmcp::model::CancelledNotificationParam;
use rmcp::model::ClientCapabilities;
use rmcp::model::ClientConfig;
use rmcp::model::ClientRequest;
#[allow(deprecated)]
use rmcp::model::CreateMessageRequestParams;
#[allow(deprecated)]
use rmcp::model::CreateMessageResult;
use rmcp::model::ElicitRequestParams;
use rmcp::model::ElicitResult;
use rmcp::model::ElicitationAction;
use rmcp::model::ErrorData;
use rmcp::model::Implementation;
use rmcp::model::ProgressNotificationParam;
use rmcp::model::ProgressToken;
use rmcp::model::ProtocolVersion;
use rmcp::model::RequestId;
use rmcp::model::ServerResult;
use rmcp::model::Tool;
use rmcp::service::NotificationContext;
use rmcp::service::Peer;
use rmcp::service::PeerRequestOptions;
use rmcp::service::RequestContext;
use rmcp::service::RunningService;
use rmcp::service::ServiceError;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::config::mcp_servers::McpServerConfig;
use crate::config::mcp_servers::McpServerTransport;
use crate::lock::lock;
use crate::mcp::http;
use crate::mcp::stdio;
use crate::mcp::stdio::StdioChild;

/// Progress reports a call's reader may fall behind by before further ones are dropped.
const PROGRESS_BACKLOG: usize = 64;

/// A server's report on a call in progress.
pub(crate) struct ProgressUpdate {
    pub(crate) progress: f64,
    pub(crate) total: Option<f64>,
    pub(crate) message: Option<String>,
}

/// Where each call's progress goes, by the progress token rmcp gave its request.
#[derive(Default)]
struct ProgressRoutes(Mutex<Routes>);

#[derive(Default)]
struct Routes {
    routes: HashMap<ProgressToken, mpsc::Sender<ProgressUpdate>>,
    /// Reports that came before their call's route was set up (the server can answer the
    /// request before `call_tool` registers it); handed over when it is. Bounded: the oldest
    /// token's reports go first.
    early: VecDeque<(ProgressToken, ProgressUpdate)>,
}

/// Early reports kept for routes not set up yet.
const EARLY_PROGRESS: usize = 64;

/// What we answer a server with.
struct Handler {
    server: String,
    progress: Arc<ProgressRoutes>,
}

impl ClientHandler for Handler {
    // Sampling is deprecated (SEP-2577) but servers may still ask; they get a clear refusal
    // rather than "method not found".
    #[allow(deprecated)]
    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        tracing::info!(server = %self.server, "declined a sampling request from an MCP server");
        Err(ErrorData::invalid_request(
            "sampling is not supported: this client does not lend its model to MCP servers",
            None,
        ))
    }

    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        tracing::info!(server = %self.server, "declined an elicitation from an MCP server");
        Ok(ElicitResult::new(ElicitationAction::Decline))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let update = ProgressUpdate {
            progress: params.progress,
            total: params.total,
            message: params.message,
        };
        let mut routes = lock(&self.progress.0);
        match routes.routes.get(&params.progress_token) {
            // A full channel drops the report: progress is advisory.
            Some(route) => {
                let _ = route.try_send(update);
            }
            None => {
                if routes.early.len() == EARLY_PROGRESS {
                    routes.early.pop_front();
                }
                routes.early.push_back((params.progress_token, update));
            }
        }
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("codex-mcp", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

/// A started server: its session, the tools it offers the model, and its process.
pub(crate) struct Connection {
    service: RunningService<RoleClient, Handler>,
    progress: Arc<ProgressRoutes>,
    /// After `enabled_tools` and `disabled_tools`.
    pub(crate) tools: Vec<Tool>,
    pub(crate) tool_timeout: Duration,
    /// Set when a call found the connection closed, which rmcp's own flag may say a moment
    /// later.
    closed: AtomicBool,
    /// Dropped last: the process dies after the session is closed.
    _child: Option<StdioChild>,
}

impl Connection {
    /// Whether the server went away (its process exited, its connection closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.service.is_transport_closed()
    }

    /// Calls `tool`; the result as the server sent it, or why there is none. `on_progress`
    /// sees the server's progress reports while the call runs.
    pub(crate) async fn call_tool(
        &self,
        tool: &str,
        arguments: Option<serde_json::Map<String, Value>>,
        on_progress: &(dyn Fn(ProgressUpdate) + Sync),
    ) -> Result<Value, String> {
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let mut options = PeerRequestOptions::no_options();
        options.timeout = Some(self.tool_timeout);
        let handle = self
            .service
            .send_request_with_option(request, options)
            .await
            .map_err(|err| service_error(err, self.tool_timeout))?;
        let (tx, mut rx) = mpsc::channel(PROGRESS_BACKLOG);
        let token = handle.progress_token.clone();
        {
            let mut routes = lock(&self.progress.0);
            let early = std::mem::take(&mut routes.early);
            for (early_token, update) in early {
                if early_token == token {
                    let _ = tx.try_send(update);
                } else {
                    routes.early.push_back((early_token, update));
                }
            }
            routes.routes.insert(token.clone(), tx);
        }
        let _route = RouteGuard {
            routes: &self.progress,
            token,
        };
        // If this future is dropped (the turn was interrupted), the server is told the call
        // was cancelled.
        let mut cancel = CancelOnDrop {
            peer: self.service.peer().clone(),
            id: Some(handle.id.clone()),
        };
        let response = handle.await_response();
        tokio::pin!(response);
        // rmcp hands notifications to the handler concurrently, so two reports can arrive
        // swapped; progress only grows (the spec says so), so a report behind the last one
        // shown is stale and skipped.
        let mut shown = f64::NEG_INFINITY;
        let mut show = |update: ProgressUpdate| {
            if update.progress > shown {
                shown = update.progress;
                on_progress(update);
            }
        };
        let response = loop {
            tokio::select! {
                // Reports first: those sent before the result are shown before it.
                biased;
                Some(update) = rx.recv() => show(update),
                response = &mut response => break response,
            }
        };
        while let Ok(update) = rx.try_recv() {
            show(update);
        }
        cancel.id = None;
        if matches!(response, Err(ServiceError::TransportClosed)) {
            self.closed.store(true, Ordering::Release);
        }
        match response.map_err(|err| service_error(err, self.tool_timeout))? {
            ServerResult::CallToolResult(result) => {
                serde_json::to_value(result).map_err(|err| format!("unreadable result: {err}"))
            }
            other => Err(format!(
                "the server answered the call with something other than a tool result: {}",
                serde_json::to_string(&other).unwrap_or_default()
            )),
        }
    }
}

struct RouteGuard<'a> {
    routes: &'a ProgressRoutes,
    token: ProgressToken,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        lock(&self.routes.0).routes.remove(&self.token);
    }
}

struct CancelOnDrop {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let peer = self.peer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let params = CancelledNotificationParam::new(
                    Some(id),
                    Some("the turn was interrupted".to_string()),
                );
                let _ = peer.notify_cancelled(params).await;
            });
        }
    }
}

fn service_error(err: ServiceError, timeout: Duration) -> String {
    match err {
        ServiceError::Timeout { .. } => format!(
            "the call timed out after {} s (`tool_timeout_sec`)",
            timeout.as_secs_f64()
        ),
        ServiceError::McpError(error) => {
            format!("the server answered with an error: {}", error.message)
        }
        ServiceError::TransportClosed => "the server closed the connection".to_string(),
        other => other.to_string(),
    }
}

/// Starts `server` as its table says: spawns or connects, initializes, lists its tools. The
/// caller bounds it with `startup_timeout`; dropping the future kills whatever it started.
pub(crate) async fn connect(
    server: &str,
    config: &McpServerConfig,
    conversation_cwd: &Path,
) -> Result<Connection, String> {
    let progress = Arc::new(ProgressRoutes::default());
    let handler = Handler {
        server: server.to_string(),
        progress: Arc::clone(&progress),
    };
    let (service, child) = match &config.transport {
        McpServerTransport::Stdio {
            command,
            args,
            env,
            env_vars,
            cwd,
        } => {
            let (child, stdout, stdin) = stdio::spawn(
                &stdio::StdioCommand {
                    server,
                    command,
                    args,
                    env,
                    env_vars,
                    cwd: cwd.as_deref(),
                },
                conversation_cwd,
            )
            .map_err(|err| err.to_string())?;
            match handler.serve((stdout, stdin)).await {
                Ok(service) => (service, Some(child)),
                Err(err) => return Err(startup_error(&err.to_string(), Some(&child))),
            }
        }
        McpServerTransport::StreamableHttp {
            url,
            bearer_token_env_var,
            http_headers,
            env_http_headers,
        } => {
            let transport = http::transport(&http::HttpSpec {
                url,
                bearer_token_env_var: bearer_token_env_var.as_deref(),
                http_headers,
                env_http_headers,
            })?;
            let service = handler
                .serve(transport)
                .await
                .map_err(|err| startup_error(&err.to_string(), None))?;
            (service, None)
        }
    };
    let tools = service
        .list_all_tools()
        .await
        .map_err(|err| startup_error(&format!("tools/list failed: {err}"), child.as_ref()))?
        .into_iter()
        .filter(|tool| config.offers_tool(&tool.name))
        .collect();
    Ok(Connection {
        service,
        progress,
        tools,
        tool_timeout: config.tool_timeout,
        closed: AtomicBool::new(false),
        _child: child,
    })
}

/// The error, with the last lines the server wrote to stderr (masked) when it wrote any.
fn startup_error(error: &str, child: Option<&StdioChild>) -> String {
    let tail = child.map(StdioChild::stderr_tail).unwrap_or_default();
    if tail.is_empty() {
        error.to_string()
    } else {
        format!("{error}; its stderr ended with: {}", tail.join(" | "))
    }
}
