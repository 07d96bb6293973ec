//! `codex mcp --listen`: the real binary over real HTTP on 127.0.0.1, as a remote host sees
//! it: both eras (a legacy session and stateless 2026-07-28 requests), approvals, tasks,
//! cancellation, the bearer tokens and the Origin check, the limits, and a graceful stop.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use anyhow::bail;
use codex_test_support::DEFAULT_READ_TIMEOUT;
use codex_test_support::GatedModel;
use codex_test_support::McpProcess;
use codex_test_support::MockModel;
use codex_test_support::UNTIL_RELEASED;
use codex_test_support::Wire;
use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::shell_call;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::CODEX_BIN;

const UNTRUSTED: &str = r#"approval_policy = "untrusted""#;
const TOKENS: &str = "alice:alice-token-0123456789 admin\nbob:bob-token-0123456789abc\n";

/// `codex mcp --listen 127.0.0.1:0` with its own `CODEX_HOME`.
struct Listening {
    process: McpProcess,
    url: String,
    home: TempDir,
}

impl Listening {
    /// Starts the server with `config` as config.toml (the provider's part comes from
    /// `write_config`), `args` after `--listen`, and `env`.
    async fn start(
        write_config: impl FnOnce(&Path) -> std::io::Result<()>,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> anyhow::Result<Self> {
        let home = TempDir::new()?;
        write_config(home.path())?;
        // `{home}` in an argument stands for the server's home.
        let args: Vec<String> = args
            .iter()
            .map(|arg| arg.replace("{home}", &home.path().display().to_string()))
            .collect();
        let mut command = vec!["mcp", "--listen", "127.0.0.1:0"];
        command.extend(args.iter().map(String::as_str));
        let mut process = McpProcess::spawn_command(CODEX_BIN, home.path(), &command, env).await?;
        process
            .wait_for_stderr(|log| log.contains("listening on http://"))
            .await?;
        let log = process.stderr();
        let url = log
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .context("no URL in the log")?
            .to_string();
        Ok(Self { process, url, home })
    }

    async fn with_model(model: &MockModel, top_level: &str, args: &[&str]) -> anyhow::Result<Self> {
        Self::start(|home| model.write_config(home, top_level), args, &[]).await
    }

    fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// A tokens file in the server's home, for `--auth-tokens`.
    fn tokens_file(home: &Path) -> std::io::Result<()> {
        std::fs::write(home.join("tokens"), TOKENS)
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.process.pid().context("no pid")?;
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -s {signal} {pid}");
        Ok(())
    }
}

/// A host's side of Streamable HTTP, written against the spec with a plain HTTP client.
struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    session: Option<String>,
    /// The capabilities a 2026-07-28 client declares in every request's `_meta`; `None`
    /// for a legacy client, which opens a session with `initialize`.
    modern: Option<Value>,
    next_id: i64,
}

impl Client {
    fn new(url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.to_string(),
            token: None,
            session: None,
            modern: None,
            next_id: 0,
        }
    }

    fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    fn modern(mut self, capabilities: Value) -> Self {
        self.modern = Some(capabilities);
        self
    }

    /// POSTs `body` and returns the raw response, bounded in time.
    async fn post(&self, body: &Value, origin: Option<&str>) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if self.modern.is_some()
            && let Some(method) = body["method"].as_str()
        {
            request = request
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", method);
            // The name the spec has a request repeat in `Mcp-Name`, by method.
            let params = &body["params"];
            let name = params["name"].as_str().or(params["taskId"].as_str());
            if let Some(name) = name {
                request = request.header("mcp-name", name);
            }
        }
        Ok(tokio::time::timeout(DEFAULT_READ_TIMEOUT, request.send())
            .await
            .context("no HTTP answer in time")??)
    }

    /// Sends request `method`; returns its id and the stream its answer comes on.
    async fn send(&mut self, method: &str, mut params: Value) -> anyhow::Result<(i64, Messages)> {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(capabilities) = &self.modern {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": capabilities,
                "io.modelcontextprotocol/clientInfo": {"name": "http-test", "version": "1.0.0"},
            });
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.post(&body, None).await?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("{method}: HTTP {status}: {text}");
        }
        Ok((id, Messages::new(response)))
    }

    /// Sends request `method` and returns its answer (result or error).
    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let (id, mut messages) = self.send(method, params).await?;
        messages.answer(id).await
    }

    /// Sends a notification or a response to the server: accepted with 202.
    async fn deliver(&self, message: Value) -> anyhow::Result<()> {
        let response = self.post(&message, None).await?;
        anyhow::ensure!(response.status() == 202, "{message}: {}", response.status());
        Ok(())
    }

    /// Opens the session's GET stream, where rmcp sends what belongs to no request stream:
    /// `codex/event` notifications among them.
    async fn listen(&self) -> anyhow::Result<Messages> {
        let mut request = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream");
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        let response = tokio::time::timeout(DEFAULT_READ_TIMEOUT, request.send())
            .await
            .context("no HTTP answer in time")??;
        anyhow::ensure!(response.status() == 200, "GET: {}", response.status());
        Ok(Messages::new(response))
    }

    /// Opens a legacy session: `initialize` (declaring form elicitation), then `initialized`.
    async fn initialize(&mut self) -> anyhow::Result<Value> {
        let (id, mut messages) = self
            .send(
                "initialize",
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"elicitation": {"form": {}}},
                    "clientInfo": {"name": "http-test", "version": "1.0.0"},
                }),
            )
            .await?;
        self.session = messages
            .response
            .headers()
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(ToString::to_string);
        anyhow::ensure!(self.session.is_some(), "no Mcp-Session-Id");
        let answer = messages.answer(id).await?;
        self.deliver(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(answer)
    }
}

