//! The Chat Completions wire format: history mapped to messages, and streamed chunks
//! aggregated back into the same events the Responses API produces.
//!
//! Everything above the wire (tools, approvals, events) sees one kind of response, whichever
//! API the provider speaks.

use std::collections::BTreeMap;
use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::Value;
use serde_json::json;

use crate::client::Prompt;
use crate::client::ResponseEvent;
use crate::error::CodexErr;
use crate::error::Result;
use crate::protocol::ContentItem;
use crate::protocol::ResponseItem;
use crate::protocol::TokenUsage;

/// The request body: instructions as the system message, then the history.
pub(crate) fn request_body(model: &str, prompt: &Prompt<'_>) -> Result<Vec<u8>> {
    let mut messages = Vec::with_capacity(prompt.input.len() + 1);
    messages.push(json!({"role": "system", "content": prompt.instructions}));
    for item in prompt.input {
        match item {
            ResponseItem::Message { role, content, .. } => {
                // Not every compatible server knows the `developer` role; `system` means
                // the same to them.
                let role = if role == "developer" {
                    "system"
                } else {
                    role.as_str()
                };
                let has_images = content
                    .iter()
                    .any(|part| matches!(part, ContentItem::InputImage { .. }));
                let content = if has_images {
                    // Images go as `image_url` parts, the text beside them as `text` parts.
                    Value::Array(
                        content
                            .iter()
                            .map(|part| match part {
                                ContentItem::InputText { text }
                                | ContentItem::OutputText { text } => {
                                    json!({"type": "text", "text": text})
                                }
                                ContentItem::InputImage { image_url } => {
                                    json!({"type": "image_url", "image_url": {"url": image_url}})
                                }
                            })
                            .collect(),
                    )
                } else {
                    Value::String(item.message_text().unwrap_or_default())
                };
                messages.push(json!({"role": role, "content": content}));
            }
            ResponseItem::FunctionCall {
                name,
                arguments,
                call_id,
            } => {
                let call = json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}});
                // Consecutive calls belong to one assistant message.
                match messages.last_mut() {
                    Some(last) if last["role"] == "assistant" && last["tool_calls"].is_array() => {
                        if let Some(calls) = last["tool_calls"].as_array_mut() {
                            calls.push(call);
                        }
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            ResponseItem::FunctionCallOutput { call_id, output } => {
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
            // Freeform calls exist only on the Responses API; a chat history never has them.
            ResponseItem::Reasoning { .. }
            | ResponseItem::CustomToolCall { .. }
            | ResponseItem::CustomToolCallOutput { .. }
            | ResponseItem::WebSearchCall { .. }
            | ResponseItem::Other => {}
        }
    }
    let tools: Vec<Value> = prompt
        .tools
        .iter()
        .filter(|tool| tool["type"] == "function")
        .map(|tool| {
            json!({"type": "function", "function": {
                "name": tool["name"],
                "description": tool["description"],
                "parameters": tool["parameters"],
            }})
        })
        .collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
    }
    Ok(serde_json::to_vec(&body)?)
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize)]
struct CompletionTokensDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

#[derive(Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

impl PendingCall {
    /// Servers send a call's name in one of three ways: whole in the first delta (most), in
    /// pieces across deltas (Gemini's endpoint: "sh" then "ell"), or whole again in every
    /// delta (some NIM-hosted models). A piece that repeats the name so far, or extends it
    /// from the start, replaces it; any other piece continues it. (A name split into two
    /// equal halves, "abab" as "ab" + "ab", reads as a repeat: no real tool is named so.)
    fn add_name_piece(&mut self, piece: String) {
        if piece.starts_with(self.name.as_str()) {
            self.name = piece;
        } else {
            self.name.push_str(&piece);
        }
    }
}

/// Turns chunks into events. Text streams as deltas at once; complete items (the message,
/// the tool calls) are emitted when the choice finishes.
#[derive(Default)]
pub(crate) struct ChatAggregator {
    text: String,
    /// Tool calls by their `index`, which is how providers interleave several calls.
    calls: BTreeMap<usize, PendingCall>,
    finish_reason: Option<String>,
    usage: Option<TokenUsage>,
    pending: VecDeque<ResponseEvent>,
    finished: bool,
}

