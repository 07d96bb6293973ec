//! The `shell` tool's policies and limits, through the real binary.

use codex_test_support::processes_with;
use codex_test_support::responses::assistant_answer;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::TestServer;

/// Runs one conversation in which the model calls `shell` once; returns what the model was
/// told and whether the host was asked.
async fn run_one(
    server: &mut TestServer,
    argv: &[&str],
    extra: Value,
) -> anyhow::Result<(String, bool)> {
    let cwd = TempDir::new()?;
    let (asked, output) = server
        .shell_turn(cwd.path(), argv, extra, json!({"action": "accept"}))
        .await?;
    Ok((output, !asked.is_empty()))
}

fn exit_code(output: &str) -> i64 {
    serde_json::from_str::<Value>(output)
        .ok()
        .and_then(|v| v["metadata"]["exit_code"].as_i64())
        .unwrap_or_else(|| panic!("not a shell output: {output}"))
}

#[tokio::test]
async fn untrusted_asks_only_for_commands_not_known_to_be_safe() -> anyhow::Result<()> {
    let mut server = TestServer::start(r#"approval_policy = "untrusted""#, &[]).await?;
    let (output, asked) = run_one(&mut server, &["ls"], json!({})).await?;
    assert!(!asked, "ls is known to be safe");
    assert_eq!(exit_code(&output), 0);

    let mut server = TestServer::start(r#"approval_policy = "untrusted""#, &[]).await?;
    let (_, asked) = run_one(&mut server, &["touch", "x"], json!({})).await?;
    assert!(asked, "touch is not");
    Ok(())
}

#[tokio::test]
async fn never_asks() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"",
        &[],
    )
    .await?;
    let (output, asked) = run_one(&mut server, &["touch", "x"], json!({})).await?;
    assert!(!asked);
    assert_eq!(exit_code(&output), 0);

    // Under read-only, `never` runs it in the sandbox, and the denial goes back to the model
    // instead of a question.
    let mut server = TestServer::start(
        "approval_policy = \"never\"\nsandbox_mode = \"read-only\"",
        &[],
    )
    .await?;
    let (output, asked) = run_one(&mut server, &["touch", "x"], json!({})).await?;
    assert!(!asked);
    assert_eq!(exit_code(&output), 1);
    assert!(
        output.contains("command failed in the read-only sandbox")
            && output.contains("Read-only file system"),
        "{output}"
    );
    Ok(())
}

const FULL_ACCESS: &str = "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"";

#[tokio::test]
async fn a_timed_out_command_reports_124_and_leaves_nothing_running() -> anyhow::Result<()> {
    let mut server = TestServer::start(FULL_ACCESS, &[]).await?;
    // A background grandchild too: the whole process group must go.
    let script = "sleep 15.0731 & sleep 15.0731";
    let (output, _) = run_one(
        &mut server,
        &["bash", "-c", script],
        json!({"timeout_ms": 500}),
    )
    .await?;
    assert_eq!(exit_code(&output), 124);
    let parsed: Value = serde_json::from_str(&output)?;
    assert!(
        parsed["output"]
            .as_str()
            .unwrap_or_default()
            .starts_with("command timed out after 500 milliseconds"),
        "{output}"
    );
    assert_eq!(processes_with("sleep 15.0731"), Vec::<String>::new());
    Ok(())
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn fifty_megabytes_of_output_are_truncated_in_bounded_memory() -> anyhow::Result<()> {
    let mut server = TestServer::start(FULL_ACCESS, &[]).await?;
    let pid = server.mcp.pid().expect("server pid");
    let (output, _) = run_one(
        &mut server,
        &["bash", "-c", "yes 0123456789abcdef | head -c 50000000"],
        json!({"timeout_ms": 60_000}),
    )
    .await?;
    assert_eq!(exit_code(&output), 0);
    assert!(
        output.len() < 16 * 1024,
        "model output is truncated: {} bytes",
        output.len()
    );
    assert!(output.contains("lines ...]"), "{output}");
    let peak_mib = vm_hwm_kib(pid) / 1024;
    assert!(
        peak_mib < 64,
        "server peak RSS {peak_mib} MiB for 50 MB of output"
    );
    Ok(())
}

#[tokio::test]
async fn secrets_do_not_reach_commands() -> anyhow::Result<()> {
    let mut server = TestServer::start_with_env(
        FULL_ACCESS,
        &[],
        &[
            ("OPENAI_API_KEY", Some("sk-live-should-not-leak")),
            ("MY_SECRET_TOKEN", Some("hunter2")),
            ("HARMLESS_SETTING", Some("visible")),
        ],
    )
    .await?;
    let (output, _) = run_one(&mut server, &["env"], json!({})).await?;
    assert!(output.contains("HARMLESS_SETTING=visible"), "{output}");
    assert!(!output.contains("OPENAI_API_KEY"), "{output}");
    assert!(!output.contains("sk-live-should-not-leak"), "{output}");
    assert!(!output.contains("MY_SECRET_TOKEN"), "{output}");
    assert!(!output.contains("MOCK_API_KEY"), "{output}");
    Ok(())
}

#[tokio::test]
async fn bad_arguments_go_back_to_the_model() -> anyhow::Result<()> {
    let mut server = TestServer::start(FULL_ACCESS, &[]).await?;
    let cwd = TempDir::new()?;
    server
        .model
        .mount_sse_sequence(vec![
            codex_test_support::responses::sse(&[
                codex_test_support::responses::ev_response_created("r"),
                codex_test_support::responses::ev_function_call(
                    "call-1",
                    "shell",
                    "{\"command\": \"ls\"}",
                ),
                codex_test_support::responses::ev_completed("r"),
            ]),
            assistant_answer("done"),
        ])
        .await;
    let result = server
        .call("codex", json!({"prompt": "x", "cwd": cwd.path()}))
        .await?;
    assert_eq!(result["structuredContent"]["content"], "done");
    let output = server.output_seen_by_model("call-1").await;
    assert!(
        output.starts_with("failed to parse function arguments: "),
        "{output}"
    );
    Ok(())
}
