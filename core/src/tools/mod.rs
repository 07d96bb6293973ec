//! The tools offered to the model and the dispatch of its calls.
//!
//! Calls the engine cannot serve are answered, never dropped: the Responses API rejects a
//! history with a call that has no output, and the model can correct itself from the answer.

pub(crate) mod apply_patch;
pub(crate) mod context;
pub(crate) mod mcp;
pub(crate) mod plan;
pub(crate) mod shell;
pub(crate) mod truncation;
pub(crate) mod turn_diff;
pub(crate) mod unified_exec;
pub(crate) mod user_input;
pub(crate) mod view_image;

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::config::Config;
use crate::config::model_family::ApplyPatchToolType;
use crate::config::model_family::ShellToolType;
use crate::config::providers::WireApi;
use crate::tools::apply_patch::APPLY_PATCH_TOOL_NAME;
use crate::tools::apply_patch::apply_patch;
use crate::tools::apply_patch::apply_patch_freeform_tool_spec;
use crate::tools::apply_patch::apply_patch_tool_spec;
use crate::tools::apply_patch::handle_apply_patch_call;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;
use crate::tools::plan::PLAN_TOOL_NAME;
use crate::tools::plan::handle_update_plan;
use crate::tools::plan::plan_tool_spec;
use crate::tools::shell::SHELL_COMMAND_TOOL_NAME;
use crate::tools::shell::SHELL_TOOL_NAME;
use crate::tools::shell::handle_shell_call;
use crate::tools::shell::handle_shell_command_call;
use crate::tools::shell::shell_command_tool_spec;
use crate::tools::shell::shell_tool_spec;
use crate::tools::unified_exec::EXEC_COMMAND_TOOL_NAME;
use crate::tools::unified_exec::WRITE_STDIN_TOOL_NAME;
use crate::tools::unified_exec::exec_command_tool_spec;
use crate::tools::unified_exec::handle_exec_command;
use crate::tools::unified_exec::handle_write_stdin;
use crate::tools::unified_exec::write_stdin_tool_spec;
use crate::tools::user_input::REQUEST_USER_INPUT_TOOL_NAME;
use crate::tools::user_input::handle_request_user_input;
use crate::tools::user_input::request_user_input_tool_spec;
use crate::tools::view_image::VIEW_IMAGE_TOOL_NAME;
use crate::tools::view_image::handle_view_image;
use crate::tools::view_image::view_image_tool_spec;

/// How many distinct tool sets there are (see [`ToolSet::index`]).
const TOOL_SETS: usize = 3 * 2 * 2 * 2 * 2;

/// The tool sets, each built once per process when first used: as JSON values a set takes
/// some 13 KiB of small allocations, which each idle conversation used to hold a copy of.
static SPECS: [OnceLock<Vec<serde_json::Value>>; TOOL_SETS] =
    [const { OnceLock::new() }; TOOL_SETS];

/// Which built-in tools a request offers: the model family's, with config.toml's `[tools]`;
/// Chat Completions has no custom or hosted tools, so the patch tool is a function there and
/// there is no web search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ToolSet {
    shell: ShellToolType,
    freeform_patch: bool,
    request_user_input: bool,
    view_image: bool,
    web_search: bool,
}

impl ToolSet {
    fn for_config(config: &Config) -> Self {
        let family = config.model_family();
        let responses = config.model_provider.wire_api == WireApi::Responses;
        Self {
            shell: family.shell_tool,
            freeform_patch: family.apply_patch_tool == ApplyPatchToolType::Freeform && responses,
            request_user_input: family.request_user_input,
            view_image: config.tools.view_image.unwrap_or(family.view_image),
            web_search: config.tools.web_search.unwrap_or(false) && responses,
        }
    }

    fn index(self) -> usize {
        let shell = match self.shell {
            ShellToolType::Shell => 0,
            ShellToolType::ShellCommand => 1,
            ShellToolType::UnifiedExec => 2,
        };
        [
            self.freeform_patch,
            self.request_user_input,
            self.view_image,
            self.web_search,
        ]
        .into_iter()
        .fold(shell, |index, on| index * 2 + usize::from(on))
    }

    fn specs(self) -> Vec<serde_json::Value> {
        let mut specs = match self.shell {
            ShellToolType::Shell => vec![shell_tool_spec()],
            ShellToolType::ShellCommand => vec![shell_command_tool_spec()],
            ShellToolType::UnifiedExec => vec![exec_command_tool_spec(), write_stdin_tool_spec()],
        };
        specs.push(if self.freeform_patch {
            apply_patch_freeform_tool_spec()
        } else {
            apply_patch_tool_spec()
        });
        specs.push(plan_tool_spec());
        if self.request_user_input {
            specs.push(request_user_input_tool_spec());
        }
        if self.view_image {
            specs.push(view_image_tool_spec());
        }
        if self.web_search {
            specs.push(serde_json::json!({"type": "web_search"}));
        }
        specs
    }
}

pub(crate) struct ToolRouter;

impl ToolRouter {
    pub(crate) fn new() -> Self {
        Self
    }

    /// Tool definitions for the request's `tools` field: the built-in tools the conversation's
    /// model expects, then the MCP tools the request offers. Without MCP tools nothing is
    /// copied.
    pub(crate) fn specs(
        &self,
        config: &Config,
        mcp_specs: &[serde_json::Value],
    ) -> Cow<'static, [serde_json::Value]> {
        let set = ToolSet::for_config(config);
        let built_in = SPECS
            .get(set.index())
            .map_or(&[][..], |slot| slot.get_or_init(|| set.specs()).as_slice());
        if mcp_specs.is_empty() {
            Cow::Borrowed(built_in)
        } else {
            Cow::Owned(built_in.iter().chain(mcp_specs).cloned().collect())
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
            SHELL_COMMAND_TOOL_NAME => handle_shell_command_call(turn, call_id, arguments).await,
            EXEC_COMMAND_TOOL_NAME => handle_exec_command(turn, call_id, arguments).await,
            WRITE_STDIN_TOOL_NAME => handle_write_stdin(turn, call_id, arguments).await,
            VIEW_IMAGE_TOOL_NAME => handle_view_image(turn, arguments).await,
            REQUEST_USER_INPUT_TOOL_NAME => {
                handle_request_user_input(turn, call_id, arguments).await
            }
            PLAN_TOOL_NAME => handle_update_plan(turn, arguments),
            APPLY_PATCH_TOOL_NAME => handle_apply_patch_call(turn, call_id, arguments).await,
            _ => match turn.mcp.route(name) {
                Some(route) => mcp::handle_mcp_call(turn, call_id, route, arguments).await,
                None => ToolOutput::text(format!("unsupported call: {name}")),
            },
        }
    }
}
