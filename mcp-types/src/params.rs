//! What every custom JSON-RPC method shares: the error codes, and decoding params with an
//! error that names the offending field.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// JSON-RPC error code for requests naming an unknown conversation or subscription, or a bad
/// rollout path, and for requests the conversation's state refuses (a busy thread, no turn to
/// interrupt).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC error code for a method this server does not have.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC error code for params that do not fit the method; the message names the field.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC error code for failures on the server's side (config, disk, engine).
pub const INTERNAL_ERROR: i64 = -32603;

/// Params that do not fit their method; answer with [`INVALID_PARAMS`] and this as the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid params for {method}: {}", located(.path.as_deref(), .reason))]
pub struct ConversationParamsError {
    /// The method whose params were rejected.
    pub method: &'static str,
    /// Where in the params the problem is, e.g. `items[0].type`; `None` for the params object
    /// itself (a missing top-level field, or params that are not an object).
    pub path: Option<String>,
    /// What is wrong there, as serde words it.
    pub reason: String,
}

impl ConversationParamsError {
    /// The JSON-RPC error code to answer with.
    pub fn code(&self) -> i64 {
        INVALID_PARAMS
    }
}

fn located(path: Option<&str>, reason: &str) -> String {
    match path {
        Some(path) => format!("`{path}`: {reason}"),
        None => reason.to_string(),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    method: &'static str,
    params: Value,
) -> Result<T, ConversationParamsError> {
    serde_path_to_error::deserialize(params).map_err(|err| {
        // An empty path prints as ".", which tells a host nothing; the reason names the field.
        let path = (err.path().iter().next().is_some()).then(|| err.path().to_string());
        ConversationParamsError {
            method,
            path,
            reason: err.into_inner().to_string(),
        }
    })
}

#[cfg(test)]
pub(crate) use tests::assert_wire;

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use pretty_assertions::assert_eq;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    /// Pins the wire both ways: `value` serializes to exactly `wire`, and `wire` reads back as it.
    pub(crate) fn assert_wire<T>(value: &T, wire: Value)
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        assert_eq!(serde_json::to_value(value).unwrap(), wire);
        assert_eq!(&serde_json::from_value::<T>(wire).unwrap(), value);
    }
}
