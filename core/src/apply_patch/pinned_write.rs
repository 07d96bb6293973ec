//! Where a patch really writes, and writing there without following links: a symlink or a
//! hard link planted in the workspace must not carry a patch's write out of the writable
//! roots, and the file written must be the one that was verified and approved.
//!
//! [`resolve_links`] follows every symlink of a path, the last component included and dangling
//! links too, so a link to a file that does not exist yet is judged by where it points. At
//! write time [`WriteTarget`] checks that the path still resolves to the same place and that
//! the entry there is the same file (device and inode) as when it was verified, then writes a
//! temporary file in that directory and renames it over the entry. Neither step follows a link:
//! the directory is opened with `O_NOFOLLOW`, the temporary file is created with `O_EXCL` and
//! `O_NOFOLLOW`, and a rename replaces the directory entry, never what a link points to, nor
//! the other names of a hard-linked file.
//!
//! Windows has no `openat`: there (`pinned_write_windows.rs`) the checks are made by path just
//! before the write, and a file's identity is its creation time, last write time and size.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::ffi::OsString;
use std::io;
#[cfg(unix)]
use std::io::Write as _;
#[cfg(unix)]
use std::os::fd::OwnedFd;
#[cfg(unix)]
use std::os::unix::fs::MetadataExt as _;
use std::path::Component;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

#[cfg(unix)]
use nix::errno::Errno;
#[cfg(unix)]
use nix::fcntl::AtFlags;
#[cfg(unix)]
use nix::fcntl::OFlag;
#[cfg(unix)]
use nix::fcntl::open;
#[cfg(unix)]
use nix::fcntl::openat;
#[cfg(unix)]
use nix::fcntl::renameat;
#[cfg(unix)]
use nix::sys::stat::FileStat;
#[cfg(unix)]
use nix::sys::stat::Mode;
#[cfg(unix)]
use nix::sys::stat::SFlag;
#[cfg(unix)]
use nix::sys::stat::fchmod;
#[cfg(unix)]
use nix::sys::stat::fstat;
#[cfg(unix)]
use nix::sys::stat::fstatat;
#[cfg(unix)]
use nix::unistd::UnlinkatFlags;
#[cfg(unix)]
use nix::unistd::unlinkat;

// Where a write is made by path, for want of `openat` and friends.
#[cfg(windows)]
#[path = "pinned_write_windows.rs"]
mod windows;

/// As Linux's `MAXSYMLINKS`: more links than this in one path is a loop, or an attack.
const MAX_SYMLINKS: usize = 40;

/// The real location `path` names: `.` and `..` folded, and every symlink followed, the last
/// component's included, even when the link dangles. Components past the deepest existing
/// one are kept as written. `None` for a symlink loop or an unreadable link, which the caller
/// treats as a place it cannot vouch for.
pub(crate) fn resolve_links(path: &Path) -> Option<PathBuf> {
    let mut todo: VecDeque<OsString> = VecDeque::new();
    let mut existing = PathBuf::new();
    push_components(path, &mut existing, &mut todo, false);
    // `existing` stays symlink-free, so `..` on it is a plain pop.
    let mut missing: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        if part == "." {
            continue;
        }
        if part == ".." {
            if missing.pop().is_none() {
                existing.pop();
            }
            continue;
        }
        if !missing.is_empty() {
            missing.push(part);
            continue;
        }
        let candidate = existing.join(&part);
        match candidate.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return None;
                }
                let target = std::fs::read_link(&candidate).ok()?;
                push_components(&target, &mut existing, &mut todo, true);
            }
            Ok(_) => existing = candidate,
            Err(_) => missing.push(part),
        }
    }
    Some(missing.iter().fold(existing, |acc, part| acc.join(part)))
}

