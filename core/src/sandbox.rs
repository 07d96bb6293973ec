//! The one seam for platform sandboxes. None exists yet, so commands that would need one are
//! asked about (or refused under `never`) instead of running unconfined.

/// How a command is confined when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SandboxType {
    /// Not confined: trusted, approved, or under `danger-full-access`.
    None,
}

/// The sandbox this machine can enforce, if any.
pub(crate) fn platform_sandbox() -> Option<SandboxType> {
    None
}
