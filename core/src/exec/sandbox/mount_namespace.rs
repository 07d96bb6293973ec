//! The namespaces of a sandboxed command: a private mount namespace in which everything
//! outside the writable roots is mounted read-only (and each root's `.git` too), and a PID
//! namespace of its own. Landlock confines writes of file contents but not of metadata
//! (chmod, chown, utimes, xattrs); a read-only mount stops those as well. Landlock's rights on
//! a directory reach everything below it, so `.git` inside a writable root also needs a mount.
//! Once Landlock is in force the command can no longer change mounts.

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

/// Enters new mount and PID namespaces (with a user namespace when not privileged), makes
/// everything but `writable` read-only and every one of `git_dirs` read-only. Each step is
/// best effort, so that a machine without user namespaces still gets Landlock and seccomp
/// (docs/sandbox.md says what is lost); the return value says whether every `.git` is
/// read-only, which the caller must otherwise ensure with Landlock.
pub(super) fn confine_mounts(writable: &[PathBuf], git_dirs: &[PathBuf]) -> bool {
    // The working directory keeps pointing into the mount it was entered on; it is entered
    // again by path once the mounts are in place, or it would stay on the read-only `/`.
    let Ok(here) = std::env::current_dir() else {
        return false;
    };
    if enter().is_err() {
        return false;
    }
    // Each root becomes a mount of its own first, so that making its ancestors read-only does
    // not reach it. If one cannot be, nothing else is made read-only: the command would lose
    // a root it was promised.
    if writable.iter().all(|root| bind_writable(root).is_ok()) {
        remount_others_read_only(writable);
    }
    let git_read_only = git_dirs.iter().all(|dir| bind_read_only(dir).is_ok());
    // Without it the command would write through the old, now read-only, view of its directory.
    git_read_only && std::env::set_current_dir(&here).is_ok()
}

/// Enters the namespaces; a PID namespace only where one can be had.
fn enter() -> Result<(), String> {
    // With CAP_SYS_ADMIN the namespaces alone will do. Without it, a user namespace of our
    // own grants that capability over the namespaces created with it.
    let pid_too = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID;
    if unshare(pid_too).is_err() && unshare(CloneFlags::CLONE_NEWNS).is_err() {
        let (uid, gid) = (getuid(), getgid());
        let user = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS;
        if unshare(user | CloneFlags::CLONE_NEWPID).is_err() {
            unshare(user).map_err(|err| format!("unshare: {err}"))?;
        }
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

/// Binds `root` onto itself, writable, without devices or set-uid programs: a device node in
/// the workspace must not open a device, even one created before the command started.
fn bind_writable(root: &Path) -> Result<(), String> {
    bind(root)?;
    remount(root, MsFlags::MS_NODEV | MsFlags::MS_NOSUID)
}

fn bind_read_only(dir: &Path) -> Result<(), String> {
    bind(dir)?;
    remount(dir, MsFlags::MS_RDONLY)
}

fn bind(dir: &Path) -> Result<(), String> {
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|err| format!("bind-mounting {}: {err}", dir.display()))
}

fn remount(dir: &Path, flags: MsFlags) -> Result<(), String> {
    // A remount inside a user namespace must keep the flags the kernel locked on the original
    // mount (nosuid, nodev, ...), or it is refused.
    let kept = statvfs(dir)
        .map(|stats| locked_flags(stats.flags()))
        .unwrap_or(MsFlags::empty());
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | kept,
        None::<&str>,
    )
    .map_err(|err| format!("remounting {}: {err}", dir.display()))
}

/// Remounts read-only every mount that is not a writable root or below one. A mount that
/// cannot be keeps Landlock's protection of its contents only.
fn remount_others_read_only(writable: &[PathBuf]) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for mount_point in mount_points(&mountinfo) {
        if writable.iter().any(|root| mount_point.starts_with(root)) {
            continue;
        }
        // A mount point hidden under another mount cannot be reached by its path; the path
        // reaches the mount on top, which is in the list too.
        let _ = remount(&mount_point, MsFlags::MS_RDONLY);
    }
}

/// The mount points of `/proc/self/mountinfo`, each once, parents first.
fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = Vec::new();
    for line in mountinfo.lines() {
        // Fields: id, parent id, major:minor, root, mount point, ...
        let Some(point) = line.split(' ').nth(4) else {
            continue;
        };
        let point = PathBuf::from(unescape(point));
        if !points.contains(&point) {
            points.push(point);
        }
    }
    points.sort_by_key(|point| point.components().count());
    points
}

/// mountinfo writes space, tab, newline and backslash as three octal digits after a backslash.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(octal) = field.get(i + 1..i + 4)
            && let Ok(byte) = u8::from_str_radix(octal, 8)
        {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Linux's `ST_RELATIME`: nix names it for glibc only, and the static (musl) builds need it too.
const ST_RELATIME: FsFlags = FsFlags::from_bits_retain(0x1000);

fn locked_flags(flags: FsFlags) -> MsFlags {
    [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(statvfs_flag, _)| flags.contains(*statvfs_flag))
    .fold(MsFlags::empty(), |acc, (_, mount_flag)| acc | mount_flag)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn mount_points_are_unescaped_deduplicated_and_parents_first() {
        let mountinfo = "\
25 1 0:23 / /proc rw,nosuid - proc proc rw
1 0 8:1 / / rw - ext4 /dev/sda1 rw
30 1 8:1 /x /work/my\\040dir rw - ext4 /dev/sda1 rw
31 30 0:40 / /work/my\\040dir rw - tmpfs tmpfs rw
";
        assert_eq!(
            mount_points(mountinfo),
            vec![
                PathBuf::from("/"),
                PathBuf::from("/proc"),
                PathBuf::from("/work/my dir"),
            ]
        );
    }
}
