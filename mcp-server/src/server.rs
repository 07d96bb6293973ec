//! The MCP server: the rmcp handler that routes tool calls to the engine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use codex_core::AuthManager;
use codex_core::ConfigOverride;
use codex_core::ConversationManager;
use codex_core::config::find_codex_home;
use codex_core::exec::sandbox::sandbox_unavailable_reason;
use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::ServerHandler;
use rmcp::Service;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::model::CallToolResponse;
use rmcp::model::CancelTaskParams;
use rmcp::model::ClientNotification;
use rmcp::model::ClientRequest;
use rmcp::model::CustomRequest;
use rmcp::model::CustomResult;
use rmcp::model::GetTaskParams;
use rmcp::model::GetTaskResult;
use rmcp::model::Implementation;
use rmcp::model::InitializeRequestParams;
use rmcp::model::InitializeResult;
use rmcp::model::ListToolsResult;
use rmcp::model::PaginatedRequestParams;
use rmcp::model::ProtocolVersion;
use rmcp::model::ServerCapabilities;
use rmcp::model::ServerConfig;
use rmcp::model::ServerResult;
#[allow(deprecated)] // Logging is deprecated in newer MCP revisions; hosts still send it.
use rmcp::model::SetLevelRequestParams;
use rmcp::model::UpdateTaskParams;
use rmcp::service::NotificationContext;
use rmcp::service::RequestContext;
use rmcp::service::ServerInitializeError;

use crate::api::ConversationApi;
use crate::ask_host::HostChannel;
use crate::ask_host::is_modern;
use crate::ask_host::lift_codex_fields;
use crate::codex_tool_config::ServerConfigLayer;
use crate::codex_tool_runner;
use crate::codex_tool_runner::TurnHost;
use crate::owners;
use crate::request_ids::InFlight;
use crate::running_turns::RunningTurns;
use crate::stdio_transport;
use crate::stdio_transport::ElicitationReplies;
use crate::stop_signal::StopSignal;
use crate::thread_store::Owned;
use crate::thread_store::ThreadStore;
use crate::tool_definitions;
use crate::tool_error::MAX_ECHOED_NAME;
use crate::tool_error::RoundTripError;
use crate::tool_error::ToolCallError;
use crate::tool_error::bounded;
use crate::turn_driver::HEARTBEAT_INTERVAL;
use crate::turn_driver::ProgressTarget;

/// How long running turns get to stop and record that they were aborted, once the host has
/// gone: well inside the second a host gives a server before it kills it.
pub(crate) const SHUTDOWN_LIMIT: Duration = Duration::from_millis(600);
/// After stdin closes and turns are stopped, how long rmcp gets to answer what it has read.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_millis(200);

/// The name hosts see in `serverInfo`, kept from the server this one replaces.
const SERVER_NAME: &str = "codex-mcp-server";

pub(crate) struct ServerOptions {
    pub(crate) config_overrides: Vec<ConfigOverride>,
    pub(crate) profile: Option<String>,
    pub(crate) codex_events: bool,
}

/// This binary, which commands are sandboxed through (`codex sandbox-exec`). Says once, at
/// start, when commands cannot be sandboxed, so that the questions (or refusals under `never`)
/// that replace the sandbox do not come as a surprise.
fn sandbox_exe() -> Option<PathBuf> {
    let why_not = match (sandbox_unavailable_reason(), std::env::current_exe()) {
        (None, Ok(exe)) => return Some(exe),
        (Some(reason), _) => reason.to_string(),
        (None, Err(err)) => format!("the path of this binary is unknown ({err})"),
    };
    tracing::warn!(
        "commands cannot be sandboxed: {why_not}. Under read-only and workspace-write, commands that are not known to be safe will be asked about (refused under approval_policy = never) instead of running in a sandbox"
    );
    None
}

/// The layer every call's config starts from, whichever transport serves it.
pub(crate) fn config_layer(options: ServerOptions) -> anyhow::Result<ServerConfigLayer> {
    Ok(ServerConfigLayer {
        codex_home: find_codex_home()?,
        overrides: options.config_overrides,
        profile: options.profile,
        codex_events: options.codex_events,
        sandbox_exe: sandbox_exe(),
        heartbeat_interval: HEARTBEAT_INTERVAL,
        store: Default::default(),
    })
}

