//! What each model family gets: the request body it is sent (tools, reasoning, verbosity,
//! parallel calls, the permissions message), `shell_command`, `phase` kept across a restart, and
//! tool output cut by tokens.

use codex_test_support::Wire;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::ev_completed;
use codex_test_support::responses::ev_function_call;
use codex_test_support::responses::ev_response_created;
use codex_test_support::responses::shell_call;
use codex_test_support::responses::sse;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;

use super::TestServer;
use super::thread_id;

/// The body of the one request a `codex` call with `model` makes, on `wire`.
async fn first_request(wire: Wire, model: &str) -> anyhow::Result<Value> {
    let mut server = TestServer::start_wire(wire, "", &[]).await?;
    server
        .model
        .mount_sse_sequence(vec![wire.answer("ok")])
        .await;
    let result = server
        .call("codex", json!({"prompt": "hi", "model": model}))
        .await?;
    assert_eq!(result["structuredContent"]["content"], "ok", "{result}");
    let bodies = server.model.request_bodies().await;
    Ok(bodies[0].clone())
}

/// The request without what every family shares verbatim (the history and the base
/// instructions), with each tool reduced to its type, name and, for custom tools, format.
fn request_shape(body: &Value) -> Value {
    let mut shape = body.clone();
    if let Some(fields) = shape.as_object_mut() {
        for field in ["input", "instructions", "prompt_cache_key", "messages"] {
            fields.remove(field);
        }
    }
    let tools: Vec<Value> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tool| match tool["type"].as_str() {
            Some("custom") => json!({
                "type": "custom",
                "name": tool["name"],
                "format": {"type": tool["format"]["type"], "syntax": tool["format"]["syntax"]},
            }),
            // Chat Completions nests the function.
            _ if tool.get("function").is_some() => {
                json!({"type": tool["type"], "name": tool["function"]["name"]})
            }
            _ => json!({"type": tool["type"], "name": tool["name"]}),
        })
        .collect();
    shape["tools"] = Value::Array(tools);
    shape
}

fn first_message_text(body: &Value) -> (String, String) {
    let item = body["input"]
        .get(0)
        .or_else(|| body["messages"].get(1))
        .cloned()
        .unwrap_or_default();
    let text = match &item["content"] {
        Value::String(text) => text.clone(),
        content => content[0]["text"].as_str().unwrap_or("").to_string(),
    };
    (item["role"].as_str().unwrap_or("").to_string(), text)
}

