//! Unified exec: `exec_command` starts a command that may outlive the call (in a PTY when the
//! model asks for one) and `write_stdin` talks to it by session id, as the GPT-5 models were
//! trained to. The command takes the same road as `shell` to get there: the approval policy,
//! the sandbox and the same events.

use std::time::Duration;
use std::time::Instant;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::apply_patch::extract_patch_from_shell;
use crate::exec::sessions::Ended;
use crate::exec::sessions::Poll;
use crate::exec::sessions::SpawnParams;
use crate::protocol::EventMsg;
use crate::protocol::ExecCommandBeginEvent;
use crate::protocol::ExecCommandEndEvent;
use crate::protocol::ExecCommandOutputDeltaEvent;
use crate::protocol::ExecOutputStream;
use crate::safety::parse_command::parse_command;
use crate::tools::apply_patch::apply_patch;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;
use crate::tools::shell::permit;
use crate::tools::shell::sandboxed_argv_and_env;
use crate::tools::shell::script_argv;
use crate::tools::shell::user_shell;
use crate::tools::truncation::truncate_to_tokens;

pub(crate) const EXEC_COMMAND_TOOL_NAME: &str = "exec_command";
pub(crate) const WRITE_STDIN_TOOL_NAME: &str = "write_stdin";

/// How long `exec_command` waits for output before it returns with a session id.
const DEFAULT_EXEC_YIELD: Duration = Duration::from_secs(10);
/// How long a `write_stdin` that writes something waits for the answer.
const DEFAULT_WRITE_YIELD: Duration = Duration::from_millis(250);
/// How long an empty `write_stdin` (a poll) waits for more output.
const DEFAULT_POLL_YIELD: Duration = Duration::from_secs(5);
/// No call waits longer than this, whatever the model asks.
const MAX_YIELD: Duration = Duration::from_secs(30);

pub(crate) fn exec_command_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": EXEC_COMMAND_TOOL_NAME,
        "description": "Runs a command in a shell and returns its output. A command still running after `yield_time_ms` keeps running: the answer gives its session ID, for `write_stdin`.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "cmd": {"type": "string", "description": "The shell command to run"},
                "workdir": {"type": "string", "description": "The working directory (default: the conversation's)"},
                "shell": {"type": "string", "description": "The shell to run it with (default: the user's)"},
                "login": {"type": "boolean", "description": "Whether to run a login shell (default true)"},
                "tty": {"type": "boolean", "description": "Run it in a terminal (PTY), for interactive programs such as REPLs (default false)"},
                "yield_time_ms": {"type": "number", "description": "How long to wait for output before returning (default 10000, at most 30000)"},
                "max_output_tokens": {"type": "number", "description": "At most this many tokens of output are returned"},
                "sandbox_permissions": {"type": "string", "enum": ["use_default", "require_escalated"], "description": "`require_escalated` to ask to run outside the sandbox"},
                "justification": {"type": "string", "description": "With `require_escalated`: one sentence on why"}
            },
            "required": ["cmd"],
            "additionalProperties": false
        }
    })
}

pub(crate) fn write_stdin_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": WRITE_STDIN_TOOL_NAME,
        "description": "Writes to a running command started by `exec_command` and returns its new output. Empty `chars` just waits for more output.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "session_id": {"type": "number", "description": "The session ID `exec_command` returned"},
                "chars": {"type": "string", "description": "What to write (include \\n to end a line); empty to poll"},
                "yield_time_ms": {"type": "number", "description": "How long to wait for output (default 250, or 5000 when polling; at most 30000)"},
                "max_output_tokens": {"type": "number", "description": "At most this many tokens of output are returned"}
            },
            "required": ["session_id"],
            "additionalProperties": false
        }
    })
}

#[derive(Debug, Deserialize)]
struct ExecCommandParams {
    cmd: String,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    shell: Option<String>,
    #[serde(default)]
    login: Option<bool>,
    #[serde(default)]
    tty: Option<bool>,
    #[serde(default, deserialize_with = "whole_number")]
    yield_time_ms: Option<u64>,
    #[serde(default, deserialize_with = "whole_number")]
    max_output_tokens: Option<u64>,
    #[serde(default)]
    sandbox_permissions: Option<SandboxPermissions>,
    /// The `shell` tool's spelling of `sandbox_permissions: require_escalated`.
    #[serde(default)]
    with_escalated_permissions: Option<bool>,
    #[serde(default)]
    justification: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SandboxPermissions {
    UseDefault,
    RequireEscalated,
}

#[derive(Debug, Deserialize)]
struct WriteStdinParams {
    #[serde(deserialize_with = "session_id")]
    session_id: u32,
    #[serde(default)]
    chars: String,
    #[serde(default, deserialize_with = "whole_number")]
    yield_time_ms: Option<u64>,
    #[serde(default, deserialize_with = "whole_number")]
    max_output_tokens: Option<u64>,
}

/// The schema says "number", so `1500.0` must read as well as `1500`.
fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let number: Option<f64> = Option::deserialize(deserializer)?;
    Ok(number.map(|n| {
        if n.is_finite() && n > 0.0 {
            n.round() as u64
        } else {
            0
        }
    }))
}

