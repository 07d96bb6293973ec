//! `cargo bench -p codex-mcp-server`: where the server stands on start-up, per-call overhead,
//! concurrency, memory, resume and streaming cost, measured end to end as a host sees it.
//!
//! It spawns the release `codex` binary (`codex mcp`, `CODEX_HOME` a temporary directory whose
//! config.toml points at mock providers in this process), speaks MCP over its stdio, and reads
//! the server's memory and CPU from `/proc`. Each figure is measured repeatedly and reported as
//! median, p90 and max in a Markdown table (docs/performance.md holds the latest run).
//!
//! `CODEX_BENCH_QUICK=1` runs every figure a few times only (a smoke run, seconds after the
//! build), and `CODEX_BENCH_ONLY=6,7` only the figures named. `CODEX_BENCH_COMPARE="program args"` runs the same figures, fewer times, against
//! another server command (for example `codex mcp-server` of the CLI we replace) and prints its
//! table too.
// A bench binary reports to whoever ran it, on stdout; the server's rule (stdout carries only
// JSON-RPC) is about the `codex` binary, not this one.
#![allow(clippy::print_stdout)]

mod client;
mod http;
mod mock;
mod rollout;
mod stats;

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context as _;
use anyhow::bail;
use codex_test_support::responses;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use crate::client::McpServer;
use crate::client::ServerCommand;
use crate::client::millis_between;
use crate::mock::MockProvider;
use crate::stats::Row;
use crate::stats::Samples;
use crate::stats::Target;

/// What the instant provider answers; every call checks it got this back.
const ANSWER: &str = "pong";
/// The fixed delay of the slow provider: a model that takes a while, as real ones do.
const PROVIDER_DELAY: Duration = Duration::from_millis(100);
/// Bytes of text per streamed delta: a few tokens, as providers send them.
const DELTA_BYTES: usize = 16;
/// Bytes of delta text streamed per call in the CPU figure.
const STREAM_BYTES: usize = 1 << 20;
/// How long the endless provider streams before it hangs up (figure 8).
const ENDLESS_FOR: Duration = Duration::from_secs(10);
/// The slow host of figure 8 waits this long after each notification it reads.
const SLOW_HOST_PAUSE: Duration = Duration::from_millis(10);
/// Bound on any single MCP request of the bench; a figure that needs longer has failed.
const CALL_LIMIT: Duration = Duration::from_secs(60);
/// Bound on start-up to an answered `initialize`.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How many calls are in flight while the idle conversations are created.
const IDLE_FILL_CONCURRENCY: usize = 32;
/// Time for rollout writers to finish and close their files before idle memory is read.
const SETTLE: Duration = Duration::from_millis(500);

const MIB: f64 = 1024.0 * 1024.0;

/// How many times each figure is measured.
#[derive(Debug, Clone)]
struct Plan {
    startup_runs: usize,
    seq_warmup: usize,
    seq_calls: usize,
    reply_calls: usize,
    concurrency: Vec<usize>,
    concurrency_reps: usize,
    delayed_reps: usize,
    idle_conversations: usize,
    idle_reps: usize,
    resume_items: usize,
    resume_runs: usize,
    resume_reply_runs: usize,
    stream_calls: usize,
    stream_quiet_calls: usize,
    endless_runs: usize,
    round_trips: usize,
}

impl Plan {
    fn full() -> Self {
        Self {
            startup_runs: 40,
            seq_warmup: 10,
            seq_calls: 200,
            reply_calls: 100,
            concurrency: vec![8, 32, 128],
            concurrency_reps: 10,
            delayed_reps: 3,
            idle_conversations: 1_000,
            idle_reps: 3,
            resume_items: 10_000,
            resume_runs: 10,
            resume_reply_runs: 5,
            stream_calls: 8,
            stream_quiet_calls: 5,
            endless_runs: 3,
            round_trips: 1_000,
        }
    }