/// The messages of one answer: a JSON body, or an SSE stream read as it comes.
struct Messages {
    response: reqwest::Response,
    buffer: Vec<u8>,
    ready: VecDeque<Value>,
    done: bool,
}

impl Messages {
    fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: Vec::new(),
            ready: VecDeque::new(),
            done: false,
        }
    }

    fn is_sse(&self) -> bool {
        self.response
            .headers()
            .get("content-type")
            .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"))
    }

    /// The next message, each chunk read under the read timeout.
    async fn next(&mut self) -> anyhow::Result<Value> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Ok(message);
            }
            if self.done {
                bail!("the answer ended");
            }
            let chunk = tokio::time::timeout(DEFAULT_READ_TIMEOUT, self.response.chunk())
                .await
                .context("no message in time")??;
            match chunk {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => {
                    self.done = true;
                    if !self.is_sse() && !self.buffer.is_empty() {
                        self.ready.push_back(serde_json::from_slice(&self.buffer)?);
                    }
                }
            }
            if self.is_sse() {
                while let Some(end) = find(&self.buffer, b"\n\n") {
                    let event: Vec<u8> = self.buffer.drain(..end + 2).collect();
                    let data: Vec<&str> = std::str::from_utf8(&event)?
                        .lines()
                        .filter_map(|line| line.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    let data = data.join("\n");
                    if !data.is_empty() {
                        self.ready.push_back(serde_json::from_str(&data)?);
                    }
                }
            }
        }
    }

    async fn until(&mut self, predicate: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        loop {
            let message = self.next().await?;
            if predicate(&message) {
                return Ok(message);
            }
        }
    }

    /// The answer to request `id`.
    async fn answer(&mut self, id: i64) -> anyhow::Result<Value> {
        self.until(|m| m["id"] == json!(id) && m.get("method").is_none())
            .await
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn result(answer: &Value) -> anyhow::Result<Value> {
    answer
        .get("result")
        .cloned()
        .with_context(|| format!("no result: {answer}"))
}

#[tokio::test]
async fn a_legacy_session_calls_codex_with_progress_and_events() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![assistant_answer("hello over http")])
        .await;
    let server = Listening::with_model(&model, "", &[]).await?;
    let mut client = server.client();
    let init = client.initialize().await?;
    assert_eq!(init["result"]["serverInfo"]["name"], "codex-mcp-server");
    let mut events = client.listen().await?;

    let (id, mut messages) = client
        .send(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "hi"}, "_meta": {"progressToken": "p1"}}),
        )
        .await?;
    let mut seen = Vec::new();
    let answer = loop {
        let message = messages.next().await?;
        if message["id"] == json!(id) {
            break message;
        }
        seen.push(message);
    };
    let result = result(&answer)?;
    assert_eq!(result["content"][0]["text"], "hello over http", "{result}");
    let complete = events
        .until(|m| m["method"] == "codex/event" && m["params"]["msg"]["type"] == "task_complete")
        .await?;
    assert_eq!(complete["params"]["_meta"]["requestId"], json!(id));
    assert!(
        seen.iter().any(
            |m| m["method"] == "notifications/progress" && m["params"]["progressToken"] == "p1"
        ),
        "{seen:?}"
    );

    let tools = client.request("tools/list", json!({})).await?;
    assert_eq!(tools["result"]["tools"].as_array().map(Vec::len), Some(2));

    // Over HTTP an unknown tool is a protocol error, as the MCP specification says; stdio
    // keeps the tool error of the server it replaces (errors.rs).
    let unknown = client
        .request("tools/call", json!({"name": "teleport", "arguments": {}}))
        .await?;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert_eq!(
        unknown["error"]["message"],
        "Unknown tool 'teleport'; this server offers the tools `codex` and `codex-reply`."
    );
    Ok(())
}

