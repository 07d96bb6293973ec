//! The tools offered to the model and the dispatch of its calls.
//!
//! Calls the engine cannot serve are answered, never dropped: the Responses API rejects a
//! history with a call that has no output, and the model can correct itself from the answer.

pub(crate) mod apply_patch;
pub(crate) mod context;
pub(crate) mod mcp;
pub(crate) mod plan;
pub(crate) mod shell;
pub(crate) mod turn_diff;

use std::borrow::Cow;
use std::sync::LazyLock;

use crate::tools::apply_patch::APPLY_PATCH_TOOL_NAME;
use crate::tools::apply_patch::apply_patch;
use crate::tools::apply_patch::apply_patch_tool_spec;
use crate::tools::apply_patch::handle_apply_patch_call;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;
use crate::tools::plan::PLAN_TOOL_NAME;
use crate::tools::plan::handle_update_plan;
use crate::tools::plan::plan_tool_spec;
use crate::tools::shell::SHELL_TOOL_NAME;
use crate::tools::shell::handle_shell_call;
use crate::tools::shell::shell_tool_spec;

/// The tools every conversation offers, built once per process: as JSON values they take some
/// 13 KiB of small allocations, which each idle conversation used to hold a copy of.
static SPECS: LazyLock<[serde_json::Value; 3]> =
    LazyLock::new(|| [shell_tool_spec(), apply_patch_tool_spec(), plan_tool_spec()]);

pub(crate) struct ToolRouter;

impl ToolRouter {
    pub(crate) fn new() -> Self {
        Self
    }

    /// Tool definitions for the request's `tools` field: the built-in tools, then the MCP
    /// tools the request offers.
    /// Without MCP tools nothing is copied.
    pub(crate) fn specs(
        &self,
        mcp_specs: &[serde_json::Value],
    ) -> Cow<'static, [serde_json::Value]> {
        if mcp_specs.is_empty() {
            Cow::Borrowed(SPECS.as_slice())
        } else {
            Cow::Owned(SPECS.iter().chain(mcp_specs).cloned().collect())
        }
    }

    /// Runs one freeform (custom) tool call, whose input is raw text.
    pub(crate) async fn dispatch_custom(
        &self,
        turn: &TurnContext<'_>,
        name: &str,
        input: &str,
        call_id: &str,
    ) -> ToolOutput {
        match name {
            APPLY_PATCH_TOOL_NAME => apply_patch(turn, call_id, input, &turn.config().cwd).await,
            _ => ToolOutput::text(format!("unsupported custom tool call: {name}")),
        }
    }

    /// Runs one function call.
    pub(crate) async fn dispatch(
        &self,
        turn: &TurnContext<'_>,
        name: &str,
        arguments: &str,
        call_id: &str,
    ) -> ToolOutput {
        match name {
            SHELL_TOOL_NAME => handle_shell_call(turn, call_id, arguments).await,
            PLAN_TOOL_NAME => handle_update_plan(turn, arguments),
            APPLY_PATCH_TOOL_NAME => handle_apply_patch_call(turn, call_id, arguments).await,
            _ => match turn.mcp.route(name) {
                Some(route) => mcp::handle_mcp_call(turn, call_id, route, arguments).await,
                None => ToolOutput::text(format!("unsupported call: {name}")),
            },
        }
    }
}
