//! Errors a host can cause by sending arguments that do not fit the contract.

/// A violation of the wire contract that the types alone cannot rule out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum McpTypesError {
    /// `codex-reply` named no conversation.
    #[error("`threadId` is required: pass the threadId returned by the `codex` tool")]
    MissingThreadId,
}
