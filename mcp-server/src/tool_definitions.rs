//! The two tools as `tools/list` presents them: names, descriptions for the calling model,
//! and schemas generated from the wire types.

use std::sync::Arc;

use codex_mcp_types::CODEX_REPLY_TOOL_NAME;
use codex_mcp_types::CODEX_TOOL_NAME;
use codex_mcp_types::CodexToolCallParam;
use codex_mcp_types::CodexToolCallReplyParam;
use codex_mcp_types::CodexToolCallResult;
use codex_mcp_types::tool_input_schema;
use codex_mcp_types::tool_output_schema;
use rmcp::model::Tool;
use rmcp::model::ToolAnnotations;

const CODEX_DESCRIPTION: &str = "Delegate a coding task to Codex, an autonomous coding agent \
that works in a local directory: it reads files, runs commands and edits code until the task \
in `prompt` is done, then returns its final message and a `threadId`. Use `codex-reply` with \
that `threadId` to follow up in the same conversation. A task can take minutes.";

const CODEX_REPLY_DESCRIPTION: &str = "Continue a Codex conversation: send the next message to \
the thread started by the `codex` tool (pass its `threadId`). Codex keeps everything it did and \
said before. Returns its final message for this turn.";

pub(crate) fn all() -> Vec<Tool> {
    vec![codex_tool(), codex_reply_tool()]
}

/// Whether `name` is one of the two tools.
pub(crate) fn is_known(name: &str) -> bool {
    matches!(name, CODEX_TOOL_NAME | CODEX_REPLY_TOOL_NAME)
}

fn annotations(title: &str) -> ToolAnnotations {
    // The agent edits files and runs commands, and its model is a remote service.
    ToolAnnotations::with_title(title)
        .read_only(false)
        .destructive(true)
        .idempotent(false)
        .open_world(true)
}

fn codex_tool() -> Tool {
    Tool::new(
        CODEX_TOOL_NAME,
        CODEX_DESCRIPTION,
        Arc::new(tool_input_schema::<CodexToolCallParam>()),
    )
    .with_title("Codex")
    .with_raw_output_schema(Arc::new(tool_output_schema::<CodexToolCallResult>()))
    .with_annotations(annotations("Codex"))
}

fn codex_reply_tool() -> Tool {
    Tool::new(
        CODEX_REPLY_TOOL_NAME,
        CODEX_REPLY_DESCRIPTION,
        Arc::new(tool_input_schema::<CodexToolCallReplyParam>()),
    )
    .with_title("Codex Reply")
    .with_raw_output_schema(Arc::new(tool_output_schema::<CodexToolCallResult>()))
    .with_annotations(annotations("Codex Reply"))
}
