//! Checks parsed hunks against the file system and then writes them, as two separate steps.
//!
//! [`verify_patch`] reads every file and computes every new content without touching the disk,
//! so the caller can show the changes for approval and check each path it would write against
//! the sandbox policy first; only [`VerifiedPatch::apply`] writes, and only to the files that
//! were verified, without following links (`pinned_write.rs`).

use std::collections::HashMap;
use std::io;
use std::path::Component;
use std::path::Path;
use std::path::PathBuf;

use similar::TextDiff;

use crate::apply_patch::error::ApplyPatchError;
use crate::apply_patch::parser::Hunk;
use crate::apply_patch::parser::UpdateFileChunk;
use crate::apply_patch::pinned_write::FileId;
use crate::apply_patch::pinned_write::WriteResult;
use crate::apply_patch::pinned_write::WriteTarget;
use crate::apply_patch::seek_sequence::seek_sequence;
use crate::protocol::FileChange;

/// A patch whose hunks all apply to the files as they are now, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPatch {
    changes: Vec<VerifiedChange>,
}

/// One hunk, resolved against the working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VerifiedChange {
    /// The path as the patch wrote it, for the summary the model reads.
    written_path: PathBuf,
    /// The move destination as the patch wrote it.
    written_move_path: Option<PathBuf>,
    /// The absolute path the hunk names.
    path: PathBuf,
    change: FileChange,
    write: PlannedWrite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PlannedWrite {
    /// Create or overwrite `path` with these contents.
    Contents(WriteTarget, String),
    /// Remove `path`.
    Remove(WriteTarget),
    /// Write the contents to `destination`, then remove `path`.
    Move {
        source: WriteTarget,
        destination: PathBuf,
        at: WriteTarget,
        contents: String,
    },
}

impl VerifiedPatch {
    /// Every file the patch changes, in patch order, keyed by absolute path.
    pub fn changes(&self) -> Vec<(PathBuf, FileChange)> {
        self.changes
            .iter()
            .map(|change| (change.path.clone(), change.change.clone()))
            .collect()
    }

    /// Every absolute path that [`VerifiedPatch::apply`] would write or remove, move
    /// destinations included, each once, in patch order.
    pub fn touched_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = Vec::new();
        for change in &self.changes {
            let destination = match &change.write {
                PlannedWrite::Move { destination, .. } => Some(destination),
                PlannedWrite::Contents(..) | PlannedWrite::Remove(_) => None,
            };
            for path in std::iter::once(&change.path).chain(destination) {
                if !paths.contains(path) {
                    paths.push(path.clone());
                }
            }
        }
        paths
    }

    /// Writes the changes in patch order and returns the summary the model is shown.
    ///
    /// A failure part way leaves the earlier hunks written: the file system offers no
    /// transaction, and the error names the file that failed.
    pub fn apply(&self) -> Result<String, ApplyPatchError> {
        // What this patch's own earlier hunks left at each real location, so that a file added
        // and then updated by one patch is not mistaken for a file swapped behind its back.
        let mut written: HashMap<PathBuf, Option<FileId>> = HashMap::new();
        for change in &self.changes {
            write_change(change, &mut written)
                .map_err(|(action, path, err)| ApplyPatchError::io(action, path, err))?;
        }

        let mut added = String::new();
        let mut modified = String::new();
        let mut deleted = String::new();
        for change in &self.changes {
            match &change.change {
                FileChange::Add { .. } => {
                    added.push_str(&format!("A {}\n", change.written_path.display()));
                }
                FileChange::Update { .. } => {
                    let shown = change
                        .written_move_path
                        .as_ref()
                        .unwrap_or(&change.written_path);
                    modified.push_str(&format!("M {}\n", shown.display()));
                }
                FileChange::Delete { .. } => {
                    deleted.push_str(&format!("D {}\n", change.written_path.display()));
                }
            }
        }
        Ok(format!(
            "Success. Updated the following files:\n{added}{modified}{deleted}"
        ))
    }
}

