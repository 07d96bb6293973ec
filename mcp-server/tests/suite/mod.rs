//! Shared set-up for the integration suites.

/// Runs a test body once per wire API: from `async fn name(wire: Wire) -> anyhow::Result<()>`
/// it makes the tests `name::responses` and `name::chat`.
macro_rules! both_wires {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn responses() -> anyhow::Result<()> {
                super::$name(codex_test_support::Wire::Responses).await
            }

            #[tokio::test]
            async fn chat() -> anyhow::Result<()> {
                super::$name(codex_test_support::Wire::Chat).await
            }
        }
    };
}

mod apply_patch;
mod auth;
mod cli;
mod codex_tool;
mod concurrency;
mod config_precedence;
mod conversation_api;
mod conversations;
mod errors;
mod exec_approval;
mod first_run;
mod http;
mod images_and_search;
mod local_model;
mod long_calls;
mod mcp_servers;
mod model_families;
mod modern;
mod retries;
mod sandbox;
// Escapes from the Linux sandbox, tried with Unix tools.
#[cfg(unix)]
mod sandbox_escapes;
mod saved_config;
mod shell;
mod tidy;
mod tools_list;
mod transport;
mod user_input;

use codex_test_support::McpProcess;
use codex_test_support::MockModel;
use codex_test_support::Wire;
use serde_json::Value;
use tempfile::TempDir;

pub(crate) const CODEX_BIN: &str = env!("CARGO_BIN_EXE_codex");
/// The same program under the name that does not collide with OpenAI's CLI.
pub(crate) const CODEX_MCP_BIN: &str = env!("CARGO_BIN_EXE_codex-mcp");

/// A running server with its own `CODEX_HOME`, configured for the mock provider.
pub(crate) struct TestServer {
    pub(crate) mcp: McpProcess,
    pub(crate) model: MockModel,
    /// Kept alive for the server's lifetime: it is the server's `CODEX_HOME`.
    home: TempDir,
    args: Vec<String>,
    /// Whether the server is opened with `initialize` (a legacy session) or not at all, as a
    /// 2026-07-28 client does.
    initialize: bool,
}

impl TestServer {
    /// Starts the mock provider and an initialized server; `top_level` goes into config.toml.
    pub(crate) async fn start(top_level: &str, args: &[&str]) -> anyhow::Result<Self> {
        Self::start_wire(Wire::Responses, top_level, args).await
    }

    /// Like [`TestServer::start`], with a provider speaking `wire`.
    pub(crate) async fn start_wire(
        wire: Wire,
        top_level: &str,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let model = MockModel::start_wire(wire).await;
        let home = TempDir::new()?;
        model.write_config(home.path(), top_level)?;
        let mut mcp = McpProcess::spawn_with(CODEX_BIN, home.path(), args, &[]).await?;
        mcp.initialize().await?;
        Ok(Self {
            mcp,
            model,
            home,
            args: args.iter().map(ToString::to_string).collect(),
            initialize: true,
        })
    }

    /// Like [`TestServer::start_wire`], against `gated` instead of [`TestServer::model`]
    /// (which is then left idle): for tests that prove by what the provider saw at once
    /// whether requests overlapped.
    pub(crate) async fn start_gated(
        gated: &codex_test_support::GatedModel,
        top_level: &str,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let model = MockModel::start_wire(gated.wire()).await;
        let home = TempDir::new()?;
        gated.write_config(home.path(), top_level)?;
        let mut mcp = McpProcess::spawn_with(CODEX_BIN, home.path(), args, &[]).await?;
        mcp.initialize().await?;
        Ok(Self {
            mcp,
            model,
            home,
            args: args.iter().map(ToString::to_string).collect(),
            initialize: true,
        })
    }

    /// Like [`TestServer::start`], for a host that declares `capabilities` at `initialize`
    /// (`{}`: no elicitation).
    pub(crate) async fn start_with_capabilities(
        top_level: &str,
        capabilities: Value,
    ) -> anyhow::Result<Self> {
        let model = MockModel::start().await;
        let home = TempDir::new()?;
        model.write_config(home.path(), top_level)?;
        let mut mcp = McpProcess::spawn_with(CODEX_BIN, home.path(), &[], &[]).await?;
        mcp.initialize_with_capabilities(capabilities).await?;
        Ok(Self {
            mcp,
            model,
            home,
            args: Vec::new(),
            initialize: true,
        })
    }

