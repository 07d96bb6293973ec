//! The User-Agent of our HTTP requests: this server's name, version and platform, plus the MCP
//! host's name and version once it has introduced itself, so providers can tell hosts apart.

use std::sync::Arc;
use std::sync::RwLock;

/// `codex_mcp_server/<version> (<os>; <arch>)`, the part known before any host connects.
pub fn base_user_agent() -> String {
    format!(
        "{}/{} ({}; {})",
        crate::ORIGINATOR,
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The current User-Agent, shared by every conversation of a server.
#[derive(Debug)]
pub struct UserAgent {
    /// An `Arc<str>`: each request clones a pointer, not the string.
    value: RwLock<Arc<str>>,
}

impl Default for UserAgent {
    fn default() -> Self {
        Self {
            value: RwLock::new(Arc::from(base_user_agent())),
        }
    }
}

impl UserAgent {
    /// Appends ` (<client name>; <client version>)` from the host's `initialize`. Both come
    /// from the host, so they are made fit for a header first: a control character (a newline,
    /// say) would make every model request invalid.
    pub fn set_client(&self, name: &str, version: &str) {
        let value: Arc<str> = Arc::from(format!(
            "{} ({}; {})",
            base_user_agent(),
            header_safe(name),
            header_safe(version)
        ));
        *self
            .value
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }

    pub fn get(&self) -> Arc<str> {
        Arc::clone(
            &self
                .value
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// The longest host name or version kept in the User-Agent.
const MAX_CLIENT_FIELD: usize = 100;

/// `text` with everything a header value cannot hold, or that would end the parenthesised
/// comment early, replaced by `_` (printable ASCII is kept, so is nothing else), and cut to
/// [`MAX_CLIENT_FIELD`] characters.
fn header_safe(text: &str) -> String {
    text.chars()
        .take(MAX_CLIENT_FIELD)
        .map(|c| match c {
            ' '..='~' if !matches!(c, '(' | ')' | ';') => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_appended_once_known() {
        let agent = UserAgent::default();
        let base = format!(
            "codex_mcp_server/{} ({}; {})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        assert_eq!(&*agent.get(), base);
        agent.set_client("claude-code", "2.1.0");
        assert_eq!(&*agent.get(), format!("{base} (claude-code; 2.1.0)"));
    }

    #[test]
    fn a_host_name_that_no_header_can_hold_is_made_safe() {
        let agent = UserAgent::default();
        agent.set_client("evil\r\nX-Injected: 1\u{7f}(é);", &"9".repeat(500));
        let value = agent.get();
        assert!(
            reqwest::header::HeaderValue::from_str(&value).is_ok(),
            "{value}"
        );
        assert!(value.ends_with(&format!(
            " (evil__X-Injected: 1_____; {})",
            "9".repeat(MAX_CLIENT_FIELD)
        )));
    }
}
