//! AuthManager against real files in a temp CODEX_HOME and a wiremock issuer.

use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::json;
use tempfile::TempDir;
use wiremock::Mock;
use wiremock::MockServer;
use wiremock::ResponseTemplate;
use wiremock::matchers::body_partial_json;
use wiremock::matchers::method;
use wiremock::matchers::path;

use super::id_token::tests::fake_jwt;
use super::*;

fn settings(issuer: &str) -> AuthSettings {
    AuthSettings {
        issuer: issuer.to_string(),
        ..AuthSettings::default()
    }
}

fn chatgpt_auth_json(access: &str, last_refresh: DateTime<Utc>) -> AuthDotJson {
    AuthDotJson {
        openai_api_key: None,
        tokens: Some(TokenData {
            id_token: IdToken::parse(&fake_jwt("dev@example.com", "pro", "acct-1")),
            access_token: Secret::new(access),
            refresh_token: Secret::new("refresh-old"),
            account_id: None,
        }),
        last_refresh: Some(last_refresh),
    }
}

fn provider<'a>(id: &'a str, env_key: Option<&'a str>, openai: bool) -> ProviderAuth<'a> {
    ProviderAuth {
        id,
        env_key,
        requires_openai_auth: openai,
    }
}

async fn token(auth: &AuthManager) -> Option<String> {
    auth.request_auth(provider("openai", None, true))
        .await
        .unwrap()
        .map(|auth| auth.token.expose().to_string())
}

#[tokio::test]
async fn auth_json_key_is_used_for_openai_providers_only() {
    let home = TempDir::new().unwrap();
    std::fs::write(
        home.path().join(AUTH_JSON_FILE),
        r#"{"OPENAI_API_KEY": "sk-file"}"#,
    )
    .unwrap();
    let auth = AuthManager::shared(home.path(), AuthSettings::default());
    assert_eq!(token(&auth).await.as_deref(), Some("sk-file"));
    let local = provider("local", None, false);
    assert!(auth.request_auth(local).await.unwrap().is_none());
}

