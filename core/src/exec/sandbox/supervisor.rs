//! The last step of `codex sandbox-exec`: instead of becoming the command, the confined helper
//! starts it as a child (the first process of its PID namespace, when it has one) and stays to
//! tie its life to the server's. The helper learns of the server's death twice over: it asks the
//! kernel for SIGTERM when its parent dies (a parent-death signal, which is tied to the thread
//! that spawned it), and it watches a pidfd of the server, which becomes readable when the whole
//! process has exited. Either way it kills the command, and with it the PID namespace, whose
//! processes all die with its first one, and then its own process group: a command cannot
//! outlive a killed server by staying in the group or by leaving it (`setsid`).

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Child;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::SigSet;
use nix::sys::signal::Signal;
use nix::sys::signal::kill;
use nix::sys::signal::killpg;
use nix::sys::signalfd::SfdFlags;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;
use nix::unistd::getpgrp;
use nix::unistd::getpid;
use nix::unistd::getppid;
use rustix::event::PollFd;
use rustix::event::PollFlags;
use rustix::event::poll;
use rustix::process::PidfdFlags;
use rustix::process::pidfd_open;

use super::SandboxExecError;

/// The exit code of a helper that killed its command, as if SIGKILL had ended it.
const KILLED: i32 = 128 + Signal::SIGKILL as i32;

/// Runs `program` with `args` to its end and returns the exit code to leave with: the
/// command's own, or 128 + the signal that killed it, as a shell reports it. `parent` is the
/// parent this process had when it started; if it is already gone, nothing is started.
pub(super) fn supervise(
    program: &OsString,
    args: &[OsString],
    parent: Pid,
) -> Result<i32, SandboxExecError> {
    let err = |what: &'static str| {
        move |errno: Errno| SandboxExecError::Supervise(format!("{what}: {errno}"))
    };
    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        signals.add(signal);
    }
    // Blocked and read from a signalfd, so that none is lost between the checks below and the
    // wait. The child starts with an empty mask: std resets it before exec.
    signals.thread_block().map_err(err("blocking signals"))?;
    let signal_fd =
        SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC).map_err(err("signalfd"))?;
    prctl::set_pdeathsig(Signal::SIGTERM).map_err(err("setting the parent-death signal"))?;
    // Opened before the check below, so that it cannot name another process that reused the
    // pid. A kernel without pidfds (before 5.3) leaves the parent-death signal alone on watch.
    let server = watch(parent);
    // The server may have died before the parent-death signal was asked for.
    if getppid() != parent {
        return Err(SandboxExecError::Supervise(
            "the server exited before the command started".to_string(),
        ));
    }
    let mut child = std::process::Command::new(program)
        .args(args)
        .spawn()
        .map_err(|source| SandboxExecError::Exec {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    loop {
        let mut fds = vec![PollFd::new(&signal_fd, PollFlags::IN)];
        if let Some(server) = &server {
            fds.push(PollFd::new(server, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(errno) => {
                stop(&child);
                return Err(SandboxExecError::Supervise(format!("waiting: {errno}")));
            }
        }
        // A pidfd is readable once its process has exited.
        if fds
            .get(1)
            .is_some_and(|server| !server.revents().is_empty())
        {
            stop(&child);
            return Ok(KILLED);
        }
        if fds[0].revents().is_empty() {
            continue;
        }
        match signal_fd.read_signal() {
            Ok(Some(info)) if info.ssi_signo == Signal::SIGCHLD as u32 => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Ok(status
                        .code()
                        .or_else(|| status.signal().map(|signal| 128 + signal))
                        .unwrap_or(1));
                }
            }
            // The server died (the parent-death signal), or someone asked us to stop.
            Ok(Some(_)) => {
                stop(&child);
                return Ok(KILLED);
            }
            Ok(None) | Err(Errno::EINTR) => {}
            Err(errno) => {
                stop(&child);
                return Err(SandboxExecError::Supervise(format!(
                    "reading signals: {errno}"
                )));
            }
        }
    }
}

/// A pidfd of the server, if this kernel has them.
fn watch(parent: Pid) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(parent.as_raw())?;
    pidfd_open(pid, PidfdFlags::empty()).ok()
}

/// Kills the command, which takes its PID namespace with it, and then the whole process group,
/// this process included, when the group is ours (the server makes the helper a group leader);
/// run by hand from a script, the group may hold the script too, so only the command is killed.
fn stop(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    if getpgrp() == getpid() {
        let _ = killpg(getpgrp(), Signal::SIGKILL);
    }
}