#[tokio::test]
async fn gpt_5_2_gets_unified_exec_reasoning_low_verbosity_parallel_calls_and_freeform_patches()
-> anyhow::Result<()> {
    let body = first_request(Wire::Responses, "gpt-5.2").await?;
    assert_eq!(
        request_shape(&body),
        json!({
            "model": "gpt-5.2",
            "tools": [
                {"type": "function", "name": "exec_command"},
                {"type": "function", "name": "write_stdin"},
                {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark"}},
                {"type": "function", "name": "update_plan"},
                {"type": "function", "name": "request_user_input"},
                {"type": "function", "name": "view_image"},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "store": false,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
            "text": {"verbosity": "low"},
        })
    );
    let (role, text) = first_message_text(&body);
    assert_eq!(role, "developer");
    assert!(
        text.starts_with("<permissions>\nSandbox: read-only."),
        "{text}"
    );
    assert!(text.contains("Approvals (on-request)"), "{text}");
    let grammar = body["tools"][2]["format"]["definition"]
        .as_str()
        .unwrap_or("");
    assert!(grammar.contains("*** Begin Patch"), "{grammar}");
    Ok(())
}

#[tokio::test]
async fn gpt_5_2_codex_gets_shell_command_and_no_verbosity() -> anyhow::Result<()> {
    let body = first_request(Wire::Responses, "gpt-5.2-codex").await?;
    assert_eq!(
        request_shape(&body),
        json!({
            "model": "gpt-5.2-codex",
            "tools": [
                {"type": "function", "name": "shell_command"},
                {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark"}},
                {"type": "function", "name": "update_plan"},
                {"type": "function", "name": "request_user_input"},
                {"type": "function", "name": "view_image"},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "store": false,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
        })
    );
    Ok(())
}

#[tokio::test]
async fn o3_gets_the_argv_shell_and_function_patches() -> anyhow::Result<()> {
    let body = first_request(Wire::Responses, "o3").await?;
    assert_eq!(
        request_shape(&body),
        json!({
            "model": "o3",
            "tools": [
                {"type": "function", "name": "shell"},
                {"type": "function", "name": "apply_patch"},
                {"type": "function", "name": "update_plan"},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "reasoning": {"summary": "auto"},
            "store": false,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
        })
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_model_gets_the_plain_defaults() -> anyhow::Result<()> {
    let body = first_request(Wire::Responses, "mock-model").await?;
    assert_eq!(
        request_shape(&body),
        json!({
            "model": "mock-model",
            "tools": [
                {"type": "function", "name": "shell"},
                {"type": "function", "name": "apply_patch"},
                {"type": "function", "name": "update_plan"},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "store": false,
            "stream": true,
            "include": [],
        })
    );
    Ok(())
}

#[tokio::test]
async fn chat_completions_gets_function_tools_only() -> anyhow::Result<()> {
    let body = first_request(Wire::Chat, "gpt-5.2-codex").await?;
    let names: Vec<(&str, &str)> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tool| {
            (
                tool["type"].as_str().unwrap_or(""),
                tool["function"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("function", "shell_command"),
            ("function", "apply_patch"),
            ("function", "update_plan"),
            ("function", "request_user_input"),
            ("function", "view_image")
        ]
    );
    let (role, text) = first_message_text(&body);
    assert!(
        role == "system" || role == "developer",
        "the permissions go first: {role}"
    );
    assert!(text.starts_with("<permissions>"), "{text}");
    Ok(())
}

#[tokio::test]
async fn config_keys_override_the_family() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        "model_shell_tool = \"shell\"\nmodel_apply_patch_tool = \"function\"\nmodel_verbosity = \"high\"\nmodel_parallel_tool_calls = false\nmodel_reasoning_effort = \"high\"",
        &[],
    )
    .await?;
    server
        .model
        .mount_sse_sequence(vec![assistant_answer("ok")])
        .await;
    server
        .call("codex", json!({"prompt": "hi", "model": "gpt-5.2"}))
        .await?;
    let body = server.model.request_bodies().await[0].clone();
    let shape = request_shape(&body);
    assert_eq!(
        shape["tools"],
        json!([
            {"type": "function", "name": "shell"},
            {"type": "function", "name": "apply_patch"},
            {"type": "function", "name": "update_plan"},
            {"type": "function", "name": "request_user_input"},
            {"type": "function", "name": "view_image"},
        ])
    );
    assert_eq!(shape["text"], json!({"verbosity": "high"}));
    assert_eq!(shape["parallel_tool_calls"], json!(false));
    assert_eq!(
        shape["reasoning"],
        json!({"effort": "high", "summary": "auto"})
    );
    Ok(())
}

#[tokio::test]
async fn shell_command_runs_a_script_in_the_users_shell() -> anyhow::Result<()> {
    let mut server = TestServer::start("sandbox_mode = \"danger-full-access\"", &[]).await?;
    let arguments = json!({"command": "echo one; echo two", "login": false});
    server
        .model
        .mount_sse_sequence(vec![
            sse(&[
                ev_response_created("r1"),
                ev_function_call("call-1", "shell_command", &arguments.to_string()),
                ev_completed("r1"),
            ]),
            assistant_answer("done"),
        ])
        .await;
    let result = server
        .call("codex", json!({"prompt": "go", "model": "gpt-5.2-codex"}))
        .await?;
    assert_eq!(result["structuredContent"]["content"], "done", "{result}");
    let output = server.output_seen_by_model("call-1").await;
    let output: Value = serde_json::from_str(&output)?;
    assert_eq!(output["output"], "one\ntwo\n");
    assert_eq!(output["metadata"]["exit_code"], 0);
    Ok(())
}

#[tokio::test]
async fn tool_output_is_cut_by_tokens_with_the_total_given() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        "sandbox_mode = \"danger-full-access\"\ntool_output_token_limit = 100",
        &[],
    )
    .await?;
    server
        .model
        .mount_sse_sequence(vec![
            shell_call(
                "call-1",
                &["bash", "-c", "for i in $(seq 1 2000); do echo line$i; done"],
                json!({}),
            ),
            assistant_answer("done"),
        ])
        .await;
    server.call("codex", json!({"prompt": "go"})).await?;
    let output: Value = serde_json::from_str(&server.output_seen_by_model("call-1").await)?;
    let text = output["output"].as_str().unwrap_or("");
    assert!(text.starts_with("line1\n"), "{text}");
    assert!(text.ends_with("line2000\n"), "{text}");
    assert!(text.len() <= 100 * 4 + 100, "{} bytes", text.len());
    // 2000 lines of 6 to 9 bytes: 16,893 bytes, about 4,224 tokens.
    assert!(text.contains(" of 4224 tokens: "), "{text}");
    assert!(text.contains(" of 2000 lines ...]"), "{text}");
    Ok(())
}

#[tokio::test]
async fn phase_is_sent_back_unchanged_after_a_restart() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let answer = |phase: &str, text: &str| {
        json!({
            "type": "response.output_item.done",
            "item": {
                "type": "message", "role": "assistant", "id": "m", "phase": phase,
                "content": [{"type": "output_text", "text": text}]
            }
        })
    };
    server
        .model
        .mount_sse_sequence(vec![
            sse(&[
                ev_response_created("r1"),
                answer("commentary", "Looking around."),
                answer("final_answer", "All done."),
                ev_completed("r1"),
            ]),
            assistant_answer("again"),
        ])
        .await;
    let first = server
        .call("codex", json!({"prompt": "go", "model": "gpt-5.3-codex"}))
        .await?;
    let thread = thread_id(&first);
    server.restart().await?;
    server
        .call("codex-reply", json!({"threadId": thread, "prompt": "more"}))
        .await?;
    let bodies = server.model.request_bodies().await;
    let phases: Vec<(Value, Value)> = bodies[1]["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["role"] == "assistant")
        .map(|item| (item["phase"].clone(), item["content"][0]["text"].clone()))
        .collect();
    assert_eq!(
        phases,
        vec![
            (json!("commentary"), json!("Looking around.")),
            (json!("final_answer"), json!("All done.")),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn parallel_calls_in_one_response_all_run_and_return_together() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        "approval_policy = \"untrusted\"\nsandbox_mode = \"danger-full-access\"",
        &[],
    )
    .await?;
    let call = |id: &str, script: &str| {
        ev_function_call(
            id,
            "shell_command",
            &json!({"command": script, "login": false}).to_string(),
        )
    };
    server
        .model
        .mount_sse_sequence(vec![
            sse(&[
                ev_response_created("r1"),
                // printf is not on the known-safe list, so each call asks whatever `$SHELL`
                // the test runs under.
                call("call-a", "printf 'alpha\\n'"),
                call("call-b", "printf 'beta\\n'"),
                ev_completed("r1"),
            ]),
            assistant_answer("both done"),
        ])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "go", "model": "gpt-5.2-codex"}))
        .await?;
    // `untrusted` asks about each; the questions come one at a time, in the calls' order.
    let mut asked = Vec::new();
    let response = loop {
        let message = server.mcp.read_message().await?;
        if message["method"] == "elicitation/create" {
            asked.push(message["params"]["codex_call_id"].clone());
            server
                .mcp
                .send_response(message["id"].clone(), json!({"action": "accept"}))
                .await?;
        } else if message.get("method").is_none() && message["id"] == json!(id) {
            break message;
        }
    };
    assert_eq!(
        response["result"]["structuredContent"]["content"],
        "both done"
    );
    assert_eq!(asked, vec![json!("call-a"), json!("call-b")]);
    let bodies = server.model.request_bodies().await;
    assert_eq!(bodies.len(), 2, "one request for both outputs");
    for (call_id, word) in [("call-a", "alpha"), ("call-b", "beta")] {
        let output = codex_test_support::responses::function_call_output(&bodies[1], call_id)
            .unwrap_or_else(|| panic!("no output for {call_id}"));
        assert!(output.contains(word), "{output}");
    }
    Ok(())
}
