//! The custom JSON-RPC methods beside the MCP ones: the conversation API, which routes them,
//! and the account and settings APIs it routes to. Their failures become JSON-RPC errors in
//! one place (`error.rs`).

mod account;
mod conversation;
mod error;
mod settings;

pub(crate) use self::conversation::ConversationApi;
