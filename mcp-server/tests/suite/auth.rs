//! Accounts: API-key and ChatGPT login, logout, token refresh and the account API, against a
//! wiremock model provider and a wiremock OAuth issuer. Every server here logs at
//! `RUST_LOG=trace`, and each test ends by checking that no key or token reached stderr.

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use base64::Engine as _;
use codex_test_support::McpProcess;
use codex_test_support::responses::assistant_answer;
use codex_test_support::sse_response;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use sha2::Digest as _;
use tempfile::TempDir;
use wiremock::Mock;
use wiremock::MockServer;
use wiremock::ResponseTemplate;
use wiremock::matchers::body_string_contains;
use wiremock::matchers::header;
use wiremock::matchers::method;
use wiremock::matchers::path;

use super::CODEX_BIN;

/// A server whose model provider takes OpenAI credentials (no `env_key`), with its own
/// issuer. Unless `provider_url` is set the provider has no `base_url`, so ChatGPT requests
/// go to `chatgpt_base_url` (both point at `model`).
struct AuthServer {
    mcp: McpProcess,
    model: MockServer,
    issuer: MockServer,
    home: TempDir,
}

impl AuthServer {
    async fn start(auth_json: Option<Value>) -> anyhow::Result<Self> {
        Self::start_with(auth_json, false).await
    }

    async fn start_with(auth_json: Option<Value>, provider_url: bool) -> anyhow::Result<Self> {
        let model = MockServer::start().await;
        let issuer = MockServer::start().await;
        let home = TempDir::new()?;
        std::fs::write(
            home.path().join("config.toml"),
            format!(
                r#"model = "mock-model"
model_provider = "mock_openai"
approval_policy = "never"
auth_issuer = "{issuer}"
chatgpt_base_url = "{model}/backend-api/"
login_callback_port = 0

[model_providers.mock_openai]
name = "Mock OpenAI"
wire_api = "responses"
requires_openai_auth = true
request_max_retries = 0
stream_max_retries = 0
{base_url}
"#,
                issuer = issuer.uri(),
                model = model.uri(),
                base_url = if provider_url {
                    format!("base_url = \"{}/v1\"", model.uri())
                } else {
                    String::new()
                },
            ),
        )?;
        if let Some(auth) = auth_json {
            std::fs::write(home.path().join("auth.json"), auth.to_string())?;
        }
        let mut mcp = McpProcess::spawn_with(
            CODEX_BIN,
            home.path(),
            &[],
            // Everything, and rmcp's message logs asked for by name: they must stay out.
            &[
                ("RUST_LOG", Some("trace,rmcp::service=trace")),
                ("OPENAI_BASE_URL", None),
            ],
        )
        .await?;
        mcp.initialize().await?;
        Ok(Self {
            mcp,
            model,
            issuer,
            home,
        })
    }

