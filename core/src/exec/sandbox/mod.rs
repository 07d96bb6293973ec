//! Platform sandboxes: how a command that runs without asking is confined. On Linux the
//! `codex` binary runs itself again as `codex sandbox-exec`, which confines its own process
//! (mount and PID namespaces, no capabilities, Landlock for files and signals, seccomp for the
//! network) and then starts the command as its child, so the command and everything it starts
//! inherit the restrictions and die with the server. On macOS commands run under Seatbelt,
//! through the system's `/usr/bin/sandbox-exec` with a profile made for the policy
//! (`seatbelt.rs`). Anywhere else (Windows), or on a Linux kernel without Landlock, there is no
//! sandbox and the approval matrix asks (or refuses) instead. docs/sandbox.md says what is
//! confined on which platform.

#[cfg(target_os = "linux")]
mod capabilities;
mod denial;
#[cfg(target_os = "linux")]
mod landlock;
#[cfg(target_os = "linux")]
mod mount_namespace;
#[cfg(target_os = "linux")]
mod seccomp;
// Plain Rust that only generates a profile and an argv: built and tested everywhere, run
// only on macOS.
mod seatbelt;
#[cfg(target_os = "linux")]
mod supervisor;

use std::ffi::OsString;
use std::path::Path;
use std::path::PathBuf;
use std::sync::OnceLock;

pub(crate) use denial::is_likely_sandbox_denied;
pub(crate) use seatbelt::seatbelt_command;

use crate::protocol::SandboxPolicy;

/// The hidden subcommand of the `codex` binary that runs a command inside the sandbox.
pub const SANDBOX_EXEC_SUBCOMMAND: &str = "sandbox-exec";

/// How a command is confined when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SandboxType {
    /// Not confined: approved by the user, or under `danger-full-access`.
    None,
    /// `codex sandbox-exec`: Landlock and seccomp, applied before the command is exec'd.
    LinuxLandlock,
    /// `/usr/bin/sandbox-exec` with a Seatbelt profile made for the policy.
    MacosSeatbelt,
}

/// The sandbox this platform has when its kernel supports it: none on Windows yet.
const NATIVE_SANDBOX: Option<SandboxType> = if cfg!(target_os = "linux") {
    Some(SandboxType::LinuxLandlock)
} else if cfg!(target_os = "macos") {
    Some(SandboxType::MacosSeatbelt)
} else {
    None
};

/// The sandbox commands run in, if this machine has one. On Linux commands are sandboxed
/// through `helper` (`codex_linux_sandbox_exe`); without it (a library user that never set it)
/// there is nothing to run them through, so there is no sandbox either. Seatbelt needs no
/// helper.
pub(crate) fn platform_sandbox(helper: Option<&Path>) -> Option<SandboxType> {
    platform_sandbox_for(NATIVE_SANDBOX, helper, sandbox_unavailable_reason())
}

fn platform_sandbox_for(
    native: Option<SandboxType>,
    helper: Option<&Path>,
    unavailable: Option<&str>,
) -> Option<SandboxType> {
    if unavailable.is_some() {
        return None;
    }
    match native? {
        SandboxType::LinuxLandlock => helper.map(|_| SandboxType::LinuxLandlock),
        other => Some(other),
    }
}

/// Why commands cannot be sandboxed on this machine, or `None` when they can. Probed once (a
/// Landlock ruleset is created and dropped, no process is spawned) and cached, so it is cheap
/// to call at start-up and for every command.
pub fn sandbox_unavailable_reason() -> Option<&'static str> {
    static SUPPORT: OnceLock<Option<String>> = OnceLock::new();
    SUPPORT.get_or_init(probe_support).as_deref()
}

#[cfg(target_os = "linux")]
fn probe_support() -> Option<String> {
    landlock::probe().err()
}

