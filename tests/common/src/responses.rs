//! Builders for Responses API server-sent events, as a provider streams them.

use serde_json::Value;
use serde_json::json;

/// An SSE body: one `event:` / `data:` pair per event.
pub fn sse(events: &[Value]) -> String {
    let mut body = String::new();
    for event in events {
        let kind = event["type"].as_str().unwrap_or("message");
        body.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
    }
    body
}

pub fn ev_response_created(id: &str) -> Value {
    json!({"type": "response.created", "response": {"id": id}})
}

pub fn ev_output_text_delta(delta: &str) -> Value {
    json!({"type": "response.output_text.delta", "delta": delta})
}

pub fn ev_assistant_message(id: &str, text: &str) -> Value {
    json!({
        "type": "response.output_item.done",
        "item": {
            "type": "message", "role": "assistant", "id": id, "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]
        }
    })
}

pub fn ev_function_call(call_id: &str, name: &str, arguments: &str) -> Value {
    json!({
        "type": "response.output_item.done",
        "item": {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}
    })
}

pub fn ev_completed(id: &str) -> Value {
    json!({
        "type": "response.completed",
        "response": {"id": id, "usage": {
            "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15
        }}
    })
}

/// A whole response that answers `text` and stops.
pub fn assistant_answer(text: &str) -> String {
    sse(&[
        ev_response_created("resp-1"),
        ev_output_text_delta(text),
        ev_assistant_message("msg-1", text),
        ev_completed("resp-1"),
    ])
}

/// The `(role, text)` of every message in a request body, Responses (`input`) or Chat
/// Completions (`messages`) alike, in order.
pub fn conversation_texts(body: &Value) -> Vec<(String, String)> {
    let text_of = |item: &Value| -> Option<(String, String)> {
        let role = item["role"].as_str()?.to_string();
        let text = match &item["content"] {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            _ => return None,
        };
        Some((role, text))
    };
    let items = body["input"]
        .as_array()
        .or_else(|| body["messages"].as_array());
    items
        .into_iter()
        .flatten()
        .filter(|item| item.get("type").is_none_or(|t| t == "message"))
        .filter_map(text_of)
        .collect()
}

/// The text of the last `user` message in a request body (either wire API).
pub fn last_user_text(body: &Value) -> Option<String> {
    conversation_texts(body)
        .into_iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, text)| text)
}

/// A response in which the model calls `shell` with `argv` (and optional extra arguments such
/// as `workdir` or `timeout_ms`).
pub fn shell_call(call_id: &str, argv: &[&str], extra: Value) -> String {
    let mut arguments = json!({"command": argv});
    if let (Some(arguments), Value::Object(extra)) = (arguments.as_object_mut(), extra) {
        arguments.extend(extra);
    }
    sse(&[
        ev_response_created("resp-call"),
        ev_function_call(call_id, "shell", &arguments.to_string()),
        ev_completed("resp-call"),
    ])
}

/// The output of tool call `call_id` in a request body (either wire API).
pub fn function_call_output(body: &Value, call_id: &str) -> Option<String> {
    if let Some(messages) = body["messages"].as_array() {
        return messages
            .iter()
            .find(|m| m["role"] == "tool" && m["tool_call_id"] == call_id)
            .and_then(|m| m["content"].as_str())
            .map(str::to_string);
    }
    body["input"]
        .as_array()?
        .iter()
        .find(|item| item["type"] == "function_call_output" && item["call_id"] == call_id)
        .and_then(|item| item["output"].as_str())
        .map(str::to_string)
}
