//! The git state recorded in `session_meta`, read straight from the `.git` directory: spawning
//! `git` at conversation start would cost a process per conversation and fail where git is not
//! installed.

use std::path::Path;
use std::path::PathBuf;

use super::GitInfo;

/// Symbolic refs pointing at symbolic refs are rare; the bound only stops cycles.
const MAX_REF_DEPTH: usize = 5;

/// Branch, commit and `origin` URL of the repository containing `cwd`, or `None` outside one.
pub(crate) async fn collect_git_info(cwd: &Path) -> Option<GitInfo> {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || collect_blocking(&cwd))
        .await
        .ok()
        .flatten()
}

fn collect_blocking(cwd: &Path) -> Option<GitInfo> {
    let dirs = find_git_dirs(cwd)?;
    let head = std::fs::read_to_string(dirs.git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let mut info = GitInfo::default();
    if let Some(reference) = head.strip_prefix("ref:") {
        let reference = reference.trim();
        info.branch = Some(
            reference
                .strip_prefix("refs/heads/")
                .unwrap_or(reference)
                .to_string(),
        );
        info.commit_hash = resolve_ref(&dirs, reference);
    } else if is_object_id(head) {
        info.commit_hash = Some(head.to_string());
    } else {
        return None;
    }
    info.repository_url = origin_url(&dirs.common_dir);
    Some(info)
}

/// A worktree keeps its own `HEAD` (and per-worktree refs) in `git_dir`, while branches, packed
/// refs and config are shared in `common_dir`. For a plain repository they are the same.
struct GitDirs {
    git_dir: PathBuf,
    common_dir: PathBuf,
}

fn find_git_dirs(cwd: &Path) -> Option<GitDirs> {
    for dir in cwd.ancestors() {
        let dot_git = dir.join(".git");
        let Ok(metadata) = std::fs::metadata(&dot_git) else {
            continue;
        };
        let git_dir = if metadata.is_dir() {
            dot_git
        } else {
            // Worktrees and submodules: a file holding `gitdir: <path>`, relative to its folder.
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let target = text
                .lines()
                .find_map(|line| line.trim().strip_prefix("gitdir:"))?
                .trim();
            dir.join(target)
        };
        let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
            Ok(text) => git_dir.join(text.trim()),
            Err(_) => git_dir.clone(),
        };
        return Some(GitDirs {
            git_dir,
            common_dir,
        });
    }
    None
}

/// The commit a ref points at: its loose file, else its `packed-refs` entry. `None` for a branch
/// with no commits yet.
fn resolve_ref(dirs: &GitDirs, reference: &str) -> Option<String> {
    let mut reference = reference.to_string();
    for _ in 0..MAX_REF_DEPTH {
        if reference
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            return None;
        }
        let loose = [&dirs.git_dir, &dirs.common_dir]
            .into_iter()
            .find_map(|dir| std::fs::read_to_string(dir.join(&reference)).ok());
        let Some(loose) = loose else {
            return packed_ref(&dirs.common_dir, &reference);
        };
        let loose = loose.trim();
        match loose.strip_prefix("ref:") {
            Some(next) => reference = next.trim().to_string(),
            None => return is_object_id(loose).then(|| loose.to_string()),
        }
    }
    None
}

fn packed_ref(common_dir: &Path, reference: &str) -> Option<String> {
    let text = std::fs::read_to_string(common_dir.join("packed-refs")).ok()?;
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('^'))
        .find_map(|line| {
            let (hash, name) = line.trim().split_once(' ')?;
            (name.trim() == reference && is_object_id(hash)).then(|| hash.to_string())
        })
}

