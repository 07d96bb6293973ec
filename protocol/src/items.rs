//! Conversation history items, in the Responses API's shape.
//!
//! History is kept in exactly the form the Responses API takes as `input`, so a request is a
//! serialization of the history and nothing is converted per request.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseItem {
    Message {
        role: String,
        content: Vec<ContentItem>,
        /// Where in its work the model was when it wrote an assistant message
        /// (`commentary`, `final_answer`), on models from gpt-5.3-codex on. Sent back exactly
        /// as received: models stop early on long tasks when it is dropped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
    },
    Reasoning {
        #[serde(default)]
        summary: Vec<ReasoningSummaryPart>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    FunctionCall {
        name: String,
        /// JSON text, as the model produced it.
        arguments: String,
        call_id: String,
    },
    FunctionCallOutput {
        call_id: String,
        output: String,
    },
    /// A call of a freeform tool (its input is raw text, not JSON).
    CustomToolCall {
        call_id: String,
        name: String,
        input: String,
    },
    CustomToolCallOutput {
        call_id: String,
        output: String,
    },
    /// A search the provider ran with its hosted `web_search` tool; kept in history and sent
    /// back, so the model knows what it looked up.
    WebSearchCall {
        /// The provider's id, for events; never sent back.
        #[serde(default, skip_serializing)]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// `{"type": "search", "query": ...}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<serde_json::Value>,
    },
    /// Item types this engine does not use; never stored in history.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentItem {
    InputText { text: String },
    OutputText { text: String },
    InputImage { image_url: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReasoningSummaryPart {
    SummaryText { text: String },
}

impl ResponseItem {
    /// The query of a web search call, when the provider said it.
    pub fn web_search_query(&self) -> Option<&str> {
        let ResponseItem::WebSearchCall { action, .. } = self else {
            return None;
        };
        action.as_ref()?.get("query")?.as_str()
    }

    /// A message from `role` with a single text part.
    pub fn text_message(role: &str, text: impl Into<String>) -> Self {
        let text = text.into();
        let part = if role == "assistant" {
            ContentItem::OutputText { text }
        } else {
            ContentItem::InputText { text }
        };
        ResponseItem::Message {
            role: role.to_string(),
            content: vec![part],
            phase: None,
        }
    }

    /// The concatenated text of a message, or `None` for other items.
    pub fn message_text(&self) -> Option<String> {
        let ResponseItem::Message { content, .. } = self else {
            return None;
        };
        Some(
            content
                .iter()
                .filter_map(|part| match part {
                    ContentItem::InputText { text } | ContentItem::OutputText { text } => {
                        Some(text.as_str())
                    }
                    ContentItem::InputImage { .. } => None,
                })
                .collect(),
        )
    }

    /// The text of a message the user wrote: a `user` message that is not one of the context
    /// blocks the engine itself sends in the user role (instructions, environment context).
    /// Forking and compaction count and keep only these.
    pub fn user_message_text(&self) -> Option<String> {
        let ResponseItem::Message { role, .. } = self else {
            return None;
        };
        if role != "user" {
            return None;
        }
        let text = self.message_text()?;
        let start = text.trim_start();
        let synthetic = SYNTHETIC_USER_PREFIXES
            .iter()
            .any(|prefix| start.starts_with(prefix));
        (!synthetic).then_some(text)
    }
}

/// How the summary that replaces a compacted history opens.
pub const SUMMARY_PREFIX: &str = "<conversation_summary>";

/// Openings of the user-role messages the engine writes itself.
const SYNTHETIC_USER_PREFIXES: [&str; 3] = [
    "<user_instructions>",
    "<environment_context>",
    SUMMARY_PREFIX,
];

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn provider_items_parse_and_ids_are_not_sent_back() {
        let item: ResponseItem = serde_json::from_value(json!({
            "type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "hello", "annotations": []}]
        }))
        .unwrap();
        assert_eq!(item, ResponseItem::text_message("assistant", "hello"));
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]})
        );
        let with_phase = json!({
            "type": "message", "role": "assistant", "phase": "commentary",
            "content": [{"type": "output_text", "text": "looking"}]
        });
        let item: ResponseItem = serde_json::from_value(with_phase.clone()).unwrap();
        assert_eq!(serde_json::to_value(&item).unwrap(), with_phase);
        let unknown: ResponseItem =
            serde_json::from_value(json!({"type": "image_generation_call", "id": "x"})).unwrap();
        assert_eq!(unknown, ResponseItem::Other);
        let search: ResponseItem = serde_json::from_value(json!({
            "type": "web_search_call", "id": "ws_1", "status": "completed",
            "action": {"type": "search", "query": "q"}
        }))
        .unwrap();
        assert_eq!(search.web_search_query(), Some("q"));
        assert_eq!(
            serde_json::to_value(&search).unwrap(),
            json!({"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}})
        );
    }
}