#[cfg(target_os = "macos")]
fn probe_support() -> Option<String> {
    let path = Path::new(seatbelt::SANDBOX_EXEC_PATH);
    (!path.is_file()).then(|| format!("{} is missing", path.display()))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn probe_support() -> Option<String> {
    Some(format!(
        "no sandbox is implemented for {}",
        std::env::consts::OS
    ))
}

/// The directories a command may write under `policy` (besides `/dev/null`): for
/// `workspace-write` the policy's cwd, each configured writable root (relative ones joined to
/// that cwd), `/tmp` unless `exclude_slash_tmp`, and `$TMPDIR` unless `exclude_tmpdir_env_var`.
/// Roots that do not exist are left out, since there is nothing there to grant.
pub(crate) fn sandbox_writable_roots(
    policy: &SandboxPolicy,
    cwd: &Path,
    tmpdir_env: Option<&Path>,
) -> Vec<PathBuf> {
    let SandboxPolicy::WorkspaceWrite {
        writable_roots,
        exclude_tmpdir_env_var,
        exclude_slash_tmp,
        ..
    } = policy
    else {
        return Vec::new();
    };
    let mut roots = vec![cwd.to_path_buf()];
    roots.extend(writable_roots.iter().map(|root| cwd.join(root)));
    if !exclude_slash_tmp {
        roots.push(PathBuf::from("/tmp"));
    }
    if !exclude_tmpdir_env_var && let Some(tmpdir) = tmpdir_env.filter(|dir| dir.is_absolute()) {
        roots.push(tmpdir.to_path_buf());
    }
    let mut resolved: Vec<PathBuf> = Vec::new();
    for root in roots {
        // Canonical, so that `.git` below a root and roots nested in each other compare as the
        // paths the kernel will see.
        if let Ok(real) = root.canonicalize()
            && real.is_dir()
            && !resolved.contains(&real)
        {
            resolved.push(real);
        }
    }
    resolved
}

/// The argv that runs `command` through the sandbox helper `helper` under `policy`, whose
/// writable cwd is `policy_cwd` (the conversation's, not the command's working directory).
pub(crate) fn sandboxed_command(
    helper: &Path,
    policy: &SandboxPolicy,
    policy_cwd: &Path,
    command: &[String],
) -> Result<Vec<String>, serde_json::Error> {
    let mut argv = vec![
        helper.to_string_lossy().into_owned(),
        SANDBOX_EXEC_SUBCOMMAND.to_string(),
        "--policy".to_string(),
        serde_json::to_string(policy)?,
        "--cwd".to_string(),
        policy_cwd.to_string_lossy().into_owned(),
        "--".to_string(),
    ];
    argv.extend(command.iter().cloned());
    Ok(argv)
}

/// Why `codex sandbox-exec` could not run its command.
#[derive(Debug, thiserror::Error)]
pub enum SandboxExecError {
    #[error(
        "--policy is not a sandbox policy ({0}); expected e.g. {{\"type\":\"workspace-write\"}}"
    )]
    Policy(serde_json::Error),
    #[error("--cwd `{path}`: {source}")]
    Cwd {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no command given after `--`")]
    EmptyCommand,
    #[error("could not set no_new_privs: {0}")]
    NoNewPrivs(String),
    #[error("could not drop capabilities: {0}")]
    Capabilities(String),
    #[error("could not watch over the command: {0}")]
    Supervise(String),
    #[error("Landlock could not confine the command: {0}")]
    Landlock(String),
    #[error("seccomp could not take the network away: {0}")]
    Seccomp(String),
    #[error("the sandbox is not supported here: {0}")]
    Unsupported(String),
    /// The sandbox is in place but the command itself could not be started.
    #[error("cannot run `{program}`: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
}

/// `codex sandbox-exec`: confines this process under `policy_json` (a [`SandboxPolicy`] as JSON)
/// with `cwd` as the workspace, then runs `command` and returns the exit code to leave with
/// (under `danger-full-access` it execs the command instead and returns only on failure). An
/// error means the command did not run. Call it from a single-threaded process (before any
/// runtime starts): the restrictions apply to the calling thread, and namespaces can only be
/// entered by a single-threaded process.
pub fn run_sandbox_exec(
    policy_json: &str,
    cwd: Option<PathBuf>,
    command: Vec<OsString>,
) -> Result<i32, SandboxExecError> {
    // Before anything else, so that a server that dies while we set up is noticed.
    #[cfg(target_os = "linux")]
    let parent = nix::unistd::getppid();
    let policy: SandboxPolicy =
        serde_json::from_str(policy_json).map_err(SandboxExecError::Policy)?;
    let cwd = match cwd {
        Some(cwd) => cwd,
        None => std::env::current_dir().map_err(|source| SandboxExecError::Cwd {
            path: PathBuf::from("."),
            source,
        })?,
    };
    if let Err(source) = std::fs::metadata(&cwd) {
        return Err(SandboxExecError::Cwd { path: cwd, source });
    }
    let Some((program, args)) = command.split_first() else {
        return Err(SandboxExecError::EmptyCommand);
    };
    if policy == SandboxPolicy::DangerFullAccess {
        return run_unconfined(program, args);
    }
    #[cfg(target_os = "linux")]
    {
        confine_and_run(&policy, &cwd, program, args, parent)
    }
    #[cfg(not(target_os = "linux"))]
    {
        confine_and_run(&policy, &cwd, program, args)
    }
}