    fn auth_json(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.home.path().join("auth.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Answers every model request sent with `token` with "answer".
    async fn accept_token(&self, token: &str) {
        Mock::given(method("POST"))
            .and(path("/backend-api/codex/responses"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(sse_response(assistant_answer("answer")))
            .mount(&self.model)
            .await;
    }

    /// Refuses every model request sent with `token` with a 401.
    async fn refuse_token(&self, token: &str) {
        Mock::given(method("POST"))
            .and(path("/backend-api/codex/responses"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(401).set_body_json(
                json!({"error": {"message": "token expired", "code": "token_expired"}}),
            ))
            .mount(&self.model)
            .await;
    }

    async fn call(&mut self, tool: &str, arguments: Value) -> anyhow::Result<Value> {
        let id = self.mcp.call_tool(tool, arguments).await?;
        let response = self.mcp.read_until_response(id).await?;
        Ok(response["result"].clone())
    }

    /// The `authorization` header of each model request, oldest first.
    async fn model_bearers(&self) -> Vec<String> {
        self.model
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|request| {
                request
                    .headers
                    .get("authorization")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// Fails if any of `secrets` appears in what the server logged at trace level.
    fn assert_no_secrets(&self, secrets: &[&str]) {
        let stderr = self.mcp.stderr();
        assert!(
            stderr.contains("TRACE") || stderr.contains("DEBUG"),
            "the server did not log at trace level"
        );
        for secret in secrets {
            assert!(
                !stderr.contains(secret),
                "secret {secret:?} found in the server's stderr"
            );
        }
    }
}

/// An unsigned JWT with the claims OpenAI's issuer puts in id tokens.
pub(super) fn id_token(email: &str, account_id: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = engine.encode(
        json!({
            "email": email,
            "https://api.openai.com/auth": {"chatgpt_plan_type": "pro", "chatgpt_account_id": account_id}
        })
        .to_string(),
    );
    format!("{header}.{payload}.signature")
}

fn chatgpt_auth_json(access: &str, refresh: &str) -> Value {
    json!({
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": id_token("dev@example.com", "acct-1"),
            "access_token": access,
            "refresh_token": refresh,
            "account_id": "acct-1"
        },
        "last_refresh": chrono::Utc::now().to_rfc3339()
    })
}

fn is_notification(message: &Value, method: &str) -> bool {
    message["method"] == method && message.get("id").is_none()
}

#[tokio::test]
async fn api_key_login_status_and_logout() -> anyhow::Result<()> {
    let mut server = AuthServer::start(None).await?;
    let status = server.mcp.request("getAuthStatus", json!({})).await?;
    assert_eq!(status["result"], json!({"requiresOpenaiAuth": true}));

    let login = server
        .mcp
        .request("loginApiKey", json!({"apiKey": "sk-test-login"}))
        .await?;
    assert_eq!(login["result"], json!({}));
    let change = server
        .mcp
        .read_until(|m| is_notification(m, "authStatusChange"))
        .await?;
    assert_eq!(change["params"], json!({"authMethod": "apikey"}));
    let auth_path = server.home.path().join("auth.json");
    // Windows has no mode bits.
    #[cfg(unix)]
    assert_eq!(
        std::fs::metadata(&auth_path)?.permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        server.auth_json(),
        Some(json!({"OPENAI_API_KEY": "sk-test-login"}))
    );

    let status = server.mcp.request("getAuthStatus", json!({})).await?;
    assert_eq!(
        status["result"],
        json!({"authMethod": "apikey", "requiresOpenaiAuth": true})
    );
    let with_token = server
        .mcp
        .request("getAuthStatus", json!({"includeToken": true}))
        .await?;
    assert_eq!(
        with_token["result"],
        json!({"authMethod": "apikey", "authToken": "sk-test-login", "requiresOpenaiAuth": true})
    );

    let logout = server.mcp.request("logoutChatGpt", json!({})).await?;
    assert_eq!(logout["result"], json!({}));
    let change = server
        .mcp
        .read_until(|m| is_notification(m, "authStatusChange"))
        .await?;
    assert_eq!(change["params"], json!({}));
    assert!(!auth_path.exists());
    let status = server.mcp.request("getAuthStatus", json!({})).await?;
    assert_eq!(status["result"], json!({"requiresOpenaiAuth": true}));

    let bad = server.mcp.request("loginApiKey", json!({})).await?;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("apiKey"),
        "{bad}"
    );
    let agent = server.mcp.request("getUserAgent", json!({})).await?;
    let agent = agent["result"]["userAgent"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        agent.starts_with("codex_mcp_server/") && agent.ends_with(" (codex-test-support; 0.0.0)"),
        "{agent}"
    );
    // The traffic is logged, with the key taken out.
    assert!(
        server.mcp.stderr().contains(r#""apiKey":"<redacted>""#),
        "no redacted wire log"
    );
    server.assert_no_secrets(&["sk-test-login"]);
    Ok(())
}

#[tokio::test]
async fn a_login_reaches_every_conversation_but_a_foreign_write_does_not() -> anyhow::Result<()> {
    // API keys go to the provider's own URL, not to the ChatGPT backend.
    let mut server =
        AuthServer::start_with(Some(json!({"OPENAI_API_KEY": "sk-first"})), true).await?;
    for key in ["sk-first", "sk-second", "sk-foreign"] {
        Mock::given(method("POST"))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .respond_with(sse_response(assistant_answer("answer")))
            .mount(&server.model)
            .await;
    }
    let mut threads = Vec::new();
    for _ in 0..2 {
        let result = server.call("codex", json!({"prompt": "hi"})).await?;
        assert_eq!(result["isError"], json!(false), "{result}");
        threads.push(super::thread_id(&result));
    }
    let login = server
        .mcp
        .request("loginApiKey", json!({"apiKey": "sk-second"}))
        .await?;
    assert_eq!(login["result"], json!({}));
    for thread in &threads {
        let result = server
            .call(
                "codex-reply",
                json!({"threadId": thread, "prompt": "again"}),
            )
            .await?;
        assert_eq!(result["isError"], json!(false), "{result}");
    }
    // Another process (another server, say) signs in to another account.
    std::fs::write(
        server.home.path().join("auth.json"),
        json!({"OPENAI_API_KEY": "sk-foreign"}).to_string(),
    )?;
    let result = server
        .call(
            "codex-reply",
            json!({"threadId": threads[0], "prompt": "and again"}),
        )
        .await?;
    assert_eq!(result["isError"], json!(false), "{result}");
    assert_eq!(
        server.model_bearers().await,
        vec![
            "Bearer sk-first",
            "Bearer sk-first",
            "Bearer sk-second",
            "Bearer sk-second",
            "Bearer sk-second",
        ]
    );
    server.assert_no_secrets(&["sk-first", "sk-second", "sk-foreign"]);
    Ok(())
}

/// The tokens of the refresh tests, none of which may reach the logs.
const REFRESH_SECRETS: [&str; 4] = ["access-old", "access-new", "refresh-old", "refresh-new"];

/// Mounts a refresh that turns `refresh-old` into `access-new` / `refresh-new`.
async fn mount_refresh(issuer: &MockServer, delay: Duration) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("\"grant_type\":\"refresh_token\""))
        .and(body_string_contains("\"refresh_token\":\"refresh-old\""))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"access_token": "access-new", "refresh_token": "refresh-new"}),
                )
                .set_delay(delay),
        )
        .expect(1)
        .mount(issuer)
        .await;
}

