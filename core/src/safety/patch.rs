//! Whether a patch may be applied without asking: every path it writes must resolve, through
//! `..` and symlinks (its last component's too, dangling or not), to a place inside the
//! conversation's writable roots, and must not be a file with other hard links, whose other
//! names may be anywhere.

use std::path::Path;
use std::path::PathBuf;

use crate::apply_patch::hard_link_count;
use crate::apply_patch::resolve_links;
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
    let roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|root| resolve_links(root))
        .collect();
    // `.git` at the top of a root stays read-only, as it does for sandboxed commands: hooks or
    // config written there would later run outside any sandbox.
    let in_git = |resolved: &Path| {
        roots
            .iter()
            .any(|root| resolved.starts_with(root.join(".git")))
    };
    let outside: Vec<(&PathBuf, Outside)> = touched
        .iter()
        .filter(|path| !approved_for_session(path))
        .filter_map(|path| {
            // A path that cannot be resolved (a symlink loop) cannot be vouched for.
            let Some(resolved) = resolve_links(path) else {
                return Some((path, Outside::Roots));
            };
            if in_git(&resolved) {
                return Some((path, Outside::Git));
            }
            if !roots.iter().any(|root| resolved.starts_with(root)) {
                return Some((path, Outside::Roots));
            }
            // Writing is done by rename, which never changes the other names of a file, but
            // the user may expect it to: a hard-linked file is asked about like any path
            // that may lead outside.
            hard_link_count(&resolved)
                .is_some_and(|links| links > 1)
                .then_some((path, Outside::HardLinked))
        })
        .collect();
    let Some(&(first, why)) = outside.first() else {
        return PatchSafety::AutoApprove;
    };
    let reason = if roots.is_empty() {
        "the sandbox is read-only, so every file change needs approval".to_string()
    } else {
        match why {
            Outside::Git => format!(
                "`{}` is inside a `.git` directory, which stays read-only",
                first.display()
            ),
            Outside::Roots => format!(
                "`{}` is outside the writable roots of this conversation",
                first.display()
            ),
            Outside::HardLinked => format!(
                "`{}` has other hard links, which may be outside the writable roots of this conversation; the patch would replace this name only",
                first.display()
            ),
        }
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

/// Why a path needs approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outside {
    /// It leads outside the writable roots (or cannot be resolved).
    Roots,
    /// It leads into a root's `.git`.
    Git,
    /// It is a regular file with more than one name.
    HardLinked,
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

    #[cfg(unix)]
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
            resolve_links(&cwd.join("link/file.txt")),
            Some(outside.path().canonicalize().unwrap().join("file.txt"))
        );
    }

    /// The audit's escape: `ln -s /outside/x innocent.txt` in the workspace, then
    /// `*** Add File: innocent.txt`. The link dangles, so only following the last component
    /// by hand shows where the write would land.
    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_as_the_last_component_is_outside() {
        let dir = TempDir::new().unwrap();
        let outside = TempDir::new().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        let target = outside.path().canonicalize().unwrap().join("x");
        std::os::unix::fs::symlink(&target, cwd.join("innocent.txt")).unwrap();
        std::fs::write(cwd.join("real.txt"), "in\n").unwrap();
        std::os::unix::fs::symlink("real.txt", cwd.join("alias.txt")).unwrap();
        let path = cwd.join("innocent.txt");
        assert_eq!(
            check(&path, AskForApproval::OnRequest, &workspace(), &cwd),
            PatchSafety::AskUser {
                reason: format!(
                    "`{}` is outside the writable roots of this conversation",
                    path.display()
                ),
                grant_root: Some(cwd.clone()),
            }
        );
        assert!(matches!(
            check(&path, AskForApproval::Never, &workspace(), &cwd),
            PatchSafety::Reject { .. }
        ));
        // A link that stays inside the roots is fine.
        assert_eq!(
            check(
                &cwd.join("alias.txt"),
                AskForApproval::Never,
                &workspace(),
                &cwd
            ),
            PatchSafety::AutoApprove
        );
    }

    #[test]
    fn a_hard_linked_file_is_asked_about() {
        let dir = TempDir::new().unwrap();
        let outside = TempDir::new().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        std::fs::write(outside.path().join("secret"), "x\n").unwrap();
        std::fs::hard_link(outside.path().join("secret"), cwd.join("linked")).unwrap();
        let path = cwd.join("linked");
        assert!(matches!(
            check(&path, AskForApproval::OnRequest, &workspace(), &cwd),
            PatchSafety::AskUser { reason, .. } if reason.contains("has other hard links")
        ));
        assert!(matches!(
            check(&path, AskForApproval::Never, &workspace(), &cwd),
            PatchSafety::Reject { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_outside() {
        let dir = TempDir::new().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("b", cwd.join("a")).unwrap();
        std::os::unix::fs::symlink("a", cwd.join("b")).unwrap();
        assert!(matches!(
            check(&cwd.join("a"), AskForApproval::Never, &workspace(), &cwd),
            PatchSafety::Reject { .. }
        ));
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