impl ChatAggregator {
    /// Feeds one SSE `data:` payload.
    pub(crate) fn push(&mut self, data: &str) -> Result<()> {
        if data.trim() == "[DONE]" {
            return self.finish();
        }
        let Ok(chunk) = serde_json::from_str::<Chunk>(data) else {
            if let Ok(value) = serde_json::from_str::<Value>(data)
                && let Some(message) = value["error"]["message"].as_str()
            {
                return Err(CodexErr::ResponseFailed(message.to_string()));
            }
            tracing::debug!("skipping unparseable chat chunk");
            return Ok(());
        };
        if let Some(usage) = chunk.usage {
            self.usage = Some(TokenUsage {
                input_tokens: usage.prompt_tokens,
                cached_input_tokens: usage.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
                output_tokens: usage.completion_tokens,
                reasoning_output_tokens: usage
                    .completion_tokens_details
                    .map_or(0, |d| d.reasoning_tokens),
                total_tokens: usage.total_tokens,
            });
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(content) = delta.content.filter(|c| !c.is_empty()) {
                    self.text.push_str(&content);
                    self.pending
                        .push_back(ResponseEvent::OutputTextDelta(content));
                }
                for (position, call) in delta.tool_calls.into_iter().enumerate() {
                    let entry = self
                        .calls
                        .entry(call.index.unwrap_or(position))
                        .or_default();
                    if let Some(id) = call.id {
                        entry.id = id;
                    }
                    if let Some(function) = call.function {
                        if let Some(name) = function.name {
                            entry.add_name_piece(name);
                        }
                        if let Some(arguments) = function.arguments {
                            entry.arguments.push_str(&arguments);
                        }
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
        }
        Ok(())
    }

    /// The stream ended (`[DONE]` or end of body): emit the complete items.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        if self.finish_reason.as_deref() == Some("length") {
            return Err(CodexErr::ResponseFailed(
                "the model stopped at its output length limit (finish_reason: length); ask for a shorter answer or raise the limit".into(),
            ));
        }
        if self.finish_reason.is_none() {
            return Err(CodexErr::Stream(
                "stream closed before the response finished".into(),
            ));
        }
        self.finished = true;
        if !self.text.is_empty() {
            self.pending
                .push_back(ResponseEvent::OutputItemDone(ResponseItem::text_message(
                    "assistant",
                    std::mem::take(&mut self.text),
                )));
        }
        for (index, call) in std::mem::take(&mut self.calls) {
            let call_id = if call.id.is_empty() {
                format!("call_{index}")
            } else {
                call.id
            };
            self.pending
                .push_back(ResponseEvent::OutputItemDone(ResponseItem::FunctionCall {
                    name: call.name,
                    arguments: call.arguments,
                    call_id,
                }));
        }
        self.pending.push_back(ResponseEvent::Completed {
            response_id: String::new(),
            token_usage: self.usage.take(),
        });
        Ok(())
    }