/// Queues the components of `path` (at the front when `front`, for a link's target, which is
/// resolved before what followed the link); an absolute path restarts from `/`.
fn push_components(
    path: &Path,
    existing: &mut PathBuf,
    todo: &mut VecDeque<OsString>,
    front: bool,
) {
    let mut parts: Vec<OsString> = Vec::new();
    let mut prefixed = false;
    for component in path.components() {
        match component {
            // A Windows drive or share: the root that follows is its root.
            Component::Prefix(prefix) => {
                *existing = PathBuf::from(prefix.as_os_str());
                prefixed = true;
            }
            Component::RootDir if prefixed => existing.push(Component::RootDir),
            // Without a drive, a Windows root is the current drive's (there, `existing` is
            // never empty of one): keep it.
            Component::RootDir => match existing.components().next() {
                Some(Component::Prefix(prefix)) if cfg!(windows) => {
                    *existing = PathBuf::from(prefix.as_os_str());
                    existing.push(Component::RootDir);
                }
                _ => *existing = PathBuf::from("/"),
            },
            Component::CurDir => {}
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::Normal(name) => parts.push(name.to_owned()),
        }
    }
    if front {
        for part in parts.into_iter().rev() {
            todo.push_front(part);
        }
    } else {
        todo.extend(parts);
    }
}

/// Which file a directory entry is, so that a swap between verification and writing shows.
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
impl FileId {
    // `st_dev` is a `u64` on Linux and an `i32` on macOS; `Metadata::dev` widens it the same
    // way, so both sources agree.
    #[allow(clippy::unnecessary_cast)]
    fn of(stat: &FileStat) -> Self {
        Self {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
        }
    }

