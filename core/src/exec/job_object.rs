//! Windows job objects: the one place running commands on Windows needs `unsafe`. A command is
//! put in a job that kills every process in it when the job is terminated or its last handle
//! closes (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`), which is what a process group and `killpg`
//! give on Unix. The calls are plain Win32 on handles this module owns; each `unsafe` block
//! says what makes it sound.
#![allow(unsafe_code)]

use std::os::windows::io::AsRawHandle as _;
use std::os::windows::io::FromRawHandle as _;
use std::os::windows::io::OwnedHandle;
use std::os::windows::io::RawHandle;

use windows_sys::Win32::System::JobObjects::AssignProcessToJobObject;
use windows_sys::Win32::System::JobObjects::CreateJobObjectW;
use windows_sys::Win32::System::JobObjects::JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
use windows_sys::Win32::System::JobObjects::JOBOBJECT_EXTENDED_LIMIT_INFORMATION;
use windows_sys::Win32::System::JobObjects::JobObjectExtendedLimitInformation;
use windows_sys::Win32::System::JobObjects::SetInformationJobObject;
use windows_sys::Win32::System::JobObjects::TerminateJobObject;

/// The exit code the processes of a terminated job get.
const KILLED_EXIT_CODE: u32 = 1;

/// An anonymous job that only this process holds; closing it (dropping this) kills whatever
/// is still in it.
#[derive(Debug)]
pub(crate) struct Job(OwnedHandle);

impl Job {
    /// A new kill-on-close job with `process` (a live process handle the caller keeps open for
    /// the call) in it. Processes that `process` starts from then on are in the job too; any it
    /// started before this call are not.
    pub(crate) fn containing(process: RawHandle) -> std::io::Result<Self> {
        // SAFETY: null security attributes and a null name ask for an anonymous job with a
        // default descriptor; the call reads neither pointer.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a valid handle that was just created and that nothing else owns.
        let job = Self(unsafe { OwnedHandle::from_raw_handle(raw) });
        let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: the pointer and length describe `limits`, an initialised value of the type
        // the information class names, alive for the whole call.
        let set = unsafe {
            SetInformationJobObject(
                job.handle(),
                JobObjectExtendedLimitInformation,
                (&raw const limits).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if set == 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both handles are valid for the call: the job's is owned by `job`, and the
        // caller keeps the process's open.
        if unsafe { AssignProcessToJobObject(job.handle(), process) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(job)
    }

    /// Kills every process in the job now. Failing means the job is already empty or gone.
    pub(crate) fn terminate(&self) {
        // SAFETY: the handle is owned by `self` and so valid until it is dropped.
        let _ = unsafe { TerminateJobObject(self.handle(), KILLED_EXIT_CODE) };
    }

    fn handle(&self) -> RawHandle {
        self.0.as_raw_handle()
    }
}
