//! Shell commands under approval policies, with approvals asked as MCP elicitations.

use std::path::Path;

use codex_test_support::Wire;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::function_call_output;
use codex_test_support::responses::shell_call;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::TestServer;

const REJECTED: &str = "exec command rejected by user";

fn is_elicitation(message: &Value) -> bool {
    message["method"] == "elicitation/create"
}

/// The model asks to `touch created.txt` in `cwd`, then says "done".
async fn start_touch_conversation(server: &mut TestServer, cwd: &Path) -> anyhow::Result<i64> {
    let wire = server.model.wire();
    server
        .model
        .mount_sse_sequence(vec![
            wire.shell_call("call-1", &["touch", "created.txt"], json!({})),
            wire.answer("done"),
        ])
        .await;
    server
        .mcp
        .call_tool("codex", json!({"prompt": "make a file", "cwd": cwd}))
        .await
}

/// Answers the next elicitation with `reply` and returns the call's result.
async fn answer_elicitation(
    server: &mut TestServer,
    id: i64,
    reply: Value,
) -> anyhow::Result<Value> {
    let request = server.mcp.read_until(is_elicitation).await?;
    server
        .mcp
        .send_response(request["id"].clone(), reply)
        .await?;
    let response = server.mcp.read_until_response(id).await?;
    Ok(response["result"].clone())
}

both_wires!(accepted_elicitation_runs_the_command);
async fn accepted_elicitation_runs_the_command(wire: Wire) -> anyhow::Result<()> {
    let mut server = TestServer::start_wire(wire, r#"approval_policy = "untrusted""#, &[]).await?;
    let cwd = TempDir::new()?;
    let id = start_touch_conversation(&mut server, cwd.path()).await?;

    let request = server.mcp.read_until(is_elicitation).await?;
    let thread = server.mcp.events_for(id)[0]["params"]["_meta"]["threadId"].clone();
    // No `_meta`: in particular no progress token the host never sent.
    let params = request["params"].clone();
    assert_eq!(
        params,
        json!({
            "message": format!("Allow Codex to run `touch created.txt` in `{}`?", cwd.path().display()),
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "decision": {
                        "type": "string",
                        "title": "Decision",
                        "description": "Approve once, approve for the rest of this conversation, deny (the agent continues without it), or abort the agent's turn.",
                        "enum": ["approved", "approved_for_session", "denied", "abort"],
                        "enumNames": ["Approve once", "Approve for this conversation", "Deny", "Abort the turn"],
                        "default": "approved"
                    }
                }
            },
            "threadId": thread,
            "codex_elicitation": "exec-approval",
            "codex_mcp_tool_call_id": id.to_string(),
            "codex_event_id": id.to_string(),
            "codex_call_id": "call-1",
            "codex_command": ["touch", "created.txt"],
            "codex_cwd": cwd.path().display().to_string(),
            "codex_parsed_cmd": [{"type": "unknown", "cmd": "touch created.txt"}]
        })
    );
    server
        .mcp
        .send_response(request["id"].clone(), json!({"action": "accept"}))
        .await?;
    let result = server.mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(result["structuredContent"]["content"], "done");
    assert!(cwd.path().join("created.txt").exists());
    let output: Value = serde_json::from_str(&server.output_seen_by_model("call-1").await)?;
    assert_eq!(output["metadata"]["exit_code"], 0);
    assert_eq!(output["output"], "");
    Ok(())
}

