//! The model client: one streaming request per model turn, with request-level retries.
//!
//! It knows the provider (URL, headers, credentials) and the wire API; the agent loop sees
//! only [`ResponseEvent`]s.

pub(crate) mod chat_completions;
pub(crate) mod responses;
pub(crate) mod sse;
pub(crate) mod user_agent;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use futures::StreamExt;
use hyper::body::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::auth::AuthManager;
use crate::auth::ProviderAuth;
use crate::auth::RequestAuth;
use crate::client::chat_completions::ChatAggregator;
use crate::client::user_agent::UserAgent;
use crate::config::Config;
use crate::config::providers::ModelProviderInfo;
use crate::config::providers::WireApi;
use crate::error::CodexErr;
use crate::error::Result;
use crate::protocol::ConversationId;
use crate::protocol::ResponseItem;
use crate::protocol::TokenUsage;

/// First retry delay; doubled for each further attempt.
/// A `Retry-After` beyond this is not worth waiting for inside one tool call.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What a request sends besides the provider settings.
pub(crate) struct Prompt<'a> {
    pub instructions: &'a str,
    pub input: &'a [ResponseItem],
    pub tools: &'a [serde_json::Value],
}

/// One event of a model response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResponseEvent {
    Created,
    OutputTextDelta(String),
    ReasoningSummaryDelta(String),
    /// The provider started a hosted web search (its item id).
    WebSearchBegin(String),
    OutputItemDone(ResponseItem),
    Completed {
        response_id: String,
        token_usage: Option<TokenUsage>,
    },
}

/// What the model clients of every conversation share: one connection pool, the server's
/// credentials, and its User-Agent.
#[derive(Clone)]
pub(crate) struct ModelTransport {
    pub(crate) http: reqwest::Client,
    pub(crate) auth: Arc<AuthManager>,
    pub(crate) user_agent: Arc<UserAgent>,
    /// One permit per open request, held until its response stream ends: a burst of turns
    /// waits here instead of running the process out of file descriptors.
    pub(crate) open_requests: Arc<tokio::sync::Semaphore>,
}

/// The settings of a request (model, provider, effort) come with each call: a conversation's
/// settings can change between turns.
pub(crate) struct ModelClient {
    transport: ModelTransport,
    conversation_id: ConversationId,
}

impl ModelClient {
    pub(crate) fn new(transport: ModelTransport, conversation_id: ConversationId) -> Self {
        Self {
            transport,
            conversation_id,
        }
    }

    /// Opens the response stream for `prompt`: one attempt. Retrying is the caller's call,
    /// because a retry is a turn-level event the client should see. The one exception is a
    /// 401 with ChatGPT tokens: the tokens are refreshed (once for all conversations) and the
    /// request is sent again, as the expiry of a token is not the turn's business.
    pub(crate) async fn stream(
        &self,
        config: &Config,
        prompt: &Prompt<'_>,
    ) -> Result<ResponseStream> {
        let provider = &config.model_provider;
        let (path, body) = match provider.wire_api {
            WireApi::Responses => (
                "/responses",
                responses::request_body(config, prompt, &self.conversation_id)?,
            ),
            WireApi::Chat => (
                "/chat/completions",
                chat_completions::request_body(&config.model, prompt)?,
            ),
        };
        // Shared, not copied, if the request is sent twice.
        let body = Bytes::from(body);
        let permit = Arc::clone(&self.transport.open_requests)
            .acquire_owned()
            .await
            .map_err(|_| CodexErr::Stream("the model client is shutting down".to_string()))?;
        let auth = &self.transport.auth;
        let credentials = auth
            .request_auth(provider_auth(&config.model_provider_id, provider))
            .await?;
        let response = self.send(config, path, &body, credentials.as_ref()).await?;
        let response = match credentials {
            Some(rejected) if rejected.chatgpt && response.status() == StatusCode::UNAUTHORIZED => {
                tracing::info!("the provider refused the ChatGPT token; refreshing it");
                auth.refresh_after_unauthorized(&rejected.token).await?;
                let renewed = auth
                    .request_auth(provider_auth(&config.model_provider_id, provider))
                    .await?;
                self.send(config, path, &body, renewed.as_ref()).await?
            }
            _ => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(ResponseStream::new(
                response,
                provider.wire_api,
                provider.stream_idle_timeout(),
                permit,
            ));
        }
        let retry_after = retry_after(response.headers());
        let body = error_body(response, provider.stream_idle_timeout()).await;
        Err(status_error(status, &body, retry_after))
    }

