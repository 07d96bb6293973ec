//! Long calls that hosts do not kill: cancellation, one turn per thread, an answer to every
//! request, and a clean shutdown. Progress and its heartbeat are tested in process
//! (`src/in_process_tests/turn_driver.rs`), where the heartbeat can be shortened.

use std::time::Duration;

use codex_test_support::GatedModel;
use codex_test_support::UNTIL_RELEASED;
use codex_test_support::Wire;
use codex_test_support::processes_with;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::shell_call;
use codex_test_support::rollout_files;
use codex_test_support::wait_for_processes;
use codex_test_support::wait_until;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::TestServer;

/// A bound on the server's exit, against a hang. The server's own limits (`SHUTDOWN_LIMIT`
/// and `DRAIN_LIMIT` in server.rs) keep it well under the second a host allows; timing that
/// on a loaded machine would test the machine.
const EXIT_LIMIT: Duration = Duration::from_secs(10);

const FULL_ACCESS: &str = "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"";

fn is_codex_event(message: &Value, request_id: i64, kind: &str) -> bool {
    message["method"] == "codex/event"
        && message["params"]["_meta"]["requestId"] == json!(request_id)
        && message["params"]["msg"]["type"] == kind
}

/// Waits for the call's `kind` event and returns the thread it names, so a test can act on
/// the thread while the call still runs.
async fn thread_of_event(server: &mut TestServer, id: i64, kind: &str) -> anyhow::Result<String> {
    let event = server
        .mcp
        .read_until(|m| is_codex_event(m, id, kind))
        .await?;
    event["params"]["_meta"]["threadId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no threadId in {event}"))
}

/// A `sleep` command line no other test run shares, so leftovers of an earlier run cannot be
/// mistaken for this run's processes.
fn unique_sleep(seconds: u32) -> String {
    format!("sleep {seconds}.{:06}", std::process::id() % 1_000_000)
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped).
fn has_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Err(_) => true,
        Ok(status) => status
            .lines()
            .any(|line| line.starts_with("State:") && line.contains('Z')),
    }
}

#[tokio::test]
async fn a_cancelled_call_kills_its_command_and_frees_the_thread() -> anyhow::Result<()> {
    let mut server = TestServer::start(FULL_ACCESS, &[]).await?;
    let dir = TempDir::new()?;
    let pid_file = dir.path().join("pid");
    let marker = &unique_sleep(30);
    let script = format!("echo $$ > {}; exec {marker}", pid_file.display());
    server
        .model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["bash", "-c", &script], json!({})),
            assistant_answer("continuing after the interruption"),
        ])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "wait a while"}))
        .await?;
    let thread = thread_of_event(&mut server, id, "session_configured").await?;
    // The script writes its pid, then becomes the sleep. (Its own command line names the
    // sleep too, so the file, not /proc, says when the pid is known.)
    let read_pid = || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|written| written.strip_suffix('\n')?.parse::<u32>().ok())
    };
    wait_until("the script to write its pid", || read_pid().is_some()).await?;
    let pid = read_pid().expect("written");
    assert!(!has_ended(pid), "the command runs");

    server
        .mcp
        .send_notification("notifications/cancelled", Some(json!({"requestId": id})))
        .await?;
    server
        .mcp
        .read_until(|m| is_codex_event(m, id, "turn_aborted"))
        .await?;
    assert!(
        wait_for_processes(marker, false, Duration::from_secs(10)).await,
        "pid {pid} still running after the cancel"
    );
    // A killed process can still be exiting (its command line already gone) for a moment.
    wait_until("the killed command to end", || has_ended(pid)).await?;

    // The thread is free at once, and the model sees the aborted call.
    let reply = server
        .mcp
        .call_tool(
            "codex-reply",
            json!({"threadId": thread, "prompt": "go on"}),
        )
        .await?;
    let reply = server.mcp.read_until_response(reply).await?;
    assert_eq!(
        reply["result"]["content"][0]["text"], "continuing after the interruption",
        "{reply}"
    );
    let output = server.output_seen_by_model("call-1").await;
    assert!(output.contains("aborted"), "{output}");
    assert!(
        !server.mcp.has_response(id),
        "a cancelled request gets no response"
    );
    Ok(())
}

