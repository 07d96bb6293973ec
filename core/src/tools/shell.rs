//! The `shell` tool: how the model runs commands, under the conversation's approval policy.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::apply_patch::extract_patch_from_shell;
use crate::config::Config;
use crate::exec;
use crate::exec::ExecError;
use crate::exec::ExecOutput;
use crate::exec::ExecParams;
use crate::exec::env::CODEX_SANDBOX_NETWORK_DISABLED_ENV_VAR;
use crate::exec::env::create_env;
use crate::exec::sandbox::SandboxType;
use crate::exec::sandbox::is_likely_sandbox_denied;
use crate::exec::sandbox::platform_sandbox;
use crate::exec::sandbox::sandboxed_command;
use crate::exec::sandbox::seatbelt_command;
use crate::protocol::AskForApproval;
use crate::protocol::EventMsg;
use crate::protocol::ExecCommandBeginEvent;
use crate::protocol::ExecCommandEndEvent;
use crate::protocol::ExecCommandOutputDeltaEvent;
use crate::protocol::ReviewDecision;
use crate::protocol::SandboxPolicy;
use crate::safety::CommandAssessment;
use crate::safety::SafetyCheck;
use crate::safety::assess_command_safety;
use crate::safety::command::is_known_safe_command;
use crate::safety::parse_command::parse_command;
use crate::tools::apply_patch::apply_patch;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;
use crate::tools::truncation::truncate_to_tokens;

pub(crate) const SHELL_TOOL_NAME: &str = "shell";
pub(crate) const SHELL_COMMAND_TOOL_NAME: &str = "shell_command";

/// Output streamed as deltas per command; beyond it, the end event still has the output.
/// Keeps a command that prints gigabytes from flooding the host with notifications.
const DELTA_BYTE_BUDGET: usize = 256 * 1024;

pub(crate) const REJECTED_BY_USER: &str = "exec command rejected by user";
/// The reason given (as `codex_reason`) when asking to run again a command the sandbox stopped.
pub(crate) const SANDBOX_FAILURE_REASON: &str =
    "command failed in the sandbox; run it again without the sandbox?";

pub(crate) fn shell_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": SHELL_TOOL_NAME,
        "description": "Runs a shell command and returns its output.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "command": {"type": "array", "items": {"type": "string"}, "description": "The command to execute, as argv (use [\"bash\", \"-lc\", \"...\"] for shell syntax)"},
                "workdir": {"type": "string", "description": "The working directory to execute the command in"},
                "timeout_ms": {"type": "number", "description": "The timeout for the command in milliseconds"},
                "with_escalated_permissions": {"type": "boolean", "description": "Whether to request escalated permissions. Set to true if command needs to be run without sandbox restrictions"},
                "justification": {"type": "string", "description": "Only set if with_escalated_permissions is true. 1-sentence explanation of why we want to run this command."}
            },
            "required": ["command"],
            "additionalProperties": false
        }
    })
}

#[derive(Debug, Deserialize)]
struct ShellToolCallParams {
    command: Vec<String>,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default, alias = "timeout")]
    timeout_ms: Option<u64>,
    #[serde(default)]
    with_escalated_permissions: Option<bool>,
    #[serde(default)]
    justification: Option<String>,
}

pub(crate) fn shell_command_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": SHELL_COMMAND_TOOL_NAME,
        "description": "Runs a shell command (a script, run by the user's shell) and returns its output.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The shell script to run"},
                "workdir": {"type": "string", "description": "The working directory to run it in"},
                "timeout_ms": {"type": "number", "description": "The timeout for the command in milliseconds"},
                "login": {"type": "boolean", "description": "Whether to run the shell as a login shell (default true)"},
                "with_escalated_permissions": {"type": "boolean", "description": "Whether to request escalated permissions. Set to true if command needs to be run without sandbox restrictions"},
                "justification": {"type": "string", "description": "Only set if with_escalated_permissions is true. 1-sentence explanation of why we want to run this command."}
            },
            "required": ["command"],
            "additionalProperties": false
        }
    })
}

