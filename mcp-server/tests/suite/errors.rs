//! Bad input and provider failures become `isError` results, and the server keeps serving.

use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use wiremock::ResponseTemplate;

use super::TestServer;

fn error_text(result: &Value) -> &str {
    assert_eq!(
        result["isError"], true,
        "expected an error result: {result}"
    );
    result["content"][0]["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn bad_arguments_are_tool_errors() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;

    let cases = [
        (
            "teleport",
            json!({"prompt": "x"}),
            "Unknown tool 'teleport'; this server offers the tools `codex` and `codex-reply`.",
        ),
        (
            "codex",
            json!({}),
            "Invalid arguments for the `codex` tool: missing field `prompt`",
        ),
        (
            "codex",
            json!({"prompt": 5}),
            "Invalid arguments for the `codex` tool: `prompt`: invalid type: integer `5`, expected a string",
        ),
        (
            "codex",
            json!({"prompt": "x", "approval-policy": "sometimes"}),
            "Invalid arguments for the `codex` tool: `approval-policy`: unknown variant `sometimes`, expected one of `untrusted`, `on-failure`, `on-request`, `never`",
        ),
        (
            "codex-reply",
            json!({"prompt": "x"}),
            "`threadId` is required: pass the threadId returned by the `codex` tool",
        ),
        (
            "codex-reply",
            json!({"prompt": "x", "threadId": "not-a-uuid"}),
            "`not-a-uuid` is not a valid thread id (expected a UUID such as the threadId returned by `codex`)",
        ),
        (
            "codex-reply",
            json!({"prompt": "x", "threadId": "0192f0c1-0000-7000-8000-000000000000"}),
            "no conversation with id 0192f0c1-0000-7000-8000-000000000000; start a new one with the `codex` tool",
        ),
        (
            "codex",
            json!({"prompt": "x", "profile": "nope"}),
            "Failed to load Codex configuration: config profile `nope` not found in config.toml",
        ),
    ];
    for (tool, arguments, expected) in cases {
        let result = server.call(tool, arguments.clone()).await?;
        assert_eq!(error_text(&result), expected, "{tool} {arguments}");
        assert_eq!(
            result.get("structuredContent"),
            None,
            "no thread exists yet"
        );
    }

    // No arguments at all.
    let id = server
        .mcp
        .send_request("tools/call", json!({"name": "codex"}))
        .await?;
    let response = server.mcp.read_until_response(id).await?;
    assert_eq!(
        error_text(&response["result"]),
        "Missing arguments for the `codex` tool; the `prompt` field is required."
    );

    // Still serving.
    let id = server.mcp.send_request("ping", json!({})).await?;
    assert_eq!(
        server.mcp.read_until_response(id).await?["result"],
        json!({})
    );
    assert!(
        server.model.requests().await.is_empty(),
        "nothing reached the model"
    );
    Ok(())
}

#[tokio::test]
async fn provider_rejection_is_a_tool_error_with_the_thread() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    server
        .model
        .mount_sequence(
            vec![
                ResponseTemplate::new(401)
                    .set_body_json(json!({"error": {"message": "Incorrect API key provided"}})),
                codex_test_support::sse_response(codex_test_support::responses::assistant_answer(
                    "recovered",
                )),
            ],
            2,
        )
        .await;

    let result = server.call("codex", json!({"prompt": "hi"})).await?;
    let text = error_text(&result).to_string();
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("Incorrect API key provided"), "{text}");
    let thread = super::thread_id(&result);
    assert_eq!(result["structuredContent"]["content"], text.as_str());

    // The conversation survives the failed turn.
    let result = server
        .call(
            "codex-reply",
            json!({"prompt": "again", "threadId": thread}),
        )
        .await?;
    assert_eq!(result["structuredContent"]["content"], "recovered");
    Ok(())
}