#[tokio::test]
async fn a_reply_while_the_thread_is_busy_is_refused_at_once() -> anyhow::Result<()> {
    // The provider holds the first turn's answer until the test releases it: the refusal is
    // answered while that turn provably still runs, so it did not wait for the turn.
    let model = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let mut server = TestServer::start_gated(&model, FULL_ACCESS, &[]).await?;
    let first = server
        .mcp
        .call_tool("codex", json!({"prompt": "slow one"}))
        .await?;
    let thread = thread_of_event(&mut server, first, "task_started").await?;
    model.wait_for_open(1).await?;

    let busy = server
        .call(
            "codex-reply",
            json!({"threadId": thread, "prompt": "me too"}),
        )
        .await?;
    assert!(!server.mcp.has_response(first), "refused at once");
    model.release();
    assert_eq!(busy["isError"], json!(true), "{busy}");
    let text = busy["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!("thread {thread} is busy with another turn")),
        "{busy}"
    );

    let done = server.mcp.read_until_response(first).await?;
    assert_eq!(
        done["result"]["content"][0]["text"], "echo: slow one",
        "{done}"
    );
    Ok(())
}

#[tokio::test]
async fn every_request_gets_an_answer() -> anyhow::Result<()> {
    let mut server = TestServer::start(FULL_ACCESS, &[]).await?;
    server.model.mount_echo(Duration::ZERO).await;

    let resources = server.mcp.request("resources/list", json!({})).await?;
    assert_eq!(resources["result"]["resources"], json!([]), "{resources}");
    let prompts = server.mcp.request("prompts/list", json!({})).await?;
    assert_eq!(prompts["result"]["prompts"], json!([]), "{prompts}");
    let level = server
        .mcp
        .request("logging/setLevel", json!({"level": "debug"}))
        .await?;
    assert_eq!(level["result"], json!({}), "{level}");
    let unknown = server.mcp.request("no/such/method", json!({})).await?;
    assert_eq!(unknown["error"]["code"], json!(-32601), "{unknown}");

    server
        .mcp
        .send_raw_line("{\"jsonrpc\": \"2.0\", \"id\": 99, ")
        .await?;
    let parse_error = server.mcp.read_message().await?;
    assert_eq!(parse_error["error"]["code"], json!(-32700), "{parse_error}");
    assert_eq!(parse_error["id"], Value::Null);

    server
        .mcp
        .send_raw_line(r#"{"jsonrpc":"2.0","id":77,"method":"tools/call","params":5}"#)
        .await?;
    let bad_params = server.mcp.read_until_response(77).await?;
    assert_eq!(bad_params["error"]["code"], json!(-32602), "{bad_params}");

    let result = server
        .call("codex", json!({"prompt": "still here?"}))
        .await?;
    assert_eq!(result["content"][0]["text"], "echo: still here?");
    Ok(())
}

#[tokio::test]
async fn stdin_eof_stops_running_turns_and_leaves_whole_rollouts() -> anyhow::Result<()> {
    let mut server = TestServer::start(FULL_ACCESS, &[]).await?;
    let marker = &unique_sleep(31);
    server
        .model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["bash", "-c", marker], json!({})),
            shell_call("call-2", &["bash", "-c", marker], json!({})),
        ])
        .await;
    let mut calls = Vec::new();
    for prompt in ["one", "two"] {
        calls.push(
            server
                .mcp
                .call_tool("codex", json!({"prompt": prompt}))
                .await?,
        );
    }
    for id in calls {
        server
            .mcp
            .read_until(|m| is_codex_event(m, id, "exec_command_begin"))
            .await?;
    }
    assert!(wait_for_processes(marker, true, Duration::from_secs(10)).await);

    server.mcp.close_stdin();
    server.mcp.wait_for_exit(EXIT_LIMIT).await?;
    assert_eq!(processes_with(marker), Vec::<String>::new());

    let files = rollout_files(&server.home().join("sessions"));
    assert_eq!(files.len(), 2, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        assert!(text.ends_with('\n'), "{}: torn last line", file.display());
        let lines: Vec<Value> = text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert!(
            lines
                .iter()
                .any(|l| l["type"] == "event_msg" && l["payload"]["type"] == "turn_aborted"),
            "{}: no turn_aborted",
            file.display()
        );
    }
    Ok(())
}