#[tokio::test]
async fn missing_env_key_is_an_error_naming_the_variable() {
    let home = TempDir::new().unwrap();
    let auth = AuthManager::shared(home.path(), AuthSettings::default());
    let mock = provider("mock", Some("CODEX_TEST_SURELY_UNSET_VAR"), false);
    assert_eq!(
        auth.request_auth(mock).await.unwrap_err().to_string(),
        "environment variable `CODEX_TEST_SURELY_UNSET_VAR` is not set; model provider `mock` reads its API key from it"
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    assert_eq!(
        format!("{:?}", Secret::new("sk-secret")),
        "Secret(<redacted>)"
    );
    let stored = chatgpt_auth_json("access-secret", Utc::now());
    let debug = format!("{stored:?} {:?}", resolve(Some(&stored), AuthMode::ChatGpt));
    for secret in [
        "access-secret",
        "refresh-old",
        &fake_jwt("dev@example.com", "pro", "acct-1"),
    ] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn preferred_method_decides_when_both_are_stored() {
    let mut stored = chatgpt_auth_json("access", Utc::now());
    stored.openai_api_key = Some(Secret::new("sk-both"));
    assert_eq!(
        resolve(Some(&stored), AuthMode::ChatGpt).map(|a| a.mode()),
        Some(AuthMode::ChatGpt)
    );
    assert_eq!(
        resolve(Some(&stored), AuthMode::ApiKey),
        Some(CodexAuth::ApiKey(Secret::new("sk-both")))
    );
    stored.tokens = None;
    assert_eq!(
        resolve(Some(&stored), AuthMode::ChatGpt).map(|a| a.mode()),
        Some(AuthMode::ApiKey)
    );
}

#[tokio::test]
async fn another_process_writing_auth_json_changes_nothing_until_reload() {
    let home = TempDir::new().unwrap();
    let auth = AuthManager::shared(home.path(), AuthSettings::default());
    auth.login_with_api_key("sk-mine").await.unwrap();
    std::fs::write(
        home.path().join(AUTH_JSON_FILE),
        r#"{"OPENAI_API_KEY": "sk-theirs"}"#,
    )
    .unwrap();
    assert_eq!(token(&auth).await.as_deref(), Some("sk-mine"));
    assert!(auth.reload());
    assert_eq!(token(&auth).await.as_deref(), Some("sk-theirs"));
    assert!(!auth.reload());
    assert!(auth.logout().await.unwrap());
    assert_eq!(auth.mode(), None);
    assert!(!home.path().join(AUTH_JSON_FILE).exists());
}

#[tokio::test]
async fn concurrent_refreshes_after_401_coalesce_into_one_request() {
    let issuer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(json!({
            "grant_type": "refresh_token",
            "refresh_token": "refresh-old",
            "client_id": DEFAULT_CLIENT_ID,
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"access_token": "access-new", "refresh_token": "refresh-new"}),
                )
                // Long enough that every caller queues behind the first.
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&issuer)
        .await;
    let home = TempDir::new().unwrap();
    storage::write_auth_json(home.path(), &chatgpt_auth_json("access-old", Utc::now())).unwrap();
    let auth = AuthManager::shared(home.path(), settings(&issuer.uri()));
    let rejected = Secret::new("access-old");
    let refreshes = (0..10).map(|_| auth.refresh_after_unauthorized(&rejected));
    for result in futures::future::join_all(refreshes).await {
        result.unwrap();
    }
    assert_eq!(token(&auth).await.as_deref(), Some("access-new"));
    let on_disk = storage::read_auth_json(home.path()).unwrap().unwrap();
    let tokens = on_disk.tokens.unwrap();
    assert_eq!(tokens.access_token, Secret::new("access-new"));
    assert_eq!(tokens.refresh_token, Secret::new("refresh-new"));
    // The id token was not in the response, so the old one stays.
    assert_eq!(
        tokens.id_token.claims.email.as_deref(),
        Some("dev@example.com")
    );
    issuer.verify().await;
}

#[tokio::test]
async fn a_dead_refresh_token_asks_for_a_new_login() {
    let issuer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "refresh token revoked"
        })))
        .expect(1)
        .mount(&issuer)
        .await;
    let home = TempDir::new().unwrap();
    storage::write_auth_json(home.path(), &chatgpt_auth_json("access-old", Utc::now())).unwrap();
    let auth = AuthManager::shared(home.path(), settings(&issuer.uri()));
    let err = auth.refresh_token().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "your ChatGPT login is no longer valid (invalid_grant); please log in again (loginChatGpt) or use an API key"
    );
}

#[tokio::test]
async fn transient_refresh_failures_are_retried() {
    let issuer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&issuer)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "access-new"})),
        )
        .expect(1)
        .mount(&issuer)
        .await;
    let home = TempDir::new().unwrap();
    storage::write_auth_json(home.path(), &chatgpt_auth_json("access-old", Utc::now())).unwrap();
    let auth = AuthManager::shared(home.path(), settings(&issuer.uri()));
    auth.refresh_token().await.unwrap();
    assert_eq!(token(&auth).await.as_deref(), Some("access-new"));
}

#[tokio::test]
async fn tokens_older_than_28_days_are_refreshed_before_use() {
    let issuer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "access-new"})),
        )
        .expect(1)
        .mount(&issuer)
        .await;
    let home = TempDir::new().unwrap();
    let old = Utc::now() - chrono::TimeDelta::days(29);
    storage::write_auth_json(home.path(), &chatgpt_auth_json("access-old", old)).unwrap();
    let auth = AuthManager::shared(home.path(), settings(&issuer.uri()));
    assert_eq!(token(&auth).await.as_deref(), Some("access-new"));
    // Fresh now: the next request does not refresh again (the mock expects one call).
    assert_eq!(token(&auth).await.as_deref(), Some("access-new"));
    let request = auth
        .request_auth(provider("openai", None, true))
        .await
        .unwrap()
        .unwrap();
    assert!(request.chatgpt);
    assert_eq!(request.account_id.as_deref(), Some("acct-1"));
}

#[tokio::test]
async fn refreshing_an_api_key_is_refused() {
    let home = TempDir::new().unwrap();
    let auth = AuthManager::shared(home.path(), AuthSettings::default());
    auth.login_with_api_key("sk-test").await.unwrap();
    assert!(matches!(
        auth.refresh_token().await,
        Err(AuthError::NotChatGpt)
    ));
}
