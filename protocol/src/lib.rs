//! The engine's wire types: one definition of everything that crosses the engine's edge.
//!
//! `Op`s go into a conversation and `Event`s come out (see `codex_core`); history items are
//! what the model provider and rollouts read; the policy enums are spelled the same in
//! config.toml, in events and in the MCP tools' arguments. `codex_core` and
//! `codex_mcp_types` both build on these types, so a host reads exactly what the engine
//! emits. Plain data: serde and schemars, no runtime, so a host author can depend on it
//! alone.

pub mod config_types;
pub mod events;
pub mod ids;
pub mod items;
pub mod mcp;
pub mod ops;
pub mod parsed_command;
pub mod plan;

pub use crate::config_types::AskForApproval;
pub use crate::config_types::AuthMode;
pub use crate::config_types::ReasoningEffort;
pub use crate::config_types::ReasoningSummary;
pub use crate::config_types::SandboxMode;
pub use crate::config_types::SandboxPolicy;
pub use crate::config_types::Verbosity;
pub use crate::events::*;
pub use crate::ids::ConversationId;
pub use crate::ids::MalformedConversationId;
pub use crate::items::ContentItem;
pub use crate::items::ReasoningSummaryPart;
pub use crate::items::ResponseItem;
pub use crate::mcp::*;
pub use crate::ops::InputItem;
pub use crate::ops::Op;
pub use crate::ops::ReviewDecision;
pub use crate::ops::Submission;
pub use crate::parsed_command::ParsedCommand;
pub use crate::plan::PlanItem;
pub use crate::plan::StepStatus;
pub use crate::plan::UpdatePlanArgs;