    async fn send(
        &self,
        config: &Config,
        path: &str,
        body: &Bytes,
        credentials: Option<&RequestAuth>,
    ) -> Result<reqwest::Response> {
        let provider = &config.model_provider;
        let chatgpt = credentials.is_some_and(|c| c.chatgpt);
        // ChatGPT tokens are good at the ChatGPT backend, not at api.openai.com.
        let url = match &provider.base_url {
            None if chatgpt => chatgpt_url(&config.chatgpt_base_url, path),
            _ => provider.url_for_path(path),
        };
        let mut request = self
            .transport
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .header(
                reqwest::header::USER_AGENT,
                &*self.transport.user_agent.get(),
            )
            .header("conversation_id", self.conversation_id.to_string())
            .header("session_id", self.conversation_id.to_string())
            .header("originator", crate::ORIGINATOR)
            .body(body.clone());
        for (name, value) in provider.headers() {
            request = request.header(name, value);
        }
        if let Some(credentials) = credentials {
            request = request.bearer_auth(credentials.token.expose());
            if let Some(account_id) = credentials.account_id.as_deref().filter(|_| chatgpt) {
                request = request.header("chatgpt-account-id", account_id);
            }
        }
        let idle_timeout = provider.stream_idle_timeout();
        Ok(tokio::time::timeout(idle_timeout, request.send())
            .await
            .map_err(|_| {
                CodexErr::NoResponse(format!(
                    "nothing within {} ms (stream_idle_timeout_ms)",
                    idle_timeout.as_millis()
                ))
            })??)
    }
}

