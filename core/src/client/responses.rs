//! The OpenAI Responses API wire format: the request body and the SSE events of the answer.

use serde::Deserialize;
use serde::Serialize;

use crate::client::Prompt;
use crate::client::ResponseEvent;
use crate::config::Config;
use crate::error::CodexErr;
use crate::error::Result;
use crate::protocol::ConversationId;
use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::ResponseItem;
use crate::protocol::TokenUsage;
use crate::protocol::Verbosity;

#[derive(Serialize)]
struct ResponsesRequest<'a> {
    model: &'a str,
    instructions: &'a str,
    input: &'a [ResponseItem],
    tools: &'a [serde_json::Value],
    tool_choice: &'static str,
    parallel_tool_calls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<Reasoning>,
    store: bool,
    stream: bool,
    include: Vec<&'static str>,
    prompt_cache_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextControls>,
}

#[derive(Serialize)]
struct Reasoning {
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<ReasoningEffort>,
    summary: ReasoningSummary,
}

#[derive(Serialize)]
struct TextControls {
    verbosity: Verbosity,
}

/// Serializes the request straight from borrowed history: no copy of the conversation. What
/// the model family takes decides the optional fields.
pub(crate) fn request_body(
    config: &Config,
    prompt: &Prompt<'_>,
    conversation_id: &ConversationId,
) -> Result<Vec<u8>> {
    let family = config.model_family();
    let reasoning = family
        .reasoning(
            config.model_reasoning_effort,
            config.model_reasoning_summary,
        )
        .map(|(effort, summary)| Reasoning { effort, summary });
    let include = if reasoning.is_some() {
        vec!["reasoning.encrypted_content"]
    } else {
        vec![]
    };
    let text = family
        .default_verbosity
        .filter(|_| family.supports_verbosity)
        .map(|verbosity| TextControls { verbosity });
    let request = ResponsesRequest {
        model: &config.model,
        instructions: prompt.instructions,
        input: prompt.input,
        tools: prompt.tools,
        tool_choice: "auto",
        parallel_tool_calls: family.parallel_tool_calls,
        reasoning,
        store: false,
        stream: true,
        include,
        prompt_cache_key: conversation_id.to_string(),
        text,
    };
    Ok(serde_json::to_vec(&request)?)
}

/// One SSE `data:` payload. Only the fields this engine reads are declared.
#[derive(Deserialize)]
struct SseEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    delta: Option<String>,
    #[serde(default)]
    item: Option<serde_json::Value>,
    #[serde(default)]
    response: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct CompletedResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    usage: Option<ResponseUsage>,
}

#[derive(Deserialize)]
struct ResponseUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<InputTokensDetails>,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    output_tokens_details: Option<OutputTokensDetails>,
    #[serde(default)]
    total_tokens: u64,
}

#[derive(Deserialize)]
struct InputTokensDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize)]
struct OutputTokensDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

impl From<ResponseUsage> for TokenUsage {
    fn from(usage: ResponseUsage) -> Self {
        TokenUsage {
            input_tokens: usage.input_tokens,
            cached_input_tokens: usage.input_tokens_details.map_or(0, |d| d.cached_tokens),
            output_tokens: usage.output_tokens,
            reasoning_output_tokens: usage
                .output_tokens_details
                .map_or(0, |d| d.reasoning_tokens),
            total_tokens: usage.total_tokens,
        }
    }
}

/// Maps one SSE payload to an event; `Ok(None)` for events this engine does not use
/// (and for payloads that are not JSON, which providers send as keep-alives).
pub(crate) fn parse_event(data: &str) -> Result<Option<ResponseEvent>> {
    let Ok(event) = serde_json::from_str::<SseEvent>(data) else {
        tracing::debug!("skipping unparseable SSE payload");
        return Ok(None);
    };
    let parsed = match event.kind.as_str() {
        "response.created" => Some(ResponseEvent::Created),
        "response.output_text.delta" => event.delta.map(ResponseEvent::OutputTextDelta),
        "response.reasoning_summary_text.delta" => {
            event.delta.map(ResponseEvent::ReasoningSummaryDelta)
        }
        "response.output_item.added" => event
            .item
            .filter(|item| item["type"] == "web_search_call")
            .and_then(|item| item["id"].as_str().map(str::to_string))
            .map(ResponseEvent::WebSearchBegin),
        "response.output_item.done" => match event.item {
            Some(item) => match serde_json::from_value::<ResponseItem>(item) {
                Ok(ResponseItem::Other) => None,
                Ok(item) => Some(ResponseEvent::OutputItemDone(item)),
                Err(err) => {
                    tracing::warn!("skipping output item that does not parse: {err}");
                    None
                }
            },
            None => None,
        },
        "response.completed" => {
            let completed = event
                .response
                .map(serde_json::from_value::<CompletedResponse>)
                .transpose()?;
            let (response_id, usage) = completed.map_or((String::new(), None), |c| (c.id, c.usage));
            Some(ResponseEvent::Completed {
                response_id,
                token_usage: usage.map(TokenUsage::from),
            })
        }
        "response.failed" => {
            let error = event.response.as_ref().and_then(|r| r.get("error"));
            let message = error
                .and_then(|e| e.get("message"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("the provider reported a failure without a message")
                .to_string();
            let code = error
                .and_then(|e| e.get("code"))
                .and_then(serde_json::Value::as_str);
            return Err(match code {
                Some("context_length_exceeded") => CodexErr::ContextWindowExceeded(message),
                Some("insufficient_quota" | "usage_limit_reached") => {
                    CodexErr::QuotaExceeded(message)
                }
                _ => CodexErr::ResponseFailed(message),
            });
        }
        "error" => {
            let message = event
                .message
                .or_else(|| {
                    event
                        .error
                        .as_ref()
                        .and_then(|e| e.get("message"))
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "the provider sent an error event".to_string());
            return Err(CodexErr::ResponseFailed(message));
        }
        _ => None,
    };
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn completed_carries_usage() {
        let event = parse_event(
            &json!({"type": "response.completed", "response": {"id": "r1", "usage": {
                "input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2},
                "total_tokens": 15
            }}})
            .to_string(),
        )
        .unwrap();
        assert_eq!(
            event,
            Some(ResponseEvent::Completed {
                response_id: "r1".into(),
                token_usage: Some(TokenUsage {
                    input_tokens: 10,
                    cached_input_tokens: 4,
                    output_tokens: 5,
                    reasoning_output_tokens: 2,
                    total_tokens: 15,
                }),
            })
        );
    }

    #[test]
    fn deltas_items_and_failures() {
        assert_eq!(
            parse_event(r#"{"type":"response.output_text.delta","delta":"he"}"#).unwrap(),
            Some(ResponseEvent::OutputTextDelta("he".into()))
        );
        assert_eq!(
            parse_event(r#"{"type":"response.output_item.done","item":{"type":"function_call","name":"shell","arguments":"{}","call_id":"c1"}}"#).unwrap(),
            Some(ResponseEvent::OutputItemDone(ResponseItem::FunctionCall {
                name: "shell".into(),
                arguments: "{}".into(),
                call_id: "c1".into()
            }))
        );
        assert_eq!(
            parse_event(r#"{"type":"response.in_progress"}"#).unwrap(),
            None
        );
        assert_eq!(parse_event("not json").unwrap(), None);
        let err = parse_event(
            r#"{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "model response failed: boom");
    }
}
