//! `McpProcess`: a spawned `codex mcp` and a minimal JSON-RPC client speaking raw lines to it;
//! or the same client on a pipe to a server running in the test's own process.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitStatus;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use anyhow::bail;
use serde_json::Value;
use serde_json::json;
use tokio::io::AsyncBufReadExt as _;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::AsyncWriteExt as _;
use tokio::io::BufReader;
use tokio::process::Child;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::sync::watch;

use crate::DEFAULT_READ_TIMEOUT;
use crate::MOCK_API_KEY;

/// What the client writes to: the server's stdin, or the test's pipe.
type ToServer = Box<dyn AsyncWrite + Unpin + Send>;

pub struct McpProcess {
    /// `None` for a server in the test's own process ([`McpProcess::connect`]).
    child: Option<Child>,
    stdin: Option<ToServer>,
    /// Messages the server wrote to stdout, one JSON value per line.
    stdout: mpsc::UnboundedReceiver<anyhow::Result<Value>>,
    /// Everything the server wrote to stderr, for assertions about logs.
    stderr: Arc<Mutex<String>>,
    /// Counts stderr lines, so a test can wait for a log line without polling.
    stderr_lines: watch::Receiver<usize>,
    /// Responses read while waiting for something else, by id.
    responses: HashMap<i64, Value>,
    /// Notifications and server requests read while waiting for responses, in order.
    others: Vec<Value>,
    next_id: i64,
}

impl McpProcess {
    /// Spawns `program mcp` with `CODEX_HOME=codex_home`, the mock provider's key in the
    /// environment and no `OPENAI_API_KEY`.
    pub async fn spawn(program: &str, codex_home: &Path) -> anyhow::Result<Self> {
        Self::spawn_with(program, codex_home, &[], &[]).await
    }