#[tokio::test]
async fn a_401_refreshes_the_chatgpt_token_once_and_retries() -> anyhow::Result<()> {
    let mut server =
        AuthServer::start(Some(chatgpt_auth_json("access-old", "refresh-old"))).await?;
    server.refuse_token("access-old").await;
    server.accept_token("access-new").await;
    mount_refresh(&server.issuer, Duration::ZERO).await;

    let result = server.call("codex", json!({"prompt": "hi"})).await?;
    assert_eq!(result["isError"], json!(false), "{result}");
    assert_eq!(
        server.model_bearers().await,
        vec!["Bearer access-old", "Bearer access-new"]
    );
    let requests = server.model.received_requests().await.unwrap_or_default();
    let account = requests[1].headers.get("chatgpt-account-id");
    assert_eq!(account.and_then(|v| v.to_str().ok()), Some("acct-1"));
    let stored = server.auth_json().unwrap_or_default();
    assert_eq!(stored["tokens"]["access_token"], "access-new");
    assert_eq!(stored["tokens"]["refresh_token"], "refresh-new");
    server.issuer.verify().await;
    server.assert_no_secrets(&REFRESH_SECRETS);
    Ok(())
}

#[tokio::test]
async fn ten_concurrent_401s_cause_one_refresh() -> anyhow::Result<()> {
    let mut server =
        AuthServer::start(Some(chatgpt_auth_json("access-old", "refresh-old"))).await?;
    server.refuse_token("access-old").await;
    server.accept_token("access-new").await;
    // Slow enough that the other nine 401s arrive while the first refresh is out.
    mount_refresh(&server.issuer, Duration::from_millis(500)).await;

    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            server
                .mcp
                .call_tool("codex", json!({"prompt": format!("call {i}")}))
                .await?,
        );
    }
    for id in ids {
        let response = server.mcp.read_until_response(id).await?;
        assert_eq!(response["result"]["isError"], json!(false), "{response}");
    }
    let bearers = server.model_bearers().await;
    let refused = bearers.iter().filter(|b| *b == "Bearer access-old").count();
    let accepted = bearers.iter().filter(|b| *b == "Bearer access-new").count();
    assert_eq!(accepted, 10, "{bearers:?}");
    assert!(refused >= 2, "the 401s did not overlap: {bearers:?}");
    // `expect(1)` on the refresh mock: one refresh, whatever the number of 401s.
    server.issuer.verify().await;
    server.assert_no_secrets(&REFRESH_SECRETS);
    Ok(())
}

