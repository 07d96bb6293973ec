//! What a new user meets first: a call without credentials fails before any request with a
//! message that says what to do, `--oss` asks for a model Ollama has, a server started by
//! hand in a terminal says it waits for a host, and Ctrl-C ends it with status 0.

use std::time::Duration;

use anyhow::Context as _;
use codex_test_support::McpProcess;
use codex_test_support::MockModel;
use codex_test_support::Wire;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::CODEX_BIN;
use super::TestServer;

#[tokio::test]
async fn without_credentials_a_call_fails_before_any_request() -> anyhow::Result<()> {
    // The built-in `openai` provider, pointed at the mock so that a request would be seen.
    let model = MockModel::start().await;
    let home = TempDir::new()?;
    std::fs::write(home.path().join("config.toml"), "model = \"mock-model\"\n")?;
    let mut mcp = McpProcess::spawn_with(
        CODEX_BIN,
        home.path(),
        &[],
        &[("OPENAI_BASE_URL", Some(&model.base_url()))],
    )
    .await?;
    mcp.initialize().await?;
    let id = mcp.call_tool("codex", json!({"prompt": "hi"})).await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(result["isError"], json!(true), "{result}");
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("not signed in"), "{text}");
    assert!(text.contains("OPENAI_API_KEY"), "{text}");
    assert!(text.contains("`codex login`"), "{text}");
    assert!(model.requests().await.is_empty(), "a request was sent");

    // Doing what the message says is enough: the next call finds the key, without a restart.
    let login = assert_cmd::Command::new(CODEX_BIN)
        .args(["login", "--api-key"])
        .env("CODEX_HOME", home.path())
        .write_stdin("sk-after-the-message\n")
        .timeout(Duration::from_secs(20))
        .output()?;
    assert!(login.status.success(), "{login:?}");
    model
        .mount_sse_sequence(vec![codex_test_support::responses::assistant_answer("ok")])
        .await;
    let id = mcp.call_tool("codex", json!({"prompt": "again"})).await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(result["structuredContent"]["content"], "ok", "{result}");
    let requests = model.requests().await;
    assert_eq!(
        requests[0]
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok()),
        Some("Bearer sk-after-the-message")
    );
    Ok(())
}

#[tokio::test]
async fn oss_asks_for_gpt_oss_20b_unless_a_model_is_set() -> anyhow::Result<()> {
    let model = MockModel::start_wire(Wire::Chat).await;
    model.mount_echo(Duration::ZERO).await;
    let base_url = model.base_url();
    let env = [("CODEX_OSS_BASE_URL", Some(base_url.as_str()))];
    for (args, call_model, expected) in [
        (&["--oss"][..], None, "gpt-oss:20b"),
        (&["--oss"][..], Some("qwen2.5-coder"), "qwen2.5-coder"),
        (&["--oss", "-c", "model=llama3"][..], None, "llama3"),
    ] {
        let home = TempDir::new()?;
        let mut mcp = McpProcess::spawn_with(CODEX_BIN, home.path(), args, &env).await?;
        mcp.initialize().await?;
        let mut arguments = json!({"prompt": "hi"});
        if let Some(name) = call_model {
            arguments["model"] = json!(name);
        }
        let id = mcp.call_tool("codex", arguments).await?;
        let result = mcp.read_until_response(id).await?["result"].clone();
        assert_eq!(result["isError"], json!(false), "{result}");
        let bodies = model.request_bodies().await;
        let last = bodies.last().context("no request")?;
        assert_eq!(last["model"], expected, "{args:?} {call_model:?}");
    }
    Ok(())
}

/// Runs `codex mcp` on a pseudo-terminal (Python's `pty` module: the line discipline turns
/// `^C` into a real SIGINT for the server's process group, as a user's Ctrl-C does). Waits
/// for the server to answer a ping, so that its signal handlers are in place, then types
/// Ctrl-C. Prints the terminal's whole output and the exit status as JSON.
const ON_A_TERMINAL: &str = r#"
import json, os, pty, select, sys, time
binary, home = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ["CODEX_HOME"] = home
    os.environ.pop("RUST_LOG", None)
    os.execv(binary, [binary, "mcp"])
out = b""
def read_until(marker, limit=20):
    global out
    end = time.time() + limit
    while marker not in out and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
read_until(b"waiting for an MCP host")
os.write(fd, b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
read_until(b'"result"')
os.write(fd, b"\x03")
read_until(b"\0never\0")
_, status = os.waitpid(pid, 0)
print(json.dumps({"output": out.decode(errors="replace"), "status": os.waitstatus_to_exitcode(status)}))
"#;

#[test]
fn on_a_terminal_the_server_says_it_waits_for_a_host_and_ctrl_c_exits_0() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    let home_path = home.path().to_str().context("home path")?;
    let output = assert_cmd::Command::new("python3")
        .args(["-c", ON_A_TERMINAL, CODEX_BIN, home_path])
        .timeout(Duration::from_secs(60))
        .output()?;
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout)?;
    let said = report["output"].as_str().unwrap_or_default();
    assert_eq!(report["status"], json!(0), "{said}");
    assert_eq!(
        said.lines()
            .filter(|line| line.contains("waiting for an MCP host"))
            .count(),
        1,
        "{said}"
    );
    assert!(
        said.contains(r#""result":{}"#),
        "the ping was answered: {said}"
    );
    assert!(!said.contains("Error"), "{said}");
    Ok(())
}

#[tokio::test]
async fn sigint_during_a_turn_exits_0() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    server.model.mount_echo(Duration::from_secs(30)).await;
    server
        .mcp
        .call_tool("codex", json!({"prompt": "slow"}))
        .await?;
    server
        .mcp
        .read_until(|message| message["params"]["msg"]["type"] == "task_started")
        .await?;
    let pid = server.mcp.pid().context("no pid")?;
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()?;
    assert!(killed.success());
    let status = server.mcp.wait_for_exit(Duration::from_secs(5)).await?;
    assert!(
        status.success(),
        "{status:?}; stderr: {}",
        server.mcp.stderr()
    );
    Ok(())
}