#[derive(Debug, Deserialize)]
struct ShellCommandToolCallParams {
    command: String,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default, alias = "timeout")]
    timeout_ms: Option<u64>,
    #[serde(default)]
    login: Option<bool>,
    #[serde(default)]
    with_escalated_permissions: Option<bool>,
    #[serde(default)]
    justification: Option<String>,
}

/// `shell_command`: the script runs as `<user's shell> -lc <script>` (`-c` without a login
/// shell), then takes the same road as `shell`.
pub(crate) async fn handle_shell_command_call(
    turn: &TurnContext<'_>,
    call_id: &str,
    arguments: &str,
) -> ToolOutput {
    let params: ShellCommandToolCallParams = match serde_json::from_str(arguments) {
        Ok(params) => params,
        Err(err) => return ToolOutput::text(format!("failed to parse function arguments: {err}")),
    };
    let params = ShellToolCallParams {
        command: script_argv(user_shell(), params.login, params.command),
        workdir: params.workdir,
        timeout_ms: params.timeout_ms,
        with_escalated_permissions: params.with_escalated_permissions,
        justification: params.justification,
    };
    run_shell(turn, call_id, params).await
}

/// How `shell_command` and `exec_command` run a script: `<shell> -lc <script>`, or `-c` when
/// `login` is false; PowerShell's `-Command` (`-NoProfile` when `login` is false) and
/// `cmd /c` for those shells, whatever the platform.
pub(crate) fn script_argv(shell: String, login: Option<bool>, script: String) -> Vec<String> {
    let login = login.unwrap_or(true);
    // Either separator, so that a Windows path is read alike on every platform.
    let name = shell
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name.strip_suffix(".exe").unwrap_or(&name);
    let flags: &[&str] = match name {
        "powershell" | "pwsh" if login => &["-NoLogo", "-Command"],
        "powershell" | "pwsh" => &["-NoLogo", "-NoProfile", "-Command"],
        "cmd" => &["/d", "/c"],
        _ if login => &["-lc"],
        _ => &["-c"],
    };
    let mut argv = vec![shell];
    argv.extend(flags.iter().map(|flag| (*flag).to_string()));
    argv.push(script);
    argv
}

/// The user's shell (`$SHELL`), else the platform's: bash, or PowerShell on Windows (where
/// `$SHELL` is set only by shells like Git Bash, whose scripts it then runs).
pub(crate) fn user_shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|shell| !shell.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SHELL.to_string())
}

/// The shell scripts are run with when `$SHELL` names none.
const DEFAULT_SHELL: &str = if cfg!(windows) {
    "powershell.exe"
} else {
    "bash"
};

pub(crate) async fn handle_shell_call(
    turn: &TurnContext<'_>,
    call_id: &str,
    arguments: &str,
) -> ToolOutput {
    let params: ShellToolCallParams = match serde_json::from_str(arguments) {
        Ok(params) => params,
        Err(err) => return ToolOutput::text(format!("failed to parse function arguments: {err}")),
    };
    run_shell(turn, call_id, params).await
}