fn session_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let n = f64::deserialize(deserializer)?;
    if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
        Ok(n as u32)
    } else {
        Err(serde::de::Error::custom(format!("{n} is not a session id")))
    }
}

pub(crate) async fn handle_exec_command(
    turn: &TurnContext<'_>,
    call_id: &str,
    arguments: &str,
) -> ToolOutput {
    let params: ExecCommandParams = match serde_json::from_str(arguments) {
        Ok(params) => params,
        Err(err) => return ToolOutput::text(format!("failed to parse function arguments: {err}")),
    };
    let config = turn.config();
    let cwd = match &params.workdir {
        Some(workdir) => config.cwd.join(workdir),
        None => config.cwd.clone(),
    };
    let command = script_argv(
        params.shell.clone().unwrap_or_else(user_shell),
        params.login,
        params.cmd.clone(),
    );
    // A patch sent as a command takes the patch road, as it does through `shell`.
    if let Some(patch) = extract_patch_from_shell(&command) {
        return apply_patch(turn, call_id, &patch, &cwd).await;
    }
    let escalated = params.sandbox_permissions == Some(SandboxPermissions::RequireEscalated)
        || params.with_escalated_permissions.unwrap_or(false);
    let sandbox = match permit(
        turn,
        call_id,
        &command,
        &cwd,
        escalated,
        params.justification.as_deref(),
    )
    .await
    {
        Ok(sandbox) => sandbox,
        Err(refusal) => return refusal,
    };
    let (argv, env) = match sandboxed_argv_and_env(config, &command, sandbox) {
        Ok(prepared) => prepared,
        Err(message) => return ToolOutput::text(message),
    };
    turn.emit(EventMsg::ExecCommandBegin(ExecCommandBeginEvent {
        call_id: call_id.to_string(),
        command: command.clone(),
        cwd: cwd.clone(),
        parsed_cmd: parse_command(&command),
    }));
    let started = Instant::now();
    let spawned = turn.exec_sessions().spawn(SpawnParams {
        argv: &argv,
        cwd: &cwd,
        env: &env,
        tty: params.tty.unwrap_or(false),
        call_id,
        command: &command,
    });
    let id = match spawned {
        Ok(id) => id,
        Err(err) => {
            let message = err.to_string();
            turn.emit(EventMsg::ExecCommandEnd(end_event(
                call_id,
                -1,
                message.clone(),
                started.elapsed(),
            )));
            return ToolOutput::text(message);
        }
    };
    let yield_time = params
        .yield_time_ms
        .map_or(DEFAULT_EXEC_YIELD, Duration::from_millis);
    report(
        turn,
        id,
        call_id,
        yield_time,
        params.max_output_tokens,
        started,
    )
    .await
}

pub(crate) async fn handle_write_stdin(
    turn: &TurnContext<'_>,
    call_id: &str,
    arguments: &str,
) -> ToolOutput {
    let params: WriteStdinParams = match serde_json::from_str(arguments) {
        Ok(params) => params,
        Err(err) => return ToolOutput::text(format!("failed to parse function arguments: {err}")),
    };
    let started = Instant::now();
    let sessions = turn.exec_sessions();
    if let Err(err) = sessions.write(params.session_id, &params.chars).await {
        return ToolOutput::text(err.to_string());
    }
    let default_yield = if params.chars.is_empty() {
        DEFAULT_POLL_YIELD
    } else {
        DEFAULT_WRITE_YIELD
    };
    let yield_time = params
        .yield_time_ms
        .map_or(default_yield, Duration::from_millis);
    let origin = sessions
        .call_id(params.session_id)
        .unwrap_or_else(|| call_id.to_string());
    report(
        turn,
        params.session_id,
        &origin,
        yield_time,
        params.max_output_tokens,
        started,
    )
    .await
}

