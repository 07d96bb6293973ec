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
    /// Appends ` (<client name>; <client version>)` from the host's `initialize`.
    pub fn set_client(&self, name: &str, version: &str) {
        let value: Arc<str> = Arc::from(format!("{} ({name}; {version})", base_user_agent()));
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
}
