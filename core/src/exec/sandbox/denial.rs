//! Whether a sandboxed command failed because the sandbox stopped it. The kernel does not say,
//! so this is a heuristic over what the command printed and its exit code, erring towards
//! "denied": a false positive costs one question under `on-failure`, a false negative leaves
//! the model guessing why a command failed.

use super::SandboxType;

/// What programs print when Landlock (`EACCES`, `EROFS` from the read-only `.git` mount),
/// seccomp or Seatbelt (`EPERM`) refuses them, plus the helpers' own failures.
const DENIAL_MARKERS: &[&str] = &[
    "operation not permitted",
    "permission denied",
    "read-only file system",
    "seccomp",
    "sandbox",
    "landlock",
    "failed to write file",
];

/// Usage errors (2), "cannot execute" (126) and "not found" (127) are the command's own
/// failures, not the sandbox's, when nothing in the output says otherwise.
const NOT_DENIAL_EXIT_CODES: &[i32] = &[2, 126, 127];

/// Killed by SIGSYS: how a seccomp filter that traps, rather than failing the call, shows.
const SIGSYS_EXIT_CODE: i32 = 128 + 31;

pub(crate) fn is_likely_sandbox_denied(
    sandbox: SandboxType,
    exit_code: i32,
    timed_out: bool,
    output: &str,
) -> bool {
    if sandbox == SandboxType::None || exit_code == 0 || timed_out {
        return false;
    }
    let output = output.to_lowercase();
    if DENIAL_MARKERS.iter().any(|marker| output.contains(marker)) {
        return true;
    }
    if NOT_DENIAL_EXIT_CODES.contains(&exit_code) {
        return false;
    }
    exit_code == SIGSYS_EXIT_CODE
}

#[cfg(test)]
mod tests {
    use super::*;

    const SANDBOXED: SandboxType = SandboxType::LinuxLandlock;

    #[test]
    fn denial_messages_are_recognised_whatever_their_case() {
        for output in [
            "bash: line 1: /elsewhere/x: Permission denied",
            "touch: cannot touch '/x': Read-only file system",
            "PermissionError: [Errno 1] Operation not permitted",
            "git: error: could not write config file .git/config: Read-only file system",
            "codex sandbox-exec: Landlock could not confine the command",
        ] {
            assert!(
                is_likely_sandbox_denied(SANDBOXED, 1, false, output),
                "{output}"
            );
        }
    }

    #[test]
    fn seatbelt_denials_are_recognised() {
        for output in [
            "touch: /Users/me/elsewhere/x: Operation not permitted",
            "git: error: could not lock config file .git/config: Operation not permitted",
            "sandbox-exec: sandbox_apply: Operation not permitted",
            "curl: (6) Could not resolve host: example.com\nsandbox: deny(1) network-outbound",
        ] {
            assert!(
                is_likely_sandbox_denied(SandboxType::MacosSeatbelt, 1, false, output),
                "{output}"
            );
        }
        assert!(!is_likely_sandbox_denied(
            SandboxType::MacosSeatbelt,
            1,
            false,
            "error: 3 tests failed"
        ));
    }

    #[test]
    fn ordinary_failures_are_not_denials() {
        assert!(!is_likely_sandbox_denied(
            SANDBOXED,
            1,
            false,
            "test result: FAILED"
        ));
        assert!(!is_likely_sandbox_denied(
            SANDBOXED,
            127,
            false,
            "bash: nope: command not found"
        ));
        assert!(!is_likely_sandbox_denied(SANDBOXED, 2, false, "usage: x"));
    }

    #[test]
    fn success_timeouts_and_unsandboxed_runs_are_never_denials() {
        let denied = "Permission denied";
        assert!(!is_likely_sandbox_denied(SANDBOXED, 0, false, denied));
        assert!(!is_likely_sandbox_denied(SANDBOXED, 124, true, denied));
        assert!(!is_likely_sandbox_denied(
            SandboxType::None,
            1,
            false,
            denied
        ));
    }

    #[test]
    fn a_silent_sigsys_death_is_a_denial() {
        assert!(is_likely_sandbox_denied(SANDBOXED, 159, false, ""));
        assert!(!is_likely_sandbox_denied(SANDBOXED, 127, false, ""));
    }
}
