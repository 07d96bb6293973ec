//! The sandbox policy as `sendUserTurn` takes it: tagged by `mode`, where events and rollouts
//! tag the same type by `type`.
//!
//! The reference server's conversation API passed its engine's policy through when that
//! engine still tagged it by `mode`; orchestrators send that shape, so it is kept for this
//! one field. One type, [`SandboxPolicy`], with two spellings of its tag: this wrapper renames
//! the tag on the way in and out and describes itself with the policy's schema, retagged.

use std::borrow::Cow;

use codex_protocol::SandboxPolicy;
use schemars::JsonSchema;
use schemars::Schema;
use schemars::SchemaGenerator;
use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde::Serializer;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde_json::Map;
use serde_json::Value;

const WIRE_TAG: &str = "mode";
const ENGINE_TAG: &str = "type";

/// A [`SandboxPolicy`] spelled `{"mode": "workspace-write", ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicyByMode(pub SandboxPolicy);

impl Serialize for SandboxPolicyByMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(S::Error::custom)?;
        if let Value::Object(fields) = &mut value {
            retag(fields, ENGINE_TAG, WIRE_TAG);
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SandboxPolicyByMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::deserialize(deserializer)?;
        // A stray `type` must not pass for the tag.
        fields.remove(ENGINE_TAG);
        if !fields.contains_key(WIRE_TAG) {
            return Err(D::Error::missing_field(WIRE_TAG));
        }
        retag(&mut fields, WIRE_TAG, ENGINE_TAG);
        serde_json::from_value(Value::Object(fields))
            .map(SandboxPolicyByMode)
            .map_err(D::Error::custom)
    }
}

impl JsonSchema for SandboxPolicyByMode {
    fn schema_name() -> Cow<'static, str> {
        "SandboxPolicy".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = SandboxPolicy::json_schema(generator);
        if let Some(Value::Array(variants)) = schema.get_mut("oneOf") {
            for variant in variants.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(Value::Object(properties)) = variant.get_mut("properties") {
                    retag(properties, ENGINE_TAG, WIRE_TAG);
                }
                if let Some(Value::Array(required)) = variant.get_mut("required") {
                    for name in required.iter_mut().filter(|name| *name == ENGINE_TAG) {
                        *name = Value::from(WIRE_TAG);
                    }
                }
            }
        }
        schema
    }
}

/// Moves the value of `from` to `to`, in front, as serde writes a tag.
fn retag(fields: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(tag) = fields.remove(from) {
        let rest = std::mem::take(fields);
        fields.insert(to.to_string(), tag);
        fields.extend(rest);
    }
}
