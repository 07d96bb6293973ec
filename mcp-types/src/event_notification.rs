//! The `codex/event` notification: every engine event of a running tool call, as it happens.

use std::borrow::Cow;

use codex_protocol::EventMsg;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;

use crate::RequestId;

/// JSON-RPC method of the event notification.
pub const CODEX_EVENT_METHOD: &str = "codex/event";

/// Which tool call and conversation an event belongs to; several run at once on one
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodexEventMeta {
    /// The id of the `tools/call` request that is running the turn.
    pub request_id: RequestId,
    /// The conversation the event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// Params of a `codex/event` notification: `{_meta, id, msg}`.
///
/// The server fills `msg` with the engine's event by borrow, so it is serialized once and
/// never copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CodexEventNotificationParams<'a> {
    #[serde(rename = "_meta")]
    pub meta: CodexEventMeta,
    /// The id of the submission (turn) that caused the event; empty for `session_configured`.
    pub id: Cow<'a, str>,
    /// The event itself: `{"type": "<snake_case>", ...}`.
    pub msg: Cow<'a, EventMsg>,
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn serializes_meta_beside_the_event() {
        let params = CodexEventNotificationParams {
            meta: CodexEventMeta {
                request_id: RequestId::Number(3),
                thread_id: Some("t".into()),
            },
            id: Cow::Borrowed("3"),
            msg: Cow::Owned(EventMsg::TaskStarted(codex_protocol::TaskStartedEvent {
                model_context_window: None,
            })),
        };
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({
                "_meta": {"requestId": 3, "threadId": "t"},
                "id": "3",
                "msg": {"type": "task_started"}
            })
        );
    }
}