/// Serves MCP on stdin/stdout until the host closes stdin.
pub(crate) async fn run(options: ServerOptions) -> anyhow::Result<()> {
    let config = config_layer(options)?;
    let stdio_transport::Stdio {
        transport,
        host_gone,
        replies,
        in_flight,
        written,
    } = stdio_transport::stdio();
    let (server, conversations) = build(config, replies, in_flight).await?;
    let mut terminate = StopSignal::terminate()?;
    let mut interrupt = StopSignal::interrupt()?;
    // A host that leaves (EOF, Ctrl-C, SIGTERM) before it has opened the session ends it as
    // surely as one that leaves later: quietly, with status 0.
    let service = tokio::select! {
        served = server.serve(transport) => match served {
            Ok(service) => service,
            Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
                tracing::info!("the host left before opening the session");
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        },
        _ = terminate.recv() => return Ok(()),
        _ = interrupt.recv() => return Ok(()),
    };
    let stop = service.cancellation_token();
    let mut served = Box::pin(service.waiting());
    tokio::select! {
        reason = &mut served => tracing::info!(?reason, "MCP connection closed"),
        () = host_gone.cancelled() => {
            tracing::info!("stdin closed: answering what was read, then shutting down");
            // Running turns are interrupted, so their calls answer at once; rmcp answers every
            // request it has read and then ends. Whatever is still not done by then is cut off.
            conversations.shutdown_all(SHUTDOWN_LIMIT).await;
            if tokio::time::timeout(DRAIN_LIMIT, &mut served).await.is_err() {
                stop.cancel();
            }
        }
        _ = interrupt.recv() => {
            tracing::info!("SIGINT: shutting down");
            stop.cancel();
        }
        _ = terminate.recv() => {
            tracing::info!("SIGTERM: shutting down");
            // A second signal means now.
            tokio::spawn(async move {
                terminate.recv().await;
                std::process::exit(143);
            });
            stop.cancel();
        }
    }
    // Interrupt what still runs, kill its processes, and make every rollout whole.
    conversations.shutdown_all(SHUTDOWN_LIMIT).await;
    // After EOF every request read was answered: those answers reach stdout before the
    // process ends (rmcp has let go of its end, so the writer finishes). A signal does not wait.
    drop(served);
    if host_gone.is_cancelled() && tokio::time::timeout(DRAIN_LIMIT, written).await.is_err() {
        tracing::debug!("stdout was not flushed within {DRAIN_LIMIT:?}");
    }
    Ok(())
}

/// The server for the host at the other end of the transport that `replies` and `in_flight`
/// belong to, and the conversations it serves, which the caller shuts down when the host
/// goes. `run` serves it on stdin/stdout, the in-process tests on a pipe.
pub(crate) async fn build(
    config: ServerConfigLayer,
    replies: Arc<ElicitationReplies>,
    in_flight: Arc<InFlight>,
) -> anyhow::Result<(LiftCodexFields, Arc<ConversationManager>)> {
    let codex_home = config.codex_home.clone();
    let config = Arc::new(config);
    let startup = config.server_settings().await;
    let auth = AuthManager::shared(&codex_home, startup.auth);
    let conversations = Arc::new(ConversationManager::new(
        auth,
        codex_home.clone(),
        startup.max_concurrent_model_requests,
    )?);
    if let Some(url) = &startup.thread_store_url {
        let lease_ttl = std::time::Duration::from_secs(startup.thread_lease_secs);
        config
            .store
            .set(ThreadStore::postgres(&url.0, lease_ttl).await?);
    }
    let turns = RunningTurns::new(&codex_home, config.store.get()).await?;
    let server = CodexMcpServer {
        turns,
        api: Arc::new(ConversationApi::new(
            Arc::clone(&conversations),
            Arc::clone(&config),
            startup.login_callback_port,
            Arc::clone(&replies),
        )),
        conversations: Arc::clone(&conversations),
        config,
        replies,
    };
    Ok((LiftCodexFields { server, in_flight }, conversations))
}

/// Cheap to clone: rmcp hands each request its own reference.
#[derive(Clone)]
pub(crate) struct CodexMcpServer {
    conversations: Arc<ConversationManager>,
    /// The turns of 2026-07-28 calls and tasks, which outlive their requests.
    turns: Arc<RunningTurns>,
    /// The host's answers to approvals, as it sent them.
    replies: Arc<ElicitationReplies>,
    config: Arc<ServerConfigLayer>,
    api: Arc<ConversationApi>,
}

