//! `initialize` and `tools/list`: the contract hosts configured for the reference depend on.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::TestServer;

#[tokio::test]
async fn initialize_names_the_server_and_offers_tools_and_empty_lists() -> anyhow::Result<()> {
    let model = codex_test_support::MockModel::start().await;
    let home = tempfile::TempDir::new()?;
    codex_test_support::write_mock_config(home.path(), &model.base_url(), "")?;
    let mut mcp = codex_test_support::McpProcess::spawn(super::CODEX_BIN, home.path()).await?;
    let result = mcp.initialize().await?;
    assert_eq!(
        result,
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {
                "tools": {}, "resources": {}, "prompts": {},
                "extensions": {"io.modelcontextprotocol/tasks": {}}
            },
            "serverInfo": {"name": "codex-mcp-server", "title": "Codex", "version": env!("CARGO_PKG_VERSION")}
        })
    );
    Ok(())
}

#[tokio::test]
async fn tools_list_pins_both_tools() -> anyhow::Result<()> {
    let mut server = TestServer::start("", &[]).await?;
    let id = server.mcp.send_request("tools/list", json!({})).await?;
    let response = server.mcp.read_until_response(id).await?;
    let output_schema = json!({
        "type": "object",
        "properties": {
            "threadId": {"type": "string", "description": "Pass this to `codex-reply` to continue the conversation."},
            "content": {"type": "string", "description": "The agent's last message of the turn."}
        },
        "required": ["threadId", "content"]
    });
    let annotations = |title: &str| json!({"title": title, "readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true});
    assert_eq!(
        response["result"]["tools"],
        json!([
            {
                "name": "codex",
                "title": "Codex",
                "description": "Delegate a coding task to Codex, an autonomous coding agent that works in a local directory: it reads files, runs commands and edits code until the task in `prompt` is done, then returns its final message and a `threadId`. Use `codex-reply` with that `threadId` to follow up in the same conversation. A task can take minutes.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "prompt": {"type": "string", "description": "The task for the coding agent, written as you would brief a colleague: what to do, where, and how to know it is done. This is the first user message of a new conversation."},
                        "model": {"type": "string", "description": "Model to use instead of the configured one (e.g. `gpt-5.2`, `gpt-5.2-codex`)."},
                        "profile": {"type": "string", "description": "Name of a `[profiles.<name>]` table in `$CODEX_HOME/config.toml` to take defaults from."},
                        "cwd": {"type": "string", "description": "Working directory of the conversation. A relative path is resolved against the server process's working directory."},
                        "approval-policy": {
                            "type": "string",
                            "enum": ["untrusted", "on-failure", "on-request", "never"],
                            "description": "When the agent must ask before running a command: `untrusted` (ask for anything not known to be read-only), `on-failure` (ask to retry without the sandbox after a failure), `on-request` (ask when the agent wants to leave the sandbox), `never` (never ask)."
                        },
                        "sandbox": {
                            "type": "string",
                            "enum": ["read-only", "workspace-write", "danger-full-access"],
                            "description": "What the agent's commands may touch: `read-only`, `workspace-write` (the working directory and temp dirs), or `danger-full-access` (no sandbox)."
                        },
                        "config": {"type": "object", "additionalProperties": true, "description": "Settings that override `$CODEX_HOME/config.toml`, as dotted keys, e.g. `{\"model_reasoning_effort\": \"high\", \"sandbox_workspace_write.network_access\": true}`."},
                        "base-instructions": {"type": "string", "description": "Instructions to use instead of the agent's built-in ones."},
                        "developer-instructions": {"type": "string", "description": "Extra instructions, sent to the model as a developer message."},
                        "compact-prompt": {"type": "string", "description": "Prompt used when the conversation is compacted."},
                        "images": {"type": "array", "items": {"type": "string"}, "description": "Images to show the agent with the prompt: paths of local image files (png, jpeg, gif, webp), relative to `cwd` or absolute."}
                    },
                    "required": ["prompt"]
                },
                "outputSchema": output_schema,
                "annotations": annotations("Codex")
            },
            {
                "name": "codex-reply",
                "title": "Codex Reply",
                "description": "Continue a Codex conversation: send the next message to the thread started by the `codex` tool (pass its `threadId`). Codex keeps everything it did and said before. Returns its final message for this turn.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "prompt": {"type": "string", "description": "The next user message of the conversation."},
                        "threadId": {"type": "string", "description": "The `threadId` returned by the `codex` call that started the conversation."},
                        "conversationId": {"type": "string", "description": "DEPRECATED: use `threadId` instead."},
                        "images": {"type": "array", "items": {"type": "string"}, "description": "Images to show the agent with the prompt: paths of local image files (png, jpeg, gif, webp), relative to the conversation's working directory or absolute."}
                    },
                    "required": ["prompt"]
                },
                "outputSchema": output_schema,
                "annotations": annotations("Codex Reply")
            }
        ])
    );
    Ok(())
}