/// SHA-1 or SHA-256 object names.
fn is_object_id(text: &str) -> bool {
    (text.len() == 40 || text.len() == 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `url` of `[remote "origin"]`. Git config syntax is richer than this (includes, continuation
/// lines), but origin URLs are written by `git clone`/`git remote` in this simple form.
fn origin_url(common_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(common_dir.join("config")).ok()?;
    let mut in_origin = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let section = section.split(']').next().unwrap_or_default();
            in_origin = is_origin_section(section);
            continue;
        }
        if !in_origin {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("url") {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            return Some(value.to_string());
        }
    }
    None
}

/// `remote "origin"`, with the section name case-insensitive as git treats it.
fn is_origin_section(section: &str) -> bool {
    let mut parts = section.trim().splitn(2, char::is_whitespace);
    let name = parts.next().unwrap_or_default();
    let subsection = parts.next().unwrap_or_default().trim();
    name.eq_ignore_ascii_case("remote") && subsection == "\"origin\""
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba98";

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn repo(root: &Path) -> PathBuf {
        let git = root.join(".git");
        write(
            &git.join("config"),
            "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://example.com/up.git\n\
             [remote \"origin\"]\n\turl = git@github.com:me/project.git\n\
             \tfetch = +refs/heads/*:refs/remotes/origin/*\n",
        );
        git
    }

    #[tokio::test]
    async fn branch_with_loose_ref_from_a_subdirectory() {
        let dir = TempDir::new().unwrap();
        let git = repo(dir.path());
        write(&git.join("HEAD"), "ref: refs/heads/feature/x\n");
        write(&git.join("refs/heads/feature/x"), &format!("{COMMIT}\n"));
        // A stale packed entry must lose to the loose ref.
        write(
            &git.join("packed-refs"),
            &format!("# pack-refs with: peeled\n{OTHER} refs/heads/feature/x\n"),
        );
        let nested = dir.path().join("src/deep");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(
            collect_git_info(&nested).await,
            Some(GitInfo {
                commit_hash: Some(COMMIT.to_string()),
                branch: Some("feature/x".to_string()),
                repository_url: Some("git@github.com:me/project.git".to_string()),
            })
        );
    }

    #[tokio::test]
    async fn branch_resolved_from_packed_refs() {
        let dir = TempDir::new().unwrap();
        let git = repo(dir.path());
        write(&git.join("HEAD"), "ref: refs/heads/main\n");
        write(
            &git.join("packed-refs"),
            &format!(
                "# pack-refs with: peeled fully-peeled sorted\n{OTHER} refs/heads/dev\n\
                 {COMMIT} refs/heads/main\n^{OTHER}\n"
            ),
        );
        let info = collect_git_info(dir.path()).await.unwrap();
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert_eq!(info.commit_hash.as_deref(), Some(COMMIT));
    }

    #[tokio::test]
    async fn detached_head_has_commit_only() {
        let dir = TempDir::new().unwrap();
        let git = dir.path().join(".git");
        write(&git.join("HEAD"), &format!("{COMMIT}\n"));
        assert_eq!(
            collect_git_info(dir.path()).await,
            Some(GitInfo {
                commit_hash: Some(COMMIT.to_string()),
                branch: None,
                repository_url: None,
            })
        );
    }

    #[tokio::test]
    async fn unborn_branch_has_no_commit() {
        let dir = TempDir::new().unwrap();
        let git = repo(dir.path());
        write(&git.join("HEAD"), "ref: refs/heads/main\n");
        let info = collect_git_info(dir.path()).await.unwrap();
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert_eq!(info.commit_hash, None);
    }

    #[tokio::test]
    async fn worktree_reads_head_locally_and_refs_from_common_dir() {
        let dir = TempDir::new().unwrap();
        let main = dir.path().join("main");
        let git = repo(&main);
        write(&git.join("HEAD"), "ref: refs/heads/main\n");
        write(&git.join("refs/heads/wt"), &format!("{OTHER}\n"));
        let wt_git = git.join("worktrees/wt");
        write(&wt_git.join("HEAD"), "ref: refs/heads/wt\n");
        write(&wt_git.join("commondir"), "../..\n");
        let worktree = dir.path().join("wt");
        write(
            &worktree.join(".git"),
            "gitdir: ../main/.git/worktrees/wt\n",
        );

        assert_eq!(
            collect_git_info(&worktree).await,
            Some(GitInfo {
                commit_hash: Some(OTHER.to_string()),
                branch: Some("wt".to_string()),
                repository_url: Some("git@github.com:me/project.git".to_string()),
            })
        );
    }

    #[tokio::test]
    async fn outside_a_repository_is_none() {
        let dir = TempDir::new().unwrap();
        assert_eq!(collect_git_info(dir.path()).await, None);
        // A `.git` without a usable HEAD is not a repository either.
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        assert_eq!(collect_git_info(dir.path()).await, None);
    }

    #[test]
    fn origin_url_ignores_other_remotes_and_handles_quotes() {
        let dir = TempDir::new().unwrap();
        write(
            &dir.path().join("config"),
            "[remote \"origin-fork\"]\n url = wrong\n[Remote \"origin\"]\n ; comment\n URL = \"https://x/y.git\"\n",
        );
        assert_eq!(origin_url(dir.path()), Some("https://x/y.git".to_string()));
    }
}