    /// Every figure, a few times: proves the bench and the server work, measures little.
    fn quick() -> Self {
        Self {
            startup_runs: 3,
            seq_warmup: 2,
            seq_calls: 5,
            reply_calls: 3,
            concurrency_reps: 1,
            delayed_reps: 1,
            idle_conversations: 50,
            idle_reps: 1,
            resume_runs: 2,
            resume_reply_runs: 1,
            stream_calls: 1,
            stream_quiet_calls: 1,
            endless_runs: 1,
            round_trips: 50,
            ..Self::full()
        }
    }

    /// For a server that may be a hundred times slower: enough runs for a median, in minutes.
    fn compare() -> Self {
        Self {
            startup_runs: 10,
            seq_warmup: 1,
            seq_calls: 20,
            reply_calls: 10,
            concurrency_reps: 2,
            delayed_reps: 1,
            idle_conversations: 100,
            idle_reps: 1,
            resume_runs: 3,
            resume_reply_runs: 1,
            stream_calls: 2,
            stream_quiet_calls: 1,
            endless_runs: 1,
            round_trips: 0,
            ..Self::full()
        }
    }
}

/// The mock providers and the directories every server gets.
struct Bench {
    instant: MockProvider,
    delayed: MockProvider,
    stream: MockProvider,
    endless: MockProvider,
    /// Holds the homes and the servers' working directory.
    root: TempDir,
    /// The servers' working directory: outside any git repository, so no AGENTS.md or git
    /// lookup depends on where the bench was started.
    work: PathBuf,
    homes: std::cell::Cell<usize>,
}

impl Bench {
    async fn start() -> anyhow::Result<Self> {
        let instant =
            MockProvider::start(&responses::assistant_answer(ANSWER), Duration::ZERO).await?;
        let delayed =
            MockProvider::start(&responses::assistant_answer(ANSWER), PROVIDER_DELAY).await?;
        let stream = MockProvider::start(&streamed_answer(), Duration::ZERO).await?;
        let endless = MockProvider::endless(&"x".repeat(DELTA_BYTES), ENDLESS_FOR).await?;
        let root = tempfile::Builder::new().prefix("codex-bench-").tempdir()?;
        let work = root.path().join("work");
        std::fs::create_dir(&work)?;
        Ok(Self {
            instant,
            delayed,
            stream,
            endless,
            root,
            work,
            homes: std::cell::Cell::new(0),
        })
    }

    /// A fresh `CODEX_HOME` with config.toml pointing at the providers: `mock` (instant,
    /// the default), `mock_delayed`, `mock_stream` and `mock_endless`.
    fn fresh_home(&self) -> anyhow::Result<PathBuf> {
        let n = self.homes.get() + 1;
        self.homes.set(n);
        let home = self.root.path().join(format!("home-{n}"));
        std::fs::create_dir(&home)?;
        let provider = |id: &str, mock: &MockProvider| {
            format!(
                r#"
[model_providers.{id}]
name = "{id}"
base_url = "{}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"#,
                mock.base_url()
            )
        };
        let config = format!(
            "model = \"mock-model\"\nmodel_provider = \"mock\"\napproval_policy = \"never\"\nsandbox_mode = \"read-only\"\n{}{}{}{}",
            provider("mock", &self.instant),
            provider("mock_delayed", &self.delayed),
            provider("mock_stream", &self.stream),
            provider("mock_endless", &self.endless),
        );
        std::fs::write(home.join("config.toml"), config)?;
        Ok(home)
    }

    async fn spawn(&self, command: &ServerCommand, home: &Path) -> anyhow::Result<McpServer> {
        self.spawn_with(command, &[], home).await
    }

    async fn spawn_with(
        &self,
        command: &ServerCommand,
        extra_args: &[&str],
        home: &Path,
    ) -> anyhow::Result<McpServer> {
        let server = McpServer::spawn(command, extra_args, home, &self.work)?;
        server.initialize(START_LIMIT).await?;
        Ok(server)
    }
}