    fn of_metadata(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

#[cfg(windows)]
pub(crate) use windows::FileId;

/// The number of names (hard links) of the regular file at the real location `resolved`, if
/// there is one.
#[cfg(unix)]
pub(crate) fn hard_link_count(resolved: &Path) -> Option<u64> {
    let meta = resolved.symlink_metadata().ok()?;
    meta.file_type().is_file().then(|| meta.nlink())
}

#[cfg(windows)]
pub(crate) use windows::hard_link_count;

/// One path a patch writes or removes, pinned at verification: where it resolved to and which
/// file was there (`None`: nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriteTarget {
    /// The path as the patch named it (absolute, `..` folded).
    named: PathBuf,
    /// Whether a symlink as the last component is followed (to write the file it points to) or
    /// is itself the entry (to remove the link, not its target).
    follow_last: bool,
    /// Where it resolved to when verified.
    resolved: PathBuf,
    found: Option<FileId>,
}

/// Why a write was refused or failed, with the path it concerns.
pub(crate) type WriteResult<T> = Result<T, (&'static str, PathBuf, io::Error)>;

impl WriteTarget {
    /// Resolves `named` now, its last component included, and records the file found there:
    /// the target of a write.
    pub(crate) fn locate(named: &Path) -> WriteResult<Self> {
        Self::locate_as(named, true)
    }

    /// Resolves the directory of `named` now and records the entry found there, a symlink
    /// being the entry itself: the target of a removal, which removes a link, not what it
    /// points to.
    pub(crate) fn locate_entry(named: &Path) -> WriteResult<Self> {
        Self::locate_as(named, false)
    }

    fn locate_as(named: &Path, follow_last: bool) -> WriteResult<Self> {
        let resolved = resolve_as(named, follow_last).ok_or_else(|| {
            (
                "Failed to resolve",
                named.to_path_buf(),
                io::Error::other("too many levels of symbolic links"),
            )
        })?;
        let found = resolved
            .symlink_metadata()
            .ok()
            .map(|meta| FileId::of_metadata(&meta));
        Ok(Self {
            named: named.to_path_buf(),
            follow_last,
            resolved,
            found,
        })
    }

    /// The real location, for comparing with what an earlier write of the same patch left.
    pub(crate) fn resolved(&self) -> &Path {
        &self.resolved
    }

    /// The file verified at this target.
    pub(crate) fn found(&self) -> Option<FileId> {
        self.found
    }

    /// The directory the entry lives in and its name, after checking that the named path
    /// still resolves to the verified place; with `create`, makes the missing directories first.
    fn checked_parent(&self, create: bool) -> WriteResult<(&Path, &OsStr)> {
        let changed = |what: &str| {
            (
                "Refusing to write",
                self.named.clone(),
                io::Error::other(format!(
                    "{what} changed after the patch was verified; verify the patch again"
                )),
            )
        };
        if resolve_as(&self.named, self.follow_last).as_deref() != Some(self.resolved.as_path()) {
            return Err(changed("where the path leads"));
        }
        let (Some(parent), Some(name)) = (self.resolved.parent(), self.resolved.file_name()) else {
            return Err((
                "Failed to write file",
                self.named.clone(),
                io::Error::other("not a file path"),
            ));
        };
        if create {
            std::fs::create_dir_all(parent).map_err(|err| {
                (
                    "Failed to create parent directories for",
                    self.named.clone(),
                    err,
                )
            })?;
            // `create_dir_all` follows links; the directory it left must still be the
            // link-free place that was verified.
            if resolve_links(parent).as_deref() != Some(parent) {
                return Err(changed("a parent directory"));
            }
        }
        Ok((parent, name))
    }
}

#[cfg(unix)]
impl WriteTarget {
    /// Replaces the file with `contents` (keeping its permissions), provided the path still
    /// leads where it did and holds `expected` (the verified file, or what an earlier hunk of
    /// this patch wrote). Returns the new file's identity.
    pub(crate) fn write(&self, expected: Option<FileId>, contents: &str) -> WriteResult<FileId> {
        let (dir, name) = self.open_parent(true)?;
        let existing = self.check_entry(&dir, name, expected)?;
        let mode = existing.map_or(Mode::from_bits_truncate(0o666), |stat| {
            Mode::from_bits_truncate(stat.st_mode & 0o7777)
        });
        let temp = temp_name(name);
        let fd = openat(
            &dir,
            temp.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            mode,
        )
        .map_err(|errno| ("Failed to write file", self.resolved.clone(), errno.into()))?;
        let written = (|| -> io::Result<FileId> {
            if existing.is_some() {
                // The umask applied at creation; an existing file keeps its exact mode.
                fchmod(&fd, mode)?;
            }
            let id = FileId::of(&fstat(&fd)?);
            std::fs::File::from(fd).write_all(contents.as_bytes())?;
            renameat(&dir, temp.as_os_str(), &dir, name)?;
            Ok(id)
        })();
        if written.is_err() {
            let _ = unlinkat(&dir, temp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
        written.map_err(|err| ("Failed to write file", self.resolved.clone(), err))
    }

    /// Removes the entry, provided it is still `expected`.
    pub(crate) fn remove(&self, expected: Option<FileId>, action: &'static str) -> WriteResult<()> {
        let (dir, name) = self.open_parent(false)?;
        self.check_entry(&dir, name, expected)?;
        unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)
            .map_err(|errno| (action, self.resolved.clone(), io::Error::from(errno)))
    }

    /// Opens the directory the entry lives in, after [`Self::checked_parent`].
    fn open_parent(&self, create: bool) -> WriteResult<(OwnedFd, &OsStr)> {
        let (parent, name) = self.checked_parent(create)?;
        let dir = open(
            parent,
            OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .map_err(|errno| {
            (
                "Failed to open the directory of",
                self.named.clone(),
                io::Error::from(errno),
            )
        })?;
        Ok((dir, name))
    }

    /// The entry's current status, if it is the `expected` file (or absent, as expected).
    fn check_entry(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        expected: Option<FileId>,
    ) -> WriteResult<Option<FileStat>> {
        let now = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => Some(stat),
            Err(Errno::ENOENT) => None,
            Err(errno) => {
                return Err((
                    "Failed to inspect",
                    self.resolved.clone(),
                    io::Error::from(errno),
                ));
            }
        };
        // A write target was resolved through every link, so a link there now is new. A removal
        // target may be a link: the same one, as its identity shows.
        let is_link = now.as_ref().is_some_and(|stat| {
            SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK
        });
        if (is_link && self.follow_last) || now.as_ref().map(FileId::of) != expected {
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

/// Where `named` resolves to, following a symlink as its last component or not.
fn resolve_as(named: &Path, follow_last: bool) -> Option<PathBuf> {
    if follow_last {
        return resolve_links(named);
    }
    match (named.parent(), named.file_name()) {
        (Some(parent), Some(name)) => resolve_links(parent).map(|parent| parent.join(name)),
        _ => resolve_links(named),
    }
}

/// A name for the temporary file, unique in this process and hidden beside the target.
fn temp_name(name: &OsStr) -> OsString {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(
        ".codex-patch-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    temp
}

#[cfg(test)]
// Symlinks and hard links as Unix makes them.
#[cfg(unix)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;

    fn dir() -> (TempDir, PathBuf) {
        let dir = TempDir::new().unwrap();
        let path = dir.path().canonicalize().unwrap();
        (dir, path)
    }

    #[test]
    fn the_last_component_is_followed_even_when_the_link_dangles() {
        let (_d, root) = dir();
        let (_o, outside) = dir();
        std::os::unix::fs::symlink(outside.join("x"), root.join("innocent.txt")).unwrap();
        std::os::unix::fs::symlink("innocent.txt", root.join("relative.txt")).unwrap();
        assert_eq!(
            resolve_links(&root.join("innocent.txt")),
            Some(outside.join("x"))
        );
        assert_eq!(
            resolve_links(&root.join("relative.txt")),
            Some(outside.join("x"))
        );
        assert_eq!(
            resolve_links(&root.join("new/../a/b")),
            Some(root.join("a/b"))
        );
    }

    #[test]
    fn a_symlink_loop_resolves_to_nothing() {
        let (_d, root) = dir();
        std::os::unix::fs::symlink("b", root.join("a")).unwrap();
        std::os::unix::fs::symlink("a", root.join("b")).unwrap();
        assert_eq!(resolve_links(&root.join("a")), None);
    }

    #[test]
    fn writing_replaces_a_hard_link_without_touching_its_other_name() {
        let (_d, root) = dir();
        let (_o, outside) = dir();
        std::fs::write(outside.join("shared"), "old\n").unwrap();
        std::fs::hard_link(outside.join("shared"), root.join("linked")).unwrap();
        assert_eq!(hard_link_count(&root.join("linked")), Some(2));
        let target = WriteTarget::locate(&root.join("linked")).unwrap();
        target.write(target.found(), "new\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("linked")).unwrap(),
            "new\n"
        );
        assert_eq!(
            std::fs::read_to_string(outside.join("shared")).unwrap(),
            "old\n"
        );
    }

    #[test]
    fn a_link_planted_after_verification_is_refused() {
        let (_d, root) = dir();
        let (_o, outside) = dir();
        let target = WriteTarget::locate(&root.join("new.txt")).unwrap();
        std::os::unix::fs::symlink(outside.join("x"), root.join("new.txt")).unwrap();
        let (action, _, err) = target.write(target.found(), "x").unwrap_err();
        assert_eq!(action, "Refusing to write");
        assert!(err.to_string().contains("changed after the patch"), "{err}");
        assert!(!outside.join("x").exists());

        // A file swapped for another between verification and writing is refused too.
        std::fs::write(root.join("swapped"), "a").unwrap();
        let target = WriteTarget::locate(&root.join("swapped")).unwrap();
        // Made while the first still exists, so it cannot reuse its inode number.
        std::fs::write(root.join("other"), "b").unwrap();
        std::fs::rename(root.join("other"), root.join("swapped")).unwrap();
        assert!(target.write(target.found(), "x").is_err());
        assert!(
            target
                .remove(target.found(), "Failed to delete file")
                .is_err()
        );
        assert_eq!(std::fs::read_to_string(root.join("swapped")).unwrap(), "b");
    }

    #[test]
    fn removing_a_symlink_removes_the_link_not_its_target() {
        let (_d, root) = dir();
        std::fs::write(root.join("real"), "kept").unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        let target = WriteTarget::locate_entry(&root.join("link")).unwrap();
        target
            .remove(target.found(), "Failed to delete file")
            .unwrap();
        assert!(root.join("link").symlink_metadata().is_err());
        assert_eq!(std::fs::read_to_string(root.join("real")).unwrap(), "kept");
    }

    #[test]
    fn an_update_keeps_the_files_permissions() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_d, root) = dir();
        let file = root.join("script.sh");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o750)).unwrap();
        let target = WriteTarget::locate(&file).unwrap();
        target.write(target.found(), "new").unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777,
            0o750
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
    }
}
