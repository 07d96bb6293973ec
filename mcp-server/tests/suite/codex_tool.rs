//! `codex` and `codex-reply` answering through the Responses API.

use codex_test_support::MOCK_API_KEY;
use codex_test_support::Wire;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::conversation_texts;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;

use super::TestServer;
use super::thread_id;

both_wires!(codex_returns_the_answer_and_a_thread_id);
async fn codex_returns_the_answer_and_a_thread_id(wire: Wire) -> anyhow::Result<()> {
    let mut server = TestServer::start_wire(wire, "", &[]).await?;
    server
        .model
        .mount_sse_sequence(vec![wire.answer("hello")])
        .await;

    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "say hi"}))
        .await?;
    let response = server.mcp.read_until_response(id).await?;
    let result = &response["result"];
    let thread = thread_id(result);
    assert_eq!(
        result,
        &json!({
            "content": [
                {"type": "text", "text": "hello"},
                {"type": "text", "text": format!("threadId: {thread} (pass it to `codex-reply` to continue this conversation)")},
            ],
            "structuredContent": {"threadId": thread, "content": "hello"},
            "isError": false
        })
    );

    let requests = server.model.requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {MOCK_API_KEY}").as_str())
    );
    let body: Value = serde_json::from_slice(&requests[0].body)?;
    assert_eq!(body["model"], "mock-model");
    assert_eq!(body["stream"], true);
    let texts = conversation_texts(&body);
    assert_eq!(
        texts.last(),
        Some(&("user".to_string(), "say hi".to_string()))
    );
    assert!(
        texts
            .iter()
            .any(|(_, text)| text.starts_with("<environment_context>")),
        "the environment context is sent: {texts:?}"
    );
    match wire {
        Wire::Responses => {
            assert_eq!(body["store"], false);
            assert_eq!(body["prompt_cache_key"], thread);
            assert_eq!(
                body["input"].as_array().and_then(|input| input.last()),
                Some(
                    &json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]})
                )
            );
        }
        Wire::Chat => {
            assert_eq!(body["stream_options"], json!({"include_usage": true}));
            assert_eq!(body["messages"][0]["role"], "system");
        }
    }

    // Every event of the turn went out as codex/event with the request id and thread id.
    let events = server.mcp.events_for(id);
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["params"]["msg"]["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "session_configured",
            "task_started",
            "user_message",
            "agent_message_delta",
            "agent_message",
            "token_count",
            "task_complete"
        ]
    );
    for event in &events {
        assert_eq!(event["params"]["_meta"]["threadId"], thread.as_str());
    }
    assert_eq!(events[6]["params"]["id"], id.to_string());
    assert_eq!(
        events[6]["params"]["msg"],
        json!({"type": "task_complete", "last_agent_message": "hello"})
    );
    Ok(())
}

both_wires!(codex_reply_continues_the_conversation);
async fn codex_reply_continues_the_conversation(wire: Wire) -> anyhow::Result<()> {
    let mut server = TestServer::start_wire(wire, "", &[]).await?;
    server
        .model
        .mount_sse_sequence(vec![
            wire.answer("first answer"),
            wire.answer("second answer"),
            wire.answer("third answer"),
        ])
        .await;

    let first = server
        .call("codex", json!({"prompt": "first prompt"}))
        .await?;
    let thread = thread_id(&first);

    let second = server
        .call(
            "codex-reply",
            json!({"prompt": "second prompt", "threadId": thread}),
        )
        .await?;
    assert_eq!(
        second,
        json!({
            "content": [
                {"type": "text", "text": "second answer"},
                {"type": "text", "text": format!("threadId: {thread} (pass it to `codex-reply` to continue this conversation)")},
            ],
            "structuredContent": {"threadId": thread, "content": "second answer"},
            "isError": false
        })
    );

    let third = server
        .call(
            "codex-reply",
            json!({"prompt": "third prompt", "conversationId": thread}),
        )
        .await?;
    assert_eq!(third["structuredContent"]["threadId"], thread.as_str());
    assert_eq!(third["structuredContent"]["content"], "third answer");

    let bodies = server.model.request_bodies().await;
    assert_eq!(bodies.len(), 3);
    let tail = |body: &Value, n: usize| -> Vec<(String, String)> {
        let texts = conversation_texts(body);
        texts[texts.len() - n..].to_vec()
    };
    let pair = |role: &str, text: &str| (role.to_string(), text.to_string());
    assert_eq!(
        tail(&bodies[1], 3),
        vec![
            pair("user", "first prompt"),
            pair("assistant", "first answer"),
            pair("user", "second prompt"),
        ]
    );
    assert_eq!(
        tail(&bodies[2], 2),
        vec![
            pair("assistant", "second answer"),
            pair("user", "third prompt")
        ]
    );
    Ok(())
}

#[tokio::test]
async fn instructions_arguments_reach_the_model() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    server
        .model
        .mount_sse_sequence(vec![assistant_answer("Enjoy!")])
        .await;
    let result = server
        .call(
            "codex",
            json!({
                "prompt": "hi",
                "base-instructions": "You are a helpful assistant.",
                "developer-instructions": "Foreshadow upcoming tool calls."
            }),
        )
        .await?;
    assert_eq!(result["structuredContent"]["content"], "Enjoy!");
    let body = &server.model.request_bodies().await[0];
    assert_eq!(body["instructions"], "You are a helpful assistant.");
    // The permissions come first, then the host's developer instructions.
    assert_eq!(body["input"][0]["role"], "developer");
    let permissions = body["input"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(permissions.starts_with("<permissions>"), "{permissions}");
    assert_eq!(
        body["input"][1],
        json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Foreshadow upcoming tool calls."}]})
    );
    Ok(())
}

