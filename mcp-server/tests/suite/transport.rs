//! The stdio transport: bad lines are answered and do not kill the server, and stdin EOF ends
//! it promptly.

use std::time::Duration;

use anyhow::Context as _;

use assert_cmd::Command;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::CODEX_BIN;
use super::TestServer;

#[tokio::test]
async fn malformed_lines_do_not_kill_the_server() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    server.mcp.send_raw_line("this is not json {").await?;
    server
        .mcp
        .send_raw_line(r#"{"jsonrpc": "2.0", "id": 99"#)
        .await?;
    for _ in 0..2 {
        let answer = server.mcp.read_message().await?;
        assert_eq!(answer["id"], json!(null), "{answer}");
        assert_eq!(answer["error"]["code"], json!(-32700), "{answer}");
    }
    let id = server.mcp.send_request("ping", json!({})).await?;
    let response = server.mcp.read_until_response(id).await?;
    assert_eq!(response, json!({"jsonrpc": "2.0", "id": id, "result": {}}));
    Ok(())
}

#[tokio::test]
async fn stdin_eof_ends_the_process() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    server.mcp.close_stdin();
    // A bound against a hang, not a measure of speed: the server's limits keep its exit well
    // under the second a host allows.
    let status = server.mcp.wait_for_exit(Duration::from_secs(10)).await?;
    assert!(status.success(), "{status:?}");
    Ok(())
}

#[test]
fn a_malformed_server_flag_is_reported_at_start() {
    let output = Command::new(CODEX_BIN)
        .args(["-c", "no-equals-sign", "mcp"])
        .write_stdin("")
        .output()
        .expect("run codex");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing on stdout but MCP");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid config override `no-equals-sign`"),
        "{stderr}"
    );
}

#[test]
fn mcp_server_is_an_alias_of_mcp() {
    let output = Command::new(CODEX_BIN)
        .args(["mcp-server", "--help"])
        .output()
        .expect("run codex");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().next(),
        Some(
            "Serve the `codex` and `codex-reply` tools over MCP on stdin/stdout, or over Streamable HTTP with `--listen`"
        )
    );
}

/// Starts `codex mcp` without initializing it.
async fn uninitialized() -> anyhow::Result<(codex_test_support::McpProcess, tempfile::TempDir)> {
    let home = tempfile::TempDir::new()?;
    let mcp = codex_test_support::McpProcess::spawn(CODEX_BIN, home.path()).await?;
    Ok((mcp, home))
}