async fn run_shell(
    turn: &TurnContext<'_>,
    call_id: &str,
    params: ShellToolCallParams,
) -> ToolOutput {
    if params.command.is_empty() {
        return ToolOutput::text(
            "failed to parse function arguments: `command` is empty".to_string(),
        );
    }
    let config = turn.config();
    let cwd = match &params.workdir {
        Some(workdir) => config.cwd.join(workdir),
        None => config.cwd.clone(),
    };
    // A patch sent through the shell takes the patch road: verified, checked, maybe asked.
    if let Some(patch) = extract_patch_from_shell(&params.command) {
        return apply_patch(turn, call_id, &patch, &cwd).await;
    }
    let escalated = params.with_escalated_permissions.unwrap_or(false);
    let sandbox = match permit(
        turn,
        call_id,
        &params.command,
        &cwd,
        escalated,
        params.justification.as_deref(),
    )
    .await
    {
        Ok(sandbox) => sandbox,
        Err(refusal) => return refusal,
    };
    let timeout = params
        .timeout_ms
        .map_or(exec::DEFAULT_EXEC_TIMEOUT, Duration::from_millis);
    let run = run_command(turn, call_id, &params.command, &cwd, timeout, sandbox).await;
    if !run.sandbox_denied
        || !matches!(
            config.approval_policy,
            AskForApproval::OnFailure | AskForApproval::UnlessTrusted
        )
    {
        return run.output;
    }
    // The sandbox stopped it, and the policy lets the user decide whether it may run without.
    let reason = Some(SANDBOX_FAILURE_REASON.to_string());
    if let Some(refusal) = ask(turn, call_id, &params.command, &cwd, reason).await {
        return refusal;
    }
    run_command(
        turn,
        call_id,
        &params.command,
        &cwd,
        timeout,
        SandboxType::None,
    )
    .await
    .output
}

/// Whether `command` may run, and how: the sandbox it runs in, or the answer the model gets
/// instead. Asks the user when the policy says so.
pub(crate) async fn permit(
    turn: &TurnContext<'_>,
    call_id: &str,
    command: &[String],
    cwd: &Path,
    escalated: bool,
    justification: Option<&str>,
) -> Result<SandboxType, ToolOutput> {
    let config = turn.config();
    if escalated && config.approval_policy != AskForApproval::OnRequest {
        let policy = config.approval_policy.as_str();
        return Err(ToolOutput::text(format!(
            "approval policy is {policy}; reject command — you should not ask for escalated permissions if the approval policy is {policy}"
        )));
    }
    let check = assess_command_safety(&CommandAssessment {
        approval_policy: config.approval_policy,
        sandbox_policy: &config.sandbox_policy,
        platform_sandbox: platform_sandbox(config.codex_linux_sandbox_exe.as_deref()),
        known_safe: is_known_safe_command(command),
        approved_for_session: turn.is_approved_for_session(command),
        with_escalated_permissions: escalated,
        justification,
    });
    match check {
        SafetyCheck::AutoApprove { sandbox } => Ok(sandbox),
        SafetyCheck::Reject { reason } => Err(ToolOutput::text(reason)),
        SafetyCheck::AskUser { reason } => match ask(turn, call_id, command, cwd, reason).await {
            Some(refusal) => Err(refusal),
            None => Ok(SandboxType::None),
        },
    }
}

/// The argv that runs `command` in `sandbox` (through `codex sandbox-exec`), and its
/// environment.
pub(crate) fn sandboxed_argv_and_env(
    config: &Config,
    command: &[String],
    sandbox: SandboxType,
) -> Result<(Vec<String>, HashMap<String, String>), String> {
    let mut env = create_env(&config.shell_environment_policy);
    if sandbox != SandboxType::None && !config.sandbox_policy.has_network_access() {
        env.insert(
            CODEX_SANDBOX_NETWORK_DISABLED_ENV_VAR.to_string(),
            "1".to_string(),
        );
    }
    let argv = match sandbox {
        SandboxType::None => Ok(command.to_vec()),
        SandboxType::LinuxLandlock => match &config.codex_linux_sandbox_exe {
            Some(helper) => sandboxed_command(helper, &config.sandbox_policy, &config.cwd, command)
                .map_err(|err| format!("execution error: sandbox policy: {err}")),
            None => Err("execution error: no sandbox helper is configured".to_string()),
        },
        // The writable `$TMPDIR` is the one the command will see, from its own environment.
        SandboxType::MacosSeatbelt => Ok(seatbelt_command(
            &config.sandbox_policy,
            &config.cwd,
            env.get("TMPDIR").map(Path::new),
            command,
        )),
    }?;
    Ok((argv, env))
}