#[tokio::test]
async fn a_legacy_session_is_asked_for_approval_by_elicitation() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["touch", "created.txt"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let server = Listening::with_model(&model, UNTRUSTED, &[]).await?;
    let mut client = server.client();
    client.initialize().await?;
    let cwd = TempDir::new()?;
    let (id, mut messages) = client
        .send(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "make a file", "cwd": cwd.path()}}),
        )
        .await?;
    let asked = messages
        .until(|m| m["method"] == "elicitation/create")
        .await?;
    assert_eq!(
        asked["params"]["codex_command"],
        json!(["touch", "created.txt"])
    );
    assert!(
        !cwd.path().join("created.txt").exists(),
        "asked before running"
    );
    client
        .deliver(json!({
            "jsonrpc": "2.0",
            "id": asked["id"],
            "result": {"action": "accept", "content": {"decision": "approved"}},
        }))
        .await?;
    let answer = messages.answer(id).await?;
    assert_eq!(result(&answer)?["content"][0]["text"], "done", "{answer}");
    assert!(cwd.path().join("created.txt").exists());
    Ok(())
}

#[tokio::test]
async fn a_stateless_call_asks_in_input_required_and_hears_in_the_retry() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["touch", "created.txt"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let server = Listening::with_model(&model, UNTRUSTED, &[]).await?;
    let mut client = server.client().modern(json!({"elicitation": {"form": {}}}));
    let cwd = TempDir::new()?;
    let arguments = json!({"prompt": "make a file", "cwd": cwd.path()});
    let asked = client
        .request(
            "tools/call",
            json!({"name": "codex", "arguments": arguments}),
        )
        .await?;
    let asked = result(&asked)?;
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    let (key, question) = asked["inputRequests"]
        .as_object()
        .and_then(|requests| requests.iter().next())
        .map(|(key, question)| (key.clone(), question.clone()))
        .context("no question")?;
    // The `codex_*` fields at the top level, as on stdio.
    assert_eq!(
        question["params"]["codex_command"],
        json!(["touch", "created.txt"]),
        "{question}"
    );
    let done = client
        .request(
            "tools/call",
            json!({
                "name": "codex",
                "arguments": arguments,
                "inputResponses": { key: {"action": "accept"} },
                "requestState": asked["requestState"],
            }),
        )
        .await?;
    let done = result(&done)?;
    assert_eq!(done["content"][0]["text"], "done", "{done}");
    assert!(cwd.path().join("created.txt").exists());
    Ok(())
}

/// Polls `tasks/get` until the task's status is `status`, as a client does (every 20 ms,
/// bounded by the read timeout).
async fn task_when(client: &mut Client, task: &Value, status: &str) -> anyhow::Result<Value> {
    let poll = async {
        loop {
            let got = result(&client.request("tasks/get", json!({"taskId": task})).await?)?;
            if got["status"] == status {
                return anyhow::Ok(got);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(DEFAULT_READ_TIMEOUT, poll)
        .await
        .with_context(|| format!("task {task} never reached {status}"))?
}

#[tokio::test]
async fn a_stateless_task_asks_through_tasks_get_and_hears_through_tasks_update()
-> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["touch", "created.txt"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let server = Listening::with_model(&model, UNTRUSTED, &[]).await?;
    let mut client = server.client().modern(json!({
        "elicitation": {"form": {}},
        "extensions": {"io.modelcontextprotocol/tasks": {}},
    }));
    let cwd = TempDir::new()?;
    let created = client
        .request(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "make a file", "cwd": cwd.path()}}),
        )
        .await?;
    let created = result(&created)?;
    assert_eq!(created["resultType"], "task", "{created}");
    let task = created["taskId"].clone();
    let asking = task_when(&mut client, &task, "input_required").await?;
    let (key, question) = asking["inputRequests"]
        .as_object()
        .and_then(|requests| requests.iter().next())
        .map(|(key, question)| (key.clone(), question.clone()))
        .context("no question")?;
    assert_eq!(
        question["params"]["codex_command"],
        json!(["touch", "created.txt"])
    );
    let ack = client
        .request(
            "tasks/update",
            json!({"taskId": task, "inputResponses": { key: {"action": "accept"} }}),
        )
        .await?;
    assert!(ack.get("result").is_some(), "{ack}");
    let done = task_when(&mut client, &task, "completed").await?;
    assert_eq!(done["result"]["structuredContent"]["content"], "done");
    assert!(cwd.path().join("created.txt").exists());
    Ok(())
}