/// The most of an error response's body that is read: enough for any provider's message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The body of an error response, as text: at most [`MAX_ERROR_BODY`] bytes, and only what
/// arrives within `limit` (a provider that stalls mid-body must not hang the turn).
async fn error_body(mut response: reqwest::Response, limit: Duration) -> String {
    let mut body = Vec::new();
    let read = async {
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
    };
    if tokio::time::timeout(limit, read).await.is_err() {
        tracing::warn!(
            "the provider's error body stalled; using the {} bytes read",
            body.len()
        );
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}

/// `<chatgpt_base_url>/codex<path>`: where the Codex backend serves ChatGPT accounts.
fn provider_auth<'a>(id: &'a str, provider: &'a ModelProviderInfo) -> ProviderAuth<'a> {
    ProviderAuth {
        id,
        env_key: provider.env_key.as_deref(),
        requires_openai_auth: provider.requires_openai_auth,
    }
}

fn chatgpt_url(chatgpt_base_url: &str, path: &str) -> String {
    format!("{}/codex{path}", chatgpt_base_url.trim_end_matches('/'))
}

/// Classifies a failed status: quota and context errors are final whatever the status;
/// otherwise the status decides (see [`CodexErr::is_retryable`]).
fn status_error(status: StatusCode, body: &str, retry_after: Option<Duration>) -> CodexErr {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let field = |name: &str| error.and_then(|e| e[name].as_str()).unwrap_or_default();
    let message = match error.and_then(|e| e["message"].as_str()) {
        Some(message) => message.to_string(),
        None if body.trim().is_empty() => "(empty body)".to_string(),
        None => body.chars().take(1024).collect(),
    };
    if ["usage_limit_reached", "usage_not_included"].contains(&field("type"))
        || field("code") == "insufficient_quota"
    {
        return CodexErr::QuotaExceeded(format!("{status}: {message}"));
    }
    if field("code") == "context_length_exceeded" {
        return CodexErr::ContextWindowExceeded(message);
    }
    CodexErr::UnexpectedStatus {
        status,
        message,
        retry_after,
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

type SseStream = Pin<Box<dyn Stream<Item = std::result::Result<sse::Event, sse::Error>> + Send>>;

enum Decoder {
    Responses { completed: bool },
    Chat(ChatAggregator),
}

/// The events of one streaming response, read one at a time under an idle timeout.
pub(crate) struct ResponseStream {
    events: SseStream,
    idle_timeout: Duration,
    decoder: Decoder,
    failed: bool,
    /// The request's slot among those open at once, given back when the stream is dropped.
    _open: tokio::sync::OwnedSemaphorePermit,
}

impl ResponseStream {
    fn new(
        response: reqwest::Response,
        wire_api: WireApi,
        idle_timeout: Duration,
        open: tokio::sync::OwnedSemaphorePermit,
    ) -> Self {
        let decoder = match wire_api {
            WireApi::Responses => Decoder::Responses { completed: false },
            WireApi::Chat => Decoder::Chat(ChatAggregator::default()),
        };
        Self {
            events: Box::pin(sse::events(response.bytes_stream())),
            idle_timeout,
            decoder,
            failed: false,
            _open: open,
        }
    }

    /// The next event; `None` once the response completed. A stream that ends (or goes
    /// silent) before completing is an error.
    pub(crate) async fn next(&mut self) -> Option<Result<ResponseEvent>> {
        if self.failed {
            return None;
        }
        loop {
            match &mut self.decoder {
                Decoder::Responses { completed: true } => return None,
                Decoder::Chat(aggregator) => {
                    if let Some(event) = aggregator.next_event() {
                        return Some(Ok(event));
                    }
                    if aggregator.is_finished() {
                        return None;
                    }
                }
                Decoder::Responses { completed: false } => {}
            }
            let sse = match tokio::time::timeout(self.idle_timeout, self.events.next()).await {
                Err(_) => {
                    return self.fail(CodexErr::Stream(format!(
                        "the provider sent nothing for {} ms (stream_idle_timeout_ms)",
                        self.idle_timeout.as_millis()
                    )));
                }
                Ok(Some(Err(err))) => return self.fail(CodexErr::Stream(err.to_string())),
                Ok(Some(Ok(sse))) => Some(sse),
                Ok(None) => None,
            };
            match (&mut self.decoder, sse) {
                (Decoder::Responses { completed }, Some(sse)) => {
                    match responses::parse_event(&sse.data) {
                        Ok(Some(event)) => {
                            *completed = matches!(event, ResponseEvent::Completed { .. });
                            return Some(Ok(event));
                        }
                        Ok(None) => {}
                        Err(err) => return self.fail(err),
                    }
                }
                (Decoder::Responses { .. }, None) => {
                    return self.fail(CodexErr::Stream(
                        "stream closed before response.completed".into(),
                    ));
                }
                (Decoder::Chat(aggregator), Some(sse)) => {
                    if let Err(err) = aggregator.push(&sse.data) {
                        return self.fail(err);
                    }
                }
                (Decoder::Chat(aggregator), None) => {
                    if let Err(err) = aggregator.finish() {
                        return self.fail(err);
                    }
                }
            }
        }
    }

    fn fail(&mut self, err: CodexErr) -> Option<Result<ResponseEvent>> {
        self.failed = true;
        Some(Err(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_keep_the_provider_message_and_classify() {
        let err = status_error(
            StatusCode::UNAUTHORIZED,
            r#"{"error": {"message": "Incorrect API key provided"}}"#,
            None,
        );
        assert_eq!(
            err.to_string(),
            "model provider answered 401 Unauthorized: Incorrect API key provided"
        );
        assert!(!err.is_retryable());
        let busy = status_error(
            StatusCode::TOO_MANY_REQUESTS,
            "slow down",
            Some(Duration::from_secs(1)),
        );
        assert!(busy.is_retryable());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(1)));
        let quota = status_error(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"error": {"code": "insufficient_quota", "message": "You exceeded your quota"}}"#,
            None,
        );
        assert!(matches!(quota, CodexErr::QuotaExceeded(_)));
        assert!(!quota.is_retryable());
        assert!(status_error(StatusCode::BAD_GATEWAY, "", None).is_retryable());
    }

    #[test]
    fn chatgpt_requests_go_to_the_codex_backend() {
        assert_eq!(
            chatgpt_url("https://chatgpt.com/backend-api/", "/responses"),
            "https://chatgpt.com/backend-api/codex/responses"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
