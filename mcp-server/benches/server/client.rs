//! A lean MCP client for the bench: one spawned server, JSON-RPC lines over its stdio, any
//! number of requests in flight, and the server's memory and CPU read from `/proc`.
//!
//! The test suite's `McpProcess` parses and keeps every message, which is right for
//! assertions but would put the client's cost into figures that are meant to be the
//! server's: here a notification is only counted, and a response is timed when its line
//! arrives, before it is parsed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context as _;
use anyhow::anyhow;
use anyhow::bail;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use tokio::io::AsyncBufReadExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::io::BufReader;
use tokio::process::Child;
use tokio::process::ChildStdin;
use tokio::process::Command;
use tokio::sync::oneshot;

/// How many of the server's last stderr lines are kept to explain a failure.
const STDERR_TAIL: usize = 40;
/// How long a server may take to exit once its stdin is closed before it is killed.
pub(crate) const EXIT_LIMIT: Duration = Duration::from_secs(2);

/// Servers that had to be killed because they did not exit at stdin EOF within
/// [`EXIT_LIMIT`]; reported after the table rather than failing a figure.
pub(crate) static KILLED_AT_EXIT: AtomicU64 = AtomicU64::new(0);

/// How to start a server: a program and the arguments that make it serve MCP on stdio.
#[derive(Debug, Clone)]
pub(crate) struct ServerCommand {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
}

impl std::fmt::Display for ServerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// Waiters by request id; each gets the response line and when it arrived.
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<(Instant, Vec<u8>)>>>>;

/// A running server.
pub(crate) struct McpServer {
    child: Child,
    pid: u32,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    notifications: Arc<AtomicU64>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

/// Only what tells a response from a notification; everything else in the line is skipped.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<Value>,
}

/// Memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// Resident now (`VmRSS`), in KiB.
    pub(crate) rss_kib: u64,
    /// The peak resident size so far (`VmHWM`), in KiB.
    pub(crate) hwm_kib: u64,
}

/// A request's result and its timing.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) result: Value,
    /// When the request's line was written.
    pub(crate) sent: Instant,
    /// When the response's line was read, before parsing.
    pub(crate) received: Instant,
}

impl Reply {
    /// Request written to response read, in milliseconds.
    pub(crate) fn latency_ms(&self) -> f64 {
        (self.received - self.sent).as_secs_f64() * 1000.0
    }
}

/// What a `codex` or `codex-reply` call answered.
#[derive(Debug)]
pub(crate) struct ToolAnswer {
    pub(crate) thread_id: Option<String>,
    pub(crate) text: String,
    pub(crate) latency_ms: f64,
}

impl McpServer {
    /// Starts `command` and then `extra_args`, with `CODEX_HOME=home` in `cwd`, with the logging
    /// a host gets by default (`RUST_LOG` removed).
    pub(crate) fn spawn(
        command: &ServerCommand,
        extra_args: &[&str],
        home: &Path,
        cwd: &Path,
    ) -> anyhow::Result<Self> {
        Self::spawn_reading(command, extra_args, home, cwd, None)
    }

