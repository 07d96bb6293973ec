//! Reading a rollout line without serde's `flatten`: a resume parses every line of a file that
//! can hold tens of thousands, and `flatten` first copies each line into a generic tree of
//! buffered content and then reads the item from that copy, which was a third of the time a
//! 10,000-item resume took (see docs/performance.md). Here the payload is read straight into
//! its type, once `type` has said which; a payload that comes before its `type` (no writer
//! we know does that) is kept as a JSON value until it does.

use std::fmt;

use serde::Deserialize;
use serde::Deserializer;
use serde::de::Error as _;
use serde::de::MapAccess;
use serde::de::Visitor;

use super::RolloutItem;
use super::RolloutLine;

/// The keys of a line; others are ignored, as a derived implementation would.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Timestamp,
    Type,
    Payload,
    #[serde(other)]
    Other,
}

/// The `type` of a line: the variants of [`RolloutItem`].
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    SessionMeta,
    ResponseItem,
    TurnContext,
    Compacted,
    EventMsg,
}

impl<'de> Deserialize<'de> for RolloutLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(LineVisitor)
    }
}

struct LineVisitor;

impl<'de> Visitor<'de> for LineVisitor {
    type Value = RolloutLine;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rollout line: {\"timestamp\", \"type\", \"payload\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RolloutLine, A::Error> {
        let mut timestamp: Option<String> = None;
        let mut kind: Option<Kind> = None;
        let mut item: Option<RolloutItem> = None;
        let mut early_payload: Option<serde_json::Value> = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Timestamp => {
                    if timestamp.is_some() {
                        return Err(A::Error::duplicate_field("timestamp"));
                    }
                    timestamp = Some(map.next_value()?);
                }
                Field::Type => {
                    if kind.is_some() {
                        return Err(A::Error::duplicate_field("type"));
                    }
                    kind = Some(map.next_value()?);
                }
                Field::Payload => {
                    if item.is_some() || early_payload.is_some() {
                        return Err(A::Error::duplicate_field("payload"));
                    }
                    match kind {
                        Some(kind) => item = Some(next_payload(&mut map, kind)?),
                        None => early_payload = Some(map.next_value()?),
                    }
                }
                Field::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let timestamp = timestamp.ok_or_else(|| A::Error::missing_field("timestamp"))?;
        let kind = kind.ok_or_else(|| A::Error::missing_field("type"))?;
        let item = match (item, early_payload) {
            (Some(item), _) => item,
            (None, Some(payload)) => payload_from_value(kind, payload).map_err(A::Error::custom)?,
            (None, None) => return Err(A::Error::missing_field("payload")),
        };
        Ok(RolloutLine { timestamp, item })
    }
}

fn next_payload<'de, A: MapAccess<'de>>(map: &mut A, kind: Kind) -> Result<RolloutItem, A::Error> {
    Ok(match kind {
        Kind::SessionMeta => RolloutItem::SessionMeta(map.next_value()?),
        Kind::ResponseItem => RolloutItem::ResponseItem(map.next_value()?),
        Kind::TurnContext => RolloutItem::TurnContext(map.next_value()?),
        Kind::Compacted => RolloutItem::Compacted(map.next_value()?),
        Kind::EventMsg => RolloutItem::EventMsg(map.next_value()?),
    })
}

fn payload_from_value(
    kind: Kind,
    payload: serde_json::Value,
) -> Result<RolloutItem, serde_json::Error> {
    use serde_json::from_value;
    Ok(match kind {
        Kind::SessionMeta => RolloutItem::SessionMeta(from_value(payload)?),
        Kind::ResponseItem => RolloutItem::ResponseItem(from_value(payload)?),
        Kind::TurnContext => RolloutItem::TurnContext(from_value(payload)?),
        Kind::Compacted => RolloutItem::Compacted(from_value(payload)?),
        Kind::EventMsg => RolloutItem::EventMsg(from_value(payload)?),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;
    use crate::protocol::AgentMessageEvent;
    use crate::protocol::AskForApproval;
    use crate::protocol::ConversationId;
    use crate::protocol::EventMsg;
    use crate::protocol::ReasoningSummary;
    use crate::protocol::ResponseItem;
    use crate::protocol::SandboxPolicy;
    use crate::rollout::CompactedItem;
    use crate::rollout::SessionMeta;
    use crate::rollout::SessionSource;
    use crate::rollout::TurnContextItem;

    fn every_kind() -> Vec<RolloutItem> {
        vec![
            RolloutItem::SessionMeta(SessionMeta {
                id: ConversationId::new(),
                timestamp: "2025-01-02T09:00:00.000Z".to_string(),
                cwd: PathBuf::from("/work"),
                originator: "codex_mcp_server".to_string(),
                cli_version: "0.0.0".to_string(),
                instructions: Some("be brief".to_string()),
                base_instructions: None,
                source: SessionSource::Mcp,
                model_provider: Some("openai".to_string()),
                git: None,
            }),
            RolloutItem::ResponseItem(ResponseItem::text_message("user", "hi")),
            RolloutItem::TurnContext(TurnContextItem {
                cwd: PathBuf::from("/work"),
                approval_policy: AskForApproval::Never,
                sandbox_policy: SandboxPolicy::ReadOnly,
                model: "gpt-5.2".to_string(),
                effort: None,
                summary: ReasoningSummary::Auto,
            }),
            RolloutItem::Compacted(CompactedItem {
                message: "summary".to_string(),
                replacement_history: Some(vec![ResponseItem::text_message("user", "hi")]),
            }),
            RolloutItem::EventMsg(EventMsg::AgentMessage(AgentMessageEvent {
                message: "hello".to_string(),
            })),
        ]
    }

    #[test]
    fn every_kind_reads_back_what_was_written() {
        for item in every_kind() {
            let line = RolloutLine {
                timestamp: "2025-01-02T09:00:00.000Z".to_string(),
                item,
            };
            let text = serde_json::to_string(&line).unwrap();
            assert_eq!(serde_json::from_str::<RolloutLine>(&text).unwrap(), line);
        }
    }

    #[test]
    fn payload_before_type_and_unknown_keys_are_read() {
        let text = json!({
            "payload": {"type": "agent_message", "message": "hello"},
            "extra": [1, 2, 3],
            "type": "event_msg",
            "timestamp": "t",
        })
        .to_string();
        assert_eq!(
            serde_json::from_str::<RolloutLine>(&text).unwrap(),
            RolloutLine {
                timestamp: "t".to_string(),
                item: RolloutItem::EventMsg(EventMsg::AgentMessage(AgentMessageEvent {
                    message: "hello".to_string()
                })),
            }
        );
    }

    #[test]
    fn unknown_types_and_missing_fields_are_errors() {
        for text in [
            r#"{"timestamp":"t","type":"ghost_snapshot","payload":{}}"#,
            r#"{"timestamp":"t","type":"event_msg"}"#,
            r#"{"type":"event_msg","payload":{"type":"agent_message","message":"x"}}"#,
            r#"{"timestamp":"t","type":"event_msg","type":"event_msg","payload":{}}"#,
            r#"{"timestamp":"t","type":"respo"#,
        ] {
            assert!(serde_json::from_str::<RolloutLine>(text).is_err(), "{text}");
        }
    }
}
