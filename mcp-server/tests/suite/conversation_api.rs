//! The conversation API (newConversation, listeners, sendUserMessage / sendUserTurn,
//! interruptConversation) on the same connection as the tools.

use std::time::Duration;

use codex_test_support::processes_with;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::conversation_texts;
use codex_test_support::responses::shell_call;
use codex_test_support::wait_for_processes;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::TestServer;

fn text_items(text: &str) -> Value {
    json!([{"type": "text", "data": {"text": text}}])
}

fn is_event(message: &Value, kind: &str, conversation_id: &str) -> bool {
    message["method"] == format!("codex/event/{kind}")
        && message["params"]["conversationId"] == conversation_id
}

/// Creates a conversation with `params` and attaches a listener; returns its id.
async fn new_listened_conversation(
    server: &mut TestServer,
    params: Value,
) -> anyhow::Result<String> {
    let created = server.mcp.request("newConversation", params).await?;
    let id = created["result"]["conversationId"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("newConversation failed: {created}"))?
        .to_string();
    let listener = server
        .mcp
        .request("addConversationListener", json!({"conversationId": id}))
        .await?;
    assert!(
        listener["result"]["subscriptionId"].is_string(),
        "{listener}"
    );
    Ok(id)
}

#[tokio::test]
async fn new_conversation_listen_and_send() -> anyhow::Result<()> {
    let mut server = TestServer::start("approval_policy = \"never\"", &[]).await?;
    server.model.mount_echo(Duration::ZERO).await;
    let created = server
        .mcp
        .request("newConversation", json!({"model": "o3"}))
        .await?;
    let result = &created["result"];
    assert_eq!(result["model"], "o3", "{created}");
    let id = result["conversationId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rollout = result["rolloutPath"].as_str().unwrap_or_default();
    assert!(std::path::Path::new(rollout).is_file(), "{created}");
    assert!(rollout.ends_with(&format!("{id}.jsonl")), "{created}");

    let listener = server
        .mcp
        .request("addConversationListener", json!({"conversationId": id}))
        .await?;
    let subscription = listener["result"]["subscriptionId"].clone();

    for text in ["Hello", "Hello again"] {
        let sent = server
            .mcp
            .request(
                "sendUserMessage",
                json!({"conversationId": id, "items": text_items(text)}),
            )
            .await?;
        assert_eq!(sent["result"], json!({}), "{sent}");
        let done = server
            .mcp
            .read_until(|m| is_event(m, "task_complete", &id))
            .await?;
        assert_eq!(
            done["params"]["msg"]["last_agent_message"],
            json!(format!("echo: {text}"))
        );
    }
    let bodies = server.model.request_bodies().await;
    assert_eq!(bodies[0]["model"], "o3");
    let texts = conversation_texts(&bodies[1]);
    assert!(texts.contains(&("assistant".to_string(), "echo: Hello".to_string())));

    let removed = server
        .mcp
        .request(
            "removeConversationListener",
            json!({"subscriptionId": subscription}),
        )
        .await?;
    assert_eq!(removed["result"], json!({}), "{removed}");
    let again = server
        .mcp
        .request(
            "removeConversationListener",
            json!({"subscriptionId": subscription}),
        )
        .await?;
    assert_eq!(again["error"]["code"], json!(-32600), "{again}");
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_errors_that_say_why() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases = [
        (
            "sendUserMessage",
            json!({"conversationId": unknown, "items": text_items("hi")}),
            -32600,
            "no conversation with id",
        ),
        (
            "sendUserMessage",
            json!({"conversationId": unknown, "items": [{"type": "video"}]}),
            -32602,
            "items[0]",
        ),
        (
            "sendUserMessage",
            json!({"items": []}),
            -32602,
            "conversationId",
        ),
        (
            "interruptConversation",
            json!({"conversationId": "not-a-uuid"}),
            -32602,
            "not a valid thread id",
        ),
        ("noSuchMethod", json!({}), -32601, "noSuchMethod"),
    ];
    for (method, params, code, needle) in cases {
        let response = server.mcp.request(method, params).await?;
        assert_eq!(
            response["error"]["code"],
            json!(code),
            "{method}: {response}"
        );
        let message = response["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{method}: {response}");
    }
    // The connection still serves.
    let listed = server.mcp.request("listConversations", json!({})).await?;
    assert_eq!(listed["result"]["items"], json!([]), "{listed}");
    Ok(())
}

#[tokio::test]
async fn send_user_turn_changes_the_approval_policy_for_later_turns() -> anyhow::Result<()> {
    let mut server = TestServer::start("approval_policy = \"untrusted\"", &[]).await?;
    let cwd = TempDir::new()?;
    let argv = ["python3", "-c", "print(42)"];
    server
        .model
        .mount_sse_sequence(vec![
            shell_call("call-1", &argv, json!({})),
            assistant_answer("first done"),
            shell_call("call-2", &argv, json!({})),
            assistant_answer("second done"),
        ])
        .await;
    let id = new_listened_conversation(&mut server, json!({"cwd": cwd.path()})).await?;

    server
        .mcp
        .request(
            "sendUserMessage",
            json!({"conversationId": id, "items": text_items("run it")}),
        )
        .await?;
    let elicitation = server
        .mcp
        .read_until(|m| m["method"] == "elicitation/create")
        .await?;
    assert_eq!(elicitation["params"]["threadId"], json!(id));
    server
        .mcp
        .send_response(
            elicitation["id"].clone(),
            json!({"action": "accept", "content": {}}),
        )
        .await?;
    server
        .mcp
        .read_until(|m| is_event(m, "task_complete", &id))
        .await?;

    let turn = server
        .mcp
        .request(
            "sendUserTurn",
            json!({
                "conversationId": id,
                "items": text_items("run it again"),
                "cwd": cwd.path(),
                "approvalPolicy": "never",
                "sandboxPolicy": {"mode": "danger-full-access"},
                "model": "mock-model",
                "effort": "medium",
                "summary": "auto",
            }),
        )
        .await?;
    assert_eq!(turn["result"], json!({}), "{turn}");
    let done = server
        .mcp
        .read_until(|m| is_event(m, "task_complete", &id))
        .await?;
    assert_eq!(done["params"]["msg"]["last_agent_message"], "second done");
    let asked: Vec<Value> = server
        .mcp
        .take_others()
        .into_iter()
        .filter(|m| m["method"] == "elicitation/create")
        .collect();
    assert_eq!(asked, Vec::<Value>::new(), "never asks under `never`");
    assert!(
        server.output_seen_by_model("call-2").await.contains("42"),
        "the second command ran"
    );
    Ok(())
}

#[tokio::test]
async fn interrupt_conversation_stops_a_running_command() -> anyhow::Result<()> {
    let config = "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"";
    let mut server = TestServer::start(config, &[]).await?;
    let marker = &format!("sleep 32.{:06}", std::process::id() % 1_000_000);
    server
        .model
        .mount_sse_sequence(vec![shell_call(
            "call-1",
            &["bash", "-c", marker],
            json!({}),
        )])
        .await;
    let id = new_listened_conversation(&mut server, json!({})).await?;
    server
        .mcp
        .request(
            "sendUserMessage",
            json!({"conversationId": id, "items": text_items("wait")}),
        )
        .await?;
    server
        .mcp
        .read_until(|m| is_event(m, "exec_command_begin", &id))
        .await?;
    assert!(
        wait_for_processes(marker, true, Duration::from_secs(5)).await,
        "the command runs"
    );

    let interrupted = server
        .mcp
        .request("interruptConversation", json!({"conversationId": id}))
        .await?;
    assert_eq!(
        interrupted["result"],
        json!({"abortReason": "interrupted"}),
        "{interrupted}"
    );
    assert!(
        wait_for_processes(marker, false, Duration::from_secs(10)).await,
        "still running: {:?}",
        processes_with(marker)
    );
    server
        .mcp
        .read_until(|m| is_event(m, "turn_aborted", &id))
        .await?;

    // Nothing runs any more: a second interrupt says so.
    let again = server
        .mcp
        .request("interruptConversation", json!({"conversationId": id}))
        .await?;
    assert_eq!(again["error"]["code"], json!(-32600), "{again}");
    Ok(())
}

#[tokio::test]
async fn compact_conversation_replaces_the_history_with_a_summary() -> anyhow::Result<()> {
    let mut server = TestServer::start("approval_policy = \"never\"", &[]).await?;
    server
        .model
        .mount_sse_sequence(vec![
            assistant_answer("the first answer"),
            assistant_answer("SUMMARY-OF-IT-ALL"),
            assistant_answer("the second answer"),
        ])
        .await;
    let id = new_listened_conversation(&mut server, json!({})).await?;
    let send = |text: &str| json!({"conversationId": id, "items": text_items(text)});
    let sent = server
        .mcp
        .request("sendUserMessage", send("first task"))
        .await?;
    assert_eq!(sent["result"], json!({}), "{sent}");
    server
        .mcp
        .read_until(|m| is_event(m, "task_complete", &id))
        .await?;

    let compacted = server
        .mcp
        .request("compactConversation", json!({"conversationId": id}))
        .await?;
    assert_eq!(compacted["result"], json!({}), "{compacted}");
    let note = server
        .mcp
        .read_until(|m| is_event(m, "background_event", &id))
        .await?;
    assert_eq!(note["params"]["msg"]["message"], "conversation compacted");
    server
        .mcp
        .read_until(|m| is_event(m, "task_complete", &id))
        .await?;

    let sent = server
        .mcp
        .request("sendUserMessage", send("second task"))
        .await?;
    assert_eq!(sent["result"], json!({}), "{sent}");
    server
        .mcp
        .read_until(|m| is_event(m, "task_complete", &id))
        .await?;

    let bodies = server.model.request_bodies().await;
    assert_eq!(bodies.len(), 3, "turn, summary, turn");
    assert!(bodies[1]["tools"].as_array().is_some_and(Vec::is_empty));
    let after = conversation_texts(&bodies[2]);
    assert!(
        after.contains(&(
            "user".to_string(),
            "<conversation_summary>\nSUMMARY-OF-IT-ALL\n</conversation_summary>".to_string()
        )),
        "{after:?}"
    );
    assert!(
        !after.iter().any(|(_, text)| text == "the first answer"),
        "the old answer is replaced by the summary: {after:?}"
    );
    let rollout = codex_test_support::rollout_files(&server.home().join("sessions"))
        .pop()
        .expect("a rollout");
    let text = std::fs::read_to_string(rollout)?;
    assert!(text.contains("\"type\":\"compacted\""), "{text}");

    let unknown = server
        .mcp
        .request(
            "compactConversation",
            json!({"conversationId": uuid::Uuid::new_v4().to_string()}),
        )
        .await?;
    assert_eq!(unknown["error"]["code"], json!(-32600), "{unknown}");
    Ok(())
}
