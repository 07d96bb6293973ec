//! `[mcp_servers]`: MCP servers as the agent's tools, through the real binary. The servers are
//! real processes the binary spawns: our own (`tests/mcp_servers/test_server.py`, standard
//! library Python, able to misbehave on purpose) and the official reference server
//! `@modelcontextprotocol/server-everything` from npm, pinned in
//! `tests/mcp_servers/npm/package-lock.json`. The model is the mock provider on 127.0.0.1,
//! scripted to call their tools.

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context as _;
use codex_test_support::McpProcess;
use codex_test_support::MockModel;
use codex_test_support::Wire;
use codex_test_support::processes_with;
use codex_test_support::wait_for_processes;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::CODEX_BIN;

/// A variable of the `codex` process that no MCP server may see unless configured.
const OUR_SECRET: (&str, &str) = ("CODEX_TEST_SECRET_TOKEN", "s3cret-of-ours");

fn test_server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_servers/test_server.py")
}

/// `[mcp_servers.<name>]` for our test server; `marker` finds its process in /proc.
fn our_server(name: &str, marker: &str, extra: &str) -> String {
    format!(
        "[mcp_servers.{name}]\ncommand = \"python3\"\nargs = [\"{}\", \"{marker}\"]\n{extra}\n",
        test_server_script().display()
    )
}

/// A server with its own `CODEX_HOME`, the mock model, and `tables` appended to config.toml.
struct Harness {
    mcp: McpProcess,
    model: MockModel,
    _home: TempDir,
    cwd: TempDir,
}

impl Harness {
    async fn start(wire: Wire, top_level: &str, tables: &str) -> anyhow::Result<Self> {
        Self::start_with_env(wire, top_level, tables, &[]).await
    }

    /// Like [`Harness::start`], with more variables in the `codex` process's environment.
    async fn start_with_env(
        wire: Wire,
        top_level: &str,
        tables: &str,
        env: &[(&str, Option<&str>)],
    ) -> anyhow::Result<Self> {
        let model = MockModel::start_wire(wire).await;
        let home = TempDir::new()?;
        model.write_config(home.path(), top_level)?;
        let config = home.path().join("config.toml");
        let text = std::fs::read_to_string(&config)?;
        std::fs::write(&config, format!("{text}\n{tables}"))?;
        let mut env = env.to_vec();
        env.push((OUR_SECRET.0, Some(OUR_SECRET.1)));
        let mut mcp = McpProcess::spawn_with(CODEX_BIN, home.path(), &[], &env).await?;
        mcp.initialize().await?;
        Ok(Self {
            mcp,
            model,
            _home: home,
            cwd: TempDir::new()?,
        })
    }

    /// One `codex` call; every elicitation is answered with `reply`. Returns the result, the
    /// `codex/event` messages of the call, and the elicitations' params.
    /// The file the test server's slow tool waits for before it answers.
    fn progress_seen_path(&self) -> String {
        self.cwd.path().join("progress-seen").display().to_string()
    }

    async fn codex(&mut self, reply: Value) -> anyhow::Result<(Value, Vec<Value>, Vec<Value>)> {
        let id = self
            .mcp
            .call_tool(
                "codex",
                json!({"prompt": "use the tools", "cwd": self.cwd.path()}),
            )
            .await?;
        let mut events = Vec::new();
        let mut elicitations = Vec::new();
        loop {
            let message = self.mcp.read_message().await?;
            match message["method"].as_str() {
                Some("codex/event") => {
                    let msg = &message["params"]["msg"];
                    // The slow tool answers once the host has seen its last report.
                    if msg["type"] == "mcp_tool_call_progress" && msg["message"] == "step 2 of 2" {
                        std::fs::write(self.progress_seen_path(), "")?;
                    }
                    events.push(msg.clone());
                }
                Some("elicitation/create") => {
                    elicitations.push(message["params"].clone());
                    self.mcp
                        .send_response(message["id"].clone(), reply.clone())
                        .await?;
                }
                Some(_) => {}
                None if message["id"] == json!(id) => {
                    return Ok((message["result"].clone(), events, elicitations));
                }
                None => {}
            }
        }
    }
}

