//! Transient provider failures are retried and announced; final ones end the turn clearly.

use std::time::Duration;

use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::ev_output_text_delta;
use codex_test_support::responses::ev_response_created;
use codex_test_support::responses::sse;
use codex_test_support::sse_response;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use wiremock::ResponseTemplate;

use super::TestServer;

const RETRIES: [&str; 4] = [
    "-c",
    "model_providers.mock_provider.request_max_retries=2",
    "-c",
    "model_providers.mock_provider.stream_max_retries=2",
];

/// The `stream_error` messages the call emitted.
fn stream_errors(server: &TestServer, id: i64) -> Vec<String> {
    server
        .mcp
        .events_for(id)
        .iter()
        .filter(|e| e["params"]["msg"]["type"] == "stream_error")
        .map(|e| {
            e["params"]["msg"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

async fn call_and_wait(server: &mut TestServer) -> anyhow::Result<(i64, Value)> {
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "hi"}))
        .await?;
    let result = server.mcp.read_until_response(id).await?["result"].clone();
    Ok((id, result))
}

#[tokio::test]
async fn a_server_error_is_retried_once_and_announced() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &RETRIES).await?;
    server
        .model
        .mount_sequence(
            vec![
                ResponseTemplate::new(500)
                    .set_body_json(json!({"error": {"message": "overloaded"}})),
                sse_response(assistant_answer("recovered")),
            ],
            2,
        )
        .await;
    let (id, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["structuredContent"]["content"], "recovered");
    assert_eq!(
        stream_errors(&server, id),
        ["Reconnecting... 1/2 (model provider answered 500 Internal Server Error: overloaded)"]
    );
    Ok(())
}

#[tokio::test]
async fn retry_after_is_honoured() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &RETRIES).await?;
    server
        .model
        .mount_sequence(
            vec![
                ResponseTemplate::new(429).insert_header("retry-after", "1"),
                sse_response(assistant_answer("after waiting")),
            ],
            2,
        )
        .await;
    let (id, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["structuredContent"]["content"], "after waiting");
    assert_eq!(stream_errors(&server, id).len(), 1);
    // The delay the server chose, as it logs it: the header's second, where the first
    // backoff would be about 200 ms. (Read from the log rather than timed on the wall.)
    server
        .mcp
        .wait_for_stderr(|log| log.contains("retries=1 budget=2 delay=1s"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_stream_cut_mid_event_is_retried() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &RETRIES).await?;
    let mut cut = sse(&[ev_response_created("r1"), ev_output_text_delta("par")]);
    cut.push_str("event: response.output_text.delta\ndata: {\"type\": \"response.outp");
    server
        .model
        .mount_sequence(
            vec![sse_response(cut), sse_response(assistant_answer("whole"))],
            2,
        )
        .await;
    let (id, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["structuredContent"]["content"], "whole");
    let errors = stream_errors(&server, id);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("Reconnecting... 1/2 (model stream failed: "),
        "{errors:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_silent_provider_is_retried_after_the_idle_timeout() -> anyhow::Result<()> {
    let mut args = RETRIES.to_vec();
    args.extend([
        "-c",
        "model_providers.mock_provider.stream_idle_timeout_ms=500",
    ]);
    let mut server = TestServer::start("", &args).await?;
    server
        .model
        .mount_sequence(
            vec![
                sse_response(assistant_answer("too late")).set_delay(Duration::from_secs(10)),
                sse_response(assistant_answer("in time")),
            ],
            2,
        )
        .await;
    let (id, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["structuredContent"]["content"], "in time");
    let errors = stream_errors(&server, id);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("within 500 ms (stream_idle_timeout_ms)"),
        "{errors:?}"
    );
    Ok(())
}

#[tokio::test]
async fn unauthorized_is_final_and_named() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &RETRIES).await?;
    server
        .model
        .mount_sequence(
            vec![
                ResponseTemplate::new(401)
                    .set_body_json(json!({"error": {"message": "Incorrect API key provided"}})),
            ],
            1,
        )
        .await;
    let (id, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["isError"], true);
    assert_eq!(
        result["content"][0]["text"],
        "model provider answered 401 Unauthorized: Incorrect API key provided"
    );
    assert_eq!(stream_errors(&server, id), Vec::<String>::new());
    let error_event = server
        .mcp
        .events_for(id)
        .into_iter()
        .find(|e| e["params"]["msg"]["type"] == "error")
        .expect("an error event");
    assert_eq!(
        error_event["params"]["msg"]["message"],
        "model provider answered 401 Unauthorized: Incorrect API key provided"
    );
    let ping = server.mcp.send_request("ping", json!({})).await?;
    assert_eq!(
        server.mcp.read_until_response(ping).await?["result"],
        json!({})
    );
    assert_eq!(server.model.requests().await.len(), 1, "401 is not retried");
    Ok(())
}