    /// Like [`McpProcess::spawn`], with extra arguments (before `mcp`) and environment
    /// changes (`None` removes a variable).
    pub async fn spawn_with(
        program: &str,
        codex_home: &Path,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> anyhow::Result<Self> {
        let args: Vec<&str> = args.iter().copied().chain(["mcp"]).collect();
        Self::spawn_command(program, codex_home, &args, env).await
    }

    /// Like [`McpProcess::spawn_with`], with the whole command line given (no `mcp` added),
    /// as a host entry spells it.
    pub async fn spawn_command(
        program: &str,
        codex_home: &Path,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("CODEX_HOME", codex_home)
            .env("MOCK_API_KEY", MOCK_API_KEY)
            .env_remove("OPENAI_API_KEY")
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {program}"))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;

        let rx = read_messages(stdout);
        let stderr_log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr_log);
        let (line_count, stderr_lines) = watch::channel(0usize);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[codex stderr] {line}");
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                line_count.send_modify(|count| *count += 1);
            }
        });
        Ok(Self {
            child: Some(child),
            stdin: Some(Box::new(stdin)),
            stdout: rx,
            stderr: stderr_log,
            stderr_lines,
            responses: HashMap::new(),
            others: Vec::new(),
            next_id: 0,
        })
    }

    /// The client for a server in this process, which reads what is written to `to_server`
    /// and writes its messages to `from_server`. Such a server has no stderr of its own (its
    /// logs are the test's), no pid and no exit.
    pub fn connect(
        from_server: impl AsyncRead + Unpin + Send + 'static,
        to_server: impl AsyncWrite + Unpin + Send + 'static,
    ) -> Self {
        let (_, stderr_lines) = watch::channel(0usize);
        Self {
            child: None,
            stdin: Some(Box::new(to_server)),
            stdout: read_messages(from_server),
            stderr: Arc::new(Mutex::new(String::new())),
            stderr_lines,
            responses: HashMap::new(),
            others: Vec::new(),
            next_id: 0,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    fn child(&mut self) -> anyhow::Result<&mut Child> {
        self.child
            .as_mut()
            .context("the server runs in this process: it has no process of its own")
    }

    /// What the server has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// Waits (bounded by [`DEFAULT_READ_TIMEOUT`]) until the server's stderr satisfies
    /// `predicate`.
    pub async fn wait_for_stderr(
        &mut self,
        predicate: impl Fn(&str) -> bool,
    ) -> anyhow::Result<()> {
        let wait = async {
            loop {
                if predicate(&self.stderr()) {
                    return Ok(());
                }
                if self.stderr_lines.changed().await.is_err() {
                    bail!("the server closed stderr");
                }
            }
        };
        tokio::time::timeout(DEFAULT_READ_TIMEOUT, wait)
            .await
            .with_context(|| format!("stderr never matched; it was:\n{}", self.stderr()))?
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child()?.kill().await.context("killing the server")
    }

    /// Sends a request and reads its response (result or error).
    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.send_request(method, params).await?;
        self.read_until_response(id).await
    }

    /// The `initialize` handshake, declaring form elicitation; returns the result.
    pub async fn initialize(&mut self) -> anyhow::Result<Value> {
        self.initialize_with_capabilities(json!({"elicitation": {"form": {}}}))
            .await
    }

    pub async fn initialize_with_capabilities(
        &mut self,
        capabilities: Value,
    ) -> anyhow::Result<Value> {
        let id = self
            .send_request(
                "initialize",
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": capabilities,
                    "clientInfo": {"name": "codex-test-support", "version": "0.0.0"}
                }),
            )
            .await?;
        let response = self.read_until_response(id).await?;
        self.send_notification("notifications/initialized", None)
            .await?;
        response
            .get("result")
            .cloned()
            .with_context(|| format!("initialize failed: {response}"))
    }

    /// Sends a request and returns its id.
    pub async fn send_request(&mut self, method: &str, params: Value) -> anyhow::Result<i64> {
        let id = self.next_id;
        self.next_id += 1;
        self.send_message(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        Ok(id)
    }

    /// Calls a tool and returns the request id.
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> anyhow::Result<i64> {
        self.send_request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    pub async fn send_notification(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> anyhow::Result<()> {
        let mut message = json!({"jsonrpc": "2.0", "method": method});
        if let Some(params) = params {
            message["params"] = params;
        }
        self.send_message(&message).await
    }

    /// Answers a request the server sent.
    pub async fn send_response(&mut self, id: Value, result: Value) -> anyhow::Result<()> {
        self.send_message(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
            .await
    }

    pub async fn send_message(&mut self, message: &Value) -> anyhow::Result<()> {
        self.send_raw_line(&message.to_string()).await
    }

    /// Writes `line` and a newline to the server's stdin, whatever it contains.
    pub async fn send_raw_line(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        stdin.write_all(line.as_bytes()).await?;
        stdin.write_all(b"\n").await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Closes the server's stdin, as a host does to end the session.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> anyhow::Result<ExitStatus> {
        let child = self.child()?;
        tokio::time::timeout(limit, child.wait())
            .await
            .with_context(|| format!("server still running {limit:?} after stdin closed"))?
            .context("waiting for the server")
    }

    /// The next message from the server, read under [`DEFAULT_READ_TIMEOUT`].
    pub async fn read_message(&mut self) -> anyhow::Result<Value> {
        match tokio::time::timeout(DEFAULT_READ_TIMEOUT, self.stdout.recv()).await {
            Err(_) => bail!("no message from the server within {DEFAULT_READ_TIMEOUT:?}"),
            Ok(None) => bail!("the server closed stdout"),
            Ok(Some(message)) => message,
        }
    }

    /// Reads until the response to `id` (result or error), keeping everything else.
    pub async fn read_until_response(&mut self, id: i64) -> anyhow::Result<Value> {
        if let Some(response) = self.responses.remove(&id) {
            return Ok(response);
        }
        loop {
            let message = self.read_message().await?;
            let is_response = message.get("method").is_none() && message.get("id").is_some();
            if !is_response {
                self.others.push(message);
                continue;
            }
            match message.get("id").and_then(Value::as_i64) {
                Some(found) if found == id => return Ok(message),
                Some(found) => {
                    self.responses.insert(found, message);
                }
                None => bail!("response with a non-numeric id: {message}"),
            }
        }
    }

    /// Reads until a notification or request matching `predicate`, keeping responses.
    pub async fn read_until(
        &mut self,
        predicate: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        if let Some(position) = self.others.iter().position(&predicate) {
            return Ok(self.others.remove(position));
        }
        loop {
            let message = self.read_message().await?;
            let is_response = message.get("method").is_none() && message.get("id").is_some();
            if is_response {
                if let Some(found) = message.get("id").and_then(Value::as_i64) {
                    self.responses.insert(found, message);
                }
                continue;
            }
            if predicate(&message) {
                return Ok(message);
            }
            self.others.push(message);
        }
    }

    /// Whether a response to `id` has been read (and not yet consumed).
    pub fn has_response(&self, id: i64) -> bool {
        self.responses.contains_key(&id)
    }

    /// Notifications and requests seen so far that no read consumed, oldest first.
    pub fn take_others(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.others)
    }

    /// `codex/event` notifications seen so far whose `_meta.requestId` is `id`.
    pub fn events_for(&self, id: i64) -> Vec<Value> {
        self.others
            .iter()
            .filter(|m| m.get("method").and_then(Value::as_str) == Some("codex/event"))
            .filter(|m| m["params"]["_meta"]["requestId"] == json!(id))
            .cloned()
            .collect()
    }
}

/// Reads one JSON message per line from `from_server` onto a channel, until it ends.
fn read_messages(
    from_server: impl AsyncRead + Unpin + Send + 'static,
) -> mpsc::UnboundedReceiver<anyhow::Result<Value>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(from_server).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    let parsed = serde_json::from_str::<Value>(&line).with_context(|| {
                        format!("server wrote a non-JSON line to stdout: {line:?}")
                    });
                    if tx.send(parsed).is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(err) => {
                    let _ = tx.send(Err(err.into()));
                    return;
                }
            }
        }
    });
    rx
}