/// A model response calling `name` with `arguments`.
fn tool_call(wire: Wire, call_id: &str, name: &str, arguments: Value) -> String {
    match wire {
        Wire::Responses => {
            use codex_test_support::responses::*;
            sse(&[
                ev_response_created("resp-1"),
                ev_function_call(call_id, name, &arguments.to_string()),
                ev_completed("resp-1"),
            ])
        }
        Wire::Chat => {
            codex_test_support::chat::chat_tool_call(call_id, name, &arguments.to_string())
        }
    }
}

/// What the model read as the output of `call_id`, in any request (either wire).
fn output_of(bodies: &[Value], call_id: &str) -> Option<String> {
    bodies.iter().find_map(|body| {
        let items = body
            .get("input")
            .or_else(|| body.get("messages"))?
            .as_array()?;
        items.iter().find_map(|item| {
            let matches = item["call_id"] == call_id || item["tool_call_id"] == call_id;
            let is_output = item["type"] == "function_call_output" || item["role"] == "tool";
            (matches && is_output).then(|| {
                item.get("output")
                    .or_else(|| item.get("content"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
        })
    })
}

/// The tool names a request offered (either wire).
fn offered_tools(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| {
            tool.get("name")
                .or_else(|| tool["function"].get("name"))
                .and_then(Value::as_str)
                .map(ToString::to_string)
        })
        .collect()
}

/// The instructions a request carried (either wire).
fn instructions(body: &Value) -> String {
    match body["instructions"].as_str() {
        Some(text) => text.to_string(),
        None => body["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["type"] == kind)
        .collect()
}

/// Our own server, spawned by the binary: its tools are offered (with sanitised names), the
/// model's calls reach it, the results reach the next request, progress is passed through,
/// and it does not see our secrets.
async fn our_server_s_tools_reach_the_model(wire: Wire) -> anyhow::Result<()> {
    let marker = format!("ours-{}", uuid::Uuid::new_v4());
    let tables = our_server("ours", &marker, "env = { GIVEN = \"configured\" }");
    let mut h = Harness::start(wire, "approval_policy = \"untrusted\"", &tables).await?;
    h.model
        .mount_sse_sequence(vec![
            tool_call(wire, "c-echo", "mcp__ours__echo", json!({"text": "hi"})),
            tool_call(
                wire,
                "c-secret",
                "mcp__ours__env",
                json!({"name": OUR_SECRET.0}),
            ),
            tool_call(wire, "c-given", "mcp__ours__env", json!({"name": "GIVEN"})),
            tool_call(
                wire,
                "c-slow",
                "mcp__ours__slow",
                json!({"until": h.progress_seen_path()}),
            ),
            wire.answer("done"),
        ])
        .await;
    // `untrusted` asks for every tool but the read-only `echo`; the host approves.
    let (result, events, asked) = h.codex(json!({"action": "accept"})).await?;
    assert_eq!(result["structuredContent"]["content"], "done", "{result}");
    assert_eq!(asked.len(), 3, "env twice and slow: {asked:?}");
    assert!(
        asked[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("mcp-tool ours env"),
        "{}",
        asked[0]
    );

    let bodies = h.model.request_bodies().await;
    let tools = offered_tools(&bodies[0]);
    for name in ["shell", "mcp__ours__echo", "mcp__ours__slow"] {
        assert!(tools.contains(&name.to_string()), "{name} in {tools:?}");
    }
    let dotted: Vec<_> = tools
        .iter()
        .filter(|name| name.starts_with("mcp__ours__dotted_name_"))
        .collect();
    assert_eq!(
        dotted.len(),
        1,
        "`dotted.name` is offered sanitised: {tools:?}"
    );
    assert_eq!(output_of(&bodies, "c-echo").as_deref(), Some("echo: hi"));
    assert_eq!(output_of(&bodies, "c-secret").as_deref(), Some("<unset>"));
    assert_eq!(
        output_of(&bodies, "c-given").as_deref(),
        Some("set: configured")
    );
    assert_eq!(output_of(&bodies, "c-slow").as_deref(), Some("slow done"));

    assert_eq!(
        events_of(&events, "mcp_startup_update"),
        vec![
            &json!({"type": "mcp_startup_update", "server": "ours", "status": {"state": "ready"}})
        ]
    );
    assert_eq!(
        events_of(&events, "mcp_startup_complete"),
        vec![&json!({"type": "mcp_startup_complete", "ready": ["ours"], "failed": []})]
    );
    let begins = events_of(&events, "mcp_tool_call_begin");
    assert_eq!(
        begins[0],
        &json!({"type": "mcp_tool_call_begin", "call_id": "c-echo",
                "invocation": {"server": "ours", "tool": "echo", "arguments": {"text": "hi"}}})
    );
    let ends = events_of(&events, "mcp_tool_call_end");
    assert_eq!(ends.len(), 4);
    assert_eq!(
        ends[0]["result"],
        json!({"Ok": {"content": [{"type": "text", "text": "echo: hi"}], "isError": false}})
    );
    let progress: Vec<_> = events_of(&events, "mcp_tool_call_progress")
        .iter()
        .map(|event| event["message"].clone())
        .collect();
    // Both reports, or only the later one when they came swapped (the stale one is skipped):
    // never out of order.
    assert!(
        progress == vec![json!("step 1 of 2"), json!("step 2 of 2")]
            || progress == vec![json!("step 2 of 2")],
        "{progress:?}"
    );
    // Nothing of ours reached the events either.
    assert!(!format!("{events:?}").contains(OUR_SECRET.1));
    Ok(())
}
both_wires!(our_server_s_tools_reach_the_model);

/// The official reference server from npm: the model calls its `echo` and `get-sum`, and
/// reads their results in the next request.
#[tokio::test]
async fn the_reference_server_from_npm_serves_the_model() -> anyhow::Result<()> {
    let everything = everything_server().await?;
    let marker = format!("everything-{}", uuid::Uuid::new_v4());
    let tables = format!(
        "[mcp_servers.everything]\ncommand = \"node\"\nargs = [\"{}\", \"stdio\", \"{marker}\"]\nstartup_timeout_sec = 30\n",
        everything.display()
    );
    let mut h = Harness::start(Wire::Responses, "approval_policy = \"never\"", &tables).await?;
    h.model
        .mount_sse_sequence(vec![
            tool_call(
                Wire::Responses,
                "c-echo",
                "mcp__everything__echo",
                json!({"message": "hello from the model"}),
            ),
            tool_call(
                Wire::Responses,
                "c-sum",
                "mcp__everything__get-sum",
                json!({"a": 2, "b": 3}),
            ),
            tool_call(
                Wire::Responses,
                "c-env",
                "mcp__everything__get-env",
                json!({}),
            ),
            Wire::Responses.answer("done"),
        ])
        .await;
    let (result, events, _) = h.codex(json!({"action": "decline"})).await?;
    assert_eq!(result["structuredContent"]["content"], "done", "{result}");
    let bodies = h.model.request_bodies().await;
    let echo = output_of(&bodies, "c-echo").unwrap_or_default();
    assert!(echo.contains("hello from the model"), "{echo}");
    let sum = output_of(&bodies, "c-sum").unwrap_or_default();
    assert!(sum.contains('5'), "{sum}");
    let env = output_of(&bodies, "c-env").unwrap_or_default();
    assert!(
        env.contains("PATH"),
        "get-env shows the server's environment: {env}"
    );
    for secret in [OUR_SECRET.0, "MOCK_API_KEY", "CODEX_HOME"] {
        assert!(!env.contains(secret), "{secret} leaked into {env}");
    }
    assert_eq!(events_of(&events, "mcp_tool_call_end").len(), 3);
    Ok(())
}

/// A server whose command does not exist fails alone: the other server's tools work, the
/// model is told which server is missing, and the host can list both states.
#[tokio::test]
async fn a_missing_command_fails_next_to_a_working_server() -> anyhow::Result<()> {
    let marker = format!("ours-{}", uuid::Uuid::new_v4());
    let tables = format!(
        "{}[mcp_servers.broken]\ncommand = \"/nonexistent/mcp-server-{marker}\"\n",
        our_server("ours", &marker, "")
    );
    let mut h = Harness::start(Wire::Responses, "approval_policy = \"never\"", &tables).await?;
    h.model
        .mount_sse_sequence(vec![
            tool_call(
                Wire::Responses,
                "c-echo",
                "mcp__ours__echo",
                json!({"text": "still here"}),
            ),
            Wire::Responses.answer("done"),
        ])
        .await;
    let (result, events, _) = h.codex(json!({})).await?;
    assert_eq!(result["structuredContent"]["content"], "done", "{result}");
    let bodies = h.model.request_bodies().await;
    assert_eq!(
        output_of(&bodies, "c-echo").as_deref(),
        Some("echo: still here")
    );
    assert!(
        instructions(&bodies[0])
            .contains("unavailable, so their tools are not offered: `broken` (cannot run"),
        "{}",
        instructions(&bodies[0])
    );
    let complete = events_of(&events, "mcp_startup_complete");
    assert_eq!(complete[0]["ready"], json!(["ours"]));
    assert_eq!(complete[0]["failed"][0]["server"], "broken");
    let error = complete[0]["failed"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("No such file or directory"), "{error}");

    let thread = super::thread_id(&result);
    let listed = h
        .mcp
        .request("listMcpServers", json!({"conversationId": thread}))
        .await?;
    let servers = &listed["result"]["servers"];
    assert_eq!(servers[0]["name"], "broken");
    assert_eq!(servers[0]["state"], "failed");
    assert_eq!(servers[0]["transport"], "stdio");
    assert_eq!(servers[0]["tools"], json!([]));
    assert_eq!(servers[1]["name"], "ours");
    assert_eq!(servers[1]["state"], "ready");
    assert_eq!(
        servers[1]["tools"][0],
        json!({
            "name": "echo",
            "modelName": "mcp__ours__echo",
            "description": "Echoes the text back.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "annotations": {"readOnlyHint": true}
        })
    );
    let missing = h
        .mcp
        .request("listMcpServers", json!({"conversationId": "not-a-thread"}))
        .await?;
    assert!(missing.get("error").is_some(), "{missing}");
    Ok(())
}

/// A server that never answers `initialize` costs the first request its
/// `startup_timeout_sec`, no more, and is killed; the turn goes on without it.
#[tokio::test]
async fn a_server_that_hangs_is_given_up_after_its_startup_timeout() -> anyhow::Result<()> {
    let marker = format!("hangs-{}", uuid::Uuid::new_v4());
    let tables = format!(
        "[mcp_servers.stuck]\ncommand = \"python3\"\nargs = [\"{}\", \"--hang-initialize\", \"{marker}\"]\nstartup_timeout_sec = 1.5\n",
        test_server_script().display()
    );
    let mut h = Harness::start(Wire::Responses, "approval_policy = \"never\"", &tables).await?;
    h.model
        .mount_sse_sequence(vec![Wire::Responses.answer("done without it")])
        .await;
    let started = Instant::now();
    let (result, events, _) = h.codex(json!({})).await?;
    let took = started.elapsed();
    assert_eq!(
        result["structuredContent"]["content"], "done without it",
        "{result}"
    );
    assert!(took < Duration::from_secs(10), "the turn took {took:?}");
    let complete = events_of(&events, "mcp_startup_complete");
    assert_eq!(
        complete[0]["failed"],
        json!([{"server": "stuck", "error": "did not start within 1.5 s (`startup_timeout_sec`)"}])
    );
    assert!(
        wait_for_processes(&marker, false, Duration::from_secs(10)).await,
        "the hung server still runs: {:?}",
        processes_with(&marker)
    );
    Ok(())
}

/// Approvals, failures and timeouts of calls: a destructive tool under `on-request` asks and a
/// declined call never runs; a tool error, a call that times out and a server that crashes
/// mid-call each become an output the model reads, and the crashed server's tools are gone
/// from the next request, with a note.
#[tokio::test]
async fn calls_that_are_declined_fail_time_out_or_crash_end_in_an_output() -> anyhow::Result<()> {
    let marker = format!("ours-{}", uuid::Uuid::new_v4());
    let tables = our_server("ours", &marker, "tool_timeout_sec = 1");
    let mut h =
        Harness::start(Wire::Responses, "approval_policy = \"on-request\"", &tables).await?;
    h.model
        .mount_sse_sequence(vec![
            tool_call(
                Wire::Responses,
                "c-del",
                "mcp__ours__delete_everything",
                json!({}),
            ),
            tool_call(Wire::Responses, "c-fail", "mcp__ours__fail", json!({})),
            tool_call(Wire::Responses, "c-hang", "mcp__ours__hang", json!({})),
            tool_call(Wire::Responses, "c-crash", "mcp__ours__crash", json!({})),
            tool_call(
                Wire::Responses,
                "c-after",
                "mcp__ours__echo",
                json!({"text": "x"}),
            ),
            Wire::Responses.answer("done"),
        ])
        .await;
    let (result, events, asked) = h.codex(json!({"action": "decline"})).await?;
    assert_eq!(
        result["structuredContent"]["content"]
            .as_str()
            .map(|s| s.starts_with("done")),
        Some(true),
        "{result}"
    );
    assert_eq!(asked.len(), 1, "only the destructive tool asks: {asked:?}");
    let bodies = h.model.request_bodies().await;
    assert_eq!(
        output_of(&bodies, "c-del").as_deref(),
        Some("MCP tool call rejected by user")
    );
    assert_eq!(
        output_of(&bodies, "c-fail").as_deref(),
        Some("The tool reported an error:\nit went wrong")
    );
    assert_eq!(
        output_of(&bodies, "c-hang").as_deref(),
        Some(
            "The call to `hang` of MCP server `ours` failed: the call timed out after 1 s (`tool_timeout_sec`)"
        )
    );
    let crash = output_of(&bodies, "c-crash").unwrap_or_default();
    assert!(
        crash.starts_with("The call to `crash` of MCP server `ours` failed:"),
        "{crash}"
    );
    // The request after the crash no longer offers the server's tools and says why.
    let after_crash = &bodies[4];
    assert!(
        !offered_tools(after_crash)
            .iter()
            .any(|name| name.starts_with("mcp__ours")),
        "{:?}",
        offered_tools(after_crash)
    );
    assert!(instructions(after_crash).contains("`ours` (the server stopped"));
    assert_eq!(
        output_of(&bodies, "c-after").as_deref(),
        Some("unsupported call: mcp__ours__echo")
    );
    assert!(
        events_of(&events, "mcp_tool_call_begin")
            .iter()
            .all(|e| e["call_id"] != "c-del")
    );
    Ok(())
}

/// A Streamable HTTP server (the reference server's `streamableHttp` transport, run by the
/// test on a free port): the binary connects with the configured bearer token and headers, and
/// the model calls its tool.
#[tokio::test]
async fn a_streamable_http_server_serves_the_model() -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt as _;
    let everything = everything_server().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut web = tokio::process::Command::new("node")
        .arg(&everything)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running node")?;
    let stderr = web.stderr.take().context("node's stderr")?;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let listening = async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("listening on port") {
                return Ok(());
            }
        }
        anyhow::bail!("node exited before listening")
    };
    tokio::time::timeout(Duration::from_secs(30), listening)
        .await
        .context("node did not listen within 30 s")??;
    let tables = format!(
        r#"[mcp_servers.web]
url = "http://127.0.0.1:{port}/mcp"
bearer_token_env_var = "WEB_TOKEN"
http_headers = {{ "X-Test" = "yes" }}
startup_timeout_sec = 30
"#
    );
    let mut h = Harness::start_with_env(
        Wire::Responses,
        "approval_policy = \"never\"",
        &tables,
        &[("WEB_TOKEN", Some("web-token"))],
    )
    .await?;
    h.model
        .mount_sse_sequence(vec![
            tool_call(
                Wire::Responses,
                "c-echo",
                "mcp__web__echo",
                json!({"message": "over http"}),
            ),
            Wire::Responses.answer("done"),
        ])
        .await;
    let (result, events, _) = h.codex(json!({})).await?;
    assert_eq!(result["structuredContent"]["content"], "done", "{result}");
    assert_eq!(
        events_of(&events, "mcp_startup_complete")[0]["ready"],
        json!(["web"]),
        "{events:?}"
    );
    let bodies = h.model.request_bodies().await;
    let echo = output_of(&bodies, "c-echo").unwrap_or_default();
    assert!(echo.contains("over http"), "{echo}");
    Ok(())
}

/// When the server exits (its host closes stdin), no MCP server process is left, ours or
/// npm's, whatever state they were in.
#[tokio::test]
async fn no_mcp_server_outlives_the_server() -> anyhow::Result<()> {
    let everything = everything_server().await?;
    let marker = format!("outlive-{}", uuid::Uuid::new_v4());
    let tables = format!(
        "{}[mcp_servers.everything]\ncommand = \"node\"\nargs = [\"{}\", \"stdio\", \"{marker}\"]\nstartup_timeout_sec = 30\n",
        our_server("ours", &marker, ""),
        everything.display()
    );
    let mut h = Harness::start(Wire::Responses, "approval_policy = \"never\"", &tables).await?;
    h.model
        .mount_sse_sequence(vec![Wire::Responses.answer("done")])
        .await;
    let (_, events, _) = h.codex(json!({})).await?;
    assert_eq!(
        events_of(&events, "mcp_startup_complete")[0]["ready"],
        json!(["everything", "ours"])
    );
    assert_eq!(
        processes_with(&marker).len(),
        2,
        "{:?}",
        processes_with(&marker)
    );
    h.mcp.close_stdin();
    h.mcp.wait_for_exit(Duration::from_secs(20)).await?;
    assert!(
        wait_for_processes(&marker, false, Duration::from_secs(10)).await,
        "left running: {:?}",
        processes_with(&marker)
    );
    Ok(())
}

/// `server-everything`'s entry point, installed from the committed lock file into
/// `<target>/mcp-npm` (or `$CODEX_TEST_NPM_DIR`) by `.ci/run`, or here when it is missing.
async fn everything_server() -> anyhow::Result<PathBuf> {
    static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let dir = match std::env::var_os("CODEX_TEST_NPM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .context("the target directory")?
            .join("mcp-npm"),
    };
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let _one_install = INSTALL.lock().await;
    if entry.is_file() {
        return Ok(entry);
    }
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_servers/npm");
    std::fs::create_dir_all(&dir)?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(sources.join(file), dir.join(file))?;
    }
    let how = format!(
        "install it with: mkdir -p {dir} && cp {src}/package*.json {dir}/ && npm ci --prefix {dir} --ignore-scripts",
        dir = dir.display(),
        src = sources.display()
    );
    let install = tokio::process::Command::new("npm")
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), install)
        .await
        .with_context(|| format!("npm ci took over 5 minutes; {how}"))?
        .with_context(|| format!("cannot run npm; {how}"))?;
    anyhow::ensure!(
        output.status.success() && entry.is_file(),
        "npm ci failed ({}): {}\n{how}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(entry)
}
