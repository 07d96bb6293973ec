//! macOS Seatbelt: the profile and the argv that run a command under `/usr/bin/sandbox-exec`.
//! The profile denies everything by default, then allows what building and testing code needs:
//! running programs, reading any file, writing only under the policy's writable roots (less
//! their top-level `.git` and `.codex`), the network only if the policy grants it, and the
//! sysctls, services and terminals common tools use. The roots reach the profile as parameters
//! (`-D WRITABLE_ROOT_0=/path`, read by `(param "WRITABLE_ROOT_0")`), never spliced into its
//! text, so no path can change what the profile says.
//!
//! Generating the profile is plain Rust and is tested on every platform; only macOS runs it.

use std::path::Path;
use std::path::PathBuf;

use super::sandbox_writable_roots;
use crate::protocol::SandboxPolicy;

/// The system's `sandbox-exec`, by absolute path: one found on `PATH` could be anything.
pub(crate) const SANDBOX_EXEC_PATH: &str = "/usr/bin/sandbox-exec";

/// Entries at the top of a writable root that stay read-only, whether they exist yet or not:
/// git hooks and config, and a project's Codex config, would otherwise let a sandboxed command
/// plant something that later runs outside the sandbox, as the user.
const PROTECTED_ENTRIES: &[&str] = &[".git", ".codex"];

/// What every profile allows, whatever the policy. Rules are Seatbelt's SBPL; see
/// docs/sandbox.md for what they leave out.
const BASE_PROFILE: &str = r#"(version 1)

; Nothing is allowed unless a rule below says so.
(deny default)

; Programs may run and start others; everything they start inherits this profile.
(allow process-exec)
(allow process-fork)
; They may signal and inspect only processes inside this sandbox: not the server, not the
; user's other programs.
(allow signal (target same-sandbox))
(allow process-info* (target same-sandbox))

; Reading is not confined: the policy limits writes and the network, not reads.
(allow file-read*)
(allow file-write-data
  (require-all (path "/dev/null") (vnode-type CHARACTER-DEVICE)))

; What runtimes and build tools ask the kernel about the machine.
(allow sysctl-read
  (sysctl-name-prefix "hw.")
  (sysctl-name-prefix "machdep.cpu.")
  (sysctl-name "kern.argmax")
  (sysctl-name "kern.hostname")
  (sysctl-name "kern.maxfilesperproc")
  (sysctl-name "kern.maxproc")
  (sysctl-name "kern.osproductversion")
  (sysctl-name "kern.osrelease")
  (sysctl-name "kern.ostype")
  (sysctl-name "kern.osvariant_status")
  (sysctl-name "kern.osversion")
  (sysctl-name "kern.secure_kernel")
  (sysctl-name "kern.usrstack64")
  (sysctl-name "kern.version")
  (sysctl-name-prefix "kern.proc.pgrp.")
  (sysctl-name-prefix "kern.proc.pid.")
  (sysctl-name "sysctl.proc_cputype")
  (sysctl-name "vm.loadavg"))
; The JVM reads its CPU type through a sysctl that the kernel counts as a write.
(allow sysctl-write (sysctl-name "kern.grade_cputype"))
(allow mach-host*)

; User and group look-ups, power state, preferences, and POSIX semaphores (Python's
; multiprocessing).
(allow mach-lookup
  (global-name "com.apple.system.opendirectoryd.libinfo")
  (global-name "com.apple.PowerManagement.control"))
(allow iokit-open (iokit-registry-entry-class "RootDomainUserClient"))
(allow user-preference-read)
(allow ipc-posix-sem)