/// Asks the user about `command`; `None` means approved (and remembered if for the session),
/// `Some` is the answer the model gets instead of running it.
async fn ask(
    turn: &TurnContext<'_>,
    call_id: &str,
    command: &[String],
    cwd: &Path,
    reason: Option<String>,
) -> Option<ToolOutput> {
    match turn
        .request_exec_approval(call_id, command, cwd, reason)
        .await
    {
        ReviewDecision::Approved => None,
        ReviewDecision::ApprovedForSession => {
            turn.approve_for_session(command.to_vec());
            None
        }
        ReviewDecision::Denied => Some(ToolOutput::text(REJECTED_BY_USER.to_string())),
        ReviewDecision::DeniedWithReason(reason) => {
            Some(ToolOutput::text(format!("{REJECTED_BY_USER}: {reason}")))
        }
        ReviewDecision::Abort => Some(ToolOutput {
            output: REJECTED_BY_USER.to_string(),
            abort_turn: true,
            images: Vec::new(),
        }),
    }
}

/// One run of a command: what the model is told, and whether the sandbox seems to have
/// stopped it.
struct CommandRun {
    output: ToolOutput,
    sandbox_denied: bool,
}

async fn run_command(
    turn: &TurnContext<'_>,
    call_id: &str,
    command: &[String],
    cwd: &Path,
    timeout: Duration,
    sandbox: SandboxType,
) -> CommandRun {
    let config = turn.config();
    let parsed_cmd = parse_command(command);
    turn.emit(EventMsg::ExecCommandBegin(ExecCommandBeginEvent {
        call_id: call_id.to_string(),
        command: command.to_vec(),
        cwd: cwd.to_path_buf(),
        parsed_cmd,
    }));
    let result = match sandboxed_argv_and_env(config, command, sandbox) {
        Ok((argv, env)) => {
            let params = ExecParams {
                command: argv,
                cwd: cwd.to_path_buf(),
                timeout,
                env,
            };
            let mut delta_budget = DELTA_BYTE_BUDGET;
            exec::run(params, turn.cancel_token(), |stream, chunk| {
                if delta_budget == 0 {
                    return;
                }
                let chunk = &chunk[..chunk.len().min(delta_budget)];
                delta_budget -= chunk.len();
                turn.emit(EventMsg::ExecCommandOutputDelta(
                    ExecCommandOutputDeltaEvent {
                        call_id: call_id.to_string(),
                        stream,
                        chunk: base64::engine::general_purpose::STANDARD.encode(chunk),
                    },
                ));
            })
            .await
            .map_err(|err| match err {
                ExecError::Interrupted => None,
                err => Some(err.to_string()),
            })
        }
        Err(message) => Err(Some(message)),
    };
    let mut sandbox_denied = false;
    let (end, model_output) = match result {
        Ok(output) => {
            let aggregated = output.aggregated.to_text();
            sandbox_denied =
                is_likely_sandbox_denied(sandbox, output.exit_code, output.timed_out, &aggregated);
            let note = sandbox_denied.then(|| sandbox_denial_note(config));
            let formatted = format_exec_output(
                &output,
                timeout,
                note.as_deref(),
                config.model_family().tool_output_token_limit,
            );
            let end = ExecCommandEndEvent {
                call_id: call_id.to_string(),
                stdout: output.stdout.to_text(),
                stderr: output.stderr.to_text(),
                aggregated_output: aggregated,
                exit_code: output.exit_code,
                duration: output.duration,
                formatted_output: formatted.clone(),
            };
            (end, formatted)
        }
        Err(None) => {
            return CommandRun {
                output: ToolOutput::text("aborted".to_string()),
                sandbox_denied: false,
            };
        }
        Err(Some(message)) => {
            let end = ExecCommandEndEvent {
                call_id: call_id.to_string(),
                stdout: String::new(),
                stderr: message.clone(),
                aggregated_output: message.clone(),
                exit_code: -1,
                duration: Duration::ZERO,
                formatted_output: message.clone(),
            };
            (end, message)
        }
    };
    turn.emit(EventMsg::ExecCommandEnd(end));
    CommandRun {
        output: ToolOutput::text(model_output),
        sandbox_denied,
    }
}

