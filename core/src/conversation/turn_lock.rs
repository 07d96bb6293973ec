//! One turn at a time per thread across every server process that shares a `CODEX_HOME`.
//!
//! In one process, [`CodexConversation::start_turn`](crate::CodexConversation::start_turn)
//! refuses a second turn. Two processes (two hosts on one home) know nothing of each other, so
//! a turn also takes an exclusive `flock` on `$CODEX_HOME/locks/<thread id>.lock` for its whole
//! run, and writes its pid there so that the one refused can say who holds it. The lock is a
//! file descriptor held only while a turn runs: an idle conversation holds none. Windows has no
//! `flock`; there the file is opened with no sharing at all, which refuses every other open
//! until the handle closes (so the one refused cannot read who holds it).
//!
//! The same lock keeps a process from continuing a thread from a stale memory: under it, the
//! rollout's length is compared with the length this process last left it at. If another
//! process has written since, the conversation must be loaded again from the file.

use std::fs::File;
use std::fs::OpenOptions;
use std::io;
#[cfg(unix)]
use std::io::Read as _;
use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;

#[cfg(unix)]
use nix::errno::Errno;
#[cfg(unix)]
use nix::fcntl::Flock;
#[cfg(unix)]
use nix::fcntl::FlockArg;

/// The directory under `$CODEX_HOME`.
const LOCKS_DIR: &str = "locks";

/// Held for a turn's whole run; dropping it lets another process take the thread.
#[derive(Debug)]
pub(crate) struct TurnLock {
    _lock: Held,
}

/// The lock file, held: locked with `flock`, or open unshared on Windows.
#[cfg(unix)]
type Held = Flock<File>;
#[cfg(windows)]
type Held = File;

/// What trying the lock found.
#[derive(Debug)]
pub(crate) enum Acquired {
    /// The lock, and the rollout's length as found under it.
    Locked { lock: TurnLock, rollout_len: u64 },
    /// Another process runs a turn of this thread (its pid, if it wrote one).
    HeldBy(Option<u32>),
}

pub(crate) fn lock_path(codex_home: &Path, thread: &str) -> PathBuf {
    codex_home.join(LOCKS_DIR).join(format!("{thread}.lock"))
}

/// Takes the lock without waiting, off the async workers.
pub(crate) async fn acquire(lock_path: PathBuf, rollout: PathBuf) -> io::Result<Acquired> {
    tokio::task::spawn_blocking(move || acquire_blocking(&lock_path, &rollout))
        .await
        .unwrap_or_else(|join| Err(io::Error::other(join)))
}

#[cfg(unix)]
fn acquire_blocking(lock_path: &Path, rollout: &Path) -> io::Result<Acquired> {
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)?;
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Ok(Acquired::HeldBy(pid.trim().parse().ok()));
        }
        Err((_, errno)) => return Err(io::Error::from(errno)),
    };
    locked(lock, rollout)
}

#[cfg(windows)]
fn acquire_blocking(lock_path: &Path, rollout: &Path) -> io::Result<Acquired> {
    use std::os::windows::fs::OpenOptionsExt as _;
    /// `ERROR_SHARING_VIOLATION`: another handle has the file open without sharing it.
    const SHARING_VIOLATION: i32 = 32;
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .share_mode(0)
        .open(lock_path)
    {
        Ok(file) => file,
        Err(err) if err.raw_os_error() == Some(SHARING_VIOLATION) => {
            return Ok(Acquired::HeldBy(None));
        }
        Err(err) => return Err(err),
    };
    locked(lock, rollout)
}

/// Records our pid in the lock just taken and reads the rollout's length under it.
fn locked(mut lock: Held, rollout: &Path) -> io::Result<Acquired> {
    lock.set_len(0)?;
    write!(lock, "{}", std::process::id())?;
    let rollout_len = std::fs::metadata(rollout)?.len();
    Ok(Acquired::Locked {
        lock: TurnLock { _lock: lock },
        rollout_len,
    })
}

/// The rollout's length now, off the async workers; `None` if it cannot be read.
pub(crate) async fn rollout_len(rollout: PathBuf) -> Option<u64> {
    tokio::task::spawn_blocking(move || std::fs::metadata(rollout).map(|meta| meta.len()))
        .await
        .ok()?
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_is_refused_and_told_who_holds_it() {
        let home = tempfile::TempDir::new().unwrap();
        let rollout = home.path().join("rollout.jsonl");
        std::fs::write(&rollout, "{}\n").unwrap();
        let path = lock_path(home.path(), "thread");
        let first = acquire(path.clone(), rollout.clone()).await.unwrap();
        let Acquired::Locked { lock, rollout_len } = first else {
            panic!("the first acquire must lock: {first:?}");
        };
        assert_eq!(rollout_len, 3);
        // flock is per open file description: a second open in this process contends just
        // as another process would.
        let second = acquire(path.clone(), rollout.clone()).await.unwrap();
        // Windows refuses the holder's file to everyone else, so there no pid can be read.
        let holder = if cfg!(windows) {
            None
        } else {
            Some(std::process::id())
        };
        assert!(
            matches!(second, Acquired::HeldBy(pid) if pid == holder),
            "{second:?}"
        );
        drop(lock);
        assert!(matches!(
            acquire(path, rollout).await.unwrap(),
            Acquired::Locked { .. }
        ));
    }
}