/// Resolves the hunks against `cwd`, reads the files they touch and computes the result of
/// each, writing nothing.
///
/// Later hunks see the effect of earlier ones (a file added and then updated in one patch,
/// say), as they would when the patch is applied.
pub fn verify_patch(hunks: &[Hunk], cwd: &Path) -> Result<VerifiedPatch, ApplyPatchError> {
    let mut pending = PendingFiles::default();
    let mut changes = Vec::with_capacity(hunks.len());

    for hunk in hunks {
        let verified = match hunk {
            Hunk::AddFile { path, contents } => {
                let absolute = resolve(cwd, path);
                let target = locate(&absolute)?;
                pending.set(&absolute, Some(contents.clone()));
                VerifiedChange {
                    written_path: path.clone(),
                    written_move_path: None,
                    path: absolute,
                    change: FileChange::Add {
                        content: contents.clone(),
                    },
                    write: PlannedWrite::Contents(target, contents.clone()),
                }
            }
            Hunk::DeleteFile { path } => {
                let absolute = resolve(cwd, path);
                let target = locate_entry(&absolute)?;
                let content = pending.read(&absolute, "Failed to read file to delete")?;
                pending.set(&absolute, None);
                VerifiedChange {
                    written_path: path.clone(),
                    written_move_path: None,
                    path: absolute,
                    change: FileChange::Delete { content },
                    write: PlannedWrite::Remove(target),
                }
            }
            Hunk::UpdateFile {
                path,
                move_path,
                chunks,
            } => {
                let absolute = resolve(cwd, path);
                let target = locate(&absolute)?;
                // A move removes the entry it came from (a symlink itself, not its target).
                let source = locate_entry(&absolute)?;
                let original = pending.read(&absolute, "Failed to read file to update")?;
                let contents = apply_chunks(&original, &absolute, chunks)?;
                let unified_diff = TextDiff::from_lines(original.as_str(), contents.as_str())
                    .unified_diff()
                    .context_radius(1)
                    .to_string();
                let destination = move_path.as_ref().map(|dest| resolve(cwd, dest));
                let write = match &destination {
                    Some(destination) => {
                        pending.set(&absolute, None);
                        pending.set(destination, Some(contents.clone()));
                        PlannedWrite::Move {
                            source,
                            destination: destination.clone(),
                            at: locate(destination)?,
                            contents,
                        }
                    }
                    None => {
                        pending.set(&absolute, Some(contents.clone()));
                        PlannedWrite::Contents(target, contents)
                    }
                };
                VerifiedChange {
                    written_path: path.clone(),
                    written_move_path: move_path.clone(),
                    path: absolute,
                    change: FileChange::Update {
                        unified_diff,
                        move_path: destination,
                    },
                    write,
                }
            }
        };
        changes.push(verified);
    }

    Ok(VerifiedPatch { changes })
}

fn locate(path: &Path) -> Result<WriteTarget, ApplyPatchError> {
    WriteTarget::locate(path).map_err(|(action, path, err)| ApplyPatchError::io(action, path, err))
}

fn locate_entry(path: &Path) -> Result<WriteTarget, ApplyPatchError> {
    WriteTarget::locate_entry(path)
        .map_err(|(action, path, err)| ApplyPatchError::io(action, path, err))
}

/// File contents as earlier hunks of the patch leave them (`None`: deleted), over the disk.
#[derive(Default)]
struct PendingFiles {
    files: HashMap<PathBuf, Option<String>>,
}

impl PendingFiles {
    fn set(&mut self, path: &Path, contents: Option<String>) {
        self.files.insert(path.to_path_buf(), contents);
    }

    fn read(&self, path: &Path, action: &'static str) -> Result<String, ApplyPatchError> {
        match self.files.get(path) {
            Some(Some(contents)) => Ok(contents.clone()),
            Some(None) => Err(ApplyPatchError::io(
                action,
                path.to_path_buf(),
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "removed by an earlier hunk of this patch",
                ),
            )),
            None => std::fs::read_to_string(path)
                .map_err(|err| ApplyPatchError::io(action, path.to_path_buf(), err)),
        }
    }
}

/// `cwd.join(path)` with `.` and `..` resolved lexically, so that the paths handed to
/// safety checks say plainly where a write lands (`root/../etc` would otherwise pass a
/// `starts_with(root)` test).
fn resolve(cwd: &Path, path: &Path) -> PathBuf {
    let mut resolved = PathBuf::new();
    for component in cwd.join(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                // Above the root there is nowhere to go; `pop` leaves the root in place.
                resolved.pop();
            }
            Component::Prefix(_) | Component::RootDir | Component::Normal(_) => {
                resolved.push(component.as_os_str());
            }
        }
    }
    resolved
}

