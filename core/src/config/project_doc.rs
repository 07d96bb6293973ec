//! AGENTS.md discovery: the user's global instructions and the project's, git root to cwd.

use std::path::Path;
use std::path::PathBuf;

const AGENTS_MD: &str = "AGENTS.md";
const PROJECT_DOC_SEPARATOR: &str = "\n\n--- project-doc ---\n\n";

/// `$CODEX_HOME/AGENTS.md`, then the project docs, or `None` when there are neither.
/// Unreadable files are skipped: instructions are a courtesy, not a reason to fail a turn.
pub(crate) fn user_instructions(codex_home: &Path, cwd: &Path, max_bytes: usize) -> Option<String> {
    let global = read_trimmed(&codex_home.join(AGENTS_MD));
    let project = project_docs(cwd, max_bytes);
    match (global, project) {
        (None, None) => None,
        (Some(global), None) => Some(global),
        (None, Some(project)) => Some(project),
        (Some(global), Some(project)) => Some(format!("{global}{PROJECT_DOC_SEPARATOR}{project}")),
    }
}

/// The AGENTS.md files from the git root (or the cwd alone outside a repository) down to the
/// cwd, joined by blank lines and cut at `max_bytes` (0 disables them).
fn project_docs(cwd: &Path, max_bytes: usize) -> Option<String> {
    if max_bytes == 0 {
        return None;
    }
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let dirs = search_dirs(&cwd);
    let mut joined = String::new();
    for dir in dirs {
        let Some(text) = read_trimmed(&dir.join(AGENTS_MD)) else {
            continue;
        };
        if !joined.is_empty() {
            joined.push_str("\n\n");
        }
        joined.push_str(&text);
        if joined.len() >= max_bytes {
            break;
        }
    }
    if joined.len() > max_bytes {
        let mut cut = max_bytes;
        while !joined.is_char_boundary(cut) {
            cut -= 1;
        }
        joined.truncate(cut);
    }
    (!joined.is_empty()).then_some(joined)
}

/// Root-first list of directories from the enclosing git root to `cwd`.
fn search_dirs(cwd: &Path) -> Vec<PathBuf> {
    let git_root = cwd
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf);
    match git_root {
        None => vec![cwd.to_path_buf()],
        Some(root) => {
            let mut dirs: Vec<PathBuf> = cwd
                .ancestors()
                .take_while(|dir| dir.starts_with(&root))
                .map(Path::to_path_buf)
                .collect();
            dirs.reverse();
            dirs
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    #[test]
    fn docs_are_joined_from_git_root_to_cwd() {
        let repo = TempDir::new().unwrap();
        let root = repo.path().canonicalize().unwrap();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join(AGENTS_MD), "root doc\n").unwrap();
        std::fs::write(root.join("a/b").join(AGENTS_MD), "leaf doc").unwrap();
        let home = TempDir::new().unwrap();
        std::fs::write(home.path().join(AGENTS_MD), "global").unwrap();

        assert_eq!(
            user_instructions(home.path(), &root.join("a/b"), 1024).as_deref(),
            Some("global\n\n--- project-doc ---\n\nroot doc\n\nleaf doc")
        );
        assert_eq!(
            project_docs(&root.join("a/b"), 6).as_deref(),
            Some("root d")
        );
        assert_eq!(project_docs(&root.join("a/b"), 0), None);
    }

    #[test]
    fn outside_a_repository_only_the_cwd_counts() {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join(AGENTS_MD), "parent").unwrap();
        assert_eq!(project_docs(&dir.path().join("sub"), 1024), None);
    }
}
