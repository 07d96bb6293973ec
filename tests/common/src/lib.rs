//! Test support: drive the real `codex` binary over stdio, run the engine in process
//! ([`test_codex`]), and play the model provider.
//!
//! Every read has a timeout, so a test that waits for something that never comes fails
//! instead of hanging CI.

pub mod chat;
mod gated_model;
mod mcp_process;
mod mock_model;
mod processes;
pub mod responses;
mod rollouts;
mod test_codex;

use std::time::Duration;

pub use crate::gated_model::GatedModel;
pub use crate::gated_model::UNTIL_RELEASED;
pub use crate::mcp_process::McpProcess;
pub use crate::mock_model::MockModel;
pub use crate::mock_model::Wire;
pub use crate::mock_model::sse_response;
pub use crate::mock_model::write_mock_config;
pub use crate::processes::processes_with;
pub use crate::processes::wait_for_processes;
pub use crate::rollouts::rollout_files;
pub use crate::test_codex::TestCodex;
pub use crate::test_codex::TestCodexBuilder;
pub use crate::test_codex::collect_events_until;
pub use crate::test_codex::start_turn;
pub use crate::test_codex::test_codex;
pub use crate::test_codex::wait_for_event;
pub use crate::test_codex::wait_until;
pub use crate::test_codex::within;
pub use crate::test_codex::within_for;

/// Long enough for a debug build on a loaded two-core CI machine; short enough that a hang
/// is reported while someone still remembers what they changed.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The API key the mock provider expects, passed to the server via `MOCK_API_KEY`.
pub const MOCK_API_KEY: &str = "mock-secret-key";
