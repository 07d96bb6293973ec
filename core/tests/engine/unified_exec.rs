//! Unified exec: a process started by `exec_command` outlives its call, in a PTY when asked,
//! and the model talks to it with `write_stdin`; it dies with an interrupted turn and with its
//! conversation.

use std::time::Duration;

use codex_core::EventMsg;
use codex_core::Op;
use codex_core::protocol::TurnAbortReason;
use codex_test_support::MockModel;
use codex_test_support::collect_events_until;
use codex_test_support::processes_with;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::ev_completed;
use codex_test_support::responses::ev_function_call;
use codex_test_support::responses::ev_response_created;
use codex_test_support::responses::function_call_output;
use codex_test_support::responses::sse;
use codex_test_support::test_codex;
use codex_test_support::wait_for_event;
use codex_test_support::wait_for_processes;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;

use crate::answer;
use crate::is_turn_end;

/// The unified exec tools, outside any sandbox, asking nothing.
const UNIFIED_EXEC: &str = "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"\nmodel_shell_tool = \"unified_exec\"";

fn call(call_id: &str, name: &str, arguments: &Value) -> String {
    sse(&[
        ev_response_created(call_id),
        ev_function_call(call_id, name, &arguments.to_string()),
        ev_completed(call_id),
    ])
}

#[tokio::test]
async fn a_python_repl_in_a_pty_answers_through_write_stdin() -> anyhow::Result<()> {
    let marker = format!("sleep 44.{:06}", std::process::id() % 1_000_000);
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            // A session that outlives the turn, to see it die with the conversation.
            call(
                "call-0",
                "exec_command",
                &json!({"cmd": marker, "yield_time_ms": 100}),
            ),
            call(
                "call-1",
                "exec_command",
                &json!({"cmd": "python3 -q -i", "tty": true, "yield_time_ms": 500}),
            ),
            // The REPL answers and exits, which ends the wait: no timing to guess.
            call(
                "call-2",
                "write_stdin",
                &json!({"session_id": 2, "chars": "print(6*7)\nexit()\n", "yield_time_ms": 30_000}),
            ),
            assistant_answer("done"),
        ])
        .await;
    let codex = test_codex().with_config(UNIFIED_EXEC).build(&model).await?;
    codex.start_turn("use python").await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(events.last().expect("an end")), "done");

    let bodies = model.request_bodies().await;
    let tools: Vec<&str> = bodies[0]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert_eq!(
        tools,
        ["exec_command", "write_stdin", "apply_patch", "update_plan"]
    );
    let started = function_call_output(&bodies[2], "call-1").expect("exec_command answered");
    assert!(
        started.contains("Process running with session ID 2"),
        "{started}"
    );
    let answered = function_call_output(&bodies[3], "call-2").expect("write_stdin answered");
    assert!(answered.contains("42"), "{answered}");
    assert!(
        answered.contains("Process exited with code 0"),
        "{answered}"
    );
    assert!(
        events
            .iter()
            .any(|msg| matches!(msg, EventMsg::ExecCommandEnd(end) if end.call_id == "call-1")),
        "{events:?}"
    );

    // The first session outlives the turn, and dies with the conversation.
    assert!(
        !processes_with(&marker).is_empty(),
        "the session still runs"
    );
    codex.conversation().submit(Op::Shutdown).await?;
    wait_for_event(codex.conversation(), |msg| {
        matches!(msg, EventMsg::ShutdownComplete)
    })
    .await?;
    assert!(
        wait_for_processes(&marker, false, Duration::from_secs(10)).await,
        "still running: {:?}",
        processes_with(&marker)
    );
    Ok(())
}

