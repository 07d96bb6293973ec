//! What goes into the engine: an [`Op`] per request, tagged with the id its events will carry.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;

use crate::config_types::AskForApproval;
use crate::config_types::ReasoningEffort;
use crate::config_types::ReasoningSummary;
use crate::config_types::SandboxPolicy;
use crate::events::RequestUserInputResponse;

/// One piece of a user message.
///
/// Adjacently tagged (`{"type", "data"}`) because that is how the reference server spelled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data", rename_all = "camelCase")]
pub enum InputItem {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL (including `data:` URLs).
    Image {
        /// The image's URL.
        #[serde(rename = "imageUrl")]
        image_url: String,
    },
    /// An image file on the server's machine.
    LocalImage {
        /// Path of the image file.
        path: PathBuf,
    },
}

/// A request to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// Start a turn with this input. Turns of one conversation run one after another.
    UserInput { items: Vec<InputItem> },
    /// Start a turn with new settings; they stay the conversation's settings for later turns.
    UserTurn {
        items: Vec<InputItem>,
        cwd: PathBuf,
        approval_policy: AskForApproval,
        sandbox_policy: SandboxPolicy,
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        effort: Option<ReasoningEffort>,
        #[serde(default)]
        summary: ReasoningSummary,
    },
    /// Summarise the conversation and continue from the summary, to free context space.
    Compact,
    /// Abort the running turn; it ends with `turn_aborted`.
    Interrupt,
    /// Abort everything and end the session; the last event is `shutdown_complete`.
    Shutdown,
    /// The answer to an `exec_approval_request`, keyed by its `call_id`.
    ExecApproval {
        id: String,
        decision: ReviewDecision,
    },
    /// The answer to an `apply_patch_approval_request`, keyed by its `call_id`.
    PatchApproval {
        id: String,
        decision: ReviewDecision,
    },
    /// The answer to a `request_user_input` event, keyed by its `call_id`.
    UserInputAnswer {
        id: String,
        response: RequestUserInputResponse,
    },
}

/// A user's answer to an approval request. Anything that is not an explicit approval is a
/// denial: that is the safe default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// Run this once.
    Approved,
    /// Run this, and the same command again in this conversation without asking.
    ApprovedForSession,
    /// Do not run it; the model is told, with the reason when there is one, and continues.
    #[default]
    Denied,
    /// Denied with an explanation for the model.
    DeniedWithReason(String),
    /// Do not run it, and end the turn.
    Abort,
}

/// An `Op` with the id that the events it causes will carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub id: String,
    pub op: Op,
}
