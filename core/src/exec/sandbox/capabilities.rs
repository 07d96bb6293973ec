//! Drops every capability of the sandboxed process before it becomes the command. As root the
//! command would otherwise keep CAP_MKNOD (device nodes in the workspace), CAP_CHOWN and
//! CAP_FOWNER (other users' files), CAP_SYS_PTRACE (the server's memory and `/proc/<pid>/environ`)
//! and the rest; in a user namespace it would hold them all over that namespace.

use caps::CapSet;

use super::SandboxExecError;

/// Empties the bounding set, so that no later `execve` (of a set-uid or file-capability
/// program, or of anything as root) can gain a capability back, then the ambient, inheritable,
/// effective and permitted sets. Call it after the mounts, which need CAP_SYS_ADMIN.
pub(super) fn drop_all() -> Result<(), SandboxExecError> {
    let err = |set: &'static str| {
        move |err: caps::errors::CapsError| {
            SandboxExecError::Capabilities(format!("clearing the {set} set: {err}"))
        }
    };
    // Dropping from the bounding set needs CAP_SETPCAP. A process without it (an unprivileged
    // user outside any user namespace) has no capability to lose there, and no_new_privs keeps
    // exec from granting any.
    let may_drop_bounding =
        caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false);
    if may_drop_bounding {
        caps::clear(None, CapSet::Bounding).map_err(err("bounding"))?;
    }
    caps::clear(None, CapSet::Ambient).map_err(err("ambient"))?;
    caps::clear(None, CapSet::Inheritable).map_err(err("inheritable"))?;
    caps::clear(None, CapSet::Effective).map_err(err("effective"))?;
    caps::clear(None, CapSet::Permitted).map_err(err("permitted"))?;
    Ok(())
}
