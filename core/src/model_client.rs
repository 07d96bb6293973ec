//! The model client: one streaming request per model turn, with request-level retries.
//!
//! It knows the provider (URL, headers, credentials) and the wire API; the agent loop sees
//! only [`ResponseEvent`]s.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::auth::AuthManager;
use crate::config::Config;
use crate::error::CodexErr;
use crate::error::Result;
use crate::model_provider::WireApi;
use crate::protocol::ConversationId;
use crate::protocol::TokenUsage;
use crate::response_item::ResponseItem;
use crate::responses_api;
use crate::responses_api::ResponseStream;

/// First retry delay; doubled for each further attempt.
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
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
    OutputItemDone(ResponseItem),
    Completed {
        response_id: String,
        token_usage: Option<TokenUsage>,
    },
}

pub(crate) struct ModelClient {
    http: reqwest::Client,
    config: Arc<Config>,
    auth: Arc<AuthManager>,
    conversation_id: ConversationId,
}

impl ModelClient {
    pub(crate) fn new(
        http: reqwest::Client,
        config: Arc<Config>,
        auth: Arc<AuthManager>,
        conversation_id: ConversationId,
    ) -> Self {
        Self {
            http,
            config,
            auth,
            conversation_id,
        }
    }

    /// Opens the response stream for `prompt`, retrying what is transient.
    pub(crate) async fn stream(&self, prompt: &Prompt<'_>) -> Result<ResponseStream> {
        let provider = &self.config.model_provider;
        match provider.wire_api {
            WireApi::Responses => {}
            WireApi::Chat => return Err(CodexErr::UnsupportedWireApi("chat".into())),
        }
        let body = Bytes::from(responses_api::request_body(
            &self.config,
            prompt,
            &self.conversation_id,
        )?);
        let url = provider.url_for_path("/responses");
        let max_retries = provider.request_max_retries();
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let bearer = self
                .auth
                .bearer_for(&self.config.model_provider_id, provider)?;
            let mut request = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .header("conversation_id", self.conversation_id.to_string())
                .header("session_id", self.conversation_id.to_string())
                .header("originator", crate::ORIGINATOR)
                .body(body.clone());
            for (name, value) in provider.headers() {
                request = request.header(name, value);
            }
            if let Some(key) = &bearer {
                request = request.bearer_auth(key.expose());
            }

            let retry_delay = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return Ok(ResponseStream::new(
                        response,
                        provider.stream_idle_timeout(),
                    ));
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    let body = response.text().await.unwrap_or_default();
                    if !is_retryable_status(status) || attempt > max_retries {
                        return Err(CodexErr::UnexpectedStatus { status, body });
                    }
                    tracing::warn!(%status, attempt, "model request failed; retrying");
                    retry_after.unwrap_or_else(|| backoff(attempt))
                }
                Err(err) => {
                    if attempt > max_retries
                        || !(err.is_connect() || err.is_timeout() || err.is_request())
                    {
                        return Err(CodexErr::Http(err));
                    }
                    tracing::warn!(attempt, "model request failed: {err}; retrying");
                    backoff(attempt)
                }
            };
            tokio::time::sleep(retry_delay).await;
        }
    }
}

fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
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

/// 200 ms × 2^(attempt-1), with ±10 % jitter so that concurrent turns do not retry in step.
pub(crate) fn backoff(attempt: u64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let base = INITIAL_BACKOFF.saturating_mul(2u32.saturating_pow(exponent));
    let jitter = rand::rng().random_range(0.9..1.1);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter() {
        for (attempt, nominal) in [(1, 200.0), (2, 400.0), (3, 800.0)] {
            let ms = backoff(attempt).as_secs_f64() * 1000.0;
            assert!(
                ms >= nominal * 0.9 && ms <= nominal * 1.1,
                "{attempt}: {ms}"
            );
        }
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
