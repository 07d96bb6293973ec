//! JSON Schemas for tool definitions, in the plain shape hosts and models handle best.
//!
//! schemars describes `Option<T>` as "T or null" and wraps enums in `anyOf`; models and
//! several hosts read a flat `{"type": "object", "properties", "required"}` best, which is
//! also what the replaced server advertised. So the generated schema is flattened here.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Map;
use serde_json::Value;

/// The `inputSchema` of a tool whose arguments are `T`.
pub fn tool_input_schema<T: JsonSchema>() -> Map<String, Value> {
    flat_object_schema(inlined_schema::<T>())
}

/// The `outputSchema` of a tool whose structured result is `T`.
pub fn tool_output_schema<T: JsonSchema>() -> Map<String, Value> {
    flat_object_schema(inlined_schema::<T>())
}

fn inlined_schema<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

fn flat_object_schema(schema: Value) -> Map<String, Value> {
    let Value::Object(mut root) = schema else {
        return Map::new();
    };
    let mut out = Map::new();
    out.insert("type".into(), Value::String("object".into()));
    if let Some(Value::Object(properties)) = root.remove("properties") {
        let properties = properties
            .into_iter()
            .map(|(name, property)| (name, without_null(property)))
            .collect();
        out.insert("properties".into(), Value::Object(properties));
    }
    if let Some(required) = root.remove("required") {
        out.insert("required".into(), required);
    }
    out
}

/// Turns "T or null" into "T", keeping the description.
fn without_null(property: Value) -> Value {
    let Value::Object(mut property) = property else {
        return property;
    };
    // Doc comments wrap at 100 columns; a description is one paragraph to the reader.
    if let Some(Value::String(description)) = property.get_mut("description") {
        *description = unwrap_lines(description);
    }
    if property.get("default") == Some(&Value::Null) {
        property.remove("default");
    }
    if let Some(Value::Array(types)) = property.get("type") {
        let non_null: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        let collapsed = match <[Value; 1]>::try_from(non_null) {
            Ok([single]) => single,
            Err(many) => Value::Array(many),
        };
        property.insert("type".into(), collapsed);
    }
    if let Some(Value::Array(variants)) = property.remove("anyOf") {
        let mut non_null = variants
            .into_iter()
            .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"));
        if let (Some(Value::Object(inner)), None) = (non_null.next(), non_null.next()) {
            for (key, value) in inner {
                property.entry(key).or_insert(value);
            }
        }
    }
    // An enum listing `null` among its values is the same "or null" in another spelling.
    if let Some(Value::Array(values)) = property.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    Value::Object(property)
}

/// Joins wrapped lines with spaces, keeping blank-line paragraph breaks.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;
    use crate::CodexToolCallResult;

    #[test]
    fn output_schema_is_flat() {
        assert_eq!(
            Value::Object(tool_output_schema::<CodexToolCallResult>()),
            json!({
                "type": "object",
                "properties": {
                    "threadId": {"type": "string", "description": "Pass this to `codex-reply` to continue the conversation."},
                    "content": {"type": "string", "description": "The agent's last message of the turn."}
                },
                "required": ["threadId", "content"]
            })
        );
    }
}
