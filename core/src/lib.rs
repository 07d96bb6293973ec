//! The coding-agent engine behind `codex mcp`.
//!
//! A conversation is a queue pair: [`CodexConversation::submit`] takes an [`Op`], and
//! [`CodexConversation::next_event`] yields [`Event`]s, while one session task owns the agent
//! loop. This crate knows nothing of MCP; it is driven through that queue pair.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod apply_patch;
pub mod auth;
mod client;
pub mod config;
mod conversation;
mod conversation_manager;
pub mod error;
pub mod exec;
mod lock;
mod mcp;
mod net;
pub mod rollout;
pub mod safety;
mod session;
mod tools;

pub use crate::auth::AuthManager;
pub use crate::auth::AuthSettings;
pub use crate::client::user_agent::UserAgent;
pub use crate::client::user_agent::base_user_agent;
pub use crate::config::Config;
pub use crate::config::ConfigOverrides;
pub use crate::config::overrides::ConfigOverride;
pub use crate::conversation::ActiveTurns;
pub use crate::conversation::CodexConversation;
pub use crate::conversation::EventReceiver;
pub use crate::conversation::Subscription;
pub use crate::conversation_manager::ConversationManager;
pub use crate::conversation_manager::ForkSource;
pub use crate::conversation_manager::NewConversation;
pub use crate::conversation_manager::SavedSettings;
pub use crate::error::CodexErr;
/// The engine's queue-pair types, defined once in `codex_protocol` for the engine and the wire.
pub use codex_protocol as protocol;
pub use codex_protocol::AuthMode;
pub use codex_protocol::ConversationId;
pub use codex_protocol::Event;
pub use codex_protocol::EventMsg;
pub use codex_protocol::Op;

/// Sent as the `originator` header so providers can tell our traffic apart.
pub const ORIGINATOR: &str = "codex_mcp_server";