/// A response that streams [`STREAM_BYTES`] of text in [`DELTA_BYTES`] deltas, then the
/// whole message, as the Responses API does.
fn streamed_answer() -> String {
    let phrase = "the quick brown fox jumps over the lazy dog ";
    let text: String = phrase.chars().cycle().take(STREAM_BYTES).collect();
    let mut events = Vec::with_capacity(STREAM_BYTES / DELTA_BYTES + 3);
    events.push(responses::ev_response_created("resp-stream"));
    for chunk in text.as_bytes().chunks(DELTA_BYTES) {
        events.push(responses::ev_output_text_delta(&String::from_utf8_lossy(
            chunk,
        )));
    }
    events.push(responses::ev_assistant_message("msg-stream", &text));
    events.push(responses::ev_completed("resp-stream"));
    responses::sse(&events)
}

fn codex_args(prompt: &str, provider: Option<&str>) -> Value {
    match provider {
        None => json!({"prompt": prompt}),
        Some(provider) => json!({"prompt": prompt, "config": {"model_provider": provider}}),
    }
}

fn check_answer(text: &str) -> anyhow::Result<()> {
    if text != ANSWER {
        bail!("expected the answer {ANSWER:?}, got {text:?}");
    }
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 * 1024.0 / MIB
}

fn main() -> anyhow::Result<()> {
    // One thread for the client and the mocks: the server gets the rest of the machine, and
    // the bench's own scheduling stays out of its way.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let quick = std::env::var("CODEX_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let plan = if quick { Plan::quick() } else { Plan::full() };
    let ours = ServerCommand {
        program: env!("CARGO_BIN_EXE_codex").to_string(),
        args: vec!["mcp".to_string()],
    };
    let started = Instant::now();
    println!("{}", machine());
    println!(
        "mode: {}; server: {ours}",
        if quick {
            "quick (CODEX_BENCH_QUICK)"
        } else {
            "full"
        }
    );
    let bench = Bench::start().await?;
    let rows = run_figures(&bench, &ours, &plan).await;
    println!("\n{}", stats::render(&rows));
    report_killed();
    if let Some(mock) = mock_rows(&bench, &plan).await {
        println!("{}", stats::render(&mock));
    }
    println!("bench wall time: {:.1} s", started.elapsed().as_secs_f64());

    if let Ok(compare) = std::env::var("CODEX_BENCH_COMPARE")
        && !compare.trim().is_empty()
    {
        let words = shlex::split(&compare).context("CODEX_BENCH_COMPARE is not shell words")?;
        let Some((program, args)) = words.split_first() else {
            bail!("CODEX_BENCH_COMPARE names no program");
        };
        let other = ServerCommand {
            program: program.clone(),
            args: args.to_vec(),
        };
        let started = Instant::now();
        println!("\ncompare: {other} (fewer runs per figure)");
        let rows = run_figures(&bench, &other, &Plan::compare()).await;
        println!("\n{}", stats::render(&rows));
        report_killed();
        println!(
            "compare wall time: {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Says how many servers ignored stdin EOF (and resets the count for the next server).
fn report_killed() {
    let killed = client::KILLED_AT_EXIT.swap(0, std::sync::atomic::Ordering::Relaxed);
    if killed > 0 {
        println!(
            "servers killed after not exiting within {:?} of stdin EOF: {killed}\n",
            client::EXIT_LIMIT
        );
    }
}

/// The machine, as docs/performance.md records it.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    format!("machine: {cores} cores, {cpu}, Linux {kernel}")
}

/// Every figure in order; a figure that fails becomes a row saying why, and the rest go on.
/// `CODEX_BENCH_ONLY` (figure numbers, e.g. `6,7`) runs only those, for profiling one.
async fn run_figures(bench: &Bench, command: &ServerCommand, plan: &Plan) -> Vec<Row> {
    let only = std::env::var("CODEX_BENCH_ONLY").unwrap_or_default();
    let wanted =
        |figure: &str| only.trim().is_empty() || only.split(',').any(|f| f.trim() == figure);
    let mut rows = Vec::new();
    if wanted("1") {
        rows.extend(or_failed("start-up", startup(bench, command, plan).await));
    }
    if wanted("2") {
        rows.extend(or_failed(
            "sequential calls",
            sequential(bench, command, plan).await,
        ));
    }
    if wanted("3") || wanted("4") {
        for &n in &plan.concurrency {
            rows.extend(or_failed(
                &format!("{n} concurrent calls"),
                concurrent(bench, command, plan, n).await,
            ));
        }
        for &n in &plan.concurrency {
            rows.extend(or_failed(
                &format!("{n} concurrent calls, delayed provider"),
                concurrent_delayed(bench, command, plan, n).await,
            ));
        }
    }
    if wanted("5") {
        rows.extend(or_failed(
            "idle conversations",
            idle_conversations(bench, command, plan).await,
        ));
    }
    if wanted("6") {
        rows.extend(or_failed("resume", resume(bench, command, plan).await));
    }
    if wanted("7") {
        rows.extend(or_failed(
            "streaming",
            streaming(bench, command, plan).await,
        ));
    }
    if wanted("8") {
        rows.extend(or_failed(
            "a stream without end",
            endless(bench, command, plan).await,
        ));
    }
    if wanted("9") {
        let calls = if plan.concurrency_reps > 1 { 8 } else { 2 };
        rows.extend(or_failed(
            &format!("{} clients, stdio and HTTP", http::CLIENTS),
            http::many_clients(bench, command, calls).await,
        ));
    }
    rows
}

/// (8) Memory while a provider streams without end (for [`ENDLESS_FOR`]) and every delta is
/// forwarded to the host: the server must slow the stream down rather than queue it.
async fn endless(bench: &Bench, command: &ServerCommand, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for pause in [None, Some(SLOW_HOST_PAUSE)] {
        rows.push(match endless_variant(bench, command, plan, pause).await {
            Ok(row) => row,
            Err(err) => Row::failed("(8) a stream without end", &err),
        });
    }
    Ok(rows)
}

async fn endless_variant(
    bench: &Bench,
    command: &ServerCommand,
    plan: &Plan,
    pause: Option<Duration>,
) -> anyhow::Result<Row> {
    let mut peaks = Samples::default();
    for _ in 0..plan.endless_runs {
        let home = bench.fresh_home()?;
        let server = McpServer::spawn_reading(command, &[], &home, &bench.work, pause)?;
        server.initialize(START_LIMIT).await?;
        // The call ends in an error when the provider hangs up; only the memory matters.
        server
            .request(
                "tools/call",
                json!({"name": "codex", "arguments": codex_args("talk", Some("mock_endless"))}),
                ENDLESS_FOR + CALL_LIMIT,
            )
            .await?;
        peaks.push(mib(server.memory()?.hwm_kib));
        server.shutdown().await?;
    }
    let host = match pause {
        None => String::new(),
        Some(pause) => format!(
            ", to a host that pauses {} ms after each notification",
            pause.as_millis()
        ),
    };
    Ok(Row::new(
        format!(
            "(8) peak RSS while a provider streams {DELTA_BYTES}-byte deltas without end for {} s, events on{host} (MiB)",
            ENDLESS_FOR.as_secs()
        ),
        peaks,
        Target::AtMost(64.0),
    ))
}

fn or_failed(figure: &str, rows: anyhow::Result<Vec<Row>>) -> Vec<Row> {
    rows.unwrap_or_else(|err| vec![Row::failed(figure, &err)])
}

/// (1) Spawn → `initialize` answered, each time a new process, as a host starts it.
async fn startup(bench: &Bench, command: &ServerCommand, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let home = bench.fresh_home()?;
    let mut times = Samples::default();
    let mut peaks = Samples::default();
    for _ in 0..plan.startup_runs {
        let started = Instant::now();
        let server = McpServer::spawn(command, &[], &home, &bench.work)?;
        let reply = server.initialize(START_LIMIT).await?;
        times.push(millis_between(started, reply.received));
        peaks.push(mib(server.memory()?.hwm_kib));
        server.shutdown().await?;
    }
    Ok(vec![
        Row::new(
            "(1) start-up: spawn → `initialize` answered (ms)",
            times,
            Target::AtMost(10.0),
        ),
        Row::new(
            "(1) start-up: peak RSS after `initialize` (MiB)",
            peaks,
            Target::Info,
        ),
    ])
}

/// (2) One call at a time: a new thread per `codex` call, then `codex-reply` on one thread.
async fn sequential(
    bench: &Bench,
    command: &ServerCommand,
    plan: &Plan,
) -> anyhow::Result<Vec<Row>> {
    let home = bench.fresh_home()?;
    let server = bench.spawn(command, &home).await?;
    let mut thread_id = None;
    for _ in 0..plan.seq_warmup {
        let answer = server
            .call_tool("codex", codex_args("ping", None), CALL_LIMIT)
            .await?;
        check_answer(&answer.text)?;
        thread_id = answer.thread_id;
    }
    let mut calls = Samples::default();
    let cpu_before = server.cpu_millis()?;
    for _ in 0..plan.seq_calls {
        let answer = server
            .call_tool("codex", codex_args("ping", None), CALL_LIMIT)
            .await?;
        calls.push(answer.latency_ms);
        check_answer(&answer.text)?;
    }
    let mut cpu = Samples::default();
    if plan.seq_calls > 0 {
        cpu.push((server.cpu_millis()? - cpu_before) / plan.seq_calls as f64);
    }
    let thread_id = thread_id.context("no threadId in the `codex` result")?;
    let mut replies = Samples::default();
    for _ in 0..plan.reply_calls {
        let answer = server
            .call_tool(
                "codex-reply",
                json!({"threadId": thread_id, "prompt": "ping"}),
                CALL_LIMIT,
            )
            .await?;
        replies.push(answer.latency_ms);
        check_answer(&answer.text)?;
    }
    server.shutdown().await?;
    Ok(vec![
        Row::new(
            "(2) one `codex` call (new thread), sequential (ms)",
            calls,
            Target::AtMost(10.0),
        ),
        Row::new(
            "(2) server CPU per sequential `codex` call (ms)",
            cpu,
            Target::Info,
        ),
        Row::new(
            "(2) one `codex-reply` call (same thread), sequential (ms)",
            replies,
            Target::Info,
        ),
    ])
}

/// `n` calls sent at once to a freshly started server; how long until the last answer.
async fn fan_out(
    bench: &Bench,
    command: &ServerCommand,
    home: &Path,
    n: usize,
    provider: Option<&str>,
) -> anyhow::Result<(f64, client::Memory)> {
    let server = bench.spawn(command, home).await?;
    let started = Instant::now();
    let calls = (0..n).map(|i| {
        let server = &server;
        async move {
            server
                .call_tool(
                    "codex",
                    codex_args(&format!("ping {i}"), provider),
                    CALL_LIMIT,
                )
                .await
        }
    });
    let answers = futures::future::join_all(calls).await;
    let wall = millis_between(started, Instant::now());
    for answer in answers {
        check_answer(&answer?.text)?;
    }
    let memory = server.memory()?;
    server.shutdown().await?;
    Ok((wall, memory))
}

/// (3) and (4): `n` concurrent calls against the instant provider: wall time, calls per
/// second, and the server's peak RSS.
async fn concurrent(
    bench: &Bench,
    command: &ServerCommand,
    plan: &Plan,
    n: usize,
) -> anyhow::Result<Vec<Row>> {
    let home = bench.fresh_home()?;
    let mut walls = Samples::default();
    let mut rates = Samples::default();
    let mut peaks = Samples::default();
    for _ in 0..plan.concurrency_reps {
        let (wall, memory) = fan_out(bench, command, &home, n, None).await?;
        walls.push(wall);
        rates.push(n as f64 * 1000.0 / wall);
        peaks.push(mib(memory.hwm_kib));
    }
    let wall_target = if n == 32 {
        Target::AtMost(150.0)
    } else {
        Target::Info
    };
    Ok(vec![
        Row::new(
            format!("(3) {n} concurrent `codex` calls: wall (ms)"),
            walls,
            wall_target,
        ),
        Row::new(
            format!("(3) {n} concurrent `codex` calls: calls/s"),
            rates,
            Target::Info,
        ),
        Row::new(
            format!("(4) {n} concurrent `codex` calls: server peak RSS, VmHWM (MiB)"),
            peaks,
            Target::AtMost(30.0),
        ),
    ])
}

/// (3) with a provider that takes [`PROVIDER_DELAY`] per answer: the calls must overlap, so
/// the wall time should stay near one delay.
async fn concurrent_delayed(
    bench: &Bench,
    command: &ServerCommand,
    plan: &Plan,
    n: usize,
) -> anyhow::Result<Vec<Row>> {
    let home = bench.fresh_home()?;
    let mut walls = Samples::default();
    for _ in 0..plan.delayed_reps {
        let (wall, _) = fan_out(bench, command, &home, n, Some("mock_delayed")).await?;
        walls.push(wall);
    }
    Ok(vec![Row::new(
        format!(
            "(3) {n} concurrent calls, provider delay {} ms: wall (ms)",
            PROVIDER_DELAY.as_millis()
        ),
        walls,
        Target::Info,
    )])
}

/// (5) Memory with many conversations loaded and idle (each has had one turn).
async fn idle_conversations(
    bench: &Bench,
    command: &ServerCommand,
    plan: &Plan,
) -> anyhow::Result<Vec<Row>> {
    let count = plan.idle_conversations;
    let mut totals = Samples::default();
    let mut per_conversation = Samples::default();
    let mut baselines = Samples::default();
    for _ in 0..plan.idle_reps {
        let home = bench.fresh_home()?;
        let server = bench.spawn(command, &home).await?;
        // One call first, so the baseline holds what any used server holds (HTTP pool,
        // runtime threads) and the difference is the conversations alone.
        check_answer(
            &server
                .call_tool("codex", codex_args("ping", None), CALL_LIMIT)
                .await?
                .text,
        )?;
        tokio::time::sleep(SETTLE).await;
        let baseline = server.memory()?.rss_kib;
        let mut created = 1;
        while created < count + 1 {
            let batch = IDLE_FILL_CONCURRENCY.min(count + 1 - created);
            let calls = (0..batch).map(|i| {
                server.call_tool(
                    "codex",
                    codex_args(&format!("remember {}", created + i), None),
                    CALL_LIMIT,
                )
            });
            for answer in futures::future::join_all(calls).await {
                check_answer(&answer?.text)?;
            }
            created += batch;
        }
        tokio::time::sleep(SETTLE).await;
        let rss = server.memory()?.rss_kib;
        totals.push(mib(rss));
        baselines.push(mib(baseline));
        per_conversation.push(rss.saturating_sub(baseline) as f64 / count as f64);
        server.shutdown().await?;
    }
    let target = if count >= 1_000 {
        Target::AtMost(64.0)
    } else {
        Target::Info
    };
    Ok(vec![
        Row::new(
            "(5) RSS of a server after one call, baseline (MiB)",
            baselines,
            Target::Info,
        ),
        Row::new(
            format!("(5) RSS with {count} idle conversations (MiB)"),
            totals,
            target,
        ),
        Row::new(
            "(5) RSS per idle conversation (KiB)",
            per_conversation,
            Target::Info,
        ),
    ])
}

/// (6) Loading a long recorded conversation: `resumeConversation` by path (the load alone),
/// and `codex-reply` to a thread that is only on disk (the load plus one turn whose request
/// carries the whole history).
async fn resume(bench: &Bench, command: &ServerCommand, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let home = bench.fresh_home()?;
    let files = plan.resume_runs + plan.resume_reply_runs;
    let (items, work) = (plan.resume_items, bench.work.clone());
    let generated = tokio::task::spawn_blocking({
        let home = home.clone();
        move || {
            (0..files)
                .map(|_| rollout::write_rollout(&home, &work, items))
                .collect::<anyhow::Result<Vec<_>>>()
        }
    })
    .await??;
    let size = generated.first().map_or(0, |g| g.bytes);
    let size = format!("{:.1} MiB", size as f64 / MIB);
    let (by_path, by_reply) = generated.split_at(plan.resume_runs);
    let server = bench.spawn(command, &home).await?;
    let mut rows = Vec::new();
    match resume_by_path(&server, by_path).await {
        Ok((resumes, cpu)) => {
            rows.push(Row::new(
                format!("(6) `resumeConversation` of a {items}-item rollout ({size}) (ms)"),
                resumes,
                Target::AtMost(50.0),
            ));
            rows.push(Row::new(
                "(6) server CPU per `resumeConversation`, mean (ms)",
                cpu,
                Target::Info,
            ));
        }
        Err(err) => rows.push(Row::failed("(6) `resumeConversation`", &err)),
    }
    let name =
        format!("(6) `codex-reply` to an unloaded {items}-item thread: load + one turn (ms)");
    match resume_by_reply(&server, by_reply).await {
        Ok(replies) => rows.push(Row::new(name, replies, Target::Info)),
        Err(err) => rows.push(Row::failed(name, &err)),
    }
    server.shutdown().await?;
    Ok(rows)
}

/// Each rollout loaded by `resumeConversation`: latencies, and the mean server CPU.
async fn resume_by_path(
    server: &McpServer,
    rollouts: &[rollout::GeneratedRollout],
) -> anyhow::Result<(Samples, Samples)> {
    let mut resumes = Samples::default();
    // CPU is counted in 10 ms ticks: one mean over every resume says more than each alone.
    let cpu_before = server.cpu_millis()?;
    for rollout in rollouts {
        let reply = server
            .request(
                "resumeConversation",
                json!({"path": rollout.path}),
                CALL_LIMIT,
            )
            .await?;
        resumes.push(reply.latency_ms());
        let replayed = reply.result["initialMessages"]
            .as_array()
            .map_or(0, Vec::len);
        if replayed != rollout.events {
            bail!(
                "resumeConversation replayed {replayed} events of the {} recorded",
                rollout.events
            );
        }
    }
    let mut cpu = Samples::default();
    if !rollouts.is_empty() {
        cpu.push((server.cpu_millis()? - cpu_before) / rollouts.len() as f64);
    }
    Ok((resumes, cpu))
}

/// A `codex-reply` to each rollout's thread, which the server must load first.
async fn resume_by_reply(
    server: &McpServer,
    rollouts: &[rollout::GeneratedRollout],
) -> anyhow::Result<Samples> {
    let mut replies = Samples::default();
    for rollout in rollouts {
        let answer = server
            .call_tool(
                "codex-reply",
                json!({"threadId": rollout.id.to_string(), "prompt": "ping"}),
                CALL_LIMIT,
            )
            .await?;
        replies.push(answer.latency_ms);
        check_answer(&answer.text)?;
    }
    Ok(replies)
}

/// (7) Server CPU (user + system, every thread) per MiB of `response.output_text.delta` text,
/// each delta forwarded as a `codex/event`; then the same with `--no-codex-events`.
async fn streaming(
    bench: &Bench,
    command: &ServerCommand,
    plan: &Plan,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (quiet, calls) in [(false, plan.stream_calls), (true, plan.stream_quiet_calls)] {
        match stream_variant(bench, command, quiet, calls).await {
            Ok(variant) => rows.extend(variant),
            Err(err) => rows.push(Row::failed(
                if quiet {
                    "(7) streaming with `--no-codex-events`"
                } else {
                    "(7) streaming"
                },
                &err,
            )),
        }
    }
    Ok(rows)
}

async fn stream_variant(
    bench: &Bench,
    command: &ServerCommand,
    quiet: bool,
    calls: usize,
) -> anyhow::Result<Vec<Row>> {
    let per_mib = STREAM_BYTES as f64 / MIB;
    let home = bench.fresh_home()?;
    let extra: &[&str] = if quiet { &["--no-codex-events"] } else { &[] };
    let server = bench.spawn_with(command, extra, &home).await?;
    // The first call pays for connections and allocator growth; not what is measured.
    server
        .call_tool(
            "codex",
            codex_args("stream", Some("mock_stream")),
            CALL_LIMIT,
        )
        .await?;
    let mut cpu = Samples::default();
    let mut walls = Samples::default();
    let mut notifications = Samples::default();
    for _ in 0..calls {
        let notified = server.notifications();
        let cpu_before = server.cpu_millis()?;
        let answer = server
            .call_tool(
                "codex",
                codex_args("stream", Some("mock_stream")),
                CALL_LIMIT,
            )
            .await?;
        cpu.push((server.cpu_millis()? - cpu_before) / per_mib);
        walls.push(answer.latency_ms);
        // Counted when the result arrives; a server writes a call's events before its result.
        notifications.push((server.notifications() - notified) as f64);
        if answer.text.len() != STREAM_BYTES {
            bail!(
                "the streamed answer has {} bytes, not {STREAM_BYTES}",
                answer.text.len()
            );
        }
    }
    server.shutdown().await?;
    let label = if quiet {
        " with `--no-codex-events`"
    } else {
        ""
    };
    Ok(vec![
        Row::new(
            format!("(7) server CPU per MiB of {DELTA_BYTES}-byte text deltas{label} (ms)"),
            cpu,
            // Events on: every delta reaches the host (merged); off: nothing to compare with.
            if quiet {
                Target::Info
            } else {
                Target::AtMost(150.0)
            },
        ),
        Row::new(
            format!("(7) wall time of a call streaming 1 MiB{label} (ms)"),
            walls,
            Target::Info,
        ),
        Row::new(
            format!(
                "(7) notifications per call streaming {} deltas{label}",
                STREAM_BYTES / DELTA_BYTES
            ),
            notifications,
            Target::Info,
        ),
    ])
}

/// What the mock providers cost, so the figures above can be read net of them.
async fn mock_rows(bench: &Bench, plan: &Plan) -> Option<Vec<Row>> {
    if plan.round_trips == 0 {
        return None;
    }
    let mut rows = Vec::new();
    let probe = MockProvider::start(&responses::assistant_answer(ANSWER), Duration::ZERO).await;
    match probe {
        Ok(probe) => match probe.round_trips(plan.round_trips).await {
            Ok(times) => {
                let mut samples = Samples::default();
                for time in times {
                    samples.push(time.as_secs_f64() * 1e6);
                }
                rows.push(Row::new(
                    "mock provider: one request, direct, kept-alive (µs)",
                    samples,
                    Target::Info,
                ));
            }
            Err(err) => rows.push(Row::failed("mock provider round trip", &err)),
        },
        Err(err) => rows.push(Row::failed("mock provider round trip", &err)),
    }
    if let Some(micros) = bench.instant.mean_service_micros() {
        let mut service = Samples::default();
        service.push(micros);
        rows.push(Row::new(
            format!(
                "mock provider: mean time writing an answer, over {} requests (µs)",
                bench.instant.requests()
            ),
            service,
            Target::Info,
        ));
    }
    Some(rows)
}
