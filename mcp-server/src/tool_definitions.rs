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

/// The header a 2026-07-28 client mirrors `codex-reply`'s `threadId` into (SEP-2243:
/// `Mcp-Param-Thread-Id`), so a load balancer can send a thread's calls to one replica without
/// reading bodies.
pub(crate) const THREAD_ID_HEADER: &str = "Thread-Id";

/// [`all`], with `codex-reply`'s `threadId` annotated for routing (`x-mcp-header`): offered
/// when replicas share a thread store. Routing is an optimisation: any replica serves any
/// thread.
pub(crate) fn all_for_replicas() -> Vec<Tool> {
    let mut tools = all();
    for tool in &mut tools {
        if tool.name == CODEX_REPLY_TOOL_NAME {
            let mut schema = (*tool.input_schema).clone();
            if let Some(serde_json::Value::Object(thread_id)) = schema
                .get_mut("properties")
                .and_then(|properties| properties.get_mut("threadId"))
            {
                thread_id.insert(
                    "x-mcp-header".to_string(),
                    serde_json::Value::String(THREAD_ID_HEADER.to_string()),
                );
            }
            tool.input_schema = Arc::new(schema);
        }
    }
    tools
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
