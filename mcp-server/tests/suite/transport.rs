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
async fn stdin_eof_ends_the_process_within_a_second() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    server.mcp.close_stdin();
    let status = server.mcp.wait_for_exit(Duration::from_secs(1)).await?;
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
        Some("Serve the `codex` and `codex-reply` tools over MCP on stdin/stdout")
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