#[tokio::test]
async fn cancelling_a_call_frees_its_thread() -> anyhow::Result<()> {
    let gated = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let server = Listening::start(|home| gated.write_config(home, ""), &[], &[]).await?;
    let mut client = server.client();
    client.initialize().await?;
    let mut events = client.listen().await?;
    let (id, _messages) = client
        .send(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "first"}}),
        )
        .await?;
    let configured = events
        .until(|m| {
            m["method"] == "codex/event" && m["params"]["msg"]["type"] == "session_configured"
        })
        .await?;
    let thread = configured["params"]["_meta"]["threadId"].clone();
    gated.wait_for_open(1).await?;
    client
        .deliver(json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": id},
        }))
        .await?;
    events
        .until(|m| {
            m["method"] == "codex/event"
                && m["params"]["_meta"]["requestId"] == json!(id)
                && m["params"]["msg"]["type"] == "turn_aborted"
        })
        .await?;
    // The turn was interrupted: the thread takes its next turn (a running one would be
    // refused as busy), which the now open model answers.
    gated.release();
    let reply = client
        .request(
            "tools/call",
            json!({"name": "codex-reply", "arguments": {"threadId": thread, "prompt": "second"}}),
        )
        .await?;
    let reply = result(&reply)?;
    assert_eq!(reply["isError"], false, "{reply}");
    assert_eq!(reply["content"][0]["text"], "echo: second", "{reply}");
    Ok(())
}

#[tokio::test]
async fn requests_need_the_right_bearer_token_and_an_allowed_origin() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let server = Listening::start(
        |home| {
            model.write_config(home, "")?;
            Listening::tokens_file(home)
        },
        &["--auth-tokens", "{home}/tokens"],
        &[],
    )
    .await?;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    });
    for client in [
        server.client(),
        server.client().with_token("alice-token-0123456789-wrong"),
        server.client().with_token("alice-token-012345678"),
    ] {
        let response = client.post(&initialize, None).await?;
        assert_eq!(response.status(), 401);
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    let log = server.process.stderr();
    assert!(
        !log.contains("alice-token"),
        "a token reached the log:\n{log}"
    );
    assert!(!log.contains("create new session"), "nothing ran:\n{log}");

    let alice = server.client().with_token("alice-token-0123456789");
    let response = alice.post(&initialize, Some("http://evil.example")).await?;
    assert_eq!(response.status(), 403);
    let response = alice
        .post(&initialize, Some("http://localhost:5173"))
        .await?;
    assert_eq!(response.status(), 200);

    let mut bob = server.client().with_token("bob-token-0123456789abc");
    bob.initialize().await?;
    let tools = bob.request("tools/list", json!({})).await?;
    assert!(tools["result"]["tools"].is_array(), "{tools}");
    Ok(())
}

#[tokio::test]
async fn account_methods_need_an_admin_principal() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let server = Listening::start(
        |home| {
            model.write_config(home, "")?;
            Listening::tokens_file(home)
        },
        &["--auth-tokens", "{home}/tokens"],
        &[],
    )
    .await?;
    let mut bob = server.client().with_token("bob-token-0123456789abc");
    bob.initialize().await?;
    let refused = bob.request("getAuthStatus", json!({})).await?;
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let refused = bob
        .request("loginApiKey", json!({"apiKey": "sk-not-for-bob"}))
        .await?;
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(!server.home.path().join("auth.json").exists());

    let mut alice = server.client().with_token("alice-token-0123456789");
    alice.initialize().await?;
    let status = alice.request("getAuthStatus", json!({})).await?;
    assert!(status.get("result").is_some(), "{status}");
    Ok(())
}