; Terminals: opening a new pseudo-terminal, and the one a session was started on.
(allow pseudo-tty)
(allow file-read* file-write* file-ioctl (literal "/dev/ptmx"))
(allow file-read* file-write*
  (require-all (regex #"^/dev/ttys[0-9]+") (extension "com.apple.sandbox.pty")))
(allow file-write-data
  (require-all (regex #"^/dev/ttys[0-9]+") (vnode-type CHARACTER-DEVICE)))
(allow file-ioctl (regex #"^/dev/ttys[0-9]+"))
"#;

/// Added when the policy grants the network: sockets both ways, and the system services that
/// resolve names and check certificates.
const NETWORK_PROFILE: &str = r#"
; The policy grants the network.
(allow network-outbound)
(allow network-inbound)
(allow system-socket)
(allow mach-lookup
  (global-name "com.apple.SystemConfiguration.DNSConfiguration")
  (global-name "com.apple.SystemConfiguration.configd")
  (global-name "com.apple.dnssd.service")
  (global-name "com.apple.trustd.agent")
  (global-name "com.apple.networkd"))
"#;

/// A directory a command may write under, and the entries under it it may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WritableRoot {
    pub(crate) root: PathBuf,
    pub(crate) read_only: Vec<PathBuf>,
}

/// The argv that runs `command` under Seatbelt with `policy`, whose workspace is `policy_cwd`
/// (the conversation's cwd, not the command's) and whose `$TMPDIR` is `tmpdir_env`.
pub(crate) fn seatbelt_command(
    policy: &SandboxPolicy,
    policy_cwd: &Path,
    tmpdir_env: Option<&Path>,
    command: &[String],
) -> Vec<String> {
    let roots: Vec<WritableRoot> = sandbox_writable_roots(policy, policy_cwd, tmpdir_env)
        .into_iter()
        .map(|root| WritableRoot {
            read_only: PROTECTED_ENTRIES
                .iter()
                .map(|entry| root.join(entry))
                .collect(),
            root,
        })
        .collect();
    seatbelt_argv(&roots, policy.has_network_access(), command)
}

/// `sandbox-exec -p <profile> -D<name>=<path>... -- <command>`.
pub(crate) fn seatbelt_argv(
    roots: &[WritableRoot],
    network: bool,
    command: &[String],
) -> Vec<String> {
    let mut argv = vec![
        SANDBOX_EXEC_PATH.to_string(),
        "-p".to_string(),
        profile(roots, network),
    ];
    for (i, root) in roots.iter().enumerate() {
        argv.push(format!(
            "-D{}={}",
            root_param(i),
            root.root.to_string_lossy()
        ));
        for (j, read_only) in root.read_only.iter().enumerate() {
            argv.push(format!(
                "-D{}={}",
                read_only_param(i, j),
                read_only.to_string_lossy()
            ));
        }
    }
    argv.push("--".to_string());
    argv.extend(command.iter().cloned());
    argv
}

/// The profile for `roots` (only their count and shape: the paths are parameters) and the
/// network setting.
pub(crate) fn profile(roots: &[WritableRoot], network: bool) -> String {
    let mut profile = BASE_PROFILE.to_string();
    if !roots.is_empty() {
        profile
            .push_str("\n; Writes only under the writable roots, less their protected entries.\n");
        profile.push_str("(allow file-write*");
        for (i, root) in roots.iter().enumerate() {
            let subpath = format!("(subpath (param \"{}\"))", root_param(i));
            if root.read_only.is_empty() {
                profile.push_str(&format!("\n  {subpath}"));
                continue;
            }
            profile.push_str(&format!("\n  (require-all {subpath}"));
            for j in 0..root.read_only.len() {
                profile.push_str(&format!(
                    "\n    (require-not (subpath (param \"{}\")))",
                    read_only_param(i, j)
                ));
            }
            profile.push(')');
        }
        profile.push_str(")\n");
    }
    if network {
        profile.push_str(NETWORK_PROFILE);
    }
    profile
}

fn root_param(i: usize) -> String {
    format!("WRITABLE_ROOT_{i}")
}

fn read_only_param(i: usize, j: usize) -> String {
    format!("WRITABLE_ROOT_{i}_RO_{j}")
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    fn root(path: &str, read_only: &[&str]) -> WritableRoot {
        WritableRoot {
            root: PathBuf::from(path),
            read_only: read_only.iter().map(PathBuf::from).collect(),
        }
    }

    /// The profile's lines after the base, which is the same for every policy.
    fn policy_part(profile: &str) -> &str {
        profile
            .strip_prefix(BASE_PROFILE)
            .unwrap_or_else(|| panic!("the profile does not start with the base: {profile}"))
    }

    #[test]
    fn read_only_without_network_adds_nothing_to_the_base() {
        let profile = profile(&[], false);
        assert_eq!(policy_part(&profile), "");
        assert!(profile.contains("(deny default)"));
        assert!(!profile.contains("WRITABLE_ROOT"));
        assert!(!profile.contains("network-outbound"));
    }

    #[test]
    fn writes_are_allowed_under_each_root_less_its_protected_entries() {
        let roots = [
            root("/work/repo", &["/work/repo/.git", "/work/repo/.codex"]),
            root("/private/tmp", &[]),
        ];
        assert_eq!(
            policy_part(&profile(&roots, false)),
            r#"
; Writes only under the writable roots, less their protected entries.
(allow file-write*
  (require-all (subpath (param "WRITABLE_ROOT_0"))
    (require-not (subpath (param "WRITABLE_ROOT_0_RO_0")))
    (require-not (subpath (param "WRITABLE_ROOT_0_RO_1"))))
  (subpath (param "WRITABLE_ROOT_1")))
"#
        );
    }

    #[test]
    fn the_network_is_allowed_only_when_the_policy_grants_it() {
        let with = profile(&[], true);
        assert_eq!(policy_part(&with), NETWORK_PROFILE);
        assert!(NETWORK_PROFILE.contains("(allow network-outbound)"));
        // Not one network rule in the base: without the grant, `(deny default)` keeps it shut.
        assert!(!BASE_PROFILE.contains("(allow network"));
        assert!(!BASE_PROFILE.contains("system-socket"));
    }

    #[test]
    fn paths_are_parameters_never_profile_text() {
        // A path that would end the string and add a rule if it were spliced into the profile.
        let hostile = r#"/work/x") (allow file-write* (subpath "/"#;
        let roots = [root(hostile, &[])];
        let argv = seatbelt_argv(&roots, false, &["touch".to_string(), "f".to_string()]);
        assert_eq!(
            argv[3..],
            [
                format!("-DWRITABLE_ROOT_0={hostile}"),
                "--".to_string(),
                "touch".to_string(),
                "f".to_string(),
            ]
        );
        assert!(!argv[2].contains(hostile));
        assert!(!argv[2].contains("/work"));
    }

    #[test]
    fn the_command_runs_through_the_system_sandbox_exec_by_absolute_path() {
        let workspace = TempDir::new().unwrap();
        let cwd = workspace.path().canonicalize().unwrap();
        let policy = SandboxPolicy::WorkspaceWrite {
            writable_roots: Vec::new(),
            network_access: true,
            exclude_tmpdir_env_var: true,
            exclude_slash_tmp: true,
        };
        let argv = seatbelt_command(&policy, &cwd, None, &["ls".to_string()]);
        assert_eq!(argv[0], "/usr/bin/sandbox-exec");
        assert_eq!(argv[1], "-p");
        assert!(argv[2].contains("(allow network-outbound)"));
        let git = cwd.join(".git");
        let codex = cwd.join(".codex");
        assert_eq!(
            argv[3..],
            [
                format!("-DWRITABLE_ROOT_0={}", cwd.display()),
                format!("-DWRITABLE_ROOT_0_RO_0={}", git.display()),
                format!("-DWRITABLE_ROOT_0_RO_1={}", codex.display()),
                "--".to_string(),
                "ls".to_string(),
            ]
        );
    }

    #[test]
    fn read_only_policies_get_no_writable_root() {
        let cwd = std::env::temp_dir();
        let argv = seatbelt_command(&SandboxPolicy::ReadOnly, &cwd, None, &["ls".to_string()]);
        assert_eq!(argv[3..], ["--".to_string(), "ls".to_string()]);
        assert!(!argv[2].contains("WRITABLE_ROOT"));
        assert!(!argv[2].contains("network-outbound"));
    }

    #[test]
    fn every_paren_is_closed() {
        let roots = [root("/a", &["/a/.git"]), root("/b", &[])];
        for network in [false, true] {
            let profile = profile(&roots, network);
            let mut depth = 0i32;
            for line in profile.lines() {
                // Comments and the regex literals hold no parens of the profile's own.
                let code = line.split(';').next().unwrap_or_default();
                for c in code.chars() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    assert!(depth >= 0, "{profile}");
                }
            }
            assert_eq!(depth, 0, "{profile}");
        }
    }
}
