//! Protocol traffic in the logs, with secrets taken out.
//!
//! rmcp logs whole messages at debug and trace level, and some messages carry keys and
//! tokens (`loginApiKey`, `getAuthStatus` with `includeToken`), so rmcp is kept at info
//! (see main.rs) and the traffic is logged here instead, at trace level under the
//! `codex::wire` target, with the values of secret-bearing fields replaced.

use serde_json::Value;

pub(crate) const TARGET: &str = "codex::wire";

/// Fields whose values are secrets wherever they appear in a message.
const SECRET_FIELDS: &[&str] = &[
    "apiKey",
    "authToken",
    "OPENAI_API_KEY",
    "access_token",
    "refresh_token",
    "id_token",
];

/// Logs one line of traffic when `codex::wire` is enabled at trace level; costs one check
/// otherwise.
pub(crate) fn log(direction: &str, line: &[u8]) {
    if tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
        tracing::trace!(target: TARGET, "{direction} {}", redacted(line));
    }
}

/// [`log`] for each line of `batch` (lines ended by `\n`), checking the level once.
pub(crate) fn log_lines(direction: &str, batch: &[u8]) {
    if tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
        for line in batch.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            tracing::trace!(target: TARGET, "{direction} {}", redacted(line));
        }
    }
}

fn redacted(line: &[u8]) -> String {
    match serde_json::from_slice::<Value>(line) {
        Ok(mut value) => {
            redact(&mut value);
            value.to_string()
        }
        // Not JSON, so not a message that could carry one of our fields by name; still,
        // unknown bytes are not echoed.
        Err(_) => format!("<{} bytes, not JSON>", line.len()),
    }
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if SECRET_FIELDS.contains(&key.as_str()) && !field.is_null() {
                    *field = Value::String("<redacted>".into());
                } else {
                    redact(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_fields_are_replaced_at_any_depth() {
        let line = br#"{"id":1,"method":"loginApiKey","params":{"apiKey":"sk-1"},"result":{"x":[{"authToken":"t"}],"authMethod":"apikey"}}"#;
        assert_eq!(
            redacted(line),
            r#"{"id":1,"method":"loginApiKey","params":{"apiKey":"<redacted>"},"result":{"authMethod":"apikey","x":[{"authToken":"<redacted>"}]}}"#
        );
        assert_eq!(redacted(b"sk-raw"), "<6 bytes, not JSON>");
    }
}
