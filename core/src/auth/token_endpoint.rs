//! The issuer's `/oauth/token` endpoint: refreshing ChatGPT tokens and exchanging a login's
//! authorization code. Errors say whether logging in again is the only way out.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::AuthError;
use super::Secret;
use crate::net::backoff;
use crate::net::with_causes;

/// Refresh attempts for transient failures (network, 429, 5xx) before giving up.
const REFRESH_ATTEMPTS: u64 = 3;
/// Per attempt: a refresh holds up every request that waits for it.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Error codes with which the issuer says the refresh token is dead for good.
const PERMANENT_REFRESH_ERRORS: &[&str] = &[
    "invalid_grant",
    "refresh_token_expired",
    "refresh_token_reused",
    "refresh_token_invalidated",
];

/// What the issuer hands back; a refresh may leave out tokens that did not change.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub(crate) id_token: Option<Secret>,
    #[serde(default)]
    pub(crate) access_token: Option<Secret>,
    #[serde(default)]
    pub(crate) refresh_token: Option<Secret>,
}

pub(crate) fn token_url(issuer: &str) -> String {
    format!("{}/oauth/token", issuer.trim_end_matches('/'))
}

/// `grant_type=refresh_token`, retried on transient failures.
pub(crate) async fn refresh(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    refresh_token: &Secret,
) -> Result<TokenResponse, AuthError> {
    let body = json!({
        "client_id": client_id,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token.expose(),
        "scope": "openid profile email",
    });
    let url = token_url(issuer);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = http
            .post(&url)
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .json(&body)
            .send()
            .await;
        let failure = match result {
            Ok(response) if response.status().is_success() => {
                return response
                    .json::<TokenResponse>()
                    .await
                    .map_err(|err| AuthError::Refresh(with_causes(&err)));
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let code = error_code(&text);
                if let Some(code) = code.as_deref()
                    && PERMANENT_REFRESH_ERRORS.contains(&code)
                {
                    return Err(AuthError::LoginRequired(code.to_string()));
                }
                let retryable =
                    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                let what = format!(
                    "{status}{}",
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                );
                if !retryable {
                    return Err(AuthError::Refresh(what));
                }
                what
            }
            Err(err) => with_causes(&err),
        };
        if attempt >= REFRESH_ATTEMPTS {
            return Err(AuthError::Refresh(format!(
                "{failure} (after {attempt} attempts)"
            )));
        }
        tracing::warn!(attempt, "token refresh failed, retrying: {failure}");
        tokio::time::sleep(backoff(attempt)).await;
    }
}

/// The login's last step: the authorization code (with its PKCE verifier) for tokens.
pub(crate) async fn exchange_code(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
) -> Result<TokenResponse, AuthError> {
    let response = http
        .post(token_url(issuer))
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", code_verifier),
        ])
        .send()
        .await
        .map_err(|err| AuthError::Login(format!("token exchange failed: {}", with_causes(&err))))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let code = error_code(&text).unwrap_or_default();
        return Err(AuthError::Login(format!(
            "the issuer refused the authorization code: {status} {code}"
        )));
    }
    response
        .json()
        .await
        .map_err(|err| AuthError::Login(format!("unreadable token response: {err}")))
}

/// The OAuth error code of a failed token request: `{"error": "invalid_grant"}` (RFC 6749)
/// or `{"error": {"code": "refresh_token_expired"}}` (OpenAI's issuer).
fn error_code(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    error
        .as_str()
        .or_else(|| error.get("code").and_then(serde_json::Value::as_str))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn error_codes_come_in_both_shapes() {
        assert_eq!(
            error_code(r#"{"error": "invalid_grant", "error_description": "x"}"#).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(
            error_code(r#"{"error": {"code": "refresh_token_reused", "message": "m"}}"#).as_deref(),
            Some("refresh_token_reused")
        );
        assert_eq!(error_code("<html>"), None);
    }
}
