//! The stdio transport: bad lines are answered and do not kill the server, and stdin EOF ends
//! it promptly.

use std::time::Duration;

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