#[tokio::test]
async fn a_refresh_can_be_forced_and_a_dead_one_asks_for_a_login() -> anyhow::Result<()> {
    let mut server =
        AuthServer::start(Some(chatgpt_auth_json("access-old", "refresh-old"))).await?;
    mount_refresh(&server.issuer, Duration::ZERO).await;
    let status = server
        .mcp
        .request(
            "getAuthStatus",
            json!({"includeToken": true, "refreshToken": true}),
        )
        .await?;
    assert_eq!(
        status["result"],
        json!({"authMethod": "chatgpt", "authToken": "access-new", "requiresOpenaiAuth": true})
    );
    server.issuer.verify().await;
    let info = server.mcp.request("userInfo", json!({})).await?;
    assert_eq!(
        info["result"],
        json!({"allegedUserEmail": "dev@example.com"})
    );

    // The refresh token is revoked from here on.
    server.issuer.reset().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "refresh token revoked"}),
        ))
        .mount(&server.issuer)
        .await;
    server.refuse_token("access-new").await;
    let result = server.call("codex", json!({"prompt": "hi"})).await?;
    assert_eq!(result["isError"], json!(true), "{result}");
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("please log in again"), "{text}");
    let forced = server
        .mcp
        .request("getAuthStatus", json!({"refreshToken": true}))
        .await?;
    assert_eq!(forced["error"]["code"], -32600, "{forced}");
    assert!(
        forced["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("please log in again"),
        "{forced}"
    );
    server.assert_no_secrets(&REFRESH_SECRETS);
    Ok(())
}

/// The query parameters of `url`.
pub(super) fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// Plays the browser: GET `url` with `params` on the callback's port, over IPv4.
pub(super) async fn browser_get(
    redirect_uri: &str,
    params: &[(&str, &str)],
) -> anyhow::Result<(u16, String)> {
    let mut url = url::Url::parse(redirect_uri)?;
    url.set_host(Some("127.0.0.1"))?;
    url.query_pairs_mut().extend_pairs(params);
    let response = tokio::time::timeout(Duration::from_secs(20), reqwest::get(url)).await??;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[tokio::test]
async fn chatgpt_login_end_to_end() -> anyhow::Result<()> {
    let mut server = AuthServer::start(None).await?;
    let id_token = id_token("user@example.com", "acct-7");
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id_token": id_token,
            "access_token": "access-login",
            "refresh_token": "refresh-login"
        })))
        .expect(1)
        .mount(&server.issuer)
        .await;

    let started = server.mcp.request("loginChatGpt", json!({})).await?;
    let login_id = started["result"]["loginId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let auth_url = started["result"]["authUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        auth_url.starts_with(&format!("{}/oauth/authorize?", server.issuer.uri())),
        "{started}"
    );
    let params = query(&auth_url);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    let redirect_uri = params["redirect_uri"].clone();
    assert!(
        redirect_uri.starts_with("http://localhost:"),
        "{redirect_uri}"
    );
    assert!(redirect_uri.ends_with("/auth/callback"), "{redirect_uri}");

    // A callback that does not carry our state is refused, and the login goes on.
    let (status, _) =
        browser_get(&redirect_uri, &[("code", "the-code"), ("state", "forged")]).await?;
    assert_eq!(status, 400);
    assert!(server.auth_json().is_none());

    let (status, page) = browser_get(
        &redirect_uri,
        &[("code", "the-code"), ("state", &params["state"])],
    )
    .await?;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in"), "{page}");
    let complete = server
        .mcp
        .read_until(|m| is_notification(m, "loginChatGptComplete"))
        .await?;
    assert_eq!(
        complete["params"],
        json!({"loginId": login_id, "success": true})
    );
    let change = server
        .mcp
        .read_until(|m| is_notification(m, "authStatusChange"))
        .await?;
    assert_eq!(change["params"], json!({"authMethod": "chatgpt"}));

    // PKCE: the verifier sent with the code hashes to the challenge in the URL.
    let exchange = server.issuer.received_requests().await.unwrap_or_default();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&exchange[0].body)
            .into_owned()
            .collect();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(form["code_verifier"].as_bytes()));
    assert_eq!(challenge, params["code_challenge"]);
    assert_eq!(form["redirect_uri"], redirect_uri);

    let stored = server.auth_json().unwrap_or_default();
    assert_eq!(stored["tokens"]["access_token"], "access-login");
    assert_eq!(stored["tokens"]["refresh_token"], "refresh-login");
    assert_eq!(stored["tokens"]["account_id"], "acct-7");
    assert_eq!(stored["tokens"]["id_token"], id_token.as_str());
    let status = server.mcp.request("getAuthStatus", json!({})).await?;
    assert_eq!(
        status["result"],
        json!({"authMethod": "chatgpt", "requiresOpenaiAuth": true})
    );
    let info = server.mcp.request("userInfo", json!({})).await?;
    assert_eq!(
        info["result"],
        json!({"allegedUserEmail": "user@example.com"})
    );
    // The new tokens are used at once.
    server.accept_token("access-login").await;
    let result = server.call("codex", json!({"prompt": "hi"})).await?;
    assert_eq!(result["isError"], json!(false), "{result}");
    server.issuer.verify().await;
    server.assert_no_secrets(&[
        "access-login",
        "refresh-login",
        "the-code",
        &id_token,
        &form["code_verifier"],
    ]);
    Ok(())
}