#[tokio::test]
async fn sigterm_stops_running_turns() -> anyhow::Result<()> {
    let mut server = TestServer::start(FULL_ACCESS, &[]).await?;
    let marker = &unique_sleep(33);
    server
        .model
        .mount_sse_sequence(vec![shell_call(
            "call-1",
            &["bash", "-c", marker],
            json!({}),
        )])
        .await;
    server
        .mcp
        .call_tool("codex", json!({"prompt": "one"}))
        .await?;
    assert!(wait_for_processes(marker, true, Duration::from_secs(10)).await);

    let pid = server.mcp.pid().expect("the server runs").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()?;
    assert!(status.success());
    server.mcp.wait_for_exit(EXIT_LIMIT).await?;
    assert_eq!(processes_with(marker), Vec::<String>::new());
    let files = rollout_files(&server.home().join("sessions"));
    let text = std::fs::read_to_string(&files[0])?;
    assert!(text.contains(r#""type":"turn_aborted""#), "{text}");
    Ok(())
}

#[tokio::test]
async fn a_cancelled_call_withdraws_its_open_approval() -> anyhow::Result<()> {
    let mut server = TestServer::start("approval_policy = \"untrusted\"", &[]).await?;
    let dir = TempDir::new()?;
    server
        .model
        .mount_sse_sequence(vec![shell_call(
            "call-1",
            &["touch", "never-created.txt"],
            json!({}),
        )])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "make a file", "cwd": dir.path()}))
        .await?;
    let elicitation = server
        .mcp
        .read_until(|m| m["method"] == "elicitation/create")
        .await?;

    server
        .mcp
        .send_notification("notifications/cancelled", Some(json!({"requestId": id})))
        .await?;
    let withdrawn = server
        .mcp
        .read_until(|m| m["method"] == "notifications/cancelled")
        .await?;
    assert_eq!(
        withdrawn["params"]["requestId"], elicitation["id"],
        "{withdrawn}"
    );
    // An answer that comes too late changes nothing.
    server
        .mcp
        .send_response(
            elicitation["id"].clone(),
            json!({"action": "accept", "content": {}}),
        )
        .await?;
    let ping = server.mcp.send_request("ping", json!({})).await?;
    server.mcp.read_until_response(ping).await?;
    assert!(!dir.path().join("never-created.txt").exists());
    assert!(!server.mcp.has_response(id));
    Ok(())
}

#[tokio::test]
async fn codex_events_can_be_turned_off() -> anyhow::Result<()> {
    for args in [
        &["--no-codex-events"][..],
        &["-c", "codex_events=false"][..],
    ] {
        let mut server = TestServer::start(FULL_ACCESS, args).await?;
        server.model.mount_echo(Duration::ZERO).await;
        let id = server
            .mcp
            .send_request(
                "tools/call",
                json!({
                    "name": "codex",
                    "arguments": {"prompt": "quietly"},
                    "_meta": {"progressToken": 7},
                }),
            )
            .await?;
        let result = server.mcp.read_until_response(id).await?;
        assert_eq!(result["result"]["content"][0]["text"], "echo: quietly");
        let others = server.mcp.take_others();
        assert!(
            others.iter().all(|m| m["method"] != "codex/event"),
            "{args:?}: {others:?}"
        );
        assert!(
            others
                .iter()
                .any(|m| m["method"] == "notifications/progress"),
            "{args:?}: progress is unaffected: {others:?}"
        );
    }
    Ok(())
}
