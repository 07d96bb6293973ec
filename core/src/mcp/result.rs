//! An MCP tool's result (`CallToolResult`) as the text the model reads in the call's output.
//!
//! The engine sends the model text only, so images and audio are described rather than sent,
//! and the whole output is capped: a tool that returns a megabyte must not fill the context.

use serde_json::Value;

/// The most of a result the model reads; the rest is cut with a note saying how much.
pub(crate) const MAX_MODEL_OUTPUT_BYTES: usize = 32 * 1024;

/// The text the model reads for a result as its server sent it (MCP's wire shape:
/// `content`, `structuredContent`, `isError`).
pub(crate) fn model_output(result: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(Value::Array(content)) = result.get("content") {
        parts.extend(content.iter().map(content_text));
    }
    let has_text = parts.iter().any(|part| !part.is_empty());
    if let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null()) {
        // Servers should repeat structured content as text; when one did not, the model still
        // gets it.
        if !has_text {
            parts.push(structured.to_string());
        }
    }
    let mut text = parts.join("\n");
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        text = format!("The tool reported an error:\n{text}");
    }
    cap(text)
}

fn content_text(item: &Value) -> String {
    let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
    match field("type") {
        "text" => field("text").to_string(),
        kind @ ("image" | "audio") => format!(
            "[{kind} ({}, {} bytes of base64) not shown: this client sends the model text only]",
            field("mimeType"),
            field("data").len()
        ),
        "resource" => {
            let resource = item.get("resource").cloned().unwrap_or(Value::Null);
            let uri = resource
                .get("uri")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match resource.get("text").and_then(Value::as_str) {
                Some(text) => format!("[resource {uri}]\n{text}"),
                None => format!("[binary resource {uri} not shown]"),
            }
        }
        "resource_link" => format!("[resource link: {} ({})]", field("uri"), field("name")),
        other => format!("[{other} content not shown]"),
    }
}

fn cap(text: String) -> String {
    if text.len() <= MAX_MODEL_OUTPUT_BYTES {
        return text;
    }
    let mut cut = MAX_MODEL_OUTPUT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n[... {} more bytes of the tool's output left out]",
        &text[..cut],
        text.len() - cut
    )
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn text_images_resources_and_errors_become_text() {
        let result = json!({
            "content": [
                {"type": "text", "text": "Echo: hi"},
                {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "A"}},
                {"type": "resource_link", "uri": "file:///b", "name": "b"}
            ],
            "isError": false
        });
        assert_eq!(
            model_output(&result),
            "Echo: hi\n[image (image/png, 8 bytes of base64) not shown: this client sends the model text only]\n[resource file:///a.txt]\nA\n[resource link: file:///b (b)]"
        );
        let failed =
            json!({"content": [{"type": "text", "text": "no such city"}], "isError": true});
        assert_eq!(
            model_output(&failed),
            "The tool reported an error:\nno such city"
        );
    }

    #[test]
    fn structured_content_is_read_when_there_is_no_text() {
        let result = json!({"content": [], "structuredContent": {"sum": 5}});
        assert_eq!(model_output(&result), r#"{"sum":5}"#);
        let both =
            json!({"content": [{"type": "text", "text": "5"}], "structuredContent": {"sum": 5}});
        assert_eq!(model_output(&both), "5");
    }

    #[test]
    fn huge_output_is_cut_on_a_char_boundary() {
        let text = "é".repeat(MAX_MODEL_OUTPUT_BYTES);
        let output = model_output(&json!({"content": [{"type": "text", "text": text}]}));
        assert!(output.len() < MAX_MODEL_OUTPUT_BYTES + 100);
        assert!(
            output.ends_with(&format!(
                "[... {MAX_MODEL_OUTPUT_BYTES} more bytes of the tool's output left out]"
            )),
            "{}",
            &output[output.len() - 80..]
        );
    }
}
