//! Everything a command starts ends with it, on every platform. On Unix the command leads a
//! new process group and one `SIGKILL` to the group ends it all; on Windows it is put in a job
//! object (`job_object.rs`) that is terminated to the same effect, and that the system kills
//! anyway when its last handle closes, so a crashed server leaves nothing behind there either.

/// Prepares `command` so that [`ProcessTree::of_child`] can own what it starts: on Unix its
/// own process group; on Windows no console window of its own (the server has none to share,
/// and each console program would otherwise flash one up).
pub(crate) fn isolate(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(windows)]
    {
        /// `CREATE_NO_WINDOW`, from the process creation flags.
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        command.creation_flags(CREATE_NO_WINDOW);
    }
    command
}

/// A command's processes, killed together by [`ProcessTree::kill`] and when this is dropped.
#[derive(Debug)]
pub(crate) struct ProcessTree {
    /// The group the command leads (its pid), if it was still running when we looked.
    #[cfg(unix)]
    group: Option<nix::unistd::Pid>,
    /// The job the command was put in, unless that failed (then only the command itself is
    /// killed, by `kill_on_drop`).
    #[cfg(windows)]
    job: Option<super::job_object::Job>,
}

impl ProcessTree {
    /// The tree of a child spawned after [`isolate`].
    pub(crate) fn of_child(child: &tokio::process::Child) -> Self {
        #[cfg(unix)]
        {
            Self::of_group_leader(child.id())
        }
        #[cfg(windows)]
        {
            Self::of_handle(child.raw_handle())
        }
    }

    /// The tree of a PTY's child, which leads its own session (and so its group) on Unix.
    pub(crate) fn of_pty_child(child: &dyn portable_pty::Child) -> Self {
        #[cfg(unix)]
        {
            Self::of_group_leader(child.process_id())
        }
        #[cfg(windows)]
        {
            Self::of_handle(child.as_raw_handle())
        }
    }

    #[cfg(unix)]
    fn of_group_leader(pid: Option<u32>) -> Self {
        Self {
            group: pid
                .and_then(|pid| i32::try_from(pid).ok())
                .map(nix::unistd::Pid::from_raw),
        }
    }

    #[cfg(windows)]
    fn of_handle(process: Option<std::os::windows::io::RawHandle>) -> Self {
        let job = process.and_then(|process| {
            super::job_object::Job::containing(process)
                .inspect_err(|err| {
                    tracing::warn!(
                        "cannot put a command in a job object ({err}); only the command itself, not what it starts, will be killed with it"
                    );
                })
                .ok()
        });
        Self { job }
    }

    /// Kills every process of the tree that is still running.
    pub(crate) fn kill(&self) {
        #[cfg(unix)]
        if let Some(group) = self.group {
            // ESRCH just means everything is already gone.
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        #[cfg(windows)]
        if let Some(job) = &self.job {
            job.terminate();
        }
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        self.kill();
    }
}
