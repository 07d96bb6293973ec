//! The diff of everything a turn changed by patch: each file's content before the turn's
//! first change to it, against what is on disk when the turn ends.

use std::collections::BTreeMap;
use std::path::PathBuf;

use similar::TextDiff;

/// Plain data: the file reads happen outside it (see `TurnContext::record_patch_originals`),
/// and the diff is computed on a copy, off the async workers.
#[derive(Default, Clone)]
pub(crate) struct TurnDiffTracker {
    /// Content before the turn first touched the file; `None` when it did not exist.
    originals: BTreeMap<PathBuf, Option<String>>,
}

impl TurnDiffTracker {
    /// Remembers the current content of `paths` not seen yet in this turn (reads files).
    #[cfg(test)]
    pub(crate) fn record(&mut self, paths: Vec<PathBuf>) {
        let unseen = self.unseen(paths);
        self.insert_originals(read_originals(unseen));
    }

    /// The paths among `paths` whose original content is not known yet.
    pub(crate) fn unseen(&self, paths: Vec<PathBuf>) -> Vec<PathBuf> {
        paths
            .into_iter()
            .filter(|path| !self.originals.contains_key(path))
            .collect()
    }

    /// Keeps contents read by [`read_originals`]; a path already known keeps its first.
    pub(crate) fn insert_originals(&mut self, originals: Vec<(PathBuf, Option<String>)>) {
        for (path, content) in originals {
            self.originals.entry(path).or_insert(content);
        }
    }

    /// One unified diff over every changed file, or `None` when nothing differs (reads files).
    pub(crate) fn unified_diff(&self) -> Option<String> {
        let mut diff = String::new();
        for (path, before) in &self.originals {
            let after = std::fs::read_to_string(path).ok();
            if before == &after {
                continue;
            }
            let name = path.display().to_string();
            let (old_header, new_header) = match (before, &after) {
                (None, _) => ("/dev/null".to_string(), format!("b/{name}")),
                (_, None) => (format!("a/{name}"), "/dev/null".to_string()),
                _ => (format!("a/{name}"), format!("b/{name}")),
            };
            let old = before.as_deref().unwrap_or_default();
            let new = after.as_deref().unwrap_or_default();
            diff.push_str(
                &TextDiff::from_lines(old, new)
                    .unified_diff()
                    .context_radius(3)
                    .header(&old_header, &new_header)
                    .to_string(),
            );
        }
        (!diff.is_empty()).then_some(diff)
    }
}

/// The current content of each of `paths` (`None` where there is no file): blocking reads.
pub(crate) fn read_originals(paths: Vec<PathBuf>) -> Vec<(PathBuf, Option<String>)> {
    paths
        .into_iter()
        .map(|path| {
            let content = std::fs::read_to_string(&path).ok();
            (path, content)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    #[test]
    fn covers_added_and_updated_files() {
        let dir = TempDir::new().unwrap();
        let old = dir.path().join("old.txt");
        let new = dir.path().join("new.txt");
        std::fs::write(&old, "one\n").unwrap();
        let mut tracker = TurnDiffTracker::default();
        tracker.record(vec![old.clone(), new.clone()]);
        std::fs::write(&old, "two\n").unwrap();
        std::fs::write(&new, "fresh\n").unwrap();
        assert_eq!(
            tracker.unified_diff().unwrap(),
            format!(
                "--- /dev/null\n+++ b/{new}\n@@ -0,0 +1 @@\n+fresh\n--- a/{old}\n+++ b/{old}\n@@ -1 +1 @@\n-one\n+two\n",
                new = new.display(),
                old = old.display()
            )
        );
    }
}
