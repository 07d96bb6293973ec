//! `request_user_input`: the model's questions reach the host as a form, in a legacy session
//! as `elicitation/create` (the 2026-07-28 round trip is in `modern.rs`), and a host that cannot
//! be asked gives the model a clear answer instead of a hang.

use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::ev_completed;
use codex_test_support::responses::ev_function_call;
use codex_test_support::responses::ev_response_created;
use codex_test_support::responses::sse;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;

use super::TestServer;

/// The model's call: one question with two choices.
pub(crate) fn ask_database() -> String {
    let arguments = json!({"questions": [{
        "id": "db",
        "header": "Database",
        "question": "Which database should the service use?",
        "options": [
            {"label": "postgres", "description": "a server"},
            {"label": "sqlite", "description": "a file"}
        ]
    }]});
    sse(&[
        ev_response_created("r1"),
        ev_function_call("call-q", "request_user_input", &arguments.to_string()),
        ev_completed("r1"),
    ])
}

/// Runs a `codex` call whose model asks, answering every elicitation with `reply`; returns the
/// elicitations and what the model was told.
async fn ask(server: &mut TestServer, reply: Value) -> anyhow::Result<(Vec<Value>, String)> {
    server
        .model
        .mount_sse_sequence(vec![ask_database(), assistant_answer("done")])
        .await;
    let id = server
        .mcp
        .call_tool(
            "codex",
            json!({"prompt": "set it up", "model": "gpt-5.2-codex"}),
        )
        .await?;
    let mut elicitations = Vec::new();
    let response = loop {
        let message = server.mcp.read_message().await?;
        if message["method"] == "elicitation/create" {
            elicitations.push(message["params"].clone());
            server
                .mcp
                .send_response(message["id"].clone(), reply.clone())
                .await?;
        } else if message.get("method").is_none() && message["id"] == json!(id) {
            break message;
        }
    };
    assert_eq!(
        response["result"]["structuredContent"]["content"], "done",
        "{response}"
    );
    Ok((elicitations, server.output_seen_by_model("call-q").await))
}

#[tokio::test]
async fn the_questions_are_a_form_and_the_choice_reaches_the_model() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let (elicitations, told) = ask(
        &mut server,
        json!({"action": "accept", "content": {"db": "sqlite"}}),
    )
    .await?;
    assert_eq!(elicitations.len(), 1);
    let params = &elicitations[0];
    assert_eq!(params["codex_elicitation"], "user-input");
    assert_eq!(params["codex_call_id"], "call-q");
    assert_eq!(params["message"], "Which database should the service use?");
    assert_eq!(
        params["requestedSchema"],
        json!({"type": "object", "properties": {"db": {
            "type": "string", "title": "Database",
            "description": "Which database should the service use?",
            "enum": ["postgres", "sqlite"],
            "enumNames": ["postgres: a server", "sqlite: a file"]
        }}})
    );
    assert_eq!(params["codex_questions"][0]["id"], "db");
    assert_eq!(told, r#"{"answers":{"db":"sqlite"}}"#);
    Ok(())
}

#[tokio::test]
async fn a_decline_tells_the_model_nobody_answered() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let (_, told) = ask(&mut server, json!({"action": "decline"})).await?;
    assert!(
        told.starts_with("No answer: the user declined to answer."),
        "{told}"
    );
    Ok(())
}

#[tokio::test]
async fn a_host_without_elicitation_is_not_asked_and_the_turn_goes_on() -> anyhow::Result<()> {
    let mut server = TestServer::start_with_capabilities("", json!({})).await?;
    let (elicitations, told) = ask(&mut server, json!({})).await?;
    assert!(elicitations.is_empty());
    assert!(
        told.starts_with("No answer: the MCP client cannot be asked"),
        "{told}"
    );
    assert!(told.contains("decide yourself"), "{told}");
    Ok(())
}