#[tokio::test]
async fn a_background_job_does_not_keep_an_exited_command_running() -> anyhow::Result<()> {
    let marker = format!("sleep 45.{:06}", std::process::id() % 1_000_000);
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            call(
                "call-1",
                "exec_command",
                &json!({"cmd": format!("{marker} & echo started"), "login": false}),
            ),
            assistant_answer("done"),
        ])
        .await;
    let codex = test_codex().with_config(UNIFIED_EXEC).build(&model).await?;
    codex.start_turn("start it").await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(events.last().expect("an end")), "done");
    let bodies = model.request_bodies().await;
    let output = function_call_output(&bodies[1], "call-1").expect("answered");
    assert!(output.contains("Process exited with code 0"), "{output}");
    assert!(output.ends_with("Output:\nstarted\n"), "{output}");
    assert!(
        wait_for_processes(&marker, false, Duration::from_secs(10)).await,
        "the job holding the output went with its group: {:?}",
        processes_with(&marker)
    );
    Ok(())
}

#[tokio::test]
async fn a_finished_command_reports_its_exit_and_ends_its_session() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            call(
                "call-1",
                "exec_command",
                &json!({"cmd": "echo hello; exit 3", "login": false}),
            ),
            call(
                "call-2",
                "write_stdin",
                &json!({"session_id": 1, "chars": ""}),
            ),
            assistant_answer("done"),
        ])
        .await;
    let codex = test_codex().with_config(UNIFIED_EXEC).build(&model).await?;
    codex.start_turn("run it").await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(events.last().expect("an end")), "done");
    let bodies = model.request_bodies().await;
    let output = function_call_output(&bodies[1], "call-1").expect("answered");
    assert!(output.contains("Process exited with code 3"), "{output}");
    assert!(output.ends_with("Output:\nhello\n"), "{output}");
    let gone = function_call_output(&bodies[2], "call-2").expect("answered");
    assert_eq!(
        gone,
        "no session with id 1 (it ended, or was never started)"
    );
    let ended = events
        .iter()
        .find_map(|msg| match msg {
            EventMsg::ExecCommandEnd(end) => Some(end.clone()),
            _ => None,
        })
        .expect("exec_command_end");
    assert_eq!((ended.call_id.as_str(), ended.exit_code), ("call-1", 3));
    Ok(())
}

#[tokio::test]
async fn interrupting_the_turn_kills_its_sessions() -> anyhow::Result<()> {
    let marker = format!("sleep 43.{:06}", std::process::id() % 1_000_000);
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![call(
            "call-1",
            "exec_command",
            &json!({"cmd": marker, "yield_time_ms": 30_000}),
        )])
        .await;
    let codex = test_codex().with_config(UNIFIED_EXEC).build(&model).await?;
    codex.start_turn("wait").await?;
    wait_for_event(codex.conversation(), |msg| {
        matches!(msg, EventMsg::ExecCommandBegin(_))
    })
    .await?;
    assert!(wait_for_processes(&marker, true, Duration::from_secs(10)).await);
    codex.conversation().submit(Op::Interrupt).await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert!(
        matches!(events.last(), Some(EventMsg::TurnAborted(event)) if event.reason == TurnAbortReason::Interrupted),
        "{events:?}"
    );
    assert!(
        events.iter().any(
            |msg| matches!(msg, EventMsg::ExecCommandEnd(end) if end.call_id == "call-1" && end.exit_code == -1)
        ),
        "{events:?}"
    );
    assert!(
        wait_for_processes(&marker, false, Duration::from_secs(10)).await,
        "still running: {:?}",
        processes_with(&marker)
    );
    Ok(())
}

#[tokio::test]
async fn a_patch_sent_as_a_command_takes_the_patch_road() -> anyhow::Result<()> {
    let script = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: made.txt\n+by exec_command\n*** End Patch\nEOF\n";
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            call("call-1", "exec_command", &json!({"cmd": script})),
            assistant_answer("done"),
        ])
        .await;
    let codex = test_codex().with_config(UNIFIED_EXEC).build(&model).await?;
    codex.start_turn("patch").await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(events.last().expect("an end")), "done");
    assert_eq!(
        std::fs::read_to_string(codex.cwd.path().join("made.txt"))?,
        "by exec_command\n"
    );
    assert!(
        events
            .iter()
            .any(|msg| matches!(msg, EventMsg::PatchApplyEnd(end) if end.success)),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|msg| matches!(msg, EventMsg::ExecCommandBegin(_))),
        "no process was started: {events:?}"
    );
    Ok(())
}