#[tokio::test]
async fn provider_query_params_and_headers_are_sent() -> anyhow::Result<()> {
    let mut server = TestServer::start_with_env(
        "",
        &[
            "-c",
            "model_providers.mock_provider.query_params={api-version = \"2025-04-01\"}",
            "-c",
            "model_providers.mock_provider.http_headers={X-Static = \"yes\"}",
            "-c",
            "model_providers.mock_provider.env_http_headers={X-From-Env = \"CODEX_TEST_HEADER\", X-Unset = \"CODEX_TEST_UNSET_HEADER\"}",
        ],
        &[("CODEX_TEST_HEADER", Some("from-env")), ("CODEX_TEST_UNSET_HEADER", None)],
    )
    .await?;
    server
        .model
        .mount_sse_sequence(vec![assistant_answer("ok")])
        .await;
    let (_, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["structuredContent"]["content"], "ok");
    let request = &server.model.requests().await[0];
    assert_eq!(request.url.query(), Some("api-version=2025-04-01"));
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(header("x-static").as_deref(), Some("yes"));
    assert_eq!(header("x-from-env").as_deref(), Some("from-env"));
    assert_eq!(header("x-unset"), None);
    Ok(())
}

#[tokio::test]
async fn a_missing_env_key_names_the_variable() -> anyhow::Result<()> {
    let mut server = TestServer::start_with_env("", &[], &[("MOCK_API_KEY", None)]).await?;
    let (_, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["isError"], true);
    assert_eq!(
        result["content"][0]["text"],
        "environment variable `MOCK_API_KEY` is not set; model provider `mock_provider` reads its API key from it"
    );
    Ok(())
}

/// What a raw provider does with each connection it accepts, in order.
enum Raw {
    /// Reads the request and never answers.
    Silent,
    /// Writes these bytes (a status line, headers, part of a body) and then holds the
    /// connection open.
    Stall(&'static str),
    /// Answers with a whole SSE response.
    Answer(String),
}

/// A provider on a raw socket, for what wiremock cannot do: stay silent after the request, or
/// stop in the middle of a body. Returns its base URL; it runs until the test ends.
async fn raw_provider(scripts: Vec<Raw>) -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt as _;
    use tokio::io::AsyncWriteExt as _;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move {
        let mut held = Vec::new();
        for script in scripts {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut request).await;
            match script {
                Raw::Silent => {}
                Raw::Stall(bytes) => {
                    let _ = socket.write_all(bytes.as_bytes()).await;
                }
                Raw::Answer(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body.as_bytes()).await;
                }
            }
            held.push(socket);
        }
        std::future::pending::<()>().await;
    });
    Ok(url)
}

fn pointed_at(url: &str, request_retries: u32, stream_retries: u32) -> Vec<String> {
    [
        format!("model_providers.mock_provider.base_url=\"{url}\""),
        format!("model_providers.mock_provider.request_max_retries={request_retries}"),
        format!("model_providers.mock_provider.stream_max_retries={stream_retries}"),
        "model_providers.mock_provider.stream_idle_timeout_ms=300".to_string(),
    ]
    .into_iter()
    .flat_map(|value| ["-c".to_string(), value])
    .collect()
}

#[tokio::test]
async fn an_error_body_that_stalls_does_not_hang_the_turn() -> anyhow::Result<()> {
    let url = raw_provider(vec![Raw::Stall(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 10000\r\n\r\n{\"error\":{\"message\":\"par",
    )])
    .await?;
    let args = pointed_at(&url, 0, 0);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = TestServer::start("", &args).await?;
    let (_, result) = call_and_wait(&mut server).await?;
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("500"), "{text}");
    Ok(())
}

#[tokio::test]
async fn a_provider_that_never_answers_costs_a_request_retry() -> anyhow::Result<()> {
    let url = raw_provider(vec![
        Raw::Silent,
        Raw::Answer(assistant_answer("answered the second time")),
    ])
    .await?;
    // No stream retries at all: the silent attempt must be charged to the request budget.
    let args = pointed_at(&url, 1, 0);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = TestServer::start("", &args).await?;
    let (id, result) = call_and_wait(&mut server).await?;
    assert_eq!(
        result["structuredContent"]["content"], "answered the second time",
        "{result}"
    );
    let errors = stream_errors(&server, id);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("no response from the model provider"),
        "{errors:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_host_name_no_header_can_hold_does_not_break_requests() -> anyhow::Result<()> {
    let model = codex_test_support::MockModel::start().await;
    let home = tempfile::TempDir::new()?;
    model.write_config(home.path(), "")?;
    model.mount_echo(Duration::ZERO).await;
    let mut mcp = codex_test_support::McpProcess::spawn(super::CODEX_BIN, home.path()).await?;
    let init = mcp
        .request(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "evil\r\nX-Injected: 1", "version": "1.0"}
            }),
        )
        .await?;
    assert!(init.get("result").is_some(), "{init}");
    mcp.send_notification("notifications/initialized", None)
        .await?;
    let id = mcp.call_tool("codex", json!({"prompt": "hi"})).await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(
        result["structuredContent"]["content"], "echo: hi",
        "{result}"
    );
    let requests = model.requests().await;
    let agent = requests[0]
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(agent.ends_with("(evil__X-Injected: 1; 1.0)"), "{agent}");
    Ok(())
}