/// The contents of `original` after the chunks, in order, are applied.
fn apply_chunks(
    original: &str,
    path: &Path,
    chunks: &[UpdateFileChunk],
) -> Result<String, ApplyPatchError> {
    let mut lines: Vec<String> = original.split('\n').map(str::to_string).collect();
    // A trailing newline ends the last line; it does not start an empty one.
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }

    let mut replacements = compute_replacements(&lines, path, chunks)?;
    // Insertions at the end of the file may be found after later chunks; sort so that
    // splicing from the back keeps earlier indices valid. The sort is stable, so several
    // insertions at one point keep patch order.
    replacements.sort_by_key(|replacement| replacement.start);
    for replacement in replacements.into_iter().rev() {
        let end = replacement.start + replacement.old_len;
        lines.splice(replacement.start..end, replacement.new_lines);
    }

    let mut contents = lines.join("\n");
    if !contents.is_empty() {
        contents.push('\n');
    }
    Ok(contents)
}

/// Lines `start..start + old_len` become `new_lines`.
struct Replacement {
    start: usize,
    old_len: usize,
    new_lines: Vec<String>,
}

fn compute_replacements(
    lines: &[String],
    path: &Path,
    chunks: &[UpdateFileChunk],
) -> Result<Vec<Replacement>, ApplyPatchError> {
    let mut replacements = Vec::with_capacity(chunks.len());
    let mut cursor = 0;

    for chunk in chunks {
        if let Some(context) = &chunk.change_context {
            let found = seek_sequence(lines, std::slice::from_ref(context), cursor, false);
            let Some(index) = found else {
                return Err(ApplyPatchError::ContextNotFound {
                    context: context.clone(),
                    path: path.to_path_buf(),
                });
            };
            cursor = index + 1;
        }

        if chunk.old_lines.is_empty() {
            // Nothing to find: the added lines go at the end of the file.
            replacements.push(Replacement {
                start: lines.len(),
                old_len: 0,
                new_lines: chunk.new_lines.clone(),
            });
            continue;
        }

        let mut old: &[String] = &chunk.old_lines;
        let mut new: &[String] = &chunk.new_lines;
        let mut found = seek_sequence(lines, old, cursor, chunk.is_end_of_file);
        // A blank line at the end of a chunk is often the separator before the next `@@`
        // rather than a line of the file.
        if found.is_none()
            && let Some((last, rest)) = old.split_last()
            && last.is_empty()
        {
            old = rest;
            if new.last().is_some_and(String::is_empty) {
                new = &new[..new.len() - 1];
            }
            found = seek_sequence(lines, old, cursor, chunk.is_end_of_file);
        }

        let Some(start) = found else {
            return Err(ApplyPatchError::LinesNotFound {
                path: path.to_path_buf(),
                lines: chunk.old_lines.join("\n"),
            });
        };
        replacements.push(Replacement {
            start,
            old_len: old.len(),
            new_lines: new.to_vec(),
        });
        cursor = start + old.len();
    }

    Ok(replacements)
}

fn write_change(
    change: &VerifiedChange,
    written: &mut HashMap<PathBuf, Option<FileId>>,
) -> WriteResult<()> {
    let expected = |target: &WriteTarget, written: &HashMap<PathBuf, Option<FileId>>| {
        written
            .get(target.resolved())
            .copied()
            .unwrap_or(target.found())
    };
    match &change.write {
        PlannedWrite::Contents(target, contents) => {
            let id = target.write(expected(target, written), contents)?;
            written.insert(target.resolved().to_path_buf(), Some(id));
        }
        PlannedWrite::Remove(target) => {
            target.remove(expected(target, written), "Failed to delete file")?;
            written.insert(target.resolved().to_path_buf(), None);
        }
        PlannedWrite::Move {
            source,
            at,
            contents,
            ..
        } => {
            let id = at.write(expected(at, written), contents)?;
            written.insert(at.resolved().to_path_buf(), Some(id));
            if at.resolved() != source.resolved() {
                source.remove(expected(source, written), "Failed to remove original file")?;
                written.insert(source.resolved().to_path_buf(), None);
            }
        }
    }
    Ok(())
}