    /// The server's `CODEX_HOME`.
    pub(crate) fn home(&self) -> &std::path::Path {
        self.home.path()
    }

    /// Kills the server with SIGKILL and starts a fresh one on the same `CODEX_HOME`.
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        self.mcp.kill().await?;
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.mcp = McpProcess::spawn_with(CODEX_BIN, self.home.path(), &args, &[]).await?;
        if self.initialize {
            self.mcp.initialize().await?;
        }
        Ok(())
    }

    /// A server for a 2026-07-28 client: no `initialize`; every request carries its own
    /// `_meta` (see `modern.rs`).
    pub(crate) async fn start_uninitialized(top_level: &str) -> anyhow::Result<Self> {
        let model = MockModel::start().await;
        let home = TempDir::new()?;
        model.write_config(home.path(), top_level)?;
        let mcp = McpProcess::spawn_with(CODEX_BIN, home.path(), &[], &[]).await?;
        Ok(Self {
            mcp,
            model,
            home,
            args: Vec::new(),
            initialize: false,
        })
    }

    /// Like [`TestServer::start`], with environment changes for the server process
    /// (`None` removes a variable).
    pub(crate) async fn start_with_env(
        top_level: &str,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> anyhow::Result<Self> {
        let model = MockModel::start().await;
        let home = TempDir::new()?;
        model.write_config(home.path(), top_level)?;
        let mut mcp = McpProcess::spawn_with(CODEX_BIN, home.path(), args, env).await?;
        mcp.initialize().await?;
        Ok(Self {
            mcp,
            model,
            home,
            args: args.iter().map(ToString::to_string).collect(),
            initialize: true,
        })
    }

    /// What the model was told about tool call `call_id`, from the requests it received.
    pub(crate) async fn output_seen_by_model(&self, call_id: &str) -> String {
        self.model
            .request_bodies()
            .await
            .iter()
            .find_map(|body| codex_test_support::responses::function_call_output(body, call_id))
            .unwrap_or_else(|| panic!("no output for {call_id} reached the model"))
    }

    /// A `codex` call in `cwd` whose model calls `shell` once (`argv`, plus the `extra`
    /// arguments) and then answers "done"; every elicitation is answered with `reply`. Returns
    /// the params of the elicitations and what the model was told of the command.
    pub(crate) async fn shell_turn(
        &mut self,
        cwd: &std::path::Path,
        argv: &[&str],
        extra: Value,
        reply: Value,
    ) -> anyhow::Result<(Vec<Value>, String)> {
        self.model
            .mount_sse_sequence(vec![
                codex_test_support::responses::shell_call("call-1", argv, extra),
                codex_test_support::responses::assistant_answer("done"),
            ])
            .await;
        let id = self
            .mcp
            .call_tool("codex", serde_json::json!({"prompt": "run it", "cwd": cwd}))
            .await?;
        let mut elicitations = Vec::new();
        let response = loop {
            let message = self.mcp.read_message().await?;
            if message["method"] == "elicitation/create" {
                elicitations.push(message["params"].clone());
                self.mcp
                    .send_response(message["id"].clone(), reply.clone())
                    .await?;
            } else if message.get("method").is_none() && message["id"] == serde_json::json!(id) {
                break message;
            }
        };
        assert_eq!(
            response["result"]["structuredContent"]["content"], "done",
            "{response}"
        );
        Ok((elicitations, self.output_seen_by_model("call-1").await))
    }

    /// Calls `tool` and returns the `tools/call` result.
    pub(crate) async fn call(&mut self, tool: &str, arguments: Value) -> anyhow::Result<Value> {
        let id = self.mcp.call_tool(tool, arguments).await?;
        let response = self.mcp.read_until_response(id).await?;
        response
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("tools/call failed at the protocol level: {response}"))
    }
}

/// The `threadId` of a tool result, checked to be a UUID.
pub(crate) fn thread_id(result: &Value) -> String {
    let id = result["structuredContent"]["threadId"]
        .as_str()
        .unwrap_or_else(|| panic!("no threadId in {result}"));
    uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("threadId {id} is not a UUID"));
    id.to_string()
}
