//! The ChatGPT browser login: a one-shot callback server on 127.0.0.1, an authorization URL
//! with PKCE and a random state, and the code-for-tokens exchange at the issuer.
//!
//! The server never opens a browser itself: it hands the URL to the host, whose user opens
//! it; the issuer then redirects the browser to our callback with the code.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use http_body_util::Full;
use hyper::Request;
use hyper::Response;
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::RngCore as _;
use sha2::Digest as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::AuthDotJson;
use super::AuthError;
use super::AuthManager;
use super::IdToken;
use super::TokenData;
use super::token_endpoint;

const CALLBACK_PATH: &str = "/auth/callback";
const CANCEL_PATH: &str = "/cancel";
const SCOPES: &str = "openid profile email offline_access";

/// A login in progress. Dropping it does not stop it; [`ChatGptLogin::canceller`] does.
#[derive(Debug)]
pub struct ChatGptLogin {
    /// Where the user signs in.
    pub auth_url: String,
    /// The port the callback server listens on (the configured one, or the one the system
    /// chose when configured as 0).
    pub port: u16,
    cancel: CancellationToken,
    outcome: tokio::task::JoinHandle<Result<(), AuthError>>,
}

/// What the callback handler needs to finish the login.
struct Flow {
    manager: Arc<AuthManager>,
    state: String,
    code_verifier: String,
    redirect_uri: String,
    /// The first finished attempt (success, issuer error, or `/cancel`) ends the login.
    done: mpsc::Sender<Result<(), AuthError>>,
}

impl ChatGptLogin {
    /// Listens on `127.0.0.1:port` and waits for the browser, for at most `timeout`.
    pub async fn start(
        manager: Arc<AuthManager>,
        port: u16,
        timeout: Duration,
    ) -> Result<Self, AuthError> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|err| {
                AuthError::Login(format!(
                    "cannot listen on 127.0.0.1:{port} for the login callback: {err}"
                ))
            })?;
        let port = listener
            .local_addr()
            .map_err(|err| AuthError::Login(err.to_string()))?
            .port();
        let redirect_uri = format!("http://localhost:{port}{CALLBACK_PATH}");
        let code_verifier = random_token(64);
        let state = random_token(32);
        let settings = manager.settings();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(code_verifier.as_bytes()));
        let authorize = format!("{}/oauth/authorize", settings.issuer.trim_end_matches('/'));
        let auth_url = url::Url::parse_with_params(
            &authorize,
            &[
                ("response_type", "code"),
                ("client_id", settings.client_id.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
                ("scope", SCOPES),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("id_token_add_organizations", "true"),
                ("codex_cli_simplified_flow", "true"),
                ("state", state.as_str()),
                ("originator", crate::ORIGINATOR),
            ],
        )
        .map_err(|err| AuthError::Login(format!("bad issuer URL `{authorize}`: {err}")))?
        .to_string();

        let (done, finished) = mpsc::channel(1);
        let flow = Arc::new(Flow {
            manager,
            state,
            code_verifier,
            redirect_uri,
            done,
        });
        let cancel = CancellationToken::new();
        let outcome = tokio::spawn(serve(listener, flow, finished, cancel.clone(), timeout));
        Ok(Self {
            auth_url,
            port,
            cancel,
            outcome,
        })
    }

    /// Cancels the login: the callback server stops and [`ChatGptLogin::finished`] reports it.
    pub fn canceller(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits for the login to end: `Ok` once the tokens are saved.
    pub async fn finished(self) -> Result<(), AuthError> {
        self.outcome
            .await
            .map_err(|err| AuthError::Login(format!("the login task failed: {err}")))?
    }
}

