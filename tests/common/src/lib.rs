//! Test support: drive the real `codex` binary over stdio, and play the model provider.
//!
//! Every read has a timeout, so a test that waits for something that never comes fails
//! instead of hanging CI.

pub mod chat;
mod mcp_process;
mod mock_model;
mod processes;
pub mod responses;
mod rollouts;

use std::time::Duration;

pub use crate::mcp_process::McpProcess;
pub use crate::mock_model::MockModel;
pub use crate::mock_model::Wire;
pub use crate::mock_model::sse_response;
pub use crate::mock_model::write_mock_config;
pub use crate::processes::processes_with;
pub use crate::processes::wait_for_processes;
pub use crate::rollouts::rollout_files;

/// Long enough for a debug build on a loaded two-core CI machine; short enough that a hang
/// is reported while someone still remembers what they changed.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The API key the mock provider expects, passed to the server via `MOCK_API_KEY`.
pub const MOCK_API_KEY: &str = "mock-secret-key";
