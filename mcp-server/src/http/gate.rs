//! What every HTTP request passes before rmcp sees it: the path, the `Origin` (against DNS
//! rebinding), the bearer token, the body's size, the principal's share of concurrent calls,
//! the admin-only methods, and, once the server is stopping, no new work.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::Context;
use std::task::Poll;

use codex_mcp_types::AccountRequest;
use codex_mcp_types::settings_api::GET_USER_SAVED_CONFIG;
use codex_mcp_types::settings_api::SET_DEFAULT_MODEL;
use http_body_util::BodyExt as _;
use http_body_util::Full;
use http_body_util::Limited;
use http_body_util::combinators::BoxBody;
use hyper::Request;
use hyper::Response;
use hyper::StatusCode;
use hyper::body::Body;
use hyper::body::Bytes;
use hyper::body::Frame;
use hyper::header;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::auth::Principal;
use super::auth::Tokens;
use crate::mcp_settings::HttpSettings;
use crate::open_count::Hold;
use crate::open_count::OpenCount;
use crate::owners::Access;
use crate::owners::Owners;

/// The one path MCP is served at.
pub(crate) const MCP_PATH: &str = "/mcp";

pub(crate) type HttpBody = BoxBody<Bytes, Infallible>;

/// The checks, and the state they keep across requests.
pub(crate) struct Gate {
    /// `None`: no tokens, and the server is bound to loopback only (see `mod.rs`).
    pub(crate) tokens: Option<Tokens>,
    /// Who owns which thread and task; with tokens only (see `owners.rs`).
    owners: Option<Arc<Owners>>,
    pub(crate) origins: OriginPolicy,
    pub(crate) limits: HttpSettings,
    /// Each principal's open `tools/call` requests; one semaphore per principal, so the map
    /// holds at most as many entries as the tokens name (one without tokens).
    calls: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// How many `tools/call` requests are open, for a graceful stop.
    open_calls: OpenCount,
    /// Cancelled on SIGTERM: new sessions and new calls are refused from then on.
    pub(crate) draining: CancellationToken,
}

impl Gate {
    pub(crate) fn new(
        tokens: Option<Tokens>,
        owners: Option<Arc<Owners>>,
        origins: OriginPolicy,
        limits: HttpSettings,
    ) -> Self {
        Self {
            tokens,
            owners,
            origins,
            limits,
            calls: Mutex::new(HashMap::new()),
            open_calls: OpenCount::default(),
            draining: CancellationToken::new(),
        }
    }

    /// Waits until no `tools/call` request is open.
    pub(crate) async fn calls_done(&self) {
        self.open_calls.zero().await;
    }

    /// Checks `request`; if it may pass, hands it to `serve` (rmcp) with its principal in its
    /// extensions.
    pub(crate) async fn admit<B, F, Fut>(&self, request: Request<B>, serve: F) -> Response<HttpBody>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnOnce(Request<Full<Bytes>>) -> Fut,
        Fut: Future<Output = Response<HttpBody>>,
    {
        if request.uri().path() != MCP_PATH {
            return plain(StatusCode::NOT_FOUND, "not found: MCP is served at /mcp");
        }
        if let Some(origin) = request.headers().get(header::ORIGIN)
            && !origin
                .to_str()
                .is_ok_and(|origin| self.origins.allows(origin))
        {
            tracing::info!("refused a request from a foreign Origin");
            return plain(StatusCode::FORBIDDEN, "forbidden: foreign Origin");
        }
        let principal = match self.authenticate(request.headers()) {
            Ok(principal) => principal,
            Err(challenge) => return unauthorized(challenge),
        };
        let (mut parts, body) = request.into_parts();
        let body = match Limited::new(body, self.limits.max_body_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload too large (http.max_body_bytes)",
                );
            }
            Err(err) => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    &format!("reading the request: {err}"),
                );
            }
        };
        let message = peek(&body);
        let mut held = Held::default();
        if let Some(Peeked {
            method,
            id,
            continues,
        }) = &message
        {
            if self.draining.is_cancelled() && starts_work(method, *continues) {
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down",
                );
            }
            if is_admin_only(method) && !principal.admin {
                return forbidden_method(id.clone(), method);
            }
            if method == "tools/call" {
                match self.call_permit(&principal.name) {
                    Some(permit) => {
                        held.permit = Some(permit);
                        held.open = Some(self.open_calls.hold());
                    }
                    None => {
                        return plain(
                            StatusCode::TOO_MANY_REQUESTS,
                            "too many concurrent calls for this principal (http.max_concurrent_calls_per_principal)",
                        );
                    }
                }
            }
        }
        if let Some(owners) = &self.owners {
            parts.extensions.insert(Access {
                principal: principal.clone(),
                owners: Arc::clone(owners),
            });
        }
        parts.extensions.insert(principal);
        let response = serve(Request::from_parts(parts, Full::new(body))).await;
        if held.permit.is_none() {
            return response;
        }
        // The call is open until its answer (perhaps a long SSE stream) has been sent.
        response.map(|body| BoxBody::new(HoldWhileSending { body, _held: held }))
    }

    /// The request's principal, or the `WWW-Authenticate` challenge to refuse it with.
    fn authenticate(&self, headers: &hyper::HeaderMap) -> Result<Principal, &'static str> {
        let Some(tokens) = &self.tokens else {
            return Ok(Principal::local());
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let Some(presented) = presented else {
            return Err(r#"Bearer realm="codex-mcp""#);
        };
        tokens.verify(presented).ok_or_else(|| {
            tracing::info!("refused a request with an unknown bearer token");
            r#"Bearer realm="codex-mcp", error="invalid_token""#
        })
    }

    fn call_permit(&self, principal: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut calls = self.calls.lock().ok()?;
            Arc::clone(calls.entry(principal.to_string()).or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.limits.max_concurrent_calls_per_principal,
                ))
            }))
        };
        semaphore.try_acquire_owned().ok()
    }
}