#[tokio::test]
async fn legacy_approval_and_both_denials() -> anyhow::Result<()> {
    for (reply, runs) in [
        (json!({"decision": "approved"}), true),
        (json!({"action": "decline"}), false),
        (json!({"decision": "denied"}), false),
        // Contradictions deny.
        (json!({"action": "accept", "decision": "denied"}), false),
        (json!({"action": "accept", "content": "approved"}), false),
    ] {
        let mut server = TestServer::start(r#"approval_policy = "untrusted""#, &[]).await?;
        let cwd = TempDir::new()?;
        let id = start_touch_conversation(&mut server, cwd.path()).await?;
        let result = answer_elicitation(&mut server, id, reply.clone()).await?;
        assert_eq!(result["structuredContent"]["content"], "done", "{reply}");
        assert_eq!(cwd.path().join("created.txt").exists(), runs, "{reply}");
        if !runs {
            assert_eq!(
                server.output_seen_by_model("call-1").await,
                REJECTED,
                "{reply}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn approved_for_session_is_asked_once() -> anyhow::Result<()> {
    let mut server = TestServer::start(r#"approval_policy = "untrusted""#, &[]).await?;
    let cwd = TempDir::new()?;
    server
        .model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["touch", "created.txt"], json!({})),
            shell_call("call-2", &["touch", "created.txt"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "twice", "cwd": cwd.path()}))
        .await?;
    let result = answer_elicitation(
        &mut server,
        id,
        json!({"action": "accept", "content": {"decision": "approved_for_session"}}),
    )
    .await?;
    assert_eq!(result["structuredContent"]["content"], "done");
    let elicitations = server
        .mcp
        .take_others()
        .into_iter()
        .filter(is_elicitation)
        .count();
    assert_eq!(elicitations, 0, "the second run was not asked about");
    let second: Value = serde_json::from_str(&server.output_seen_by_model("call-2").await)?;
    assert_eq!(second["metadata"]["exit_code"], 0);
    Ok(())
}

#[tokio::test]
async fn cancel_aborts_the_turn_and_still_answers() -> anyhow::Result<()> {
    let mut server = TestServer::start(r#"approval_policy = "untrusted""#, &[]).await?;
    let cwd = TempDir::new()?;
    server
        .model
        .mount_sse_sequence(vec![shell_call(
            "call-1",
            &["touch", "created.txt"],
            json!({}),
        )])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "make a file", "cwd": cwd.path()}))
        .await?;
    let result = answer_elicitation(&mut server, id, json!({"action": "cancel"})).await?;
    assert_eq!(result["isError"], true);
    assert_eq!(
        result["content"][0]["text"],
        "The turn was aborted before it finished; call `codex-reply` to continue."
    );
    assert!(!cwd.path().join("created.txt").exists());
    let aborted =
        server.mcp.events_for(id).iter().any(|e| {
            e["params"]["msg"] == json!({"type": "turn_aborted", "reason": "interrupted"})
        });
    assert!(aborted, "turn_aborted was emitted");
    Ok(())
}

#[tokio::test]
async fn without_elicitation_support_the_fallback_denies() -> anyhow::Result<()> {
    let model = codex_test_support::MockModel::start().await;
    let home = TempDir::new()?;
    codex_test_support::write_mock_config(
        home.path(),
        &model.base_url(),
        r#"approval_policy = "untrusted""#,
    )?;
    let mut mcp = codex_test_support::McpProcess::spawn(super::CODEX_BIN, home.path()).await?;
    mcp.initialize_with_capabilities(json!({})).await?;
    let cwd = TempDir::new()?;
    model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["touch", "created.txt"], json!({})),
            assistant_answer("could not create it"),
        ])
        .await;
    let id = mcp
        .call_tool("codex", json!({"prompt": "make a file", "cwd": cwd.path()}))
        .await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(
        result["structuredContent"]["content"],
        "could not create it\n\nApproval to run `touch created.txt` could not be requested: the MCP client did not declare elicitation for this call, so it was denied by the configured fallback (approvals.fallback)."
    );
    assert!(
        !mcp.take_others().iter().any(is_elicitation),
        "no elicitation was sent"
    );
    assert!(!cwd.path().join("created.txt").exists());
    let bodies = model.request_bodies().await;
    let output = bodies
        .iter()
        .find_map(|b| function_call_output(b, "call-1"))
        .expect("output reached the model");
    assert!(
        output.starts_with("exec command rejected by user: approval unavailable"),
        "{output}"
    );
    Ok(())
}

