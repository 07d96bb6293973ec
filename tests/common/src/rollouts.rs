//! The rollout files a server wrote under its `CODEX_HOME`, for tests that check what lasts.

use std::path::Path;
use std::path::PathBuf;

/// Every `.jsonl` file under `dir`, recursively, sorted.
pub fn rollout_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "jsonl") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
