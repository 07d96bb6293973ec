//! The `codex` program, built as two binaries of the same code: `codex`, the name the design
//! and old host entries use, and `codex-mcp`, a name that does not collide with OpenAI's CLI.
//! `codex mcp` serves coding-agent conversations to an MCP host over stdio; `codex login` and
//! `codex logout` sign it in; any other command is handed to the next `codex` on `PATH`
//! (see `cli/passthrough.rs`).
#![deny(clippy::print_stdout)]

mod api;
mod approval;
mod ask_host;
mod cli;
mod codex_tool_config;
mod codex_tool_runner;
mod delta_coalescing;
mod http;
mod mcp_settings;
mod open_count;
mod owners;
mod request_ids;
mod request_state;
mod running_turns;
mod server;
mod stdio_transport;
mod stop_signal;
mod task_store;
mod thread_store;
mod tool_definitions;
mod tool_error;
mod turn_driver;
mod user_input;
mod wire_log;

#[cfg(test)]
mod in_process_tests;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use clap::Subcommand;
use codex_core::ConfigOverride;
use codex_core::exec::sandbox::SandboxExecError;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The crate whose logs are held at info or above (see `init_tracing`).
const RMCP_TARGET: &str = "rmcp";

/// How long running turns get to wind down after the host has gone.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Parser)]
#[command(
    name = "codex",
    version,
    about = "A coding agent, served to MCP hosts.",
    after_help = cli::passthrough::HELP
)]
struct Cli {
    /// Override a config.toml setting for every session, e.g. `-c model=o3` or
    /// `-c 'sandbox_workspace_write.network_access=true'`. The value is parsed as TOML
    /// (falling back to a string). Repeatable.
    #[arg(short = 'c', long = "config", global = true, value_name = "key=value")]
    config_overrides: Vec<String>,

    /// Profile from config.toml (`[profiles.<name>]`) to use by default.
    #[arg(short = 'p', long, global = true)]
    profile: Option<String>,

    /// Use the local open-weights provider (`oss`: Ollama's OpenAI-compatible API at
    /// `$CODEX_OSS_BASE_URL`, default `http://localhost:11434/v1`) and the model
    /// `gpt-oss:20b`. Same as `-c model_provider=oss -c model=gpt-oss:20b`; an explicit
    /// `-c model_provider=...` or `-c model=...` still wins.
    #[arg(long, global = true)]
    oss: bool,

    /// Do not send `codex/event` notifications (for hosts that choke on notifications they do
    /// not know). Same as `codex_events = false` in config.toml. Progress notifications and
    /// results are unaffected.
    #[arg(long, global = true)]
    no_codex_events: bool,

    /// Refuse to start when config.toml or a `-c` flag has a top-level key that neither this
    /// server nor OpenAI's CLI knows (a typo, say), instead of ignoring it.
    #[arg(long, global = true)]
    strict_config: bool,

    /// Turn on a feature of OpenAI's CLI, as its `codex mcp-server` accepted. Features this
    /// server has are mapped; the others are reported at start and ignored. Repeatable.
    #[arg(long = "enable", value_name = "FEATURE", global = true)]
    enable: Vec<String>,