#[tokio::test]
async fn the_environments_token_is_the_default_principals() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let server = Listening::start(
        |home| model.write_config(home, ""),
        &[],
        &[("CODEX_MCP_AUTH_TOKEN", Some("env-token-0123456789"))],
    )
    .await?;
    assert!(server.process.stderr().contains(r#"["default"]"#));
    let response = server
        .client()
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}), None)
        .await?;
    assert_eq!(response.status(), 401);
    let mut client = server.client().with_token("env-token-0123456789");
    client.initialize().await?;
    let status = client.request("getAuthStatus", json!({})).await?;
    assert!(status.get("result").is_some(), "{status}");
    Ok(())
}

#[tokio::test]
async fn listening_beyond_loopback_without_a_token_is_refused() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    let output = tokio::time::timeout(
        DEFAULT_READ_TIMEOUT,
        tokio::process::Command::new(CODEX_BIN)
            .args(["mcp", "--listen", "0.0.0.0:0"])
            .env("CODEX_HOME", home.path())
            .env_remove("CODEX_MCP_AUTH_TOKEN")
            .output(),
    )
    .await??;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{stderr}"
    );
    assert!(stderr.contains("CODEX_MCP_AUTH_TOKEN"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn an_oversized_body_gets_413_and_the_server_goes_on() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let server = Listening::with_model(&model, "[http]\nmax_body_bytes = 4096", &[]).await?;
    let mut client = server.client();
    let big = json!({
        "jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(8192)},
    });
    let response = client.post(&big, None).await?;
    assert_eq!(response.status(), 413);
    client.initialize().await?;
    let pong = client.request("ping", json!({})).await?;
    assert_eq!(pong["result"], json!({}), "{pong}");
    Ok(())
}

#[tokio::test]
async fn a_principals_concurrent_calls_are_capped() -> anyhow::Result<()> {
    let gated = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let server = Listening::start(
        |home| gated.write_config(home, "[http]\nmax_concurrent_calls_per_principal = 1"),
        &[],
        &[],
    )
    .await?;
    let mut client = server.client();
    client.initialize().await?;
    let (first, mut first_messages) = client
        .send(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "one"}}),
        )
        .await?;
    gated.wait_for_open(1).await?;
    let refused = client
        .send(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "two"}}),
        )
        .await
        .err()
        .context("a second call was let through")?;
    assert!(refused.to_string().contains("429"), "{refused}");
    // Other requests are not calls, and still pass.
    let pong = client.request("ping", json!({})).await?;
    assert_eq!(pong["result"], json!({}));

    gated.release();
    let answer = first_messages.answer(first).await?;
    assert_eq!(result(&answer)?["content"][0]["text"], "echo: one");
    // Once the first is answered, the next call is let through.
    let third = client
        .request(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "three"}}),
        )
        .await?;
    assert_eq!(result(&third)?["content"][0]["text"], "echo: three");
    Ok(())
}

#[tokio::test]
async fn sigterm_lets_a_running_call_finish_and_refuses_new_ones() -> anyhow::Result<()> {
    let gated = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let mut server = Listening::start(|home| gated.write_config(home, ""), &[], &[]).await?;
    let mut client = server.client();
    client.initialize().await?;
    let (id, mut messages) = client
        .send(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "finish me"}}),
        )
        .await?;
    gated.wait_for_open(1).await?;
    server.signal("TERM")?;
    server
        .process
        .wait_for_stderr(|log| log.contains("SIGTERM: waiting"))
        .await?;
    // New sessions are refused (503 on an open connection, or no connection at all).
    let mut late = server.client();
    assert!(late.initialize().await.is_err());

    gated.release();
    let answer = messages.answer(id).await?;
    assert_eq!(result(&answer)?["content"][0]["text"], "echo: finish me");
    let status = server.process.wait_for_exit(DEFAULT_READ_TIMEOUT).await?;
    assert!(status.success(), "{status}");
    Ok(())
}

