//! Why a custom JSON-RPC request failed, and the one place such failures become JSON-RPC
//! errors.

use codex_core::CodexErr;
use codex_core::auth::AuthError;
use codex_core::rollout::RolloutError;
use rmcp::ErrorData as McpError;
use serde::Serialize;

/// Why an API request failed; becomes a JSON-RPC error in [`ApiError::into_mcp`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request names something that does not exist or cannot be done now (-32600).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidParams(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn into_mcp(self) -> McpError {
        match self {
            ApiError::InvalidRequest(message) => McpError::invalid_request(message, None),
            ApiError::InvalidParams(message) => McpError::invalid_params(message, None),
            ApiError::Internal(message) => McpError::internal_error(message, None),
        }
    }
}

impl From<CodexErr> for ApiError {
    fn from(err: CodexErr) -> Self {
        if let CodexErr::Auth(err) = err {
            return err.into();
        }
        match &err {
            CodexErr::ConversationNotFound(_)
            | CodexErr::Busy(_)
            | CodexErr::BusyElsewhere { .. }
            | CodexErr::ChangedElsewhere(_)
            | CodexErr::AlreadyLoaded(_)
            | CodexErr::ConfigFile { .. }
            | CodexErr::ConfigValue { .. }
            | CodexErr::InvalidOverride(_)
            | CodexErr::ProfileNotFound(_)
            | CodexErr::ProviderNotFound(_)
            | CodexErr::Auth(AuthError::EnvVarMissing { .. }) => {
                ApiError::InvalidRequest(err.to_string())
            }
            CodexErr::Rollout(
                RolloutError::Empty { .. }
                | RolloutError::MissingSessionMeta { .. }
                | RolloutError::OutsideSessions { .. }
                | RolloutError::IdMismatch { .. }
                | RolloutError::Io { .. },
            ) => ApiError::InvalidRequest(err.to_string()),
            _ => ApiError::Internal(err.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::LoginRequired(_) | AuthError::NotChatGpt | AuthError::Login(_) => {
                ApiError::InvalidRequest(err.to_string())
            }
            _ => ApiError::Internal(err.to_string()),
        }
    }
}

pub(crate) fn to_json(value: impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|err| ApiError::Internal(err.to_string()))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use codex_core::ConversationId;
    use rmcp::model::ErrorCode;

    use super::*;

    #[test]
    fn unknown_ids_and_config_errors_are_invalid_requests_and_the_rest_internal() {
        let code = |err: CodexErr| ApiError::from(err).into_mcp().code;
        assert_eq!(
            code(CodexErr::ConversationNotFound(ConversationId::new())),
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(
            code(CodexErr::ProfileNotFound("x".into())),
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(code(CodexErr::InternalAgentDied), ErrorCode::INTERNAL_ERROR);
    }
}
