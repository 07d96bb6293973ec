//! Opt-in: a real OpenAI-compatible server with a real model answers through `wire_api = "chat"`.
//!
//! Start one (README, "Testing against a real local model"), then run
//! `CODEX_E2E_CHAT_BASE_URL=http://127.0.0.1:8080/v1 cargo test -p codex-mcp-server -- --ignored local_model`.

use serde_json::json;

use super::CODEX_BIN;

#[tokio::test]
#[ignore = "needs a local OpenAI-compatible server: set CODEX_E2E_CHAT_BASE_URL (see README)"]
async fn a_real_local_model_answers_through_chat_completions() -> anyhow::Result<()> {
    let base_url = std::env::var("CODEX_E2E_CHAT_BASE_URL").map_err(|_| {
        anyhow::anyhow!("set CODEX_E2E_CHAT_BASE_URL, e.g. http://127.0.0.1:8080/v1")
    })?;
    let model = std::env::var("CODEX_E2E_CHAT_MODEL").unwrap_or_else(|_| "smollm2".to_string());
    let home = tempfile::TempDir::new()?;
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            r#"model = "{model}"
model_provider = "local"
approval_policy = "never"

[model_providers.local]
name = "local"
base_url = "{base_url}"
wire_api = "chat"
request_max_retries = 1
"#
        ),
    )?;
    let mut mcp = codex_test_support::McpProcess::spawn(CODEX_BIN, home.path()).await?;
    mcp.initialize().await?;
    let id = mcp
        .call_tool(
            "codex",
            json!({"prompt": "Say hello in one short sentence.", "base-instructions": "You are a friendly assistant. Answer briefly."}),
        )
        .await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(result["isError"], false, "{result}");
    let answer = result["structuredContent"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !answer.trim().is_empty(),
        "the model answered nothing: {result}"
    );
    eprintln!("local model answered: {answer}");
    Ok(())
}
