//! The engine loop: a turn from `UserInput` to `TaskComplete`, one turn at a time, history
//! carried into the next request, failures and interrupts, and observers.

use std::time::Duration;

use codex_core::CodexErr;
use codex_core::EventMsg;
use codex_core::Op;
use codex_core::protocol::TurnAbortReason;
use codex_test_support::MockModel;
use codex_test_support::collect_events_until;
use codex_test_support::processes_with;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::conversation_texts;
use codex_test_support::responses::shell_call;
use codex_test_support::test_codex;
use codex_test_support::wait_for_event;
use codex_test_support::wait_for_processes;
use codex_test_support::within;
use pretty_assertions::assert_eq;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::answer;
use crate::is_turn_end;

const FULL_ACCESS: &str = "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"";

#[tokio::test]
async fn a_turn_runs_from_user_input_to_task_complete() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![assistant_answer("hello there")])
        .await;
    let codex = test_codex().build(&model).await?;
    assert_eq!(
        codex.session_configured().session_id,
        codex.conversation().conversation_id()
    );
    assert_eq!(codex.session_configured().model, "mock-model");

    codex.start_turn("hi").await?;
    assert!(codex.conversation().is_busy(), "busy until the turn ends");
    let events = collect_events_until(codex.conversation(), is_turn_end).await?;
    assert!(
        matches!(events.first(), Some(EventMsg::TaskStarted(_))),
        "{events:?}"
    );
    assert!(
        events.iter().any(
            |msg| matches!(msg, EventMsg::AgentMessage(message) if message.message == "hello there")
        ),
        "{events:?}"
    );
    assert_eq!(answer(events.last().expect("an end")), "hello there");
    assert!(
        !codex.conversation().is_busy(),
        "free once it announced its end"
    );

    let bodies = model.request_bodies().await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["model"], "mock-model");
    assert_eq!(
        conversation_texts(&bodies[0]).last(),
        Some(&("user".to_string(), "hi".to_string()))
    );
    Ok(())
}

#[tokio::test]
async fn a_second_turn_is_refused_while_one_runs_and_accepted_after() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model.mount_echo(Duration::ZERO).await;
    let codex = test_codex().build(&model).await?;

    codex.start_turn("first").await?;
    // Refused at once, whatever the model is doing: the conversation is marked busy before
    // the first turn is even submitted.
    let refused = codex.start_turn("second").await;
    let err = refused.expect_err("one turn at a time");
    assert!(
        matches!(err.downcast_ref::<CodexErr>(), Some(CodexErr::Busy(id)) if *id == codex.conversation().conversation_id()),
        "{err:?}"
    );
    let first = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(&first), "echo: first");

    codex.start_turn("third").await?;
    let third = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(&third), "echo: third");
    Ok(())
}

#[tokio::test]
async fn the_next_request_carries_the_conversation_so_far() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![assistant_answer("one"), assistant_answer("two")])
        .await;
    let codex = test_codex().build(&model).await?;
    for prompt in ["first question", "second question"] {
        codex.start_turn(prompt).await?;
        wait_for_event(codex.conversation(), is_turn_end).await?;
    }
    let bodies = model.request_bodies().await;
    let texts: Vec<(String, String)> = conversation_texts(&bodies[1])
        .into_iter()
        .filter(|(role, _)| role == "user" || role == "assistant")
        .filter(|(_, text)| !text.starts_with('<'))
        .collect();
    let pair = |role: &str, text: &str| (role.to_string(), text.to_string());
    assert_eq!(
        texts,
        vec![
            pair("user", "first question"),
            pair("assistant", "one"),
            pair("user", "second question"),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_request_ends_the_turn_with_an_error_and_the_conversation_goes_on()
-> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sequence(
            vec![
                ResponseTemplate::new(400)
                    .set_body_json(json!({"error": {"message": "no such model"}})),
                codex_test_support::sse_response(assistant_answer("better now")),
            ],
            2,
        )
        .await;
    let codex = test_codex().build(&model).await?;
    codex.start_turn("first").await?;
    let failed = wait_for_event(codex.conversation(), is_turn_end).await?;
    let EventMsg::Error(error) = failed else {
        panic!("expected an error, got {failed:?}");
    };
    assert!(error.message.contains("no such model"), "{}", error.message);
    assert!(!codex.conversation().is_busy());

    codex.start_turn("again").await?;
    let done = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(&done), "better now");
    Ok(())
}

#[tokio::test]
async fn interrupt_aborts_the_turn_and_kills_its_command() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let marker = format!("sleep 41.{:06}", std::process::id() % 1_000_000);
    model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["bash", "-c", &marker], json!({})),
            assistant_answer("continuing"),
        ])
        .await;
    let codex = test_codex().with_config(FULL_ACCESS).build(&model).await?;
    codex.start_turn("wait").await?;
    wait_for_event(codex.conversation(), |msg| {
        matches!(msg, EventMsg::ExecCommandBegin(_))
    })
    .await?;
    assert!(wait_for_processes(&marker, true, Duration::from_secs(10)).await);

    codex.conversation().submit(Op::Interrupt).await?;
    let aborted = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert!(
        matches!(&aborted, EventMsg::TurnAborted(event) if event.reason == TurnAbortReason::Interrupted),
        "{aborted:?}"
    );
    assert!(
        wait_for_processes(&marker, false, Duration::from_secs(10)).await,
        "still running: {:?}",
        processes_with(&marker)
    );
    assert!(!codex.conversation().is_busy(), "free after the abort");

    // The model is told the call was aborted when the conversation goes on.
    codex.start_turn("go on").await?;
    let done = wait_for_event(codex.conversation(), is_turn_end).await?;
    assert_eq!(answer(&done), "continuing");
    let bodies = model.request_bodies().await;
    let output = codex_test_support::responses::function_call_output(&bodies[1], "call-1")
        .expect("the aborted call is answered");
    assert!(output.contains("aborted"), "{output}");
    Ok(())
}

#[tokio::test]
async fn an_observer_sees_the_events_the_reader_takes() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model.mount_echo(Duration::ZERO).await;
    let codex = test_codex().build(&model).await?;
    let mut observer = codex.conversation().subscribe();
    assert!(codex.conversation().has_observers());

    codex.start_turn("watched").await?;
    let read = collect_events_until(codex.conversation(), is_turn_end).await?;
    let mut observed = Vec::new();
    while observed.len() < read.len() {
        let event = within("an observed event", observer.recv())
            .await?
            .expect("the observer is not dropped");
        observed.push(event.msg);
    }
    assert_eq!(observed, read);
    assert!(!observer.lagged());

    drop(observer);
    assert!(
        !codex.conversation().has_observers(),
        "a dropped observer is forgotten"
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_confirms_and_ends_the_event_stream() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let codex = test_codex().build(&model).await?;
    codex.conversation().submit(Op::Shutdown).await?;
    wait_for_event(codex.conversation(), |msg| {
        matches!(msg, EventMsg::ShutdownComplete)
    })
    .await?;
    let after = within(
        "the end of the event stream",
        codex.conversation().next_event(),
    )
    .await?;
    assert!(
        matches!(after, Err(CodexErr::InternalAgentDied)),
        "{after:?}"
    );
    Ok(())
}
