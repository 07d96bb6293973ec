//! The engine's error type: every way a conversation, its config or its model call can fail.

use std::path::PathBuf;

use crate::protocol::ConversationId;

pub type Result<T> = std::result::Result<T, CodexErr>;

/// Everything that can go wrong in the engine. The messages are written to be read by a
/// calling model or a person: they name the key, the variable, the status or the id involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodexErr {
    /// `$CODEX_HOME` is set but unusable.
    #[error("CODEX_HOME `{path}` is not usable: {source}")]
    CodexHome {
        path: PathBuf,
        source: std::io::Error,
    },

    /// config.toml exists but cannot be read or parsed.
    #[error("cannot load {path}: {message}")]
    ConfigFile { path: PathBuf, message: String },

    /// A `key=value` override cannot be applied.
    #[error("invalid config override `{0}`: expected key=value with a non-empty key")]
    InvalidOverride(String),

    /// A config key holds a value of the wrong shape.
    #[error("invalid config value at `{key}`: {message}")]
    ConfigValue { key: String, message: String },

    /// The selected profile is not defined.
    #[error("config profile `{0}` not found in config.toml")]
    ProfileNotFound(String),

    /// `model_provider` names no built-in or configured provider.
    #[error("model provider `{0}` not found: define [model_providers.{0}] in config.toml")]
    ProviderNotFound(String),

    /// No conversation with this id is loaded.
    #[error("no conversation with id {0}")]
    ConversationNotFound(ConversationId),

    /// A turn of this conversation is still running; turns do not overlap.
    #[error("thread {0} is busy with another turn; wait for its result or cancel it")]
    Busy(ConversationId),

    /// Another server process sharing this `CODEX_HOME` runs a turn of this thread.
    #[error(
        "thread {id} is busy with a turn in another server process{} that shares this CODEX_HOME; wait for its result there, or stop that process",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    BusyElsewhere {
        id: ConversationId,
        pid: Option<u32>,
    },

    /// Another server process continued this thread since this one loaded it: the copy in
    /// memory is stale and must be loaded again from the rollout.
    #[error("thread {0} was continued by another server process; load it again from its rollout")]
    ChangedElsewhere(ConversationId),

    /// The conversation is already in memory; use it instead of loading it again.
    #[error("conversation {0} is already loaded")]
    AlreadyLoaded(ConversationId),

    /// The conversation's session task has exited; the conversation cannot be used any more.
    #[error("the conversation's agent loop has exited")]
    InternalAgentDied,

    /// The first event of a new conversation was not `session_configured`.
    #[error("the session did not start: {0}")]
    SessionStart(String),

    /// The provider answered with an error status. 429 and 5xx are retried.
    #[error("model provider answered {status}: {message}")]
    UnexpectedStatus {
        status: reqwest::StatusCode,
        /// The provider's own error message (or the start of its body).
        message: String,
        retry_after: Option<std::time::Duration>,
    },

    /// The provider's stream failed, went silent, or ended before the response completed.
    /// Retryable.
    #[error("model stream failed: {0}")]
    Stream(String),

    /// The provider did not start answering (no status line and headers) in time. Retryable,
    /// against the request budget: no stream was ever opened.
    #[error("no response from the model provider: {0}")]
    NoResponse(String),

    /// The provider reported that the response failed. Retryable.
    #[error("model response failed: {0}")]
    ResponseFailed(String),

    /// The conversation no longer fits the model's context window. Not retried.
    #[error("the conversation is too long for the model's context window: {0}")]
    ContextWindowExceeded(String),

    /// The account is out of quota or over its usage limit. Not retried.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),

    /// A bug: the turn's code panicked. The conversation survives with what was recorded.
    #[error(
        "internal error: the turn stopped on a bug ({0}); what it had done so far is kept, and the conversation can continue"
    )]
    TurnPanicked(String),

    /// The turn was interrupted.
    #[error("turn interrupted")]
    Interrupted,

    // ---- Transparent conversions from library errors. ----
    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error(transparent)]
    Json(#[from] serde_json::Error),

    #[error("request to the model provider failed: {}", crate::net::with_causes(.0))]
    Http(#[from] reqwest::Error),

    #[error(transparent)]
    Rollout(#[from] crate::rollout::RolloutError),

    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

impl CodexErr {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            CodexErr::UnexpectedStatus { status, .. } => {
                *status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            CodexErr::Stream(_) | CodexErr::ResponseFailed(_) | CodexErr::NoResponse(_) => true,
            CodexErr::Http(err) => {
                err.is_connect() || err.is_timeout() || err.is_request() || err.is_body()
            }
            _ => false,
        }
    }

    /// Whether the failure happened before a stream was opened (the request-level budget
    /// applies) rather than during it (the stream-level budget).
    pub(crate) fn is_request_failure(&self) -> bool {
        matches!(
            self,
            CodexErr::UnexpectedStatus { .. } | CodexErr::Http(_) | CodexErr::NoResponse(_)
        )
    }

    /// How long the provider asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            CodexErr::UnexpectedStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