/// What the gate reads of a JSON-RPC message: a single request's method and id.
struct Peeked {
    method: String,
    id: Value,
    /// A `tools/call` that answers a running turn's questions (2026-07-28): it starts nothing.
    continues: bool,
}

fn peek(body: &[u8]) -> Option<Peeked> {
    #[derive(Deserialize)]
    struct Message {
        method: Option<String>,
        id: Option<Value>,
        params: Option<Params>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        request_state: Option<Value>,
    }
    // Anything else (a batch, a response, a notification, not JSON) goes to rmcp as is,
    // which answers it as the protocol says.
    let message: Message = serde_json::from_slice(body).ok()?;
    Some(Peeked {
        method: message.method?,
        id: message.id?,
        continues: message
            .params
            .is_some_and(|params| params.request_state.is_some()),
    })
}

/// Whether a request would start something new: refused while the server stops.
fn starts_work(method: &str, continues: bool) -> bool {
    match method {
        "initialize" => true,
        "tools/call" => !continues,
        _ => false,
    }
}

/// Methods that act for the whole server (its sign-in, its saved config), not for one
/// principal's threads. The conversation API is not among them: it answers each principal
/// with its own threads (`api/conversation.rs`).
fn is_admin_only(method: &str) -> bool {
    AccountRequest::is_account_method(method)
        || method == SET_DEFAULT_MODEL
        || method == GET_USER_SAVED_CONFIG
}

fn forbidden_method(id: Value, method: &str) -> Response<HttpBody> {
    let answer = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32600,
            "message": format!("{method} acts for the whole server: over HTTP only an admin principal may call it"),
        },
    });
    let mut response = Response::new(full(answer.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Which browser origins may call: loopback ones, the listening address's, and those given
/// with `--allowed-origin`. Requests without `Origin` (every non-browser client) pass.
pub(crate) struct OriginPolicy {
    pub(crate) allowed: Vec<String>,
    /// The host the server listens on, when it is a specific address.
    pub(crate) listen_host: Option<String>,
}

impl OriginPolicy {
    pub(crate) fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self
            .allowed
            .iter()
            .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(&origin))
        {
            return true;
        }
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false; // `null`, or not an origin at all
        };
        if scheme != "http" && scheme != "https" {
            return false;
        }
        let host = host_of(authority);
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
            || self
                .listen_host
                .as_deref()
                .is_some_and(|listen| listen.eq_ignore_ascii_case(host))
    }
}

/// The host of `host[:port]`, `[v6][:port]` kept bracketed.
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn full(text: String) -> HttpBody {
    BoxBody::new(Full::new(Bytes::from(text)))
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response<HttpBody> {
    let mut response = Response::new(full(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn unauthorized(challenge: &'static str) -> Response<HttpBody> {
    let mut response = plain(
        StatusCode::UNAUTHORIZED,
        "unauthorized: a bearer token is required",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(challenge),
    );
    response
}

#[derive(Default)]
struct Held {
    permit: Option<OwnedSemaphorePermit>,
    /// Counts the call as open from its admission to the end of its answer.
    open: Option<Hold>,
}

/// A response body that keeps its call's permit until it has been sent or dropped.
struct HoldWhileSending {
    body: HttpBody,
    _held: Held,
}

impl Body for HoldWhileSending {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_from_loopback_and_the_listening_host_pass() {
        let policy = OriginPolicy {
            allowed: vec!["https://app.example.com".into()],
            listen_host: Some("10.0.0.5".into()),
        };
        for origin in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:8080",
            "https://app.example.com",
            "https://APP.example.com/",
            "http://10.0.0.5:7777",
        ] {
            assert!(policy.allows(origin), "{origin}");
        }
        for origin in [
            "http://evil.example",
            "http://localhost.evil.example",
            "null",
            "file://localhost",
            "https://app.example.com:8443",
        ] {
            assert!(!policy.allows(origin), "{origin}");
        }
    }
}
