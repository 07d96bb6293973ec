//! (9) Many clients at once, over stdio and over Streamable HTTP (`codex mcp --listen`):
//! calls per second and per-call latency (p50, p99) against the instant provider, so the
//! cost of the HTTP transport sits beside the stdio figure.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use anyhow::bail;
use serde_json::json;
use tokio::io::AsyncBufReadExt as _;
use tokio::io::BufReader;

use crate::Bench;
use crate::CALL_LIMIT;
use crate::START_LIMIT;
use crate::check_answer;
use crate::client::ServerCommand;
use crate::codex_args;
use crate::millis_between;
use crate::stats::Row;
use crate::stats::Samples;
use crate::stats::Target;

/// Clients at once, as the issue asks for.
pub(crate) const CLIENTS: usize = 64;

/// The figure's rows for stdio and HTTP: each of [`CLIENTS`] clients makes `calls` calls in
/// turn.
pub(crate) async fn many_clients(
    bench: &Bench,
    command: &ServerCommand,
    calls: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let (wall, latencies) = over_stdio(bench, command, calls).await?;
    rows.extend(rows_for("stdio", calls, wall, latencies));
    let (wall, latencies) = over_http(bench, command, calls).await?;
    rows.extend(rows_for("HTTP", calls, wall, latencies));
    Ok(rows)
}

fn rows_for(transport: &str, calls: usize, wall: f64, latencies: Samples) -> Vec<Row> {
    let name = format!("(9) {CLIENTS} clients × {calls} `codex` calls, {transport}");
    let mut rate = Samples::default();
    rate.push((CLIENTS * calls) as f64 * 1000.0 / wall);
    let mut p99 = Samples::default();
    if let Some(value) = latencies.percentile(99.0) {
        p99.push(value);
    }
    vec![
        Row::new(format!("{name}: calls/s"), rate, Target::Info),
        Row::new(
            format!("{name}: latency (ms; median is p50)"),
            latencies,
            Target::Info,
        ),
        Row::new(format!("{name}: p99 latency (ms)"), p99, Target::Info),
    ]
}

async fn over_stdio(
    bench: &Bench,
    command: &ServerCommand,
    calls: usize,
) -> anyhow::Result<(f64, Samples)> {
    let home = bench.fresh_home()?;
    let server = bench.spawn(command, &home).await?;
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|client| {
        let server = &server;
        async move {
            let mut latencies = Vec::with_capacity(calls);
            for call in 0..calls {
                let answer = server
                    .call_tool(
                        "codex",
                        codex_args(&format!("ping {client}.{call}"), None),
                        CALL_LIMIT,
                    )
                    .await?;
                check_answer(&answer.text)?;
                latencies.push(answer.latency_ms);
            }
            anyhow::Ok(latencies)
        }
    });
    let results = futures::future::join_all(clients).await;
    let wall = millis_between(started, Instant::now());
    server.shutdown().await?;
    let mut samples = Samples::default();
    for latencies in results {
        for latency in latencies? {
            samples.push(latency);
        }
    }
    Ok((wall, samples))
}

/// The server with `--listen 127.0.0.1:0`; 2026-07-28 requests (stateless: one POST per
/// call, its answer on the response's SSE stream), over one pooled HTTP client.
async fn over_http(
    bench: &Bench,
    command: &ServerCommand,
    calls: usize,
) -> anyhow::Result<(f64, Samples)> {
    let home = bench.fresh_home()?;
    // One principal (no tokens) makes every call: let it make them all at once.
    let mut config = std::fs::read_to_string(home.join("config.toml"))?;
    config.push_str(&format!(
        "\n[http]\nmax_concurrent_calls_per_principal = {CLIENTS}\n"
    ));
    std::fs::write(home.join("config.toml"), config)?;
    let (mut server, url) = listen(command, &home, &bench.work).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|client| {
        let (http, url) = (&http, &url);
        async move {
            let mut latencies = Vec::with_capacity(calls);
            for call in 0..calls {
                let sent = Instant::now();
                let text = call_over_http(http, url, &format!("ping {client}.{call}")).await?;
                latencies.push(millis_between(sent, Instant::now()));
                check_answer(&text)?;
            }
            anyhow::Ok(latencies)
        }
    });
    let results = futures::future::join_all(clients).await;
    let wall = millis_between(started, Instant::now());
    server.start_kill()?;
    let _ = tokio::time::timeout(START_LIMIT, server.wait()).await;
    let mut samples = Samples::default();
    for latencies in results {
        for latency in latencies? {
            samples.push(latency);
        }
    }
    Ok((wall, samples))
}

async fn listen(
    command: &ServerCommand,
    home: &Path,
    cwd: &Path,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let mut child = tokio::process::Command::new(&command.program)
        .args(&command.args)
        .args(["--listen", "127.0.0.1:0"])
        .env("CODEX_HOME", home)
        .env("MOCK_API_KEY", "bench-key")
        .env("RUST_LOG", "info")
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {command} --listen"))?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = tokio::time::timeout(START_LIMIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some((_, rest)) = line.split_once("listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                return anyhow::Ok(url.to_string());
            }
        }
        bail!("the server ended before it listened")
    })
    .await
    .context("the server did not listen in time")??;
    // Keep reading stderr, so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

async fn call_over_http(http: &reqwest::Client, url: &str, prompt: &str) -> anyhow::Result<String> {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "codex",
            "arguments": codex_args(prompt, None),
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            },
        },
    });
    let send = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "codex")
        .json(&body)
        .send();
    let answer = tokio::time::timeout(CALL_LIMIT, async move {
        let response = send.await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "HTTP {status}: {text}");
        anyhow::Ok(text)
    })
    .await
    .map_err(|_| anyhow::anyhow!("no answer within {CALL_LIMIT:?}"))??;
    // The answer is the last `data:` line of the stream (or the JSON body itself).
    let message = answer
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("data:").map(str::trim))
        .filter(|data| !data.is_empty())
        .unwrap_or(answer.trim());
    let message: serde_json::Value = serde_json::from_str(message)?;
    let result = &message["result"];
    if result["isError"] == json!(true) || result.is_null() {
        bail!("the call failed: {message}");
    }
    Ok(result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}
