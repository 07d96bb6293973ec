//! A minimal MCP host: launches `codex mcp`, delegates the prompt given on the command line,
//! prints the agent's progress to stderr and its answer to stdout.
//!
//! ```text
//! cargo build -p codex-mcp-server
//! cargo run -p codex-mcp-examples --example delegate -- "add a README to this repo"
//! ```
//!
//! `CODEX_BIN` names the server binary (default `target/debug/codex`).

use anyhow::Context as _;
use rmcp::ClientHandler;
use rmcp::RoleClient;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::model::ClientCapabilities;
use rmcp::model::ClientConfig;
use rmcp::model::CustomNotification;
use rmcp::model::Implementation;
use rmcp::service::NotificationContext;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

/// Shows each `codex/event` as a one-line progress report.
struct ProgressPrinter;

impl ClientHandler for ProgressPrinter {
    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        if notification.method != "codex/event" {
            return;
        }
        let Some(msg) = notification.params.as_ref().map(|p| &p["msg"]) else {
            return;
        };
        match msg["type"].as_str() {
            // Deltas would flood the terminal; the full message follows them.
            Some("agent_message_delta" | "agent_reasoning_delta") | None => {}
            Some("agent_message") => eprintln!("[codex] says: {}", msg["message"]),
            Some(other) => eprintln!("[codex] {other}"),
        }
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("codex-delegate-example", env!("CARGO_PKG_VERSION")),
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let prompt = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    anyhow::ensure!(!prompt.is_empty(), "usage: delegate <prompt>");
    let server = std::env::var("CODEX_BIN").unwrap_or_else(|_| "target/debug/codex".to_string());

    let mut command = tokio::process::Command::new(&server);
    command.arg("mcp");
    let transport =
        TokioChildProcess::new(command).with_context(|| format!("launching {server} mcp"))?;
    let client = ProgressPrinter.serve(transport).await?;

    let arguments = json!({"prompt": prompt});
    let result = client
        .call_tool(
            CallToolRequestParams::new("codex").with_arguments(
                arguments
                    .as_object()
                    .cloned()
                    .context("arguments are an object")?,
            ),
        )
        .await?;
    let answer = result
        .structured_content
        .as_ref()
        .and_then(|s| s["content"].as_str())
        .unwrap_or_default();
    if result.is_error == Some(true) {
        anyhow::bail!("codex failed: {answer}");
    }
    #[expect(clippy::print_stdout, reason = "the answer is this program's output")]
    {
        println!("{answer}");
    }
    if let Some(thread) = result.structured_content.as_ref().map(|s| &s["threadId"]) {
        eprintln!("[codex] continue with codex-reply, threadId {thread}");
    }
    client.cancel().await?;
    Ok(())
}
