//! Ids that name a conversation across its whole life, restarts included.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use uuid::Uuid;

/// Identifies a conversation (a "thread" on the MCP wire) for its whole life, across restarts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
#[schemars(with = "String")]
pub struct ConversationId(Uuid);

impl ConversationId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// When the id was made, for the time-ordered ids [`Self::new`] makes (UUIDv7); `None`
    /// for others (ids of other tools, or random ones).
    pub fn created_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let (secs, nanos) = self.0.get_timestamp()?.to_unix();
        chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
    }
}

impl Default for ConversationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A thread id that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a valid thread id (expected a UUID such as the threadId returned by `codex`)"
)]
pub struct MalformedConversationId {
    pub input: String,
}

impl FromStr for ConversationId {
    type Err = MalformedConversationId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| MalformedConversationId {
                input: s.to_string(),
            })
    }
}