#[tokio::test]
async fn a_bad_initialize_is_told_what_is_wrong_and_a_good_one_still_works() -> anyhow::Result<()> {
    let (mut mcp, _home) = uninitialized().await?;
    let no_version = mcp
        .request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "host"}}),
        )
        .await?;
    assert_eq!(no_version["error"]["code"], json!(-32602), "{no_version}");
    assert_eq!(
        no_version["error"]["message"],
        json!("Invalid params for `initialize`: `clientInfo`: missing field `version`")
    );

    let unknown = mcp
        .request(
            "initialize",
            json!({"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "host", "version": "1"}}),
        )
        .await?;
    assert_eq!(unknown["error"]["code"], json!(-32022), "{unknown}");
    assert_eq!(unknown["error"]["data"]["requested"], json!("1999-01-01"));
    let supported = unknown["error"]["data"]["supported"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(supported.contains(&json!("2025-11-25")), "{unknown}");
    assert!(supported.contains(&json!("2026-07-28")), "{unknown}");

    let result = mcp.initialize().await?;
    assert_eq!(result["serverInfo"]["name"], json!("codex-mcp-server"));
    Ok(())
}

#[tokio::test]
async fn a_modern_request_with_an_unknown_version_gets_the_supported_list() -> anyhow::Result<()> {
    let (mut mcp, _home) = uninitialized().await?;
    let answer = mcp
        .request(
            "server/discover",
            json!({"_meta": {
                "io.modelcontextprotocol/protocolVersion": "2099-01-01",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "host", "version": "1"},
            }}),
        )
        .await?;
    assert_eq!(answer["error"]["code"], json!(-32022), "{answer}");
    assert!(
        answer["error"]["data"]["supported"]
            .as_array()
            .is_some_and(|versions| versions.contains(&json!("2026-07-28"))),
        "{answer}"
    );
    Ok(())
}

#[tokio::test]
async fn eof_before_initialize_exits_quietly() -> anyhow::Result<()> {
    let (mut mcp, _home) = uninitialized().await?;
    mcp.close_stdin();
    let status = mcp.wait_for_exit(Duration::from_secs(5)).await?;
    assert!(status.success(), "{status:?}; stderr: {}", mcp.stderr());
    let stderr = mcp.stderr();
    assert!(!stderr.contains("Error"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn ctrl_c_before_initialize_exits_quietly() -> anyhow::Result<()> {
    let (mut mcp, _home) = uninitialized().await?;
    // The server answers a request only once its signal handlers are installed.
    let ping = mcp.request("ping", json!({})).await?;
    assert!(ping.get("error").is_some() || ping.get("result").is_some());
    let pid = mcp.pid().context("no pid")?;
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()?;
    assert!(killed.success());
    let status = mcp.wait_for_exit(Duration::from_secs(5)).await?;
    assert!(status.success(), "{status:?}; stderr: {}", mcp.stderr());
    assert!(!mcp.stderr().contains("Error"), "{}", mcp.stderr());
    Ok(())
}

/// What `codex mcp` writes to stdout for `input` (stdin closed after it), line by line.
fn stdout_for(input: &str) -> Vec<String> {
    let home = tempfile::TempDir::new().expect("temp dir");
    let output = Command::new(CODEX_BIN)
        .arg("mcp")
        .env("CODEX_HOME", home.path())
        .env("RUST_LOG", "error")
        .timeout(Duration::from_secs(20))
        .write_stdin(input)
        .output()
        .expect("run codex");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"host","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

#[test]
fn everything_read_before_eof_is_answered() {
    // As a new user tries it first: `printf '...' | codex mcp`.
    let input = format!(
        "{INITIALIZE}\n{INITIALIZED}\n{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}}\n"
    );
    for _ in 0..5 {
        let lines = stdout_for(&input);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains(r#""id":1"#), "{lines:?}");
        assert!(
            lines[1].contains(r#""id":2"#) && lines[1].contains("codex-reply"),
            "{lines:?}"
        );
    }
}

#[test]
fn ids_come_back_exactly_as_sent() {
    let input = format!(
        "{INITIALIZE}\n{INITIALIZED}\n{}\n{}\n{}\n",
        r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":"\u00e9t\u00e9","method":"tools/call","params":7}"#,
    );
    let lines = stdout_for(&input);
    assert_eq!(lines.len(), 4, "{lines:?}");
    for id in ["18446744073709551616", "1.5", r#""\u00e9t\u00e9""#] {
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-3260"#);
        assert!(
            lines.iter().any(|line| line.starts_with(&answer)),
            "no error answering id {id}: {lines:?}"
        );
    }
}

#[tokio::test]
async fn an_oversized_line_is_refused_by_name_and_the_server_carries_on() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"codex","arguments":{{"prompt":"{}"}}}}}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    server.mcp.send_raw_line(&huge).await?;
    let refused = server.mcp.read_until_response(5).await?;
    assert_eq!(refused["error"]["code"], json!(-32600), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("over the limit of 16777216 bytes"),
        "{message}"
    );
    assert!(
        message.contains(&format!("a message of {} bytes", huge.len())),
        "{message}"
    );
    let ping = server.mcp.request("ping", json!({})).await?;
    assert_eq!(ping["result"], json!({}));
    Ok(())
}

#[tokio::test]
async fn a_request_under_an_id_in_flight_is_refused() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        r#"approval_policy = "never"
sandbox_mode = "danger-full-access""#,
        &[],
    )
    .await?;
    server.model.mount_echo(Duration::from_millis(1500)).await;
    server
        .mcp
        .send_message(&json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"name": "codex", "arguments": {"prompt": "slow"}}}))
        .await?;
    // The first call is in flight once its turn has started.
    server
        .mcp
        .read_until(|m| {
            m["method"] == "codex/event" && m["params"]["msg"]["type"] == "task_started"
        })
        .await?;
    server
        .mcp
        .send_message(&json!({"jsonrpc": "2.0", "id": 77, "method": "ping"}))
        .await?;
    let refused = server.mcp.read_until_response(77).await?;
    assert_eq!(refused["error"]["code"], json!(-32600), "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("still running")),
        "{refused}"
    );
    let answered = server.mcp.read_until_response(77).await?;
    assert_eq!(
        answered["result"]["content"][0]["text"], "echo: slow",
        "{answered}"
    );
    // Answered, the id is free again.
    server
        .mcp
        .send_message(&json!({"jsonrpc": "2.0", "id": 77, "method": "ping"}))
        .await?;
    assert_eq!(
        server.mcp.read_until_response(77).await?["result"],
        json!({})
    );
    Ok(())
}

#[tokio::test]
async fn a_huge_method_name_is_not_echoed_whole() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let method = "m".repeat(10 * 1024 * 1024);
    for params in [json!({}), json!(5)] {
        let id = server.mcp.send_request(&method, params).await?;
        let answer = server.mcp.read_until_response(id).await?;
        let text = answer.to_string();
        assert!(answer.get("error").is_some(), "an error");
        assert!(text.len() < 2048, "{} bytes", text.len());
    }
    Ok(())
}
