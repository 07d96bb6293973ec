//! A stdio MCP server as a child process that cannot outlive its conversation and does not see
//! our secrets.
//!
//! It runs in its own process group (a job object on Windows), killed whole when its [`StdioChild`] is dropped (the
//! conversation ends, the server process exits, start-up is abandoned). If this process is
//! killed outright, the child's stdin closes, which ends a conforming MCP server. Its
//! environment is a short safe base (the variables a program needs to find its tools and its
//! home) plus what its table configures, so `OPENAI_API_KEY`, `CODEX_*` and any other secret of
//! ours reaches it only if the user configured it there.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;

use tokio::io::AsyncReadExt as _;
use tokio::process::Child;
use tokio::process::ChildStdin;
use tokio::process::ChildStdout;
use tokio::process::Command;

use crate::exec::process_tree::ProcessTree;
use crate::exec::process_tree::isolate;
use crate::lock::lock;

/// Variables a server gets from our environment without being configured (Codex's list).
#[cfg(not(windows))]
const SAFE_BASE_VARIABLES: &[&str] = &[
    "HOME", "LOGNAME", "PATH", "SHELL", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR",
    "TZ",
];
/// On Windows, also what programs need to start at all (`SYSTEMROOT`), to find programs
/// (`PATHEXT`, `COMSPEC`) and the user's folders (`npx` needs `APPDATA`).
#[cfg(windows)]
const SAFE_BASE_VARIABLES: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMPDIR",
    "TZ",
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERNAME",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
    "TEMP",
    "TMP",
];
/// The last lines of a server's stderr kept for its error message.
const STDERR_TAIL_LINES: usize = 8;
/// Longer stderr lines are cut: the tail is a hint, not a log.
const STDERR_LINE_MAX: usize = 400;
/// What is read of a line before masking: more than is kept, so that a secret the cut would
/// split is masked whole first.
const STDERR_READ_MAX: usize = 4 * STDERR_LINE_MAX;

/// A running server process. Dropping it kills its process group.
pub(crate) struct StdioChild {
    _child: Child,
    /// Its process group (job object on Windows), killed when this is dropped.
    _group: ProcessTree,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl StdioChild {
    /// The last lines the server wrote to stderr, with configured secrets masked.
    pub(crate) fn stderr_tail(&self) -> Vec<String> {
        lock(&self.stderr_tail).iter().cloned().collect()
    }
}

/// What a stdio table says to run.
pub(crate) struct StdioCommand<'a> {
    pub(crate) server: &'a str,
    pub(crate) command: &'a str,
    pub(crate) args: &'a [String],
    pub(crate) env: &'a BTreeMap<String, String>,
    pub(crate) env_vars: &'a [String],
    pub(crate) cwd: Option<&'a Path>,
}

/// Starts the server; its stdout and stdin are the MCP transport.
pub(crate) fn spawn(
    spec: &StdioCommand<'_>,
    conversation_cwd: &Path,
) -> std::io::Result<(StdioChild, ChildStdout, ChildStdin)> {
    let cwd: PathBuf = match spec.cwd {
        Some(cwd) => conversation_cwd.join(cwd),
        None => conversation_cwd.to_path_buf(),
    };
    let env = server_env(spec, |name| std::env::var(name).ok());
    let mut command = Command::new(spec.command);
    command
        .args(spec.args)
        .current_dir(&cwd)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Never our stderr or stdout: stdout is the host's JSON-RPC stream.
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = isolate(&mut command).spawn().map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!("cannot run `{}` in {}: {err}", spec.command, cwd.display()),
        )
    })?;
    let group = ProcessTree::of_child(&child);
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err(std::io::Error::other("the server's stdio was not piped"));
    };
    let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(stderr) = child.stderr.take() {
        // Everything the server was given beyond the safe base: the configured `env` and the
        // variables passed through by `env_vars` (tokens, typically).
        let secrets: Vec<String> = env
            .iter()
            .filter(|(name, _)| !SAFE_BASE_VARIABLES.contains(&name.as_str()))
            .map(|(_, value)| value)
            .filter(|value| value.len() >= 4)
            .cloned()
            .collect();
        tokio::spawn(read_stderr(
            spec.server.to_string(),
            stderr,
            secrets,
            Arc::clone(&stderr_tail),
        ));
    }
    Ok((
        StdioChild {
            _child: child,
            _group: group,
            stderr_tail,
        },
        stdout,
        stdin,
    ))
}

/// The safe base from our environment, then the `env_vars` passed through, then `env`.
fn server_env(
    spec: &StdioCommand<'_>,
    ours: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for name in SAFE_BASE_VARIABLES
        .iter()
        .copied()
        .chain(spec.env_vars.iter().map(String::as_str))
    {
        if let Some(value) = ours(name) {
            env.insert(name.to_string(), value);
        }
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Logs the server's stderr (at debug: it is the server's business) and keeps its last lines
/// for the error message if start-up fails. Ends when the server closes stderr.
async fn read_stderr(
    server: String,
    mut stderr: tokio::process::ChildStderr,
    secrets: Vec<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut buf = vec![0u8; 4096];
    let mut line = Vec::new();
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in buf.iter().take(n) {
            if byte == b'\n' {
                push_line(&server, &line, &secrets, &tail);
                line.clear();
            } else if line.len() < STDERR_READ_MAX {
                line.push(byte);
            }
        }
    }
    if !line.is_empty() {
        push_line(&server, &line, &secrets, &tail);
    }
}

fn push_line(server: &str, line: &[u8], secrets: &[String], tail: &Mutex<VecDeque<String>>) {
    let mut text = String::from_utf8_lossy(line).into_owned();
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    // Cut only once masked.
    if text.len() > STDERR_LINE_MAX {
        let mut end = STDERR_LINE_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    tracing::debug!(server, "MCP server stderr: {text}");
    let mut tail = lock(tail);
    if tail.len() == STDERR_TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(text);
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn the_environment_is_the_safe_base_plus_what_is_configured() {
        let ours = |name: &str| match name {
            "PATH" => Some("/usr/bin".to_string()),
            "HOME" => Some("/home/u".to_string()),
            "OPENAI_API_KEY" => Some("sk-ours".to_string()),
            "CODEX_HOME" => Some("/home/u/.codex".to_string()),
            "DOCS_HOME" => Some("/docs".to_string()),
            _ => None,
        };
        let env = BTreeMap::from([
            ("DOCS_TOKEN".to_string(), "t0ken".to_string()),
            ("PATH".to_string(), "/opt/bin".to_string()),
        ]);
        let env_vars = vec!["DOCS_HOME".to_string(), "UNSET".to_string()];
        let spec = StdioCommand {
            server: "docs",
            command: "docs-server",
            args: &[],
            env: &env,
            env_vars: &env_vars,
            cwd: None,
        };
        assert_eq!(
            server_env(&spec, ours),
            BTreeMap::from([
                ("DOCS_HOME".to_string(), "/docs".to_string()),
                ("DOCS_TOKEN".to_string(), "t0ken".to_string()),
                ("HOME".to_string(), "/home/u".to_string()),
                ("PATH".to_string(), "/opt/bin".to_string()),
            ])
        );
    }
}