#[cfg(target_os = "linux")]
fn confine_and_run(
    policy: &SandboxPolicy,
    cwd: &Path,
    program: &OsString,
    args: &[OsString],
    parent: nix::unistd::Pid,
) -> Result<i32, SandboxExecError> {
    let tmpdir = std::env::var_os("TMPDIR").map(PathBuf::from);
    let roots = sandbox_writable_roots(policy, cwd, tmpdir.as_deref());
    // `.git` at the top of a writable root stays read-only: hooks or config written there
    // would later run outside the sandbox, as the user, the next time they use git.
    let git_dirs: Vec<PathBuf> = roots
        .iter()
        .map(|root| root.join(".git"))
        .filter(|git| git.symlink_metadata().is_ok())
        .collect();
    let git_read_only = mount_namespace::confine_mounts(&roots, &git_dirs);
    // A read-only bind mount keeps the whole root writable around `.git`. Where no mount
    // namespace can be had, Landlock alone must leave `.git` out, which costs the right to
    // create new entries at the top of that root (see docs/sandbox.md).
    let protected_by_landlock = if git_read_only { Vec::new() } else { git_dirs };
    // After the mounts, which need CAP_SYS_ADMIN; before Landlock, which needs no_new_privs.
    capabilities::drop_all()?;
    nix::sys::prctl::set_no_new_privs()
        .map_err(|err| SandboxExecError::NoNewPrivs(err.to_string()))?;
    landlock::restrict_writes(&roots, &protected_by_landlock)?;
    if !policy.has_network_access() {
        seccomp::deny_network()?;
    }
    supervisor::supervise(program, args, parent)
}