    /// Turn off a feature of OpenAI's CLI; see `--enable`. Repeatable.
    #[arg(long = "disable", value_name = "FEATURE", global = true)]
    disable: Vec<String>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the `codex` and `codex-reply` tools over MCP on stdin/stdout, or over
    /// Streamable HTTP with `--listen`.
    #[command(visible_alias = "mcp-server")]
    Mcp {
        /// Serve Streamable HTTP at `http://ADDR:PORT/mcp` instead of stdio. Without
        /// `CODEX_MCP_AUTH_TOKEN` or `--auth-tokens`, only a loopback address is accepted.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// With `--listen`: bearer tokens, one `principal:token` a line (` admin` after it
        /// allows the account methods). Instead of `CODEX_MCP_AUTH_TOKEN`.
        #[arg(long, value_name = "FILE", requires = "listen")]
        auth_tokens: Option<PathBuf>,
        /// With `--listen`: a browser origin allowed besides loopback ones, e.g.
        /// `https://app.example.com`. Repeatable.
        #[arg(long = "allowed-origin", value_name = "ORIGIN", requires = "listen")]
        allowed_origins: Vec<String>,
        /// OpenAI's CLI has `codex mcp list`, `add`, ...: such a call goes to it (see
        /// `cli/passthrough.rs`).
        #[arg(hide = true, trailing_var_arg = true)]
        other_cli: Vec<OsString>,
    },
    /// Sign in: with ChatGPT in a browser, or with an API key read from stdin
    /// (`--api-key`). `codex login status` says how the server is signed in.
    Login(cli::login::LoginArgs),
    /// Sign out: delete `$CODEX_HOME/auth.json`.
    Logout,
    /// Run a command inside the sandbox: how the server confines the commands it runs, and a
    /// way to try the sandbox by hand (see docs/sandbox.md). Confines this process (Landlock,
    /// and seccomp unless the policy allows the network), then execs the command.
    #[command(name = "sandbox-exec", hide = true)]
    SandboxExec {
        /// The sandbox policy as JSON, e.g. `{"type":"workspace-write"}` or
        /// `{"type":"read-only"}`.
        #[arg(long)]
        policy: String,
        /// The directory `workspace-write` lets the command write to (default: the current
        /// directory).
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// A command of OpenAI's CLI (`exec`, `resume`, ...): handed to it.
    #[command(external_subcommand)]
    // Clap needs the field; the command line is handed on whole, as typed, not rebuilt from it.
    #[allow(dead_code)]
    OtherCli(Vec<OsString>),
}

/// The model `--oss` asks for unless another is set, as OpenAI's CLI did.
const OSS_DEFAULT_MODEL: &str = "gpt-oss:20b";

/// Both binaries' `main`.
pub fn main() -> anyhow::Result<()> {
    let cli = cli::passthrough::parse::<Cli>();
    match cli.command {
        // Before tracing or a runtime starts a thread: the sandbox applies to the calling
        // thread, and a mount namespace can only be entered by a single-threaded process.
        Some(Command::SandboxExec {
            policy,
            cwd,
            command,
        }) => sandbox_exec(&policy, cwd, command),
        Some(Command::Login(args)) => {
            cli::login::login(overrides(&cli.config_overrides, false)?, cli.profile, args)
        }
        Some(Command::Logout) => {
            cli::login::logout(overrides(&cli.config_overrides, false)?, cli.profile)
        }
        Some(Command::Mcp {
            other_cli,
            listen,
            auth_tokens,
            allowed_origins,
        }) if other_cli.is_empty() => {
            // Before any secret is read or any command runs: see `protect_server_process`.
            codex_core::exec::sandbox::protect_server_process()
                .context("making the server process non-dumpable")?;
            init_tracing();
            let overrides = overrides(&cli.config_overrides, cli.oss)?;
            cli::legacy_flags::report_features(&cli.enable, &cli.disable);
            if cli.strict_config {
                cli::legacy_flags::check_strict_config(&overrides)?;
            }
            cli::legacy_flags::say_so_on_a_terminal();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let options = server::ServerOptions {
                config_overrides: overrides,
                profile: cli.profile,
                codex_events: !cli.no_codex_events,
            };
            let result = runtime.block_on(async {
                match listen {
                    None => server::run(options).await,
                    Some(listen) => {
                        let listen = http::ListenOptions {
                            listen,
                            auth_tokens,
                            allowed_origins,
                        };
                        http::serve(options, listen).await
                    }
                }
            });
            // Do not wait on stragglers (a turn mid-request, a blocked read): the host is gone.
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
            result
        }
        None | Some(Command::Mcp { .. } | Command::OtherCli(_)) => cli::passthrough::hand_off(),
    }
}

/// The `-c` flags in order, after what `--oss` stands for, so that an explicit `-c` wins.
fn overrides(raw: &[String], oss: bool) -> anyhow::Result<Vec<ConfigOverride>> {
    let oss_model = format!("model={OSS_DEFAULT_MODEL}");
    let oss_flags = ["model_provider=oss", oss_model.as_str()];
    let implied = if oss { &oss_flags[..] } else { &[] };
    implied
        .iter()
        .copied()
        .chain(raw.iter().map(String::as_str))
        .map(|raw| ConfigOverride::parse(raw).map_err(anyhow::Error::from))
        .collect()
}

/// `codex sandbox-exec`: exits with the command's exit code (or, under `danger-full-access`,
/// becomes the command). Its stdout belongs to the command; errors go to stderr, worded so
/// that a failure to set up the sandbox reads as a sandbox denial and a missing program does
/// not.
fn sandbox_exec(policy: &str, cwd: Option<PathBuf>, command: Vec<OsString>) -> ! {
    let err = match codex_core::exec::sandbox::run_sandbox_exec(policy, cwd, command) {
        Ok(code) => std::process::exit(code),
        Err(err) => err,
    };
    #[allow(clippy::print_stderr)] // No tracing yet: a plain line is all a caller needs.
    match &err {
        SandboxExecError::Exec { source, .. } => {
            eprintln!("codex: {err}");
            std::process::exit(if source.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
        _ => {
            eprintln!("codex sandbox-exec: {err}");
            std::process::exit(1);
        }
    }
}

/// Logs go to stderr: stdout carries nothing but MCP messages.
///
/// rmcp logs whole messages below info level, keys and tokens included, so whatever
/// `RUST_LOG` says, nothing of rmcp's below info gets through (a lower level for rmcp still
/// works); the traffic is logged redacted under `codex::wire` instead (wire_log.rs).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,codex=info,codex_core=info"));
    let rmcp_ceiling = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target(RMCP_TARGET, LevelFilter::INFO);
    // Both filters are global (not per-layer), so tracing caches each callsite's verdict and
    // a disabled `trace!` on a hot path costs next to nothing.
    tracing_subscriber::registry()
        .with(filter)
        .with(rmcp_ceiling)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .init();
}