#[tokio::test]
async fn sigterm_lets_a_running_task_finish_though_no_call_is_open() -> anyhow::Result<()> {
    let gated = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let mut server = Listening::start(|home| gated.write_config(home, ""), &[], &[]).await?;
    let mut client = server
        .client()
        .modern(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}));
    let created = client
        .request(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "finish me later"}}),
        )
        .await?;
    // The call is answered with the task: from here on only the turn runs.
    let task = result(&created)?["taskId"]
        .as_str()
        .context("taskId")?
        .to_string();
    gated.wait_for_open(1).await?;
    server.signal("TERM")?;
    server
        .process
        .wait_for_stderr(|log| log.contains("(1 turns running)"))
        .await?;
    gated.release();
    let status = server.process.wait_for_exit(DEFAULT_READ_TIMEOUT).await?;
    assert!(status.success(), "{status}");
    let record: Value = serde_json::from_slice(&std::fs::read(
        server
            .home
            .path()
            .join("tasks")
            .join(format!("{task}.json")),
    )?)?;
    assert_eq!(record["status"], "completed", "{record}");
    assert_eq!(
        record["result"]["content"][0]["text"], "echo: finish me later",
        "{record}"
    );
    Ok(())
}

#[tokio::test]
async fn sigterm_interrupts_calls_still_running_after_the_grace_period() -> anyhow::Result<()> {
    let gated = GatedModel::start(Wire::Responses, UNTIL_RELEASED, Duration::ZERO).await?;
    let mut server = Listening::start(
        |home| gated.write_config(home, "[http]\nshutdown_grace_secs = 0"),
        &[],
        &[],
    )
    .await?;
    let mut client = server.client();
    client.initialize().await?;
    let (id, mut messages) = client
        .send(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "never answered"}}),
        )
        .await?;
    gated.wait_for_open(1).await?;
    server.signal("TERM")?;
    // The call is answered: its turn was interrupted.
    let answer = messages.answer(id).await?;
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains("interrupt") || text.contains("abort"),
        "{answer}"
    );
    let status = server.process.wait_for_exit(DEFAULT_READ_TIMEOUT).await?;
    assert!(status.success(), "{status}");
    Ok(())
}

