//! The turn driver in process: progress and its heartbeat, events forwarded to the host, and
//! a cancelled call's turn. The heartbeat is set to a few milliseconds, so the test of a long
//! silence takes no longer than the silence the test itself makes.

use std::time::Duration;

use codex_test_support::GatedModel;
use codex_test_support::MockModel;
use codex_test_support::UNTIL_RELEASED;
use codex_test_support::Wire;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;

use super::InProcessServer;
use super::Settings;
use super::is_codex_event;
use super::is_progress;
use crate::turn_driver::HEARTBEAT_INTERVAL;

/// Short enough that a test waits for several heartbeats in well under a second; long enough
/// that a loaded machine still sees silence between them.
const TEST_HEARTBEAT: Duration = Duration::from_millis(40);

/// Heartbeats a test waits for while the model is silent.
const HEARTBEATS: usize = 3;

fn progress_value(message: &Value) -> f64 {
    message["params"]["progress"].as_f64().unwrap_or(-1.0)
}

fn progress_text(message: &Value) -> &str {
    message["params"]["message"].as_str().unwrap_or_default()
}

#[test]
fn the_default_heartbeat_leaves_a_5_s_host_timeout_room() {
    // A host whose 5 s timeout restarts on progress never times out: no silence reaches 5 s.
    assert!(HEARTBEAT_INTERVAL < Duration::from_secs(5));
}

/// Was `long_calls::a_long_call_reports_progress_until_its_result` in the integration suite,
/// where it took 12 s of a delayed mock: the silence is now a model that holds its answer
/// until the test has seen the heartbeats, with the heartbeat shortened.
#[tokio::test]
async fn a_long_call_reports_progress_until_its_result() -> anyhow::Result<()> {
    let model = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let settings =
        Settings::new("approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"")
            .heartbeat_every(TEST_HEARTBEAT);
    let mut server = InProcessServer::start(settings, |home, top| {
        model.write_in_process_config(home, top)
    })
    .await?;
    let id = server
        .mcp
        .send_request(
            "tools/call",
            json!({
                "name": "codex",
                "arguments": {"prompt": "take your time"},
                "_meta": {"progressToken": "tok-1"},
            }),
        )
        .await?;
    model.wait_for_open(1).await?;

    // While the model says nothing, the heartbeat does.
    let mut seen: Vec<Value> = Vec::new();
    let mut heartbeats = 0;
    while heartbeats < HEARTBEATS {
        let message = server.mcp.read_message().await?;
        assert!(
            message["id"] != json!(id),
            "no result while the model holds it: {message}"
        );
        if is_progress(&message, "tok-1") {
            if progress_text(&message).starts_with("working (") {
                heartbeats += 1;
            }
            seen.push(message);
        }
    }
    model.release();
    let result = loop {
        let message = server.mcp.read_message().await?;
        if is_progress(&message, "tok-1") {
            seen.push(message);
        } else if message["id"] == json!(id) && message.get("method").is_none() {
            break message;
        }
    };
    assert_eq!(
        result["result"]["content"][0]["text"],
        "echo: take your time"
    );
    let values: Vec<f64> = seen.iter().map(progress_value).collect();
    assert!(
        values.windows(2).all(|pair| pair[0] < pair[1]),
        "strictly increasing: {values:?}"
    );
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(
        seen.iter().any(|m| progress_text(m) == "turn started"),
        "{seen:?}"
    );

    // Nothing after the result: a ping round trip brings no late progress.
    let ping = server.mcp.send_request("ping", json!({})).await?;
    server.mcp.read_until_response(ping).await?;
    let late: Vec<Value> = server
        .mcp
        .take_others()
        .into_iter()
        .filter(|m| is_progress(m, "tok-1"))
        .collect();
    assert_eq!(late, Vec::<Value>::new());
    Ok(())
}

#[tokio::test]
async fn a_call_without_a_progress_token_gets_no_progress() -> anyhow::Result<()> {
    let model = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let settings = Settings::new("").heartbeat_every(TEST_HEARTBEAT);
    let mut server = InProcessServer::start(settings, |home, top| {
        model.write_in_process_config(home, top)
    })
    .await?;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "quiet"}))
        .await?;
    // Heartbeats are due while the model holds its answer; none may go out without a token.
    server
        .mcp
        .read_until(|m| is_codex_event(m, id, "task_started"))
        .await?;
    model.wait_for_open(1).await?;
    model.release();
    let result = server.mcp.read_until_response(id).await?;
    assert_eq!(result["result"]["content"][0]["text"], "echo: quiet");
    let progress: Vec<Value> = server
        .mcp
        .take_others()
        .into_iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress, Vec::<Value>::new());
    Ok(())
}

#[tokio::test]
async fn events_reach_the_host_in_order_naming_request_and_thread() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model.mount_echo(Duration::ZERO).await;
    let mut server = InProcessServer::start(Settings::new(""), |home, top| {
        model.write_in_process_config(home, top)
    })
    .await?;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "hello"}))
        .await?;
    let result = server.mcp.read_until_response(id).await?;
    let thread = result["result"]["structuredContent"]["threadId"].clone();
    let events = server.mcp.events_for(id);
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|event| event["params"]["msg"]["type"].as_str())
        .filter(|kind| !kind.ends_with("_delta") && *kind != "token_count")
        .collect();
    assert_eq!(
        kinds,
        [
            "session_configured",
            "task_started",
            "user_message",
            "agent_message",
            "task_complete"
        ],
        "{events:?}"
    );
    for event in &events {
        assert_eq!(event["params"]["_meta"]["threadId"], thread, "{event}");
    }
    assert_eq!(
        events
            .last()
            .map(|e| e["params"]["msg"]["last_agent_message"].clone()),
        Some(json!("echo: hello"))
    );
    Ok(())
}

#[tokio::test]
async fn without_codex_events_only_progress_and_the_result_arrive() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model.mount_echo(Duration::ZERO).await;
    let settings = Settings::new("").without_codex_events();
    let mut server = InProcessServer::start(settings, |home, top| {
        model.write_in_process_config(home, top)
    })
    .await?;
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
        "{others:?}"
    );
    assert!(
        others
            .iter()
            .any(|m| m["method"] == "notifications/progress"),
        "progress is unaffected: {others:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_cancelled_call_aborts_its_turn_and_frees_the_thread() -> anyhow::Result<()> {
    let model = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let mut server = InProcessServer::start(Settings::new(""), |home, top| {
        model.write_in_process_config(home, top)
    })
    .await?;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "wait"}))
        .await?;
    let configured = server
        .mcp
        .read_until(|m| is_codex_event(m, id, "session_configured"))
        .await?;
    let thread = configured["params"]["_meta"]["threadId"].clone();
    // The turn is in the middle of its model request when the host gives up on the call.
    model.wait_for_open(1).await?;
    server
        .mcp
        .send_notification("notifications/cancelled", Some(json!({"requestId": id})))
        .await?;
    server
        .mcp
        .read_until(|m| is_codex_event(m, id, "turn_aborted"))
        .await?;

    model.release();
    let reply = server
        .mcp
        .call_tool(
            "codex-reply",
            json!({"threadId": thread, "prompt": "go on"}),
        )
        .await?;
    let reply = server.mcp.read_until_response(reply).await?;
    assert_eq!(
        reply["result"]["content"][0]["text"], "echo: go on",
        "{reply}"
    );
    assert!(
        !server.mcp.has_response(id),
        "a cancelled request gets no response"
    );
    assert_eq!(server.conversations.loaded_conversations(), 1);
    Ok(())
}