/// Put before the output of a command the sandbox stopped, so that the model knows why it
/// failed and what it may do about it under this approval policy.
fn sandbox_denial_note(config: &Config) -> String {
    let policy = &config.sandbox_policy;
    // Seatbelt also keeps each root's `.codex` read-only (exec/sandbox/seatbelt.rs).
    let (protected_and_network, protected) = if cfg!(target_os = "macos") {
        (
            "writes outside the writable roots (and to their .git and .codex) and network access",
            "writes outside the writable roots (and to their .git and .codex)",
        )
    } else {
        (
            "writes outside the writable roots (and to their .git) and network access",
            "writes outside the writable roots (and to their .git)",
        )
    };
    let blocked = match (policy, policy.has_network_access()) {
        (SandboxPolicy::ReadOnly, _) => "all writes and network access",
        (_, false) => protected_and_network,
        (_, true) => protected,
    };
    let next = match config.approval_policy {
        AskForApproval::OnRequest => {
            "; to run it outside the sandbox, call shell again with with_escalated_permissions set to true and a justification"
        }
        AskForApproval::Never => {
            "; approval_policy is never, so it cannot run outside the sandbox: do without it or tell the user"
        }
        AskForApproval::OnFailure | AskForApproval::UnlessTrusted => "",
    };
    format!(
        "command failed in the {} sandbox, which blocks {blocked}{next}",
        policy.mode().as_str()
    )
}

/// `{"output": ..., "metadata": {"exit_code": N, "duration_seconds": S}}`, the shape models
/// trained on this tool expect.
fn format_exec_output(
    output: &ExecOutput,
    timeout: Duration,
    note: Option<&str>,
    max_tokens: usize,
) -> String {
    let mut text = output.aggregated.to_text();
    if let Some(note) = note {
        text = format!("{note}\n{text}");
    }
    if output.timed_out {
        text = format!(
            "command timed out after {} milliseconds\n{text}",
            timeout.as_millis()
        );
    }
    let duration_seconds = (output.duration.as_secs_f64() * 10.0).round() / 10.0;
    json!({
        "output": truncate_to_tokens(&text, max_tokens),
        "metadata": {"exit_code": output.exit_code, "duration_seconds": duration_seconds}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn arguments_accept_the_timeout_alias() {
        let params: ShellToolCallParams =
            serde_json::from_str(r#"{"command": ["ls"], "timeout": 5}"#).unwrap();
        assert_eq!(params.timeout_ms, Some(5));
    }

    #[test]
    fn scripts_get_each_shells_own_flags() {
        let argv = |shell: &str, login| script_argv(shell.to_string(), login, "ls".to_string());
        assert_eq!(argv("/bin/bash", None), ["/bin/bash", "-lc", "ls"]);
        assert_eq!(argv("zsh", Some(false)), ["zsh", "-c", "ls"]);
        assert_eq!(
            argv("powershell.exe", None),
            ["powershell.exe", "-NoLogo", "-Command", "ls"]
        );
        assert_eq!(
            argv(r"C:\Program Files\PowerShell\7\pwsh.EXE", Some(false)),
            [
                r"C:\Program Files\PowerShell\7\pwsh.EXE",
                "-NoLogo",
                "-NoProfile",
                "-Command",
                "ls"
            ]
        );
        assert_eq!(
            argv(r"C:\Windows\System32\cmd.exe", None),
            [r"C:\Windows\System32\cmd.exe", "/d", "/c", "ls"]
        );
    }
}
