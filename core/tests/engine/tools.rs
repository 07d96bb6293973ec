//! The tool router: each tool the model may call, what it does, and what the model is told,
//! including for a call no tool serves.

use codex_core::EventMsg;
use codex_core::protocol::PlanItem;
use codex_core::protocol::StepStatus;
use codex_test_support::MockModel;
use codex_test_support::collect_events_until;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::ev_completed;
use codex_test_support::responses::ev_function_call;
use codex_test_support::responses::ev_response_created;
use codex_test_support::responses::function_call_output;
use codex_test_support::responses::shell_call;
use codex_test_support::responses::sse;
use codex_test_support::test_codex;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;

use crate::answer;
use crate::is_turn_end;

const FULL_ACCESS: &str = "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"";

fn one_call(call_id: &str, name: &str, arguments: &Value) -> String {
    sse(&[
        ev_response_created("r1"),
        ev_function_call(call_id, name, &arguments.to_string()),
        ev_completed("r1"),
    ])
}

/// Runs one turn whose model sends `first` and then answers "done"; returns the turn's
/// events and what the model was told of `call_id`.
async fn one_tool_turn(
    top_level: &str,
    first: String,
    call_id: &str,
) -> anyhow::Result<(Vec<EventMsg>, String, codex_test_support::TestCodex)> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![first, assistant_answer("done")])
        .await;
    let codex = test_codex().with_config(top_level).build(&model).await?;
    codex.start_turn("use a tool").await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(events.last().expect("an end")), "done");
    let bodies = model.request_bodies().await;
    let output = function_call_output(&bodies[1], call_id)
        .unwrap_or_else(|| panic!("no output for {call_id} reached the model"));
    Ok((events, output, codex))
}

#[tokio::test]
async fn shell_runs_the_command_and_tells_the_model_its_output() -> anyhow::Result<()> {
    let (events, output, _codex) = one_tool_turn(
        FULL_ACCESS,
        shell_call(
            "call-1",
            &["bash", "-c", "echo out; echo err >&2; exit 3"],
            json!({}),
        ),
        "call-1",
    )
    .await?;
    let ended = events
        .iter()
        .find_map(|msg| match msg {
            EventMsg::ExecCommandEnd(end) => Some(end.clone()),
            _ => None,
        })
        .expect("exec_command_end");
    assert_eq!(ended.call_id, "call-1");
    assert_eq!(ended.exit_code, 3);
    assert_eq!(ended.stdout, "out\n");
    assert_eq!(ended.stderr, "err\n");
    let begin = events
        .iter()
        .position(|msg| matches!(msg, EventMsg::ExecCommandBegin(_)));
    let end = events
        .iter()
        .position(|msg| matches!(msg, EventMsg::ExecCommandEnd(_)));
    assert!(begin < end, "begin before end: {events:?}");
    let told: Value = serde_json::from_str(&output)?;
    assert_eq!(told["metadata"]["exit_code"], 3, "{output}");
    assert!(
        told["output"].as_str().unwrap_or_default().contains("out"),
        "{output}"
    );
    Ok(())
}

#[tokio::test]
async fn apply_patch_edits_the_working_directory() -> anyhow::Result<()> {
    let patch = "*** Begin Patch\n*** Add File: made.txt\n+made by a patch\n*** End Patch";
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            one_call("call-1", "apply_patch", &json!({"input": patch})),
            assistant_answer("done"),
        ])
        .await;
    let codex = test_codex().with_config(FULL_ACCESS).build(&model).await?;
    codex.start_turn("edit").await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(events.last().expect("an end")), "done");
    assert_eq!(
        std::fs::read_to_string(codex.cwd.path().join("made.txt"))?,
        "made by a patch\n"
    );
    let applied = events
        .iter()
        .find_map(|msg| match msg {
            EventMsg::PatchApplyEnd(end) => Some(end.success),
            _ => None,
        })
        .expect("patch_apply_end");
    assert!(applied, "{events:?}");
    assert!(
        events
            .iter()
            .any(|msg| matches!(msg, EventMsg::TurnDiff(_))),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn update_plan_reaches_the_events_and_is_acknowledged() -> anyhow::Result<()> {
    let plan = json!({
        "explanation": "two steps",
        "plan": [{"step": "read", "status": "completed"}, {"step": "fix", "status": "in_progress"}]
    });
    let (events, output, _codex) =
        one_tool_turn("", one_call("call-plan", "update_plan", &plan), "call-plan").await?;
    assert_eq!(output, "Plan updated");
    let updates: Vec<Vec<PlanItem>> = events
        .iter()
        .filter_map(|msg| match msg {
            EventMsg::PlanUpdate(update) => Some(update.plan.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        updates,
        vec![vec![
            PlanItem {
                step: "read".into(),
                status: StepStatus::Completed
            },
            PlanItem {
                step: "fix".into(),
                status: StepStatus::InProgress
            },
        ]]
    );
    Ok(())
}

#[tokio::test]
async fn a_call_no_tool_serves_is_answered_not_dropped() -> anyhow::Result<()> {
    let (_, output, _codex) =
        one_tool_turn("", one_call("call-1", "teleport", &json!({})), "call-1").await?;
    assert_eq!(output, "unsupported call: teleport");
    Ok(())
}

#[tokio::test]
async fn unreadable_arguments_are_answered_with_the_reason() -> anyhow::Result<()> {
    let first = sse(&[
        ev_response_created("r1"),
        ev_function_call("call-1", "update_plan", "{not json"),
        ev_completed("r1"),
    ]);
    let (_, output, _codex) = one_tool_turn("", first, "call-1").await?;
    assert!(
        output.starts_with("failed to parse function arguments"),
        "{output}"
    );
    Ok(())
}

#[tokio::test]
async fn every_request_offers_the_same_tools() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![assistant_answer("one"), assistant_answer("two")])
        .await;
    let codex = test_codex().build(&model).await?;
    for prompt in ["a", "b"] {
        codex.start_turn(prompt).await?;
        collect_events_until(codex.conversation(), is_turn_end).await?;
    }
    for body in model.request_bodies().await {
        let tools: Vec<&str> = body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|tool| tool["name"].as_str())
            .collect();
        assert_eq!(tools, ["shell", "apply_patch", "update_plan"]);
    }
    Ok(())
}