/// On macOS, `codex sandbox-exec` becomes the system's `sandbox-exec` with the profile the
/// server itself would use, so both ways of running a command confine it alike.
#[cfg(target_os = "macos")]
fn confine_and_run(
    policy: &SandboxPolicy,
    cwd: &Path,
    program: &OsString,
    args: &[OsString],
) -> Result<i32, SandboxExecError> {
    if let Some(reason) = sandbox_unavailable_reason() {
        return Err(SandboxExecError::Unsupported(reason.to_string()));
    }
    let tmpdir = std::env::var_os("TMPDIR").map(PathBuf::from);
    let command: Vec<String> = std::iter::once(program)
        .chain(args)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let argv = seatbelt_command(policy, cwd, tmpdir.as_deref(), &command);
    let (sandbox_exec, rest) = argv.split_first().ok_or(SandboxExecError::EmptyCommand)?;
    let rest: Vec<OsString> = rest.iter().map(OsString::from).collect();
    Err(exec(&OsString::from(sandbox_exec), &rest))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn confine_and_run(
    _policy: &SandboxPolicy,
    _cwd: &Path,
    _program: &OsString,
    _args: &[OsString],
) -> Result<i32, SandboxExecError> {
    Err(SandboxExecError::Unsupported(format!(
        "no sandbox is implemented for {}",
        std::env::consts::OS
    )))
}

/// Makes the server's own process unreadable to the commands it runs, even to one running as
/// the same user: a process that is not dumpable has its `/proc/<pid>/environ`, `mem`, `maps`
/// and the like owned by root and refused to anyone without CAP_SYS_PTRACE (which sandboxed
/// commands do not have), and cannot be ptraced by them. Call it once at start-up; it is
/// not inherited across `exec`, so commands are unaffected.
#[cfg(target_os = "linux")]
pub fn protect_server_process() -> std::io::Result<()> {
    nix::sys::prctl::set_dumpable(false).map_err(std::io::Error::from)
}

/// Elsewhere there is nothing to do: on macOS the Seatbelt profile already keeps sandboxed
/// commands from inspecting or signalling processes outside their sandbox; on Windows no
/// command runs unconfined without an approval.
#[cfg(not(target_os = "linux"))]
pub fn protect_server_process() -> std::io::Result<()> {
    Ok(())
}

/// Runs the command as it is: on Unix this process becomes it.
#[cfg(unix)]
fn run_unconfined(program: &OsString, args: &[OsString]) -> Result<i32, SandboxExecError> {
    Err(exec(program, args))
}

/// Runs the command as it is: Windows has no `exec`, so this process waits for it and leaves
/// with its exit code.
#[cfg(not(unix))]
fn run_unconfined(program: &OsString, args: &[OsString]) -> Result<i32, SandboxExecError> {
    std::process::Command::new(program)
        .args(args)
        .status()
        .map(|status| status.code().unwrap_or(1))
        .map_err(|source| SandboxExecError::Exec {
            program: program.to_string_lossy().into_owned(),
            source,
        })
}

#[cfg(unix)]
fn exec(program: &OsString, args: &[OsString]) -> SandboxExecError {
    use std::os::unix::process::CommandExt as _;
    // `exec` replaces this process, keeping its (already confined) credentials, environment,
    // working directory and file descriptors; it only returns on failure.
    let source = std::process::Command::new(program).args(args).exec();
    SandboxExecError::Exec {
        program: program.to_string_lossy().into_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    fn workspace(roots: Vec<PathBuf>, no_slash_tmp: bool, no_tmpdir: bool) -> SandboxPolicy {
        SandboxPolicy::WorkspaceWrite {
            writable_roots: roots,
            network_access: false,
            exclude_tmpdir_env_var: no_tmpdir,
            exclude_slash_tmp: no_slash_tmp,
        }
    }

    #[test]
    fn workspace_roots_are_cwd_configured_roots_and_temp_dirs() {
        let cwd = TempDir::new().unwrap();
        let tmpdir = TempDir::new().unwrap();
        let cwd_path = cwd.path().canonicalize().unwrap();
        std::fs::create_dir(cwd_path.join("extra")).unwrap();
        let tmpdir_path = tmpdir.path().canonicalize().unwrap();

        let roots = sandbox_writable_roots(
            &workspace(
                vec![PathBuf::from("extra"), PathBuf::from("missing")],
                false,
                false,
            ),
            &cwd_path,
            Some(&tmpdir_path),
        );
        // `missing` does not exist, so nothing is granted for it.
        let expected = vec![
            cwd_path.clone(),
            cwd_path.join("extra"),
            PathBuf::from("/tmp"),
            tmpdir_path.clone(),
        ];
        assert_eq!(roots, expected);

        assert_eq!(
            sandbox_writable_roots(
                &workspace(vec![], true, true),
                &cwd_path,
                Some(&tmpdir_path)
            ),
            vec![cwd_path.clone()]
        );
        assert_eq!(
            sandbox_writable_roots(&SandboxPolicy::ReadOnly, &cwd_path, Some(&tmpdir_path)),
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn a_sandbox_needs_the_helper_and_a_kernel_that_supports_it() {
        let helper = Path::new("/usr/bin/codex");
        let linux = Some(SandboxType::LinuxLandlock);
        assert_eq!(
            platform_sandbox_for(linux, Some(helper), None),
            Some(SandboxType::LinuxLandlock)
        );
        assert_eq!(platform_sandbox_for(linux, None, None), None);
        assert_eq!(
            platform_sandbox_for(linux, Some(helper), Some("Landlock is not enabled")),
            None
        );
    }

    #[test]
    fn seatbelt_needs_no_helper_and_windows_has_no_sandbox() {
        let macos = Some(SandboxType::MacosSeatbelt);
        assert_eq!(platform_sandbox_for(macos, None, None), macos);
        assert_eq!(
            platform_sandbox_for(macos, None, Some("/usr/bin/sandbox-exec is missing")),
            None
        );
        let windows = None;
        let helper = Path::new("C:\\codex.exe");
        assert_eq!(platform_sandbox_for(windows, Some(helper), None), None);
    }

    #[test]
    fn this_platform_has_the_sandbox_it_should() {
        let expected = match std::env::consts::OS {
            "linux" => Some(SandboxType::LinuxLandlock),
            "macos" => Some(SandboxType::MacosSeatbelt),
            _ => None,
        };
        assert_eq!(NATIVE_SANDBOX, expected);
    }

    #[test]
    fn the_helper_gets_the_policy_as_json_and_the_command_after_dashes() {
        let argv = sandboxed_command(
            Path::new("/bin/codex"),
            &workspace(vec![], false, false),
            Path::new("/work"),
            &["touch".to_string(), "--".to_string()],
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "/bin/codex",
                "sandbox-exec",
                "--policy",
                r#"{"type":"workspace-write","network_access":false,"exclude_tmpdir_env_var":false,"exclude_slash_tmp":false}"#,
                "--cwd",
                "/work",
                "--",
                "touch",
                "--",
            ]
        );
    }
}
