//! Writing a patch's file on Windows, where there is no `openat`, `O_NOFOLLOW` or inode
//! number in stable Rust: just before each write the path is resolved again and must lead where
//! it led at verification, and the entry there must still be the verified file. The file is
//! written to a temporary name beside it and renamed over it, which replaces the directory
//! entry, never what a link points to. What is weaker than on Unix: the check and the write are
//! two steps by path, so a swap between them is not seen; a file is known by its creation time,
//! last write time and size rather than an inode; and hard links are not counted.

use std::fs::Metadata;
use std::io;
use std::io::Write as _;
use std::os::windows::fs::FileTypeExt as _;
use std::os::windows::fs::MetadataExt as _;
use std::path::Path;

use super::WriteResult;
use super::WriteTarget;
use super::temp_name;

/// Which file a directory entry is, as far as stable Rust can tell on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    created: u64,
    written: u64,
    size: u64,
    is_link: bool,
}

impl FileId {
    pub(super) fn of_metadata(meta: &Metadata) -> Self {
        Self {
            created: meta.creation_time(),
            written: meta.last_write_time(),
            size: meta.file_size(),
            is_link: meta.file_type().is_symlink(),
        }
    }
}

/// Windows' link count needs an API that stable Rust does not offer: every file counts as
/// having one name.
pub(crate) fn hard_link_count(resolved: &Path) -> Option<u64> {
    let meta = resolved.symlink_metadata().ok()?;
    meta.file_type().is_file().then_some(1)
}

impl WriteTarget {
    /// Replaces the file with `contents` (keeping its read-only attribute), provided the path
    /// still leads where it did and holds `expected`. Returns the new file's identity.
    pub(crate) fn write(&self, expected: Option<FileId>, contents: &str) -> WriteResult<FileId> {
        let (parent, name) = self.checked_parent(true)?;
        let existing = self.check_entry(expected)?;
        let temp = parent.join(temp_name(name));
        let written = (|| -> io::Result<FileId> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(contents.as_bytes())?;
            drop(file);
            if let Some(existing) = &existing {
                std::fs::set_permissions(&temp, existing.permissions())?;
            }
            std::fs::rename(&temp, &self.resolved)?;
            Ok(FileId::of_metadata(&self.resolved.symlink_metadata()?))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(|err| ("Failed to write file", self.resolved.clone(), err))
    }

    /// Removes the entry, provided it is still `expected`.
    pub(crate) fn remove(&self, expected: Option<FileId>, action: &'static str) -> WriteResult<()> {
        self.checked_parent(false)?;
        let existing = self.check_entry(expected)?;
        let removed = match existing {
            // A link to a directory is removed as a directory entry, not followed.
            Some(meta) if meta.file_type().is_symlink_dir() => std::fs::remove_dir(&self.resolved),
            _ => std::fs::remove_file(&self.resolved),
        };
        removed.map_err(|err| (action, self.resolved.clone(), err))
    }

    /// The entry's current metadata, if it is the `expected` file (or absent, as expected).
    fn check_entry(&self, expected: Option<FileId>) -> WriteResult<Option<Metadata>> {
        let now = match self.resolved.symlink_metadata() {
            Ok(meta) => Some(meta),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(("Failed to inspect", self.resolved.clone(), err)),
        };
        let is_link = now
            .as_ref()
            .is_some_and(|meta| meta.file_type().is_symlink());
        if (is_link && self.follow_last) || now.as_ref().map(FileId::of_metadata) != expected {
            return Err((
                "Refusing to write",
                self.named.clone(),
                io::Error::other(
                    "the file changed after the patch was verified; verify the patch again",
                ),
            ));
        }
        Ok(now)
    }
}
