//! Approval resolution in process: every way a host can answer an approval (or fail to)
//! becomes a decision for the engine, and what the host and the model are told.

use codex_test_support::MockModel;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::function_call_output;
use codex_test_support::responses::shell_call;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::InProcessServer;
use super::Settings;
use super::is_elicitation;

const UNTRUSTED: &str = "approval_policy = \"untrusted\"";

/// A server whose model asks to `touch created.txt` and then says "done", and a `codex`
/// call in `cwd` that starts it; returns the call's id.
async fn touch_call(
    top_level: &str,
    cwd: &TempDir,
    elicitation: bool,
) -> anyhow::Result<(MockModel, InProcessServer, i64)> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["touch", "created.txt"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let settings = Settings::new(top_level);
    let write = |home: &std::path::Path, top: &str| model.write_in_process_config(home, top);
    let mut server = if elicitation {
        InProcessServer::start(settings, write).await?
    } else {
        let mut server = InProcessServer::start_uninitialized(settings, write).await?;
        server.mcp.initialize_with_capabilities(json!({})).await?;
        server
    };
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "make a file", "cwd": cwd.path()}))
        .await?;
    Ok((model, server, id))
}

/// The result's text content.
fn content(response: &Value) -> String {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn told_the_model(model: &MockModel) -> String {
    model
        .request_bodies()
        .await
        .iter()
        .find_map(|body| function_call_output(body, "call-1"))
        .expect("the call is answered")
}

#[tokio::test]
async fn an_accepted_elicitation_runs_the_command() -> anyhow::Result<()> {
    let cwd = TempDir::new()?;
    let (_model, mut server, id) = touch_call(UNTRUSTED, &cwd, true).await?;
    let asked = server.mcp.read_until(is_elicitation).await?;
    let params = &asked["params"];
    assert_eq!(params["codex_elicitation"], "exec-approval", "{params}");
    assert_eq!(params["codex_command"], json!(["touch", "created.txt"]));
    assert_eq!(params["codex_call_id"], "call-1");
    assert_eq!(params["codex_mcp_tool_call_id"], json!(id.to_string()));
    assert!(
        !cwd.path().join("created.txt").exists(),
        "not before the answer"
    );
    server
        .mcp
        .send_response(asked["id"].clone(), json!({"action": "accept"}))
        .await?;
    let result = server.mcp.read_until_response(id).await?;
    assert_eq!(content(&result), "done");
    assert!(cwd.path().join("created.txt").exists());
    Ok(())
}

#[tokio::test]
async fn a_declined_elicitation_denies_and_the_model_hears_it() -> anyhow::Result<()> {
    let cwd = TempDir::new()?;
    let (model, mut server, id) = touch_call(UNTRUSTED, &cwd, true).await?;
    let asked = server.mcp.read_until(is_elicitation).await?;
    server
        .mcp
        .send_response(asked["id"].clone(), json!({"action": "decline"}))
        .await?;
    let result = server.mcp.read_until_response(id).await?;
    assert_eq!(content(&result), "done");
    assert!(!cwd.path().join("created.txt").exists());
    let told = told_the_model(&model).await;
    assert!(told.starts_with("exec command rejected by user"), "{told}");
    Ok(())
}

#[tokio::test]
async fn an_error_reply_is_a_denial_with_a_note() -> anyhow::Result<()> {
    let cwd = TempDir::new()?;
    let (model, mut server, id) = touch_call(UNTRUSTED, &cwd, true).await?;
    let asked = server.mcp.read_until(is_elicitation).await?;
    server
        .mcp
        .send_message(&json!({
            "jsonrpc": "2.0", "id": asked["id"],
            "error": {"code": -32600, "message": "Elicitation not supported"}
        }))
        .await?;
    let result = server.mcp.read_until_response(id).await?;
    let text = content(&result);
    assert!(
        text.starts_with(
            "done\n\nApproval to run `touch created.txt` was denied because the request failed"
        ),
        "{text}"
    );
    assert!(!cwd.path().join("created.txt").exists());
    let told = told_the_model(&model).await;
    assert!(
        told.starts_with("exec command rejected by user: approval request failed"),
        "{told}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unanswered_elicitation_times_out_as_a_denial() -> anyhow::Result<()> {
    let cwd = TempDir::new()?;
    let config = format!("{UNTRUSTED}\n[approvals]\ntimeout_secs = 1");
    let (model, mut server, id) = touch_call(&config, &cwd, true).await?;
    server.mcp.read_until(is_elicitation).await?;
    // No answer: only the timeout can end the wait, and the note says it did.
    let result = server.mcp.read_until_response(id).await?;
    let text = content(&result);
    assert!(text.starts_with("done"), "{text}");
    assert!(
        text.contains("no answer within 1 s (approvals.timeout_secs)"),
        "{text}"
    );
    assert!(!cwd.path().join("created.txt").exists());
    let told = told_the_model(&model).await;
    assert!(told.contains("no answer within 1 s"), "{told}");
    Ok(())
}

#[tokio::test]
async fn without_elicitation_the_fallback_denies_with_a_note() -> anyhow::Result<()> {
    let cwd = TempDir::new()?;
    let (model, mut server, id) = touch_call(UNTRUSTED, &cwd, false).await?;
    let result = server.mcp.read_until_response(id).await?;
    assert_eq!(
        content(&result),
        "done\n\nApproval to run `touch created.txt` could not be requested: the MCP client did not declare elicitation for this call, so it was denied by the configured fallback (approvals.fallback)."
    );
    let asked: Vec<Value> = server
        .mcp
        .take_others()
        .into_iter()
        .filter(is_elicitation)
        .collect();
    assert_eq!(
        asked,
        Vec::<Value>::new(),
        "a host that cannot answer is not asked"
    );
    assert!(!cwd.path().join("created.txt").exists());
    let told = told_the_model(&model).await;
    assert!(
        told.starts_with("exec command rejected by user: approval unavailable"),
        "{told}"
    );
    Ok(())
}

#[tokio::test]
async fn the_abort_fallback_ends_the_turn() -> anyhow::Result<()> {
    let cwd = TempDir::new()?;
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![shell_call(
            "call-1",
            &["touch", "created.txt"],
            json!({}),
        )])
        .await;
    let settings = Settings::new(&format!("{UNTRUSTED}\n[approvals]\nfallback = \"abort\""));
    let mut server = InProcessServer::start_uninitialized(settings, |home, top| {
        model.write_in_process_config(home, top)
    })
    .await?;
    server.mcp.initialize_with_capabilities(json!({})).await?;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "make a file", "cwd": cwd.path()}))
        .await?;
    server
        .mcp
        .read_until(|m| super::is_codex_event(m, id, "turn_aborted"))
        .await?;
    let result = server.mcp.read_until_response(id).await?;
    assert_eq!(result["result"]["isError"], json!(true), "{result}");
    assert!(!cwd.path().join("created.txt").exists());
    let rollouts = codex_test_support::rollout_files(&server.home().join("sessions"));
    let recorded = std::fs::read_to_string(&rollouts[0])?;
    assert!(recorded.contains(r#""type":"turn_aborted""#), "{recorded}");
    Ok(())
}