/// Serves the callback until a login finishes, is cancelled, or times out. The listener is
/// dropped on return, which frees the port for the next login.
async fn serve(
    listener: TcpListener,
    flow: Arc<Flow>,
    mut finished: mpsc::Receiver<Result<(), AuthError>>,
    cancel: CancellationToken,
    timeout: Duration,
) -> Result<(), AuthError> {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Err(AuthError::Login("login cancelled".into())),
            () = &mut deadline => {
                return Err(AuthError::Login(format!(
                    "nobody completed the login within {} minutes",
                    timeout.as_secs() / 60
                )));
            }
            Some(result) = finished.recv() => return result,
            accepted = listener.accept() => {
                // An accept that fails (out of file descriptors, say) would fail again at once:
                // end the login rather than spin.
                let (stream, _) = accepted.map_err(|err| {
                    AuthError::Login(format!("the login callback server failed: {err}"))
                })?;
                let flow = Arc::clone(&flow);
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&flow), request));
                    let connection = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(err) = connection.await {
                        tracing::debug!("login callback connection: {err}");
                    }
                });
            }
        }
    }
}

async fn handle(
    flow: Arc<Flow>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    Ok(match request.uri().path() {
        CALLBACK_PATH => callback(&flow, &params).await,
        CANCEL_PATH => {
            let _ = flow
                .done
                .try_send(Err(AuthError::Login("login cancelled".into())));
            page(StatusCode::OK, "Login cancelled. You may close this page.")
        }
        _ => page(StatusCode::NOT_FOUND, "Not found."),
    })
}

async fn callback(flow: &Flow, params: &HashMap<String, String>) -> Response<Full<Bytes>> {
    // A request without our state did not come from the login we started (a stale tab, or
    // another site): refuse it and keep waiting for the real one.
    if params.get("state") != Some(&flow.state) {
        tracing::warn!("login callback with a wrong state refused");
        return page(
            StatusCode::BAD_REQUEST,
            "State mismatch: this sign-in did not come from the login Codex started.",
        );
    }
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        let err = AuthError::Login(format!("the issuer reported {error}{description}"));
        let response = page(StatusCode::BAD_REQUEST, &err.to_string());
        let _ = flow.done.try_send(Err(err));
        return response;
    }
    let Some(code) = params.get("code").filter(|code| !code.is_empty()) else {
        return page(StatusCode::BAD_REQUEST, "Missing authorization code.");
    };
    let result = complete(flow, code).await;
    let response = match &result {
        Ok(()) => page(
            StatusCode::OK,
            "Signed in to Codex. You may close this page and go back to your editor.",
        ),
        Err(err) => page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    let _ = flow.done.try_send(result);
    response
}

/// Exchanges the code and saves the tokens: from here on every conversation uses them.
async fn complete(flow: &Flow, code: &str) -> Result<(), AuthError> {
    let settings = flow.manager.settings();
    let response = token_endpoint::exchange_code(
        &flow.manager.http,
        &settings.issuer,
        &settings.client_id,
        code,
        &flow.redirect_uri,
        &flow.code_verifier,
    )
    .await?;
    let (Some(id_token), Some(access_token), Some(refresh_token)) = (
        response.id_token,
        response.access_token,
        response.refresh_token,
    ) else {
        return Err(AuthError::Login(
            "the issuer's token response lacks id_token, access_token or refresh_token".into(),
        ));
    };
    let id_token = IdToken::parse(id_token.expose());
    let account_id = id_token.claims.chatgpt_account_id.clone();
    flow.manager
        .save(AuthDotJson {
            openai_api_key: None,
            tokens: Some(TokenData {
                id_token,
                access_token,
                refresh_token,
                account_id,
            }),
            last_refresh: Some(Utc::now()),
        })
        .await
}

fn page(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "<!doctype html><title>Codex login</title><p>{}</p>\n",
        html_escape(text)
    ))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `bytes` random bytes, base64url without padding: PKCE verifiers and states.
fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_material_is_long_enough_and_url_safe() {
        let verifier = random_token(64);
        // RFC 7636: 43 to 128 characters of the unreserved set.
        assert!((43..=128).contains(&verifier.len()), "{}", verifier.len());
        assert!(
            verifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(random_token(32), random_token(32));
    }
}
