//! `key=value` overrides of config.toml, as given by `-c` and by a tool call's `config` map.
//!
//! The key is a dotted path into the TOML tree; the value is parsed as TOML and, when it does
//! not parse, taken as a string, so `-c model=o3` and `-c 'model="o3"'` mean the same.

use toml::Value;

use crate::error::CodexErr;
use crate::error::Result;

/// One override: a dotted key and the value to put there.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigOverride {
    pub key: String,
    pub value: Value,
}

impl ConfigOverride {
    /// Parses `key=value`, splitting on the first `=`.
    pub fn parse(raw: &str) -> Result<Self> {
        let (key, value) = raw
            .split_once('=')
            .ok_or_else(|| CodexErr::InvalidOverride(raw.to_string()))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(CodexErr::InvalidOverride(raw.to_string()));
        }
        Ok(Self {
            key: key.to_string(),
            value: parse_toml_value(value.trim()),
        })
    }

    /// An override from a JSON value (a tool call's `config` map). `null` becomes an empty
    /// string because TOML has no null.
    pub fn from_json(key: &str, value: &serde_json::Value) -> Result<Self> {
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(CodexErr::InvalidOverride(key.to_string()));
        }
        Ok(Self {
            key: key.to_string(),
            value: json_to_toml(value),
        })
    }

    /// Writes the value at the key's path, creating (or replacing non-table) intermediates.
    pub fn apply(&self, root: &mut Value) {
        let mut node = root;
        let mut segments = self.key.split('.').peekable();
        while let Some(segment) = segments.next() {
            if !node.is_table() {
                *node = Value::Table(toml::Table::new());
            }
            let Value::Table(table) = node else {
                return;
            };
            if segments.peek().is_none() {
                table.insert(segment.to_string(), self.value.clone());
                return;
            }
            node = table
                .entry(segment.to_string())
                .or_insert_with(|| Value::Table(toml::Table::new()));
        }
    }
}

fn parse_toml_value(raw: &str) -> Value {
    format!("_x_ = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("_x_"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

fn json_to_toml(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::String(String::new()),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(json_to_toml).collect()),
        serde_json::Value::Object(map) => Value::Table(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_toml(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn applied(overrides: &[&str]) -> Value {
        let mut root = Value::Table(toml::Table::new());
        for raw in overrides {
            ConfigOverride::parse(raw).unwrap().apply(&mut root);
        }
        root
    }

    #[test]
    fn values_parse_as_toml_then_fall_back_to_strings() {
        let root = applied(&[
            "model=o3",
            "quoted=\"a=b\"",
            "flag=true",
            "n = 42",
            "list=[1, 2]",
            "inline={x = 1}",
        ]);
        let expected: Value = toml::from_str(
            r#"
            model = "o3"
            quoted = "a=b"
            flag = true
            n = 42
            list = [1, 2]
            inline = { x = 1 }
            "#,
        )
        .unwrap();
        assert_eq!(root, expected);
    }

    #[test]
    fn dotted_keys_create_and_replace_tables() {
        let root = applied(&[
            "a=1",
            "a.b.c=x",
            "model_providers.mock.base_url=http://h/v1",
        ]);
        let expected: Value = toml::from_str(
            r#"
            [a.b]
            c = "x"
            [model_providers.mock]
            base_url = "http://h/v1"
            "#,
        )
        .unwrap();
        assert_eq!(root, expected);
    }

    #[test]
    fn malformed_overrides_are_rejected_with_the_input() {
        for raw in ["novalue", "=x", "a..b=1", ".a=1"] {
            let err = ConfigOverride::parse(raw).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid config override `{raw}`: expected key=value with a non-empty key")
            );
        }
    }

    #[test]
    fn json_values_convert_to_toml() {
        let json = serde_json::json!({"a": null, "b": 1.5, "c": [true], "d": {"e": 2}});
        let mut root = Value::Table(toml::Table::new());
        for (k, v) in json.as_object().unwrap() {
            ConfigOverride::from_json(k, v).unwrap().apply(&mut root);
        }
        let expected: Value = toml::from_str("a = ''\nb = 1.5\nc = [true]\nd = { e = 2 }").unwrap();
        assert_eq!(root, expected);
    }
}
