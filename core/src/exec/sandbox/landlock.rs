//! The filesystem half of the Linux sandbox: a Landlock ruleset that lets the command read and
//! execute everything but write only beneath the writable roots and to `/dev/null`. Where the
//! kernel has scoping (Landlock ABI 6, Linux 6.12), the same ruleset keeps the command from
//! signalling processes outside the sandbox (the server) and from connecting to abstract Unix
//! sockets created outside it. Landlock also refuses ptrace of processes outside the sandbox,
//! which covers `/proc/<pid>/environ` and `mem` of the server, on every ABI.

use std::path::Path;
use std::path::PathBuf;

use landlock::ABI;
use landlock::Access as _;
use landlock::AccessFs;
use landlock::BitFlags;
use landlock::CompatLevel;
use landlock::Compatible as _;
use landlock::PathBeneath;
use landlock::PathFd;
use landlock::Ruleset;
use landlock::RulesetAttr as _;
use landlock::RulesetCreated;
use landlock::RulesetCreatedAttr as _;
use landlock::RulesetStatus;
use landlock::Scope;

use super::SandboxExecError;

/// The newest Landlock ABI whose rights are asked for. An older kernel enforces the subset it
/// knows (best effort; see docs/sandbox.md for what that leaves open); rights of newer ABIs are
/// never asked for, so the sandbox does not change meaning when the kernel is upgraded.
const TARGET_ABI: ABI = ABI::V5;

/// Whether this kernel enforces Landlock at all: creates (and drops) a ruleset, which is a
/// single syscall and spawns nothing.
pub(super) fn probe() -> Result<(), String> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(Ruleset::create)
        .map(drop)
        .map_err(|err| format!("Landlock is not available on this kernel ({err})"))
}

/// What one rule grants write access to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    /// A directory and everything below it.
    Tree(PathBuf),
    /// One existing file (written or truncated in place).
    File(PathBuf),
}

/// Confines the calling thread (and whatever it execs) to writing beneath `roots`, except
/// beneath `protected` (`.git` directories that no mount namespace could make read-only).
pub(super) fn restrict_writes(
    roots: &[PathBuf],
    protected: &[PathBuf],
) -> Result<(), SandboxExecError> {
    let landlock_err = |err: &dyn std::fmt::Display| SandboxExecError::Landlock(err.to_string());
    // Best effort, like the file rights: an older kernel enforces the rest without scoping.
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .and_then(|ruleset| ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal))
        .and_then(Ruleset::create)
        .map_err(|err| landlock_err(&err))?;
    ruleset = add(ruleset, Path::new("/"), AccessFs::from_read(TARGET_ABI))
        .map_err(|err| landlock_err(&err))?;
    // Programs everywhere write to /dev/null; it must keep working even under read-only.
    if Path::new("/dev/null").exists() {
        ruleset = add(
            ruleset,
            Path::new("/dev/null"),
            AccessFs::from_file(TARGET_ABI),
        )
        .map_err(|err| landlock_err(&err))?;
    }
    for grant in grants(roots, protected) {
        ruleset = match &grant {
            Grant::Tree(dir) => add(ruleset, dir, AccessFs::from_all(TARGET_ABI)),
            Grant::File(file) => add(ruleset, file, AccessFs::from_file(TARGET_ABI)),
        }
        .map_err(|err| landlock_err(&err))?;
    }
    let status = ruleset.restrict_self().map_err(|err| landlock_err(&err))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(SandboxExecError::Landlock(
            "the kernel did not enforce the ruleset".to_string(),
        ));
    }
    Ok(())
}

fn add(
    ruleset: RulesetCreated,
    path: &Path,
    access: BitFlags<AccessFs>,
) -> Result<RulesetCreated, String> {
    let fd = PathFd::new(path).map_err(|err| err.to_string())?;
    ruleset
        .add_rule(PathBeneath::new(fd, access))
        .map_err(|err| err.to_string())
}

/// The write grants for `roots` that leave every path in `protected` out. Landlock can only
/// allow, and a right on a directory reaches everything below it, so a root with a protected
/// path inside is not granted itself: its entries are, one by one, descending only towards the
/// protected path. Entries created later at those levels get no rule, so they cannot be made.
fn grants(roots: &[PathBuf], protected: &[PathBuf]) -> Vec<Grant> {
    let mut out = Vec::new();
    for root in roots {
        grant_except(root, protected, &mut out);
    }
    out
}

fn grant_except(dir: &Path, protected: &[PathBuf], out: &mut Vec<Grant>) {
    if protected.iter().any(|path| path == dir) {
        return;
    }
    if !protected.iter().any(|path| path.starts_with(dir)) {
        out.push(Grant::Tree(dir.to_path_buf()));
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        // `file_type` does not follow symlinks. A symlink is skipped: a rule on it would be a
        // rule on its target, wherever that is, and writes through a link inside the root
        // are judged by the target anyway.
        match entry.file_type() {
            Ok(kind) if kind.is_symlink() => {}
            Ok(kind) if kind.is_dir() => grant_except(&path, protected, out),
            Ok(_) if !protected.contains(&path) => out.push(Grant::File(path)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    #[test]
    fn a_root_without_protected_paths_is_granted_whole() {
        let root = PathBuf::from("/work/project");
        assert_eq!(
            grants(std::slice::from_ref(&root), &[]),
            vec![Grant::Tree(root)]
        );
    }

    #[test]
    fn a_protected_git_dir_is_left_out_even_under_a_nesting_root() {
        let tmp = TempDir::new().unwrap();
        let outer = tmp.path().canonicalize().unwrap();
        let repo = outer.join("repo");
        std::fs::create_dir_all(repo.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(repo.join("src")).unwrap();
        std::fs::write(repo.join("README"), "x").unwrap();
        std::fs::write(outer.join("notes"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", repo.join("etc-link")).unwrap();

        let grants = grants(
            &[outer.clone(), repo.clone()],
            std::slice::from_ref(&repo.join(".git")),
        );
        assert_eq!(
            grants,
            vec![
                // The outer root is opened up towards `repo/.git`, not granted whole.
                Grant::File(outer.join("notes")),
                Grant::File(repo.join("README")),
                Grant::Tree(repo.join("src")),
                Grant::File(repo.join("README")),
                Grant::Tree(repo.join("src")),
            ]
        );
    }
}
