//! `codex mcp --listen ADDR:PORT`: the same server over Streamable HTTP at `/mcp`, for hosts
//! that cannot launch it (remote hosts, a shared dev box, containers). rmcp's transport serves
//! both eras; `gate.rs` checks each request first; this file binds, accepts and stops.

pub(crate) mod auth;
mod gate;
mod lift;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use anyhow::bail;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::rt::TokioTimer;
use rmcp::transport::StreamableHttpServerConfig;
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::auth::AUTH_TOKEN_ENV;
use self::auth::Tokens;
use self::gate::Gate;
use self::gate::OriginPolicy;
use crate::owners::Owners;
use crate::server;
use crate::server::DRAIN_LIMIT;
use crate::server::SHUTDOWN_LIMIT;
use crate::server::ServerOptions;
use crate::stop_signal::StopSignal;

/// Connections served at once; the next waits in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;
/// A client must send its request headers within this, so idle sockets cannot pile up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP flags of `codex mcp`.
pub(crate) struct ListenOptions {
    pub(crate) listen: String,
    pub(crate) auth_tokens: Option<PathBuf>,
    pub(crate) allowed_origins: Vec<String>,
}

/// Serves MCP over HTTP until SIGTERM or SIGINT.
pub(crate) async fn serve(options: ServerOptions, listen: ListenOptions) -> anyhow::Result<()> {
    let tokens = Tokens::load(listen.auth_tokens.as_deref())?;
    let addr = resolve(&listen.listen).await?;
    if tokens.is_none() && !addr.ip().is_loopback() {
        bail!(
            "refusing to listen on {addr} without authentication: anyone who can reach it could run commands as this user. Set {AUTH_TOKEN_ENV} or pass --auth-tokens FILE, or listen on a loopback address (127.0.0.1:PORT)"
        );
    }
    let config = server::config_layer(options)?;
    let limits = config.server_settings().await.http;
    let owners = tokens
        .as_ref()
        .map(|_| Arc::new(Owners::new(&config.codex_home)));
    let (server, conversations) = server::build(config, Arc::default(), Arc::default()).await?;
    let handler = server.into_handler();
    let settled_handler = handler.clone();

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    let stop = CancellationToken::new();
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(Duration::from_secs(limits.session_idle_secs));
    let mut http_config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        .with_max_request_body_bytes(limits.max_body_bytes);
    if !addr.ip().is_loopback() {
        // rmcp's default accepts only loopback `Host`s, against DNS rebinding; a server
        // reachable by name from elsewhere is guarded by its tokens and the Origin check.
        http_config = http_config.disable_allowed_hosts();
    }
    let service =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(sessions), http_config);
    let origins = OriginPolicy {
        allowed: listen.allowed_origins,
        listen_host: (!addr.ip().is_unspecified()).then(|| match addr {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        }),
    };
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    let gate = Arc::new(Gate::new(tokens, owners, origins, limits));
    match &gate.tokens {
        Some(tokens) => {
            let names: Vec<&str> = tokens.principals().map(|p| p.name.as_str()).collect();
            tracing::info!("listening on http://{local}/mcp (bearer tokens for: {names:?})");
        }
        None => tracing::info!("listening on http://{local}/mcp (loopback, no authentication)"),
    }

    let mut terminate = StopSignal::terminate()?;
    let mut interrupt = StopSignal::interrupt()?;
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = JoinSet::new();
    let now = loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => permit?,
            _ = terminate.recv() => break false,
            _ = interrupt.recv() => break true,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!("accepting a connection: {err}");
                    continue;
                }
            },
            _ = terminate.recv() => break false,
            _ = interrupt.recv() => break true,
        };
        // Answers go out as several small writes (headers, SSE events): without this, Nagle's
        // algorithm holds each one back until the client's delayed ACK (~40 ms) on a kept-alive
        // connection, as a proxy's is.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {err}");
        }
        let gate = Arc::clone(&gate);
        let service = service.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let handle = hyper::service::service_fn(move |request| {
                let gate = Arc::clone(&gate);
                let service = service.clone();
                async move {
                    let response = gate
                        .admit(request, |request| async move {
                            service.handle(request).await.map(lift::lifted)
                        })
                        .await;
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), handle);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!("HTTP connection ended: {err}");
                    }
                }
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN_LIMIT, connection).await;
                }
            }
        });
        // Finished connections are reaped as new ones come, so the set stays bounded.
        while tasks.try_join_next().is_some() {}
    };

    // No new connections; on the open ones, no new sessions or calls.
    drop(listener);
    gate.draining.cancel();
    if !now {
        let running = conversations.active_turns();
        tracing::info!(
            "SIGTERM: waiting up to {grace:?} for running calls and turns to end ({} turns running)",
            running.count()
        );
        // Turns, not only open calls: a task's or the conversation API's turn runs with no
        // request open, and a turn waiting for an approval's retry has answered its call.
        let settled = async {
            tokio::join!(
                gate.calls_done(),
                running.all_ended(),
                settled_handler.turns_settled()
            )
        };
        tokio::select! {
            _ = tokio::time::timeout(grace, settled) => {}
            // A second signal means now.
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
    // Interrupt what still runs, kill its processes, make every rollout whole; the calls
    // still open then answer that their turns were aborted, and get a moment to be sent.
    conversations.shutdown_all(SHUTDOWN_LIMIT).await;
    let answered = async { tokio::join!(gate.calls_done(), settled_handler.turns_settled()) };
    let _ = tokio::time::timeout(DRAIN_LIMIT, answered).await;
    stop.cancel();
    let _ = tokio::time::timeout(DRAIN_LIMIT * 2, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    Ok(())
}

/// The address `listen` names (`127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`).
async fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("--listen {listen}: expected ADDR:PORT"))?;
    addrs
        .next()
        .with_context(|| format!("--listen {listen}: the name resolves to no address"))
}
