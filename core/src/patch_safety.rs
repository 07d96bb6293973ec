//! Whether a patch may be applied without asking: every path it writes must resolve, through
//! `..` and symlinks, to a place inside the conversation's writable roots.

use std::ffi::OsString;
use std::path::Component;
use std::path::Path;
use std::path::PathBuf;

use crate::protocol::AskForApproval;
use crate::protocol::SandboxPolicy;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatchSafety {
    AutoApprove,
    /// Ask the user; `grant_root` is the directory that would need write access.
    AskUser {
        reason: String,
        grant_root: Option<PathBuf>,
    },
    Reject {
        reason: String,
    },
}

/// The roots a patch may write to without asking; `None` when nothing is constrained.
pub(crate) fn writable_roots(policy: &SandboxPolicy, cwd: &Path) -> Option<Vec<PathBuf>> {
    match policy {
        SandboxPolicy::DangerFullAccess => None,
        SandboxPolicy::ReadOnly => Some(Vec::new()),
        SandboxPolicy::WorkspaceWrite { writable_roots, .. } => {
            let mut roots = vec![cwd.to_path_buf()];
            roots.extend(writable_roots.iter().map(|root| cwd.join(root)));
            Some(roots)
        }
    }
}

pub(crate) fn assess_patch_safety(
    touched: &[PathBuf],
    approval_policy: AskForApproval,
    sandbox_policy: &SandboxPolicy,
    cwd: &Path,
    approved_for_session: impl Fn(&Path) -> bool,
) -> PatchSafety {
    if touched.is_empty() {
        return PatchSafety::Reject {
            reason: "empty patch".to_string(),
        };
    }
    let Some(roots) = writable_roots(sandbox_policy, cwd) else {
        return PatchSafety::AutoApprove;
    };
    let roots: Vec<PathBuf> = roots.iter().map(|root| resolve(root)).collect();
    // `.git` at the top of a root stays read-only, as it does for sandboxed commands: hooks or
    // config written there would later run outside any sandbox.
    let in_git = |resolved: &Path| {
        roots
            .iter()
            .any(|root| resolved.starts_with(root.join(".git")))
    };
    let outside: Vec<(&PathBuf, bool)> = touched
        .iter()
        .filter(|path| !approved_for_session(path))
        .filter_map(|path| {
            let resolved = resolve(path);
            let in_git = in_git(&resolved);
            let in_root = roots.iter().any(|root| resolved.starts_with(root));
            (!in_root || in_git).then_some((path, in_git))
        })
        .collect();
    let Some(&(first, first_in_git)) = outside.first() else {
        return PatchSafety::AutoApprove;
    };
    let reason = if roots.is_empty() {
        "the sandbox is read-only, so every file change needs approval".to_string()
    } else if first_in_git {
        format!(
            "`{}` is inside a `.git` directory, which stays read-only",
            first.display()
        )
    } else {
        format!(
            "`{}` is outside the writable roots of this conversation",
            first.display()
        )
    };
    if approval_policy == AskForApproval::Never {
        return PatchSafety::Reject {
            reason: format!(
                "patch rejected: {reason}, and approval_policy is never; write only inside {}",
                roots.first().map_or_else(
                    || "no directory (read-only)".to_string(),
                    |r| format!("`{}`", r.display())
                )
            ),
        };
    }
    PatchSafety::AskUser {
        reason,
        grant_root: first.parent().map(Path::to_path_buf),
    }
}

/// The real location `path` would be written at: `..` and `.` folded, and every symlink in
/// the longest existing prefix followed. A path that does not exist yet resolves through its
/// deepest existing ancestor, so a new file under a symlinked directory is judged by where
/// the link points.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    // `existing` is always canonical (symlink-free), so `..` on it is a plain pop.
    let mut existing = PathBuf::new();
    let mut rest: Vec<OsString> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if rest.is_empty() => {
                existing.pop();
            }
            Component::ParentDir => {
                rest.pop();
            }
            other if rest.is_empty() => match existing.join(other.as_os_str()).canonicalize() {
                Ok(real) => existing = real,
                Err(_) => rest.push(other.as_os_str().to_owned()),
            },
            other => rest.push(other.as_os_str().to_owned()),
        }
    }
    rest.iter().fold(existing, |acc, part| acc.join(part))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    fn workspace() -> SandboxPolicy {
        SandboxPolicy::WorkspaceWrite {
            writable_roots: vec![],
            network_access: false,
            exclude_tmpdir_env_var: false,
            exclude_slash_tmp: false,
        }
    }

    fn check(
        path: &Path,
        policy: AskForApproval,
        sandbox: &SandboxPolicy,
        cwd: &Path,
    ) -> PatchSafety {
        assess_patch_safety(&[path.to_path_buf()], policy, sandbox, cwd, |_| false)
    }

    #[test]
    fn inside_the_workspace_is_auto_approved() {
        let dir = TempDir::new().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(
            check(
                &cwd.join("src/new.rs"),
                AskForApproval::OnRequest,
                &workspace(),
                &cwd
            ),
            PatchSafety::AutoApprove
        );
    }

    #[test]
    fn dot_dot_and_symlinks_cannot_escape() {
        let dir = TempDir::new().unwrap();
        let outside = TempDir::new().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(outside.path(), cwd.join("link")).unwrap();
        for path in [
            cwd.join("../outside.txt"),
            cwd.join("link/file.txt"),
            cwd.join("a/../../x"),
        ] {
            assert!(
                matches!(
                    check(&path, AskForApproval::OnRequest, &workspace(), &cwd),
                    PatchSafety::AskUser { .. }
                ),
                "{path:?}"
            );
            assert!(
                matches!(
                    check(&path, AskForApproval::Never, &workspace(), &cwd),
                    PatchSafety::Reject { .. }
                ),
                "{path:?}"
            );
        }
        assert_eq!(
            resolve(&cwd.join("link/file.txt")),
            outside.path().canonicalize().unwrap().join("file.txt")
        );
    }

    #[test]
    fn the_git_dir_of_a_root_is_asked_about() {
        let dir = TempDir::new().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(cwd.join(".git/hooks")).unwrap();
        let hook = cwd.join(".git/hooks/pre-commit");
        assert_eq!(
            check(&hook, AskForApproval::OnRequest, &workspace(), &cwd),
            PatchSafety::AskUser {
                reason: format!(
                    "`{}` is inside a `.git` directory, which stays read-only",
                    hook.display()
                ),
                grant_root: Some(cwd.join(".git/hooks")),
            }
        );
        assert!(matches!(
            check(&hook, AskForApproval::Never, &workspace(), &cwd),
            PatchSafety::Reject { .. }
        ));
        // Only `.git` itself: a file merely named like it is ordinary.
        assert_eq!(
            check(
                &cwd.join(".gitignore"),
                AskForApproval::Never,
                &workspace(),
                &cwd
            ),
            PatchSafety::AutoApprove
        );
    }

    #[test]
    fn read_only_always_asks_and_full_access_never_does() {
        let dir = TempDir::new().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert!(matches!(
            check(
                &cwd.join("f"),
                AskForApproval::OnRequest,
                &SandboxPolicy::ReadOnly,
                &cwd
            ),
            PatchSafety::AskUser { .. }
        ));
        assert_eq!(
            check(
                Path::new("/etc/passwd"),
                AskForApproval::Never,
                &SandboxPolicy::DangerFullAccess,
                &cwd
            ),
            PatchSafety::AutoApprove
        );
    }
}
