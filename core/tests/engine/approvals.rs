//! The engine's side of approvals: it asks with an event, waits for the `Op` that answers,
//! and acts on the decision. (How the server asks its host is tested in the server crate.)

use codex_core::EventMsg;
use codex_core::Op;
use codex_core::protocol::ReviewDecision;
use codex_test_support::MockModel;
use codex_test_support::TestCodex;
use codex_test_support::collect_events_until;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::function_call_output;
use codex_test_support::responses::shell_call;
use codex_test_support::test_codex;
use codex_test_support::wait_for_event;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::answer;
use crate::is_turn_end;

const UNTRUSTED: &str = "approval_policy = \"untrusted\"";

/// A conversation whose model asks to `touch created.txt` and then, if the turn goes on,
/// answers "done"; returns it once the engine has asked about the command, with the call id
/// it asked about.
async fn asked_to_touch(model: &MockModel) -> anyhow::Result<(TestCodex, String)> {
    asked_to_touch_then(model, true).await
}

/// Like [`asked_to_touch`]; `goes_on` says whether the model is asked again after the command.
async fn asked_to_touch_then(
    model: &MockModel,
    goes_on: bool,
) -> anyhow::Result<(TestCodex, String)> {
    let mut responses = vec![shell_call("call-1", &["touch", "created.txt"], json!({}))];
    if goes_on {
        responses.push(assistant_answer("done"));
    }
    model.mount_sse_sequence(responses).await;
    let codex = test_codex().with_config(UNTRUSTED).build(model).await?;
    codex.start_turn("make a file").await?;
    let asked = wait_for_event(codex.conversation(), |msg| {
        matches!(msg, EventMsg::ExecApprovalRequest(_))
    })
    .await?;
    let EventMsg::ExecApprovalRequest(request) = asked else {
        unreachable!("matched above");
    };
    assert_eq!(request.command, ["touch", "created.txt"]);
    assert_eq!(request.cwd, codex.cwd.path());
    Ok((codex, request.call_id))
}

#[tokio::test]
async fn an_approved_command_runs() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let (codex, call_id) = asked_to_touch(&model).await?;
    assert!(
        !codex.cwd.path().join("created.txt").exists(),
        "not before the answer"
    );
    codex
        .conversation()
        .submit(Op::ExecApproval {
            id: call_id,
            decision: ReviewDecision::Approved,
        })
        .await?;
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(events.last().expect("an end")), "done");
    assert!(codex.cwd.path().join("created.txt").exists());
    assert!(
        events
            .iter()
            .any(|msg| matches!(msg, EventMsg::ExecCommandEnd(end) if end.exit_code == 0)),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_denied_command_does_not_run_and_the_model_hears_why() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let (codex, call_id) = asked_to_touch(&model).await?;
    codex
        .conversation()
        .submit(Op::ExecApproval {
            id: call_id,
            decision: ReviewDecision::DeniedWithReason("not today".to_string()),
        })
        .await?;
    let end = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(&end), "done");
    assert!(!codex.cwd.path().join("created.txt").exists());
    let bodies = model.request_bodies().await;
    let output = function_call_output(&bodies[1], "call-1").expect("the call is answered");
    assert!(output.contains("not today"), "{output}");
    Ok(())
}

#[tokio::test]
async fn abort_ends_the_turn_without_running_the_command() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let (codex, call_id) = asked_to_touch_then(&model, false).await?;
    codex
        .conversation()
        .submit(Op::ExecApproval {
            id: call_id,
            decision: ReviewDecision::Abort,
        })
        .await?;
    let end = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert!(matches!(end, EventMsg::TurnAborted(_)), "{end:?}");
    assert!(!codex.cwd.path().join("created.txt").exists());
    assert!(!codex.conversation().is_busy());
    Ok(())
}

#[tokio::test]
async fn an_answer_for_another_call_is_not_taken_for_this_one() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let (codex, call_id) = asked_to_touch(&model).await?;
    codex
        .conversation()
        .submit(Op::ExecApproval {
            id: "some-other-call".to_string(),
            decision: ReviewDecision::Approved,
        })
        .await?;
    // The right answer still decides: the stray one was not taken for it.
    codex
        .conversation()
        .submit(Op::ExecApproval {
            id: call_id,
            decision: ReviewDecision::Denied,
        })
        .await?;
    let end = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(&end), "done");
    assert!(!codex.cwd.path().join("created.txt").exists());
    Ok(())
}