#[tokio::test]
async fn a_principal_reaches_only_its_own_threads_and_tasks() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    model
        .mount_sse_sequence(vec![
            assistant_answer("alice's answer"),
            assistant_answer("bob's answer"),
            assistant_answer("alice's task"),
            assistant_answer("alice again"),
        ])
        .await;
    let server = Listening::start(
        |home| {
            model.write_config(home, "")?;
            Listening::tokens_file(home)
        },
        &["--auth-tokens", "{home}/tokens"],
        &[],
    )
    .await?;
    let mut alice = server.client().with_token("alice-token-0123456789");
    alice.initialize().await?;
    let mut bob = server.client().with_token("bob-token-0123456789abc");
    bob.initialize().await?;

    let first = alice
        .request(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "hi"}}),
        )
        .await?;
    let thread = result(&first)?["structuredContent"]["threadId"].clone();
    let thread_id = thread.as_str().context("threadId")?.to_string();

    // Bob is told the thread does not exist, exactly as for one that never did.
    let stolen = bob
        .request(
            "tools/call",
            json!({"name": "codex-reply", "arguments": {"threadId": thread, "prompt": "mine now"}}),
        )
        .await?;
    let stolen = result(&stolen)?;
    assert_eq!(stolen["isError"], true, "{stolen}");
    assert_eq!(
        stolen["content"][0]["text"],
        format!("no conversation with id {thread_id}; start a new one with the `codex` tool")
    );
    // Through the conversation API too, alice's thread is as unknown to bob as one that
    // never existed: the same code, the same words.
    let nowhere = "0192f0c1-0000-7000-8000-00000000beef";
    let rollout = server.home.path().join("sessions");
    for (method, params) in [
        ("resumeConversation", json!({"conversationId": "{id}"})),
        ("forkConversation", json!({"conversationId": "{id}"})),
        (
            "sendUserMessage",
            json!({"conversationId": "{id}", "items": []}),
        ),
        ("addConversationListener", json!({"conversationId": "{id}"})),
        ("interruptConversation", json!({"conversationId": "{id}"})),
        (
            "archiveConversation",
            json!({"conversationId": "{id}", "rolloutPath": rollout}),
        ),
    ] {
        let ask = |id: &str| serde_json::from_str::<Value>(&params.to_string().replace("{id}", id));
        let stolen = bob.request(method, ask(&thread_id)?).await?;
        let unknown = bob.request(method, ask(nowhere)?).await?;
        assert_eq!(stolen["error"]["code"], -32600, "{method}: {stolen}");
        assert_eq!(
            stolen["error"]["message"]
                .as_str()
                .map(|text| text.replace(&thread_id, "ID")),
            unknown["error"]["message"]
                .as_str()
                .map(|text| text.replace(nowhere, "ID")),
            "{method}"
        );
    }
    // A path could name anyone's rollout: over HTTP with tokens, conversations go by id.
    let by_path = bob
        .request("resumeConversation", json!({"path": rollout}))
        .await?;
    assert_eq!(by_path["error"]["code"], -32602, "{by_path}");
    // The server's saved config is the admin's.
    let config = bob.request("getUserSavedConfig", json!({})).await?;
    assert_eq!(config["error"]["code"], -32600, "{config}");
    // Each listing holds its principal's own threads.
    let bobs = bob
        .request(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "bob here"}}),
        )
        .await?;
    let bobs = result(&bobs)?["structuredContent"]["threadId"].clone();
    let listed = |answer: &Value| -> anyhow::Result<Vec<Value>> {
        Ok(result(answer)?["items"]
            .as_array()
            .context("items")?
            .iter()
            .map(|item| item["conversationId"].clone())
            .collect())
    };
    let bob_sees = bob.request("listConversations", json!({})).await?;
    assert_eq!(listed(&bob_sees)?, vec![bobs.clone()]);
    let alice_sees = alice.request("listConversations", json!({})).await?;
    assert_eq!(listed(&alice_sees)?, vec![thread.clone()]);
    // A listener is its adder's to remove.
    let subscribed = bob
        .request("addConversationListener", json!({"conversationId": bobs}))
        .await?;
    let subscription = result(&subscribed)?["subscriptionId"].clone();
    let removed = alice
        .request(
            "removeConversationListener",
            json!({"subscriptionId": subscription}),
        )
        .await?;
    assert_eq!(removed["error"]["code"], -32600, "{removed}");
    let removed = bob
        .request(
            "removeConversationListener",
            json!({"subscriptionId": subscription}),
        )
        .await?;
    assert!(removed.get("result").is_some(), "{removed}");

    // A task is its creator's too.
    let mut alice_modern = server
        .client()
        .with_token("alice-token-0123456789")
        .modern(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}));
    let created = alice_modern
        .request(
            "tools/call",
            json!({"name": "codex", "arguments": {"prompt": "as a task"}}),
        )
        .await?;
    let task = result(&created)?["taskId"].clone();
    let mut bob_modern = server
        .client()
        .with_token("bob-token-0123456789abc")
        .modern(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}));
    for (method, params) in [
        ("tasks/get", json!({"taskId": task})),
        ("tasks/cancel", json!({"taskId": task})),
    ] {
        let refused = bob_modern.request(method, params).await?;
        assert!(refused.get("error").is_some(), "{method}: {refused}");
    }
    let done = task_when(&mut alice_modern, &task, "completed").await?;
    assert_eq!(
        done["result"]["content"][0]["text"], "alice's task",
        "{done}"
    );

    // Alice still reaches her thread.
    let again = alice
        .request(
            "tools/call",
            json!({"name": "codex-reply", "arguments": {"threadId": thread, "prompt": "again"}}),
        )
        .await?;
    assert_eq!(result(&again)?["content"][0]["text"], "alice again");
    Ok(())
}

#[tokio::test]
async fn an_idle_legacy_session_expires() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    // 0: a session expires the moment it has nothing to do (a setting only a test wants).
    let server = Listening::with_model(&model, "[http]\nsession_idle_secs = 0", &[]).await?;
    let mut client = server.client();
    let (id, mut messages) = client
        .send(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "http-test", "version": "1.0.0"},
            }),
        )
        .await?;
    client.session = messages
        .response
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .map(ToString::to_string);
    messages.answer(id).await?;
    // Each request is traffic that could keep the session alive a moment longer; within a few
    // the session is gone, and its id is refused as the spec says (404).
    for _ in 0..20 {
        let response = client
            .post(&json!({"jsonrpc": "2.0", "id": 99, "method": "ping"}), None)
            .await?;
        if response.status() == 404 {
            return Ok(());
        }
    }
    bail!("the idle session never expired")
}
