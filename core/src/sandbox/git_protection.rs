//! Keeps `.git` at the top of a writable root read-only for a sandboxed command: a private
//! mount namespace in which each such `.git` is bind-mounted read-only onto itself. Landlock
//! cannot express this, because its rights on a directory reach everything below it; a
//! read-only mount can, and once Landlock is in force the command cannot unmount it.

use std::path::Path;
use std::path::PathBuf;

use nix::mount::MsFlags;
use nix::mount::mount;
use nix::sched::CloneFlags;
use nix::sched::unshare;
use nix::sys::statvfs::FsFlags;
use nix::sys::statvfs::statvfs;
use nix::unistd::getgid;
use nix::unistd::getuid;

/// Makes every one of `dirs` read-only for this process and what it starts. Returns false if
/// that could not be done for all of them (no mount namespace available, as for an
/// unprivileged user where user namespaces are disabled), and the caller must protect them
/// some other way.
pub(super) fn bind_read_only(dirs: &[PathBuf]) -> bool {
    if enter_mount_namespace().is_err() {
        return false;
    }
    dirs.iter().all(|dir| bind_one(dir).is_ok())
}

fn enter_mount_namespace() -> Result<(), String> {
    // With CAP_SYS_ADMIN a mount namespace alone will do. Without it, a user namespace of our
    // own grants that capability over the mount namespace created with it.
    if unshare(CloneFlags::CLONE_NEWNS).is_err() {
        let (uid, gid) = (getuid(), getgid());
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
            .map_err(|err| format!("unshare: {err}"))?;
        // Map our ids to themselves, so that files keep their owners as far as the command
        // can tell, and it stays the same unprivileged user once it is exec'd.
        let write = |file: &str, text: String| {
            std::fs::write(file, text).map_err(|err| format!("{file}: {err}"))
        };
        write("/proc/self/setgroups", "deny".to_string())?;
        write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
        write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    }
    // A slave copy: mounts made here must not propagate back to the rest of the system.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|err| format!("making / a slave mount: {err}"))
}

fn bind_one(dir: &Path) -> Result<(), String> {
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|err| format!("bind-mounting {}: {err}", dir.display()))?;
    // A remount inside a user namespace must keep the flags the kernel locked on the original
    // mount (nosuid, nodev, ...), or it is refused.
    let kept = statvfs(dir)
        .map(|stats| locked_flags(stats.flags()))
        .unwrap_or(MsFlags::empty());
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept,
        None::<&str>,
    )
    .map_err(|err| format!("remounting {} read-only: {err}", dir.display()))
}

fn locked_flags(flags: FsFlags) -> MsFlags {
    [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(statvfs_flag, _)| flags.contains(*statvfs_flag))
    .fold(MsFlags::empty(), |acc, (_, mount_flag)| acc | mount_flag)
}
