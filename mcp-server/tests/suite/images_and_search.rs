//! Images the agent sees (given with a prompt on both wire APIs, or attached by `view_image`)
//! and the hosted web search, with its events.

use codex_test_support::Wire;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::ev_assistant_message;
use codex_test_support::responses::ev_completed;
use codex_test_support::responses::ev_function_call;
use codex_test_support::responses::ev_response_created;
use codex_test_support::responses::sse;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::TestServer;

/// Four bytes that make a file a PNG as far as its name is concerned; the model mock does not
/// look inside.
const PNG: [u8; 4] = [0x89, b'P', b'N', b'G'];
const PNG_URL: &str = "data:image/png;base64,iVBORw==";

async fn images_with_a_prompt(wire: Wire) -> anyhow::Result<()> {
    let mut server = TestServer::start_wire(wire, "", &[]).await?;
    server
        .model
        .mount_sse_sequence(vec![wire.answer("a red dot")])
        .await;
    let cwd = TempDir::new()?;
    std::fs::write(cwd.path().join("dot.png"), PNG)?;
    let result = server
        .call(
            "codex",
            json!({"prompt": "what is this?", "cwd": cwd.path(), "images": ["dot.png", "missing.png"]}),
        )
        .await?;
    assert_eq!(
        result["structuredContent"]["content"], "a red dot",
        "{result}"
    );
    let body = &server.model.request_bodies().await[0];
    let (items, key): (&Vec<Value>, &str) = match wire {
        Wire::Responses => (body["input"].as_array().expect("input"), "content"),
        Wire::Chat => (body["messages"].as_array().expect("messages"), "content"),
    };
    let last = items.last().expect("the user's message");
    assert_eq!(last["role"], "user");
    let parts = last[key].as_array().expect("parts");
    let expected = match wire {
        Wire::Responses => json!([
            {"type": "input_text", "text": "what is this?"},
            {"type": "input_image", "image_url": PNG_URL},
            {"type": "input_text", "text": format!("[an image was given but not attached: cannot read image {}: No such file or directory (os error 2)]", cwd.path().join("missing.png").display())},
        ]),
        Wire::Chat => json!([
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": PNG_URL}},
            {"type": "text", "text": format!("[an image was given but not attached: cannot read image {}: No such file or directory (os error 2)]", cwd.path().join("missing.png").display())},
        ]),
    };
    assert_eq!(Value::Array(parts.clone()), expected);
    Ok(())
}
both_wires!(images_with_a_prompt);

#[tokio::test]
async fn view_image_attaches_the_image_after_the_call() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let cwd = TempDir::new()?;
    std::fs::write(cwd.path().join("shot.png"), PNG)?;
    server
        .model
        .mount_sse_sequence(vec![
            sse(&[
                ev_response_created("r1"),
                ev_function_call(
                    "call-v",
                    "view_image",
                    &json!({"path": "shot.png"}).to_string(),
                ),
                ev_completed("r1"),
            ]),
            assistant_answer("seen"),
        ])
        .await;
    let result = server
        .call(
            "codex",
            json!({"prompt": "look", "cwd": cwd.path(), "model": "gpt-5.2-codex"}),
        )
        .await?;
    assert_eq!(result["structuredContent"]["content"], "seen", "{result}");
    let bodies = server.model.request_bodies().await;
    let offered: Vec<&str> = bodies[0]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert!(offered.contains(&"view_image"), "{offered:?}");
    assert_eq!(
        server.output_seen_by_model("call-v").await,
        format!(
            "attached local image {}",
            cwd.path().join("shot.png").display()
        )
    );
    let input = bodies[1]["input"].as_array().expect("input");
    assert_eq!(
        input.last(),
        Some(
            &json!({"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": PNG_URL}]})
        )
    );
    Ok(())
}

#[tokio::test]
async fn web_search_is_offered_when_enabled_and_reported_as_events() -> anyhow::Result<()> {
    let mut server = TestServer::start("[tools]\nweb_search = true", &[]).await?;
    let search = |kind: &str| {
        json!({"type": kind, "item": {
            "type": "web_search_call", "id": "ws_1", "status": "completed",
            "action": {"type": "search", "query": "rust 2024 edition"}
        }})
    };
    server
        .model
        .mount_sse_sequence(vec![
            sse(&[
                ev_response_created("r1"),
                search("response.output_item.added"),
                search("response.output_item.done"),
                ev_assistant_message("m1", "found it"),
                ev_completed("r1"),
            ]),
            assistant_answer("again"),
        ])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "look it up"}))
        .await?;
    let begin = server
        .mcp
        .read_until(|m| {
            m["method"] == "codex/event" && m["params"]["msg"]["type"] == "web_search_begin"
        })
        .await?;
    assert_eq!(
        begin["params"]["msg"],
        json!({"type": "web_search_begin", "call_id": "ws_1"})
    );
    let end = server
        .mcp
        .read_until(|m| {
            m["method"] == "codex/event" && m["params"]["msg"]["type"] == "web_search_end"
        })
        .await?;
    assert_eq!(
        end["params"]["msg"],
        json!({"type": "web_search_end", "call_id": "ws_1", "query": "rust 2024 edition"})
    );
    let response = server.mcp.read_until_response(id).await?;
    let thread = super::thread_id(&response["result"]);
    server
        .call("codex-reply", json!({"threadId": thread, "prompt": "more"}))
        .await?;
    let bodies = server.model.request_bodies().await;
    assert!(
        bodies[0]["tools"]
            .as_array()
            .is_some_and(|tools| tools.contains(&json!({"type": "web_search"}))),
        "{}",
        bodies[0]["tools"]
    );
    // The search goes back with the history, without the provider's id.
    let sent_back: Vec<&Value> = bodies[1]["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == "web_search_call")
        .collect();
    assert_eq!(
        sent_back,
        vec![
            &json!({"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "rust 2024 edition"}})
        ]
    );
    Ok(())
}