    /// Like [`Self::spawn`], for a slow host: after each notification it reads, the client
    /// waits `pause` before it reads the next line.
    pub(crate) fn spawn_reading(
        command: &ServerCommand,
        extra_args: &[&str],
        home: &Path,
        cwd: &Path,
        pause: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(&command.program)
            .args(&command.args)
            .args(extra_args)
            .current_dir(cwd)
            .env("CODEX_HOME", home)
            .env("MOCK_API_KEY", codex_test_support::MOCK_API_KEY)
            .env_remove("OPENAI_API_KEY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {command}"))?;
        let pid = child.id().context("the server has no pid")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let pending: Pending = Arc::default();
        let notifications = Arc::new(AtomicU64::new(0));
        tokio::spawn(read_stdout(
            stdout,
            Arc::clone(&pending),
            Arc::clone(&notifications),
            pause,
        ));
        let stderr_tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        tokio::spawn({
            let tail = Arc::clone(&stderr_tail);
            async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut tail) = tail.lock() {
                        if tail.len() == STDERR_TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                }
            }
        });
        Ok(Self {
            child,
            pid,
            stdin: tokio::sync::Mutex::new(Some(stdin)),
            pending,
            next_id: AtomicU64::new(1),
            notifications,
            stderr_tail,
        })
    }

    /// Notifications received so far (`codex/event`, progress, ...).
    pub(crate) fn notifications(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }

    fn stderr_tail(&self) -> String {
        self.stderr_tail
            .lock()
            .map(|tail| tail.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// The `initialize` handshake, then `notifications/initialized`.
    pub(crate) async fn initialize(&self, limit: Duration) -> anyhow::Result<Reply> {
        let reply = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "codex-bench", "version": "0.0.0"}
                }),
                limit,
            )
            .await?;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(reply)
    }

    /// Sends a request and waits, at most `limit`, for its result (an error response is an
    /// error).
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Value,
        limit: Duration,
    ) -> anyhow::Result<Reply> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let sent = Instant::now();
        let written = self
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        if let Err(err) = written {
            lock(&self.pending).remove(&id);
            return Err(err);
        }
        let (received, line) = match tokio::time::timeout(limit, rx).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => bail!(
                "the server closed stdout before answering `{method}`; its stderr ends with:\n{}",
                self.stderr_tail()
            ),
            Err(_) => {
                lock(&self.pending).remove(&id);
                bail!("no answer to `{method}` within {limit:?}")
            }
        };
        let mut response: Value = serde_json::from_slice(&line)
            .with_context(|| format!("the answer to `{method}` is not JSON"))?;
        if let Some(error) = response.get("error") {
            bail!("`{method}` failed: {error}");
        }
        let result = response
            .get_mut("result")
            .map(Value::take)
            .ok_or_else(|| anyhow!("`{method}` answered without a result"))?;
        Ok(Reply {
            result,
            sent,
            received,
        })
    }

    /// Calls a tool and checks that it succeeded.
    pub(crate) async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
        limit: Duration,
    ) -> anyhow::Result<ToolAnswer> {
        let reply = self
            .request(
                "tools/call",
                json!({"name": name, "arguments": arguments}),
                limit,
            )
            .await?;
        let result = &reply.result;
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if result["isError"] == json!(true) {
            bail!("`{name}` returned an error: {text}");
        }
        let thread_id = result["structuredContent"]["threadId"]
            .as_str()
            .or_else(|| result["structuredContent"]["conversationId"].as_str())
            .map(str::to_string);
        Ok(ToolAnswer {
            thread_id,
            text,
            latency_ms: reply.latency_ms(),
        })
    }

    async fn send(&self, message: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        let stdin = stdin.as_mut().context("stdin already closed")?;
        stdin.write_all(&line).await?;
        stdin.flush().await?;
        Ok(())
    }

    pub(crate) fn memory(&self) -> anyhow::Result<Memory> {
        memory(self.pid)
    }

    /// CPU the server has used so far (all threads, user + system), in milliseconds.
    pub(crate) fn cpu_millis(&self) -> anyhow::Result<f64> {
        cpu_millis(self.pid)
    }

    /// Closes stdin, as a host does, and waits for the exit; kills the server if it lingers
    /// (counted in [`KILLED_AT_EXIT`]).
    pub(crate) async fn shutdown(mut self) -> anyhow::Result<()> {
        self.stdin.lock().await.take();
        match tokio::time::timeout(EXIT_LIMIT, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                KILLED_AT_EXIT.fetch_add(1, Ordering::Relaxed);
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// Hands each response to its waiter and counts everything else. Ends at EOF, dropping the
/// waiters still pending, which then report the server gone.
async fn read_stdout(
    stdout: tokio::process::ChildStdout,
    pending: Pending,
    notifications: Arc<AtomicU64>,
    pause: Option<Duration>,
) {
    let mut stdout = BufReader::with_capacity(1 << 20, stdout);
    let mut line = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        match stdout.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(head) = serde_json::from_slice::<Head<'_>>(&line) else {
            continue; // Not JSON: nothing any request waits for.
        };
        let id = match (&head.method, &head.id) {
            (None, Some(Value::Number(id))) => id.as_u64(),
            _ => None,
        };
        let Some(id) = id else {
            notifications.fetch_add(1, Ordering::Relaxed);
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            continue;
        };
        let received = Instant::now();
        let Some(waiter) = lock(&pending).remove(&id) else {
            continue;
        };
        let _ = waiter.send((received, std::mem::take(&mut line)));
    }
    lock(&pending).clear();
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `VmRSS` and `VmHWM` of `pid`.
pub(crate) fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// `utime + stime` of `pid` (every thread, live or exited), in milliseconds.
pub(crate) fn cpu_millis(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses; the fields start after the last ')'.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `state`, field 3, is the first after the name.
    let ticks = |index: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(index - 3)
            .context("short /proc/<pid>/stat")?
            .parse()?)
    };
    let total = ticks(14)? + ticks(15)?;
    Ok(total as f64 * 1000.0 / clock_ticks_per_second() as f64)
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` once; 100 on every Linux this runs on.
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Milliseconds from `from` to `to`.
pub(crate) fn millis_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}