#[tokio::test]
async fn a_chatgpt_login_can_be_cancelled() -> anyhow::Result<()> {
    let mut server = AuthServer::start(None).await?;
    let unknown = server
        .mcp
        .request("cancelLoginChatGpt", json!({"loginId": "nope"}))
        .await?;
    assert_eq!(unknown["error"]["code"], -32600, "{unknown}");
    assert_eq!(unknown["error"]["message"], "login id not found: nope");

    let started = server.mcp.request("loginChatGpt", json!({})).await?;
    let login_id = started["result"]["loginId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let auth_url = started["result"]["authUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let redirect_uri = query(&auth_url)["redirect_uri"].clone();
    let cancelled = server
        .mcp
        .request("cancelLoginChatGpt", json!({"loginId": login_id}))
        .await?;
    assert_eq!(cancelled["result"], json!({}));
    let complete = server
        .mcp
        .read_until(|m| is_notification(m, "loginChatGptComplete"))
        .await?;
    assert_eq!(
        complete["params"],
        json!({"loginId": login_id, "success": false, "error": "ChatGPT login failed: login cancelled"})
    );
    // The callback server is gone: the port refuses connections.
    assert!(
        browser_get(&redirect_uri, &[("code", "c"), ("state", "s")])
            .await
            .is_err()
    );
    assert!(server.auth_json().is_none());
    let status = server.mcp.request("getAuthStatus", json!({})).await?;
    assert_eq!(status["result"], json!({"requiresOpenaiAuth": true}));
    Ok(())
}

#[tokio::test]
async fn commands_never_see_the_servers_credentials() -> anyhow::Result<()> {
    let mut server = super::TestServer::start_with_env(
        "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"",
        &[],
        &[("OPENAI_API_KEY", Some("sk-env-secret"))],
    )
    .await?;
    let login = server
        .mcp
        .request("loginApiKey", json!({"apiKey": "sk-stored-secret"}))
        .await?;
    assert_eq!(login["result"], json!({}));
    server
        .model
        .mount_sse_sequence(vec![
            codex_test_support::responses::shell_call("call-env", &["env"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let result = server
        .call("codex", json!({"prompt": "print the environment"}))
        .await?;
    assert_eq!(result["isError"], json!(false), "{result}");
    let output = server.output_seen_by_model("call-env").await;
    assert!(output.contains("PATH="), "{output}");
    for secret in [
        "sk-env-secret",
        "sk-stored-secret",
        codex_test_support::MOCK_API_KEY,
    ] {
        assert!(
            !output.contains(secret),
            "{secret} reached a command: {output}"
        );
    }
    Ok(())
}