#[tokio::test]
async fn unknown_function_calls_are_answered_and_the_turn_continues() -> anyhow::Result<()> {
    use codex_test_support::responses::ev_completed;
    use codex_test_support::responses::ev_function_call;
    use codex_test_support::responses::ev_response_created;
    use codex_test_support::responses::sse;

    let mut server = TestServer::start("", &[]).await?;
    server
        .model
        .mount_sse_sequence(vec![
            sse(&[
                ev_response_created("r1"),
                ev_function_call("call-1", "teleport", "{}"),
                ev_completed("r1"),
            ]),
            assistant_answer("done"),
        ])
        .await;
    let result = server.call("codex", json!({"prompt": "go"})).await?;
    assert_eq!(result["structuredContent"]["content"], "done");
    let bodies = server.model.request_bodies().await;
    let input = bodies[1]["input"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        input[input.len() - 2..].to_vec(),
        vec![
            json!({"type": "function_call", "name": "teleport", "arguments": "{}", "call_id": "call-1"}),
            json!({"type": "function_call_output", "call_id": "call-1", "output": "unsupported call: teleport"}),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn plan_updates_reach_the_host() -> anyhow::Result<()> {
    use codex_test_support::responses::ev_completed;
    use codex_test_support::responses::ev_function_call;
    use codex_test_support::responses::ev_response_created;
    use codex_test_support::responses::function_call_output;
    use codex_test_support::responses::sse;

    let mut server = TestServer::start("", &[]).await?;
    let plan = json!({
        "explanation": "two steps",
        "plan": [{"step": "read the code", "status": "completed"}, {"step": "fix the bug", "status": "in_progress"}]
    });
    server
        .model
        .mount_sse_sequence(vec![
            sse(&[
                ev_response_created("r1"),
                ev_function_call("call-plan", "update_plan", &plan.to_string()),
                ev_completed("r1"),
            ]),
            assistant_answer("planned"),
        ])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "plan it"}))
        .await?;
    let result = server.mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(result["structuredContent"]["content"], "planned");
    let updates: Vec<Value> = server
        .mcp
        .events_for(id)
        .into_iter()
        .map(|e| e["params"]["msg"].clone())
        .filter(|msg| msg["type"] == "plan_update")
        .collect();
    let mut expected = plan.clone();
    expected["type"] = json!("plan_update");
    assert_eq!(updates, vec![expected]);
    let bodies = server.model.request_bodies().await;
    assert_eq!(
        function_call_output(&bodies[1], "call-plan").as_deref(),
        Some("Plan updated")
    );
    let tools: Vec<&str> = bodies[0]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(tools, ["shell", "apply_patch", "update_plan"]);
    Ok(())
}

#[tokio::test]
async fn the_thread_hint_in_content_can_be_turned_off() -> anyhow::Result<()> {
    let server_with = |config: &'static str| async move {
        let mut server = TestServer::start(config, &[]).await?;
        server.model.mount_echo(std::time::Duration::ZERO).await;
        let id = server
            .mcp
            .call_tool("codex", json!({"prompt": "hi"}))
            .await?;
        let response = server.mcp.read_until_response(id).await?;
        anyhow::Ok(response["result"]["content"].clone())
    };
    let on = server_with("").await?;
    assert_eq!(on.as_array().map(Vec::len), Some(2), "{on}");
    assert_eq!(on[0]["text"], "echo: hi", "the answer stays first");
    let off = server_with("thread_id_in_content = false").await?;
    assert_eq!(off, json!([{"type": "text", "text": "echo: hi"}]));
    Ok(())
}

#[tokio::test]
async fn streamed_deltas_reach_the_host_merged_and_whole() -> anyhow::Result<()> {
    use codex_test_support::responses::ev_assistant_message;
    use codex_test_support::responses::ev_completed;
    use codex_test_support::responses::ev_output_text_delta;
    use codex_test_support::responses::ev_response_created;
    use codex_test_support::responses::sse;

    let mut server = TestServer::start("", &[]).await?;
    let pieces: Vec<String> = (0..2000).map(|i| format!("{} ", i % 10)).collect();
    let full: String = pieces.concat();
    let mut events = vec![ev_response_created("resp-1")];
    events.extend(pieces.iter().map(|piece| ev_output_text_delta(piece)));
    events.push(ev_assistant_message("msg-1", &full));
    events.push(ev_completed("resp-1"));
    server.model.mount_sse_sequence(vec![sse(&events)]).await;

    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "talk"}))
        .await?;
    let response = server.mcp.read_until_response(id).await?;
    assert_eq!(response["result"]["structuredContent"]["content"], full);
    let deltas: Vec<String> = server
        .mcp
        .events_for(id)
        .iter()
        .filter(|e| e["params"]["msg"]["type"] == "agent_message_delta")
        .map(|e| {
            e["params"]["msg"]["delta"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(deltas.concat(), full, "the host reads the same text");
    assert!(
        deltas.len() < pieces.len() / 10,
        "{} notifications for {} deltas",
        deltas.len(),
        pieces.len()
    );
    Ok(())
}