impl ServerHandler for CodexMcpServer {
    /// As rmcp's own, plus: the host's name and version go into our User-Agent.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        self.conversations
            .user_agent()
            .set_client(&request.client_info.name, &request.client_info.version);
        self.negotiate_initialize(&request)
    }

    fn get_info(&self) -> ServerConfig {
        let mut info = Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION"));
        info.title = Some("Codex".into());
        // The tool list never changes, so `listChanged` is not advertised. Resources and
        // prompts are advertised (both lists are empty) because hosts list them, and rmcp
        // answers methods of capabilities a server does not advertise with -32601.
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .enable_tasks()
                .build(),
        )
        .with_server_info(info)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            match self.config.store.get().shared() {
                Some(_) => tool_definitions::all_for_replicas(),
                None => tool_definitions::all(),
            },
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Over HTTP, which the server this one replaces never served, an unknown tool is the
        // protocol error the MCP specification names it; on stdio it stays the tool error
        // that server answered (`ToolCallError::UnknownTool`).
        if owners::over_http(&context) && !tool_definitions::is_known(&request.name) {
            return Err(McpError::invalid_params(
                ToolCallError::UnknownTool(bounded(&request.name, MAX_ECHOED_NAME).into_owned())
                    .to_string(),
                None,
            ));
        }
        if is_modern(&context) {
            let access = owners::access(&context).cloned();
            let response = self
                .turns
                .call(
                    &self.conversations,
                    &self.config,
                    &self.replies,
                    request,
                    context,
                )
                .await
                .map_err(McpError::from)?;
            if let (Some(access), CallToolResponse::Task(created)) = (&access, &response) {
                access.record_task(&created.task.task_id);
                self.config
                    .store
                    .get()
                    .record_owner(Owned::Task, &created.task.task_id, &access.principal.name)
                    .await;
            }
            return Ok(response);
        }
        let host = TurnHost {
            channel: HostChannel::for_request(&context, &self.replies, None),
            progress: ProgressTarget::new(context.meta.get_progress_token()),
        };
        let started = codex_tool_runner::start(
            &self.conversations,
            &self.config,
            &request.name,
            request.arguments,
            &context,
            host,
        )
        .await;
        Ok(match started {
            Ok(turn) => turn.finish(context.ct).await,
            Err(result) => result,
        }
        .into())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        self.reachable_task(&context, &request.task_id).await?;
        Ok(self.turns.get_task(&request.task_id).await?)
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.reachable_task(&context, &request.task_id).await?;
        Ok(self
            .turns
            .update_task(&request.task_id, request.input_responses)
            .await?)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.reachable_task(&context, &request.task_id).await?;
        Ok(self.turns.cancel_task(&request.task_id).await?)
    }

    /// Accepted so hosts that set a level are not refused; logs go to stderr.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        self.api.handle(request, context).await
    }
}

impl CodexMcpServer {
    /// Over HTTP, another principal's task is as unknown as one that never was. With a shared
    /// store, the owner is the store's (the task may run on another replica).
    async fn reachable_task(
        &self,
        context: &RequestContext<RoleServer>,
        task_id: &str,
    ) -> Result<(), McpError> {
        let Some(access) = owners::access(context) else {
            return Ok(());
        };
        let owned = match self
            .config
            .store
            .get()
            .owned_by(Owned::Task, task_id, &access.principal.name)
            .await
        {
            Ok(Some(owned)) => owned,
            Ok(None) => access.owns_task(task_id),
            Err(err) => return Err(RoundTripError::Store(err).into()),
        };
        if owned {
            Ok(())
        } else {
            Err(RoundTripError::UnknownTask(task_id.to_string()).into())
        }
    }
}

/// The server as rmcp runs it: [`CodexMcpServer`], with one change to its results. rmcp's
/// typed `inputRequests` hold only the spec's elicitation fields, so an approval's `codex_*`
/// fields ride in its `_meta` and are put back at the top level of its params here, where
/// hosts of the replaced server read them (see `ask_host.rs`).
///
/// It also tells the transport when each request's handler has ended, which frees the id of
/// a request the host cancelled (`request_ids.rs`).
pub(crate) struct LiftCodexFields {
    server: CodexMcpServer,
    in_flight: Arc<InFlight>,
}

impl LiftCodexFields {
    /// The handler alone, for a transport that shares it between sessions (HTTP, where
    /// rmcp needs a `ServerHandler` and no `replies` or `in_flight` are kept).
    pub(crate) fn into_handler(self) -> CodexMcpServer {
        self.server
    }
}

impl CodexMcpServer {
    /// Waits until every 2026-07-28 turn has published its end and every task recorded it.
    pub(crate) async fn turns_settled(&self) {
        self.turns.settled().await;
    }
}

/// Tells the transport a handler has ended, however it ends.
struct Handled<'a> {
    in_flight: &'a InFlight,
    id: rmcp::model::NumberOrString,
}

impl Drop for Handled<'_> {
    fn drop(&mut self) {
        self.in_flight.handled(&self.id);
    }
}

impl Service<RoleServer> for LiftCodexFields {
    async fn handle_request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        let _handled = Handled {
            in_flight: &self.in_flight,
            id: context.id.clone(),
        };
        let result = self.server.handle_request(request, context).await?;
        if !matches!(
            result,
            ServerResult::InputRequiredResult(_) | ServerResult::GetTaskResult(_)
        ) {
            return Ok(result);
        }
        let mut value = serde_json::to_value(&result)
            .map_err(|err| McpError::internal_error(err.to_string(), None))?;
        lift_codex_fields(&mut value);
        Ok(ServerResult::CustomResult(CustomResult(value)))
    }

    async fn handle_notification(
        &self,
        notification: ClientNotification,
        context: NotificationContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.server.handle_notification(notification, context).await
    }

    fn get_info(&self) -> ServerConfig {
        ServerHandler::get_info(&self.server)
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        ServerHandler::supported_protocol_versions(&self.server)
    }
}
