//! The server's integration tests, in one binary: each spawns the real `codex` binary, speaks
//! MCP to it over stdio, and points it at a mock model provider on 127.0.0.1.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod suite;
