//! The one error type of the `apply_patch` tool, so that every failure reaches the model as a
//! message it can act on (which line is malformed, which file or lines could not be found).

use std::io;
use std::path::PathBuf;

/// Why a patch could not be parsed, checked against the files, or written.
#[derive(Debug, thiserror::Error)]
pub enum ApplyPatchError {
    /// The patch as a whole is malformed (for instance its envelope is missing).
    #[error("{0}")]
    InvalidPatch(String),

    /// One hunk of the patch is malformed; `line_number` is 1-based within the patch text.
    #[error("invalid hunk at line {line_number}, {message}")]
    InvalidHunk { message: String, line_number: usize },

    /// An `@@ <context>` line of an update chunk matches no line of the file.
    #[error("Failed to find context '{context}' in {path}", path = .path.display())]
    ContextNotFound { context: String, path: PathBuf },

    /// The lines an update chunk removes or keeps are not in the file.
    #[error("Failed to find expected lines in {path}:\n{lines}", path = .path.display())]
    LinesNotFound { path: PathBuf, lines: String },

    /// A file could not be read, written or removed; `action` says what was being done.
    #[error("{action} {path}: {source}", path = .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ApplyPatchError {
    pub(crate) fn io(action: &'static str, path: PathBuf, source: io::Error) -> Self {
        Self::Io {
            action,
            path,
            source,
        }
    }
}
