//! The network half of the Linux sandbox: a seccomp filter under which only Unix-domain sockets
//! can be created, so a command without `network_access` cannot reach any host, local or remote.

use std::collections::BTreeMap;

use nix::libc;
use seccompiler::BpfProgram;
use seccompiler::SeccompAction;
use seccompiler::SeccompCmpArgLen;
use seccompiler::SeccompCmpOp;
use seccompiler::SeccompCondition;
use seccompiler::SeccompFilter;
use seccompiler::SeccompRule;
use seccompiler::TargetArch;

use super::SandboxExecError;

/// On x86_64 the x32 ABI reaches the same calls with this bit set in the syscall number, under
/// the same audit architecture; the filter must refuse those numbers too.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// Installs the filter on the calling thread; it is inherited across `fork` and `exec` and can
/// never be removed. Refused calls fail with `EPERM` ("Operation not permitted"), which programs
/// report as an error and the denial heuristic recognises.
///
/// Refusing socket creation for every family but `AF_UNIX` covers `connect`, `bind`,
/// `sendto` and the rest, which need such a socket. `io_uring` is refused because it can
/// create and connect sockets without those syscalls.
pub(super) fn deny_network() -> Result<(), SandboxExecError> {
    fn err(err: impl std::fmt::Display) -> SandboxExecError {
        SandboxExecError::Seccomp(err.to_string())
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err)?;
    let not_unix = SeccompRule::new(vec![
        SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )
        .map_err(err)?,
    ])
    .map_err(err)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for syscall in [libc::SYS_socket, libc::SYS_socketpair] {
        for number in numbers(syscall) {
            rules.insert(number, vec![not_unix.clone()]);
        }
    }
    for syscall in [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ] {
        for number in numbers(syscall) {
            // No conditions: refused whatever the arguments.
            rules.insert(number, Vec::new());
        }
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(err)?;
    let program = BpfProgram::try_from(filter).map_err(err)?;
    seccompiler::apply_filter(&program).map_err(err)
}

/// The numbers under which `syscall` can be made on this architecture.
fn numbers(syscall: libc::c_long) -> Vec<i64> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![syscall, syscall | X32_SYSCALL_BIT]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![syscall]
    }
}
