//! An MCP tool as a function tool the model provider accepts: its input schema made into what
//! the Responses and Chat Completions APIs take (an object schema with `properties`, every
//! nested schema typed), because a server's schema is written for MCP, not for them, and one
//! bad schema would fail every request of the conversation.

use serde_json::Map;
use serde_json::Value;
use serde_json::json;

/// The function tool spec (Responses shape; the Chat Completions body converts it).
pub(crate) fn function_spec(model_name: &str, description: &str, input_schema: &Value) -> Value {
    json!({
        "type": "function",
        "name": model_name,
        "description": description,
        "strict": false,
        "parameters": adapt_input_schema(input_schema),
    })
}

/// A tool's input schema as the providers accept it: always an object with `properties`,
/// without the keywords they reject at the top (`$schema`), and with a `type` inferred where a
/// nested schema leaves it out.
pub(crate) fn adapt_input_schema(schema: &Value) -> Value {
    let mut schema = match schema {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    schema.remove("$schema");
    schema.remove("$id");
    schema.insert("type".to_string(), Value::String("object".to_string()));
    if !schema.get("properties").is_some_and(Value::is_object) {
        schema.insert("properties".to_string(), Value::Object(Map::new()));
    }
    if schema
        .get("required")
        .is_some_and(|required| !required.is_array())
    {
        schema.remove("required");
    }
    let mut schema = Value::Object(schema);
    infer_nested_types(&mut schema, 0);
    schema
}

/// Schemas nest without limit; a server's tool list is not worth a stack overflow.
const MAX_DEPTH: usize = 64;

fn infer_nested_types(schema: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Value::Object(map) = schema else {
        return;
    };
    if depth > 0 && !map.contains_key("type") && !has_combinator(map) {
        let inferred = if map.contains_key("properties") {
            Some("object")
        } else if map.contains_key("items") {
            Some("array")
        } else if map.contains_key("enum") || map.contains_key("const") {
            None
        } else {
            // `{}` means "anything"; providers want a type, and a string is what a model can
            // always produce.
            Some("string")
        };
        if let Some(inferred) = inferred {
            map.insert("type".to_string(), Value::String(inferred.to_string()));
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for property in properties.values_mut() {
            infer_nested_types(property, depth + 1);
        }
    }
    if let Some(items) = map.get_mut("items") {
        infer_nested_types(items, depth + 1);
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = map.get_mut(combinator) {
            for option in options {
                infer_nested_types(option, depth + 1);
            }
        }
    }
}

fn has_combinator(map: &Map<String, Value>) -> bool {
    ["anyOf", "oneOf", "allOf", "$ref"]
        .iter()
        .any(|key| map.contains_key(*key))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn a_schema_without_type_or_properties_becomes_an_object() {
        assert_eq!(
            adapt_input_schema(&json!({"$schema": "https://json-schema.org/draft/2020-12/schema"})),
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(
            adapt_input_schema(&json!(null)),
            json!({"type": "object", "properties": {}})
        );
    }

    #[test]
    fn nested_schemas_get_a_type_and_good_ones_are_kept() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "number", "description": "first"},
                "list": {"items": {"properties": {"x": {}}}},
                "choice": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "color": {"enum": ["red", "blue"]}
            },
            "required": ["a"],
            "additionalProperties": false
        });
        assert_eq!(
            adapt_input_schema(&schema),
            json!({
                "type": "object",
                "properties": {
                    "a": {"type": "number", "description": "first"},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}},
                    "choice": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "color": {"enum": ["red", "blue"]}
                },
                "required": ["a"],
                "additionalProperties": false
            })
        );
    }

    #[test]
    fn the_spec_is_a_function_tool() {
        assert_eq!(
            function_spec("mcp__s__t", "Does t.", &json!({"type": "object"})),
            json!({
                "type": "function",
                "name": "mcp__s__t",
                "description": "Does t.",
                "strict": false,
                "parameters": {"type": "object", "properties": {}}
            })
        );
    }
}