#[tokio::test]
async fn an_error_reply_denies() -> anyhow::Result<()> {
    let mut server = TestServer::start(r#"approval_policy = "untrusted""#, &[]).await?;
    let cwd = TempDir::new()?;
    let id = start_touch_conversation(&mut server, cwd.path()).await?;
    let request = server.mcp.read_until(is_elicitation).await?;
    server
        .mcp
        .send_message(&json!({
            "jsonrpc": "2.0", "id": request["id"],
            "error": {"code": -32600, "message": "Elicitation not supported"}
        }))
        .await?;
    let result = server.mcp.read_until_response(id).await?["result"].clone();
    assert!(
        result["structuredContent"]["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("done"),
        "{result}"
    );
    assert!(!cwd.path().join("created.txt").exists());
    let output = server.output_seen_by_model("call-1").await;
    assert!(
        output.starts_with("exec command rejected by user: approval request failed"),
        "{output}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unanswered_elicitation_times_out_as_a_denial() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        "approval_policy = \"untrusted\"\n[approvals]\ntimeout_secs = 1",
        &[],
    )
    .await?;
    let cwd = TempDir::new()?;
    let id = start_touch_conversation(&mut server, cwd.path()).await?;
    server.mcp.read_until(is_elicitation).await?;
    // Unanswered, the question can only end by timing out; the note below says it did.
    let result = server.mcp.read_until_response(id).await?["result"].clone();
    assert!(
        result["structuredContent"]["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("done"),
        "{result}"
    );
    assert!(!cwd.path().join("created.txt").exists());
    let output = server.output_seen_by_model("call-1").await;
    assert!(output.contains("no answer within 1 s"), "{output}");
    Ok(())
}

#[tokio::test]
async fn approvals_in_two_conversations_resolve_independently() -> anyhow::Result<()> {
    let mut server = TestServer::start(r#"approval_policy = "untrusted""#, &[]).await?;
    // Each conversation asks to touch a file named after its prompt, then says "done".
    server
        .model
        .mount_script(|body| {
            let input = body["input"].as_array().cloned().unwrap_or_default();
            match input.last() {
                Some(last) if last["type"] == "function_call_output" => assistant_answer("done"),
                _ => {
                    let name =
                        codex_test_support::responses::last_user_text(body).unwrap_or_default();
                    shell_call(&format!("call-{name}"), &["touch", &name], json!({}))
                }
            }
        })
        .await;
    let dir_a = TempDir::new()?;
    let dir_b = TempDir::new()?;
    let id_a = server
        .mcp
        .call_tool("codex", json!({"prompt": "a", "cwd": dir_a.path()}))
        .await?;
    let id_b = server
        .mcp
        .call_tool("codex", json!({"prompt": "b", "cwd": dir_b.path()}))
        .await?;

    let first = server.mcp.read_until(is_elicitation).await?;
    let second = server.mcp.read_until(is_elicitation).await?;
    let (ask_a, ask_b) = if first["params"]["codex_call_id"] == "call-a" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(ask_a["params"]["codex_mcp_tool_call_id"], id_a.to_string());
    assert_eq!(ask_b["params"]["codex_mcp_tool_call_id"], id_b.to_string());
    // Answer in the opposite order from the one they were asked in.
    server
        .mcp
        .send_response(ask_b["id"].clone(), json!({"action": "accept"}))
        .await?;
    server
        .mcp
        .send_response(ask_a["id"].clone(), json!({"action": "decline"}))
        .await?;

    for id in [id_a, id_b] {
        let result = server.mcp.read_until_response(id).await?["result"].clone();
        assert_eq!(result["structuredContent"]["content"], "done");
    }
    assert!(!dir_a.path().join("a").exists(), "a was declined");
    assert!(dir_b.path().join("b").exists(), "b was approved");
    Ok(())
}

#[tokio::test]
async fn command_events_stream_to_the_host() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        "approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"",
        &[],
    )
    .await?;
    let cwd = TempDir::new()?;
    server
        .model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["echo", "hi"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let result = server
        .call("codex", json!({"prompt": "say hi", "cwd": cwd.path()}))
        .await?;
    assert_eq!(result["structuredContent"]["content"], "done");
    let events: Vec<Value> = server
        .mcp
        .take_others()
        .into_iter()
        .map(|m| m["params"]["msg"].clone())
        .filter(|msg| {
            msg["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("exec_command"))
        })
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[0],
        json!({
            "type": "exec_command_begin", "call_id": "call-1", "command": ["echo", "hi"],
            "cwd": cwd.path(), "parsed_cmd": [{"type": "unknown", "cmd": "echo hi"}]
        })
    );
    assert_eq!(
        events[1],
        json!({"type": "exec_command_output_delta", "call_id": "call-1", "stream": "stdout", "chunk": "aGkK"})
    );
    let end = &events[2];
    assert_eq!(end["type"], "exec_command_end");
    assert_eq!(end["exit_code"], 0);
    assert_eq!(end["stdout"], "hi\n");
    assert_eq!(end["stderr"], "");
    assert_eq!(end["aggregated_output"], "hi\n");
    let formatted: Value =
        serde_json::from_str(end["formatted_output"].as_str().unwrap_or_default())?;
    assert_eq!(formatted["output"], "hi\n");
    Ok(())
}