/// Waits, then tells the model what the session printed and whether it is still running;
/// the host sees the output as deltas of the call that started the session, and its end.
async fn report(
    turn: &TurnContext<'_>,
    id: u32,
    origin_call_id: &str,
    yield_time: Duration,
    max_output_tokens: Option<u64>,
    started: Instant,
) -> ToolOutput {
    let polled = turn
        .exec_sessions()
        .poll(id, yield_time.min(MAX_YIELD))
        .await;
    let (poll, ended) = match polled {
        Ok(polled) => polled,
        Err(err) => return ToolOutput::text(err.to_string()),
    };
    if let Some(shown) = poll.output.as_bytes().get(..poll.delta_bytes)
        && !shown.is_empty()
    {
        turn.emit(EventMsg::ExecCommandOutputDelta(
            ExecCommandOutputDeltaEvent {
                call_id: origin_call_id.to_string(),
                stream: ExecOutputStream::Stdout,
                chunk: base64::engine::general_purpose::STANDARD.encode(shown),
            },
        ));
    }
    if let Some(Ended {
        call_id, duration, ..
    }) = &ended
    {
        turn.emit(EventMsg::ExecCommandEnd(end_event(
            call_id,
            poll.exit_code.unwrap_or(-1),
            poll.output.clone(),
            *duration,
        )));
    }
    let limit = max_output_tokens
        .and_then(|tokens| usize::try_from(tokens).ok())
        .unwrap_or(usize::MAX)
        .min(turn.config().model_family().tool_output_token_limit);
    ToolOutput::text(format_poll(&poll, id, started.elapsed(), limit))
}

/// What the model reads: how long the call took, whether the process still runs, its output.
fn format_poll(poll: &Poll, id: u32, wall_time: Duration, max_tokens: usize) -> String {
    let status = match poll.exit_code {
        Some(code) => format!("Process exited with code {code}"),
        None => format!("Process running with session ID {id}"),
    };
    let dropped = if poll.dropped > 0 {
        format!(
            "[{} bytes of earlier output were dropped: nobody read them in time]\n",
            poll.dropped
        )
    } else {
        String::new()
    };
    format!(
        "Wall time: {:.3} seconds\n{status}\nOutput:\n{dropped}{}",
        wall_time.as_secs_f64(),
        truncate_to_tokens(&poll.output, max_tokens)
    )
}

fn end_event(
    call_id: &str,
    exit_code: i32,
    output: String,
    duration: Duration,
) -> ExecCommandEndEvent {
    ExecCommandEndEvent {
        call_id: call_id.to_string(),
        stdout: output.clone(),
        stderr: String::new(),
        aggregated_output: output.clone(),
        exit_code,
        duration,
        formatted_output: output,
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn the_model_reads_the_state_and_the_output() {
        let running = Poll {
            output: "hi\n".into(),
            dropped: 0,
            exit_code: None,
            delta_bytes: 3,
        };
        assert_eq!(
            format_poll(&running, 3, Duration::from_millis(250), 100),
            "Wall time: 0.250 seconds\nProcess running with session ID 3\nOutput:\nhi\n"
        );
        let done = Poll {
            output: "x".repeat(1000),
            dropped: 12,
            exit_code: Some(0),
            delta_bytes: 0,
        };
        let text = format_poll(&done, 3, Duration::from_secs(1), 10);
        assert!(text.starts_with("Wall time: 1.000 seconds\nProcess exited with code 0\nOutput:\n[12 bytes of earlier output were dropped"), "{text}");
        assert!(text.contains("omitted about"), "{text}");
    }

    #[test]
    fn escalation_has_both_spellings() {
        let params: ExecCommandParams =
            serde_json::from_str(r#"{"cmd": "ls", "sandbox_permissions": "require_escalated"}"#)
                .unwrap();
        assert_eq!(
            params.sandbox_permissions,
            Some(SandboxPermissions::RequireEscalated)
        );
        let params: ExecCommandParams =
            serde_json::from_str(r#"{"cmd": "ls", "with_escalated_permissions": true}"#).unwrap();
        assert_eq!(params.with_escalated_permissions, Some(true));
    }

    #[test]
    fn numbers_may_come_as_floats() {
        let params: WriteStdinParams =
            serde_json::from_str(r#"{"session_id": 3.0, "yield_time_ms": 1500.0}"#).unwrap();
        assert_eq!((params.session_id, params.yield_time_ms), (3, Some(1500)));
        assert!(serde_json::from_str::<WriteStdinParams>(r#"{"session_id": 1.5}"#).is_err());
    }
}
