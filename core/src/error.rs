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

    /// The provider's `env_key` names a variable that is not set.
    #[error(
        "environment variable `{var}` is not set; model provider `{provider}` reads its API key from it"
    )]
    EnvVarMissing { var: String, provider: String },

    /// No conversation with this id is loaded.
    #[error("no conversation with id {0}")]
    ConversationNotFound(ConversationId),

    /// The conversation's session task has exited; the conversation cannot be used any more.
    #[error("the conversation's agent loop has exited")]
    InternalAgentDied,

    /// The first event of a new conversation was not `session_configured`.
    #[error("the session did not start: {0}")]
    SessionStart(String),

    /// The provider answered with a status that is not retried (or retries ran out).
    #[error("model provider answered {status}: {body}")]
    UnexpectedStatus {
        status: reqwest::StatusCode,
        body: String,
    },

    /// The provider's stream failed or ended before the response completed. Retryable.
    #[error("model stream failed: {0}")]
    Stream(String),

    /// The provider reported that the response failed.
    #[error("model response failed: {0}")]
    ResponseFailed(String),

    /// The configured wire API is not implemented for this provider.
    #[error("wire_api `{0}` is not supported yet; use wire_api = \"responses\"")]
    UnsupportedWireApi(String),

    /// The turn was interrupted.
    #[error("turn interrupted")]
    Interrupted,

    // ---- Transparent conversions from library errors. ----
    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error(transparent)]
    Json(#[from] serde_json::Error),

    #[error("request to the model provider failed: {}", with_causes(.0))]
    Http(#[from] reqwest::Error),
}

/// reqwest's own message omits the cause ("error sending request"); the cause ("connection
/// refused") is what a reader needs.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