    pub(crate) fn next_event(&mut self) -> Option<ResponseEvent> {
        self.pending.pop_front()
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn drain(aggregator: &mut ChatAggregator) -> Vec<ResponseEvent> {
        std::iter::from_fn(|| aggregator.next_event()).collect()
    }

    #[test]
    fn a_tool_name_is_whole_however_the_server_sends_it() {
        for pieces in [
            &["shell"][..],
            &["sh", "ell"],
            &["s", "he", "ll"],
            &["shell", "shell", "shell"],
            &["sh", "shell"],
            &["shell", ""],
        ] {
            let mut aggregator = ChatAggregator::default();
            for piece in pieces {
                let chunk = json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": piece, "arguments": ""}}]}}]});
                aggregator.push(&chunk.to_string()).unwrap();
            }
            aggregator
                .push(r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#)
                .unwrap();
            aggregator.push("[DONE]").unwrap();
            let events = drain(&mut aggregator);
            assert!(
                matches!(&events[0], ResponseEvent::OutputItemDone(ResponseItem::FunctionCall { name, .. }) if name == "shell"),
                "{pieces:?}: {events:?}"
            );
        }
    }

    #[test]
    fn interleaved_tool_call_pieces_are_reassembled_by_index() {
        let mut aggregator = ChatAggregator::default();
        let chunks = [
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"she","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"shell","arguments":"{\"comm"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"and\":[\"pwd\"]}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"[\"ls\"]}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
            "[DONE]",
        ];
        for chunk in chunks {
            aggregator.push(chunk).unwrap();
        }
        assert_eq!(
            drain(&mut aggregator),
            vec![
                ResponseEvent::OutputItemDone(ResponseItem::FunctionCall {
                    name: "she".into(),
                    arguments: r#"{"command":["ls"]}"#.into(),
                    call_id: "call_a".into(),
                }),
                ResponseEvent::OutputItemDone(ResponseItem::FunctionCall {
                    name: "shell".into(),
                    arguments: r#"{"command":["pwd"]}"#.into(),
                    call_id: "call_b".into(),
                }),
                ResponseEvent::Completed {
                    response_id: String::new(),
                    token_usage: Some(TokenUsage {
                        input_tokens: 7,
                        cached_input_tokens: 0,
                        output_tokens: 3,
                        reasoning_output_tokens: 0,
                        total_tokens: 10,
                    }),
                },
            ]
        );
    }

    #[test]
    fn text_streams_then_completes() {
        let mut aggregator = ChatAggregator::default();
        aggregator
            .push(r#"{"choices":[{"delta":{"role":"assistant","content":"hel"}}]}"#)
            .unwrap();
        aggregator
            .push(r#"{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}"#)
            .unwrap();
        aggregator.finish().unwrap();
        assert_eq!(
            drain(&mut aggregator),
            vec![
                ResponseEvent::OutputTextDelta("hel".into()),
                ResponseEvent::OutputTextDelta("lo".into()),
                ResponseEvent::OutputItemDone(ResponseItem::text_message("assistant", "hello")),
                ResponseEvent::Completed {
                    response_id: String::new(),
                    token_usage: None
                },
            ]
        );
    }

    #[test]
    fn length_and_cut_streams_are_errors() {
        let mut aggregator = ChatAggregator::default();
        aggregator
            .push(r#"{"choices":[{"delta":{"content":"x"},"finish_reason":"length"}]}"#)
            .unwrap();
        assert!(
            aggregator
                .finish()
                .unwrap_err()
                .to_string()
                .contains("finish_reason: length")
        );
        let mut cut = ChatAggregator::default();
        cut.push(r#"{"choices":[{"delta":{"content":"x"}}]}"#)
            .unwrap();
        assert!(matches!(cut.finish(), Err(CodexErr::Stream(_))));
    }

    #[test]
    fn history_maps_to_messages() {
        let input = vec![
            ResponseItem::text_message("developer", "be brief"),
            ResponseItem::text_message("user", "hi"),
            ResponseItem::FunctionCall {
                name: "shell".into(),
                arguments: "{}".into(),
                call_id: "c1".into(),
            },
            ResponseItem::FunctionCall {
                name: "shell".into(),
                arguments: "{}".into(),
                call_id: "c2".into(),
            },
            ResponseItem::FunctionCallOutput {
                call_id: "c1".into(),
                output: "out".into(),
            },
            ResponseItem::text_message("assistant", "done"),
        ];
        let tools = vec![
            json!({"type": "function", "name": "shell", "description": "d", "strict": false, "parameters": {"type": "object"}}),
        ];
        let body: Value = serde_json::from_slice(
            &request_body(
                "m",
                &Prompt {
                    instructions: "sys",
                    input: &input,
                    tools: &tools,
                },
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({
                "model": "m",
                "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [
                    {"role": "system", "content": "sys"},
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "shell", "arguments": "{}"}},
                        {"id": "c2", "type": "function", "function": {"name": "shell", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "out"},
                    {"role": "assistant", "content": "done"}
                ],
                "tools": [{"type": "function", "function": {"name": "shell", "description": "d", "parameters": {"type": "object"}}}]
            })
        );
    }
}
