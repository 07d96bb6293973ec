//! A model's call to an MCP server's tool: the approval policy, the events a client sees
//! (`mcp_tool_call_begin`, progress, `mcp_tool_call_end`), and the output the model reads.
//!
//! How MCP tools meet the approval policy. An MCP tool runs in its server's process, outside
//! our sandbox, so the sandbox-based policies have nothing to fall back on; the tool's own
//! annotations are what we know about it:
//! - a tool that declares `readOnlyHint: true` never asks;
//! - `untrusted` asks for every other tool;
//! - `on-request` asks for a tool that declares `destructiveHint: true` (annotations are hints
//!   from a server the user chose to configure, so an unannotated tool runs, as under Codex);
//! - `on-failure` and `never` do not ask (there is no sandboxed first attempt to fail).
//!
//! The question goes out as an ordinary exec approval request whose command reads
//! `mcp-tool <server> <tool> <arguments>`, so hosts need nothing new; it defaults to deny like
//! every other, and "approve for the session" covers that tool of that server only.

use std::time::Instant;

use serde_json::Value;

use crate::mcp::ProgressUpdate;
use crate::mcp::ToolRoute;
use crate::mcp::result::model_output;
use crate::protocol::AskForApproval;
use crate::protocol::EventMsg;
use crate::protocol::McpInvocation;
use crate::protocol::McpToolCallBeginEvent;
use crate::protocol::McpToolCallEndEvent;
use crate::protocol::McpToolCallProgressEvent;
use crate::protocol::ReviewDecision;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;

/// Runs one call to an MCP tool and returns what the model reads.
pub(crate) async fn handle_mcp_call(
    turn: &TurnContext<'_>,
    call_id: &str,
    route: ToolRoute,
    arguments: &str,
) -> ToolOutput {
    let arguments = match parse_arguments(arguments) {
        Ok(arguments) => arguments,
        Err(message) => return ToolOutput::text(message),
    };
    let invocation = McpInvocation {
        server: route.server.clone(),
        tool: route.tool.clone(),
        arguments: arguments.clone().map(Value::Object),
    };
    if needs_approval(turn.config().approval_policy, route.annotations.as_ref())
        && !turn.is_mcp_tool_approved_for_session(&route.server, &route.tool)
    {
        let arguments_text = invocation
            .arguments
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_else(|| "{}".to_string());
        let command = vec![
            "mcp-tool".to_string(),
            route.server.clone(),
            route.tool.clone(),
            arguments_text,
        ];
        let reason = format!(
            "The agent wants to call the tool `{}` of the MCP server `{}`.",
            route.tool, route.server
        );
        let decision = turn
            .request_exec_approval(call_id, &command, &turn.config().cwd, Some(reason))
            .await;
        match decision {
            ReviewDecision::Approved => {}
            ReviewDecision::ApprovedForSession => {
                turn.approve_mcp_tool_for_session(&route.server, &route.tool);
            }
            ReviewDecision::Denied => {
                return ToolOutput::text("MCP tool call rejected by user".to_string());
            }
            ReviewDecision::DeniedWithReason(reason) => {
                return ToolOutput::text(format!("MCP tool call rejected by user: {reason}"));
            }
            ReviewDecision::Abort => {
                return ToolOutput {
                    output: "MCP tool call rejected by user".to_string(),
                    abort_turn: true,
                    images: Vec::new(),
                };
            }
        }
    }
    turn.emit(EventMsg::McpToolCallBegin(McpToolCallBeginEvent {
        call_id: call_id.to_string(),
        invocation: invocation.clone(),
    }));
    let started = Instant::now();
    let on_progress = |update: ProgressUpdate| {
        turn.emit(EventMsg::McpToolCallProgress(McpToolCallProgressEvent {
            call_id: call_id.to_string(),
            invocation: invocation.clone(),
            progress: update.progress,
            total: update.total,
            message: update.message,
        }));
    };
    let result = if route.connection.is_closed() {
        Err("the server stopped (its process exited or its connection closed)".to_string())
    } else {
        route
            .connection
            .call_tool(&route.tool, arguments, &on_progress)
            .await
    };
    let output = match &result {
        Ok(result) => model_output(result),
        Err(error) => format!(
            "The call to `{}` of MCP server `{}` failed: {error}",
            route.tool, route.server
        ),
    };
    turn.emit(EventMsg::McpToolCallEnd(McpToolCallEndEvent {
        call_id: call_id.to_string(),
        invocation,
        duration: started.elapsed(),
        result,
    }));
    ToolOutput::text(output)
}

/// The model's arguments: a JSON object, or nothing at all.
fn parse_arguments(arguments: &str) -> Result<Option<serde_json::Map<String, Value>>, String> {
    if arguments.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(None),
        Ok(other) => Err(format!(
            "failed to parse function arguments: expected a JSON object, got {other}"
        )),
        Err(err) => Err(format!("failed to parse function arguments: {err}")),
    }
}

/// Whether the policy asks before this tool runs (see the module doc).
pub(crate) fn needs_approval(policy: AskForApproval, annotations: Option<&Value>) -> bool {
    let hint = |name: &str| {
        annotations
            .and_then(|annotations| annotations.get(name))
            .and_then(Value::as_bool)
    };
    if hint("readOnlyHint") == Some(true) {
        return false;
    }
    match policy {
        AskForApproval::UnlessTrusted => true,
        AskForApproval::OnRequest => hint("destructiveHint") == Some(true),
        AskForApproval::OnFailure | AskForApproval::Never => false,
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_approval_policy_reads_the_tool_annotations() {
        let read_only = json!({"readOnlyHint": true, "destructiveHint": true});
        let destructive = json!({"destructiveHint": true});
        let harmless = json!({"destructiveHint": false});
        let policies = [
            AskForApproval::UnlessTrusted,
            AskForApproval::OnRequest,
            AskForApproval::OnFailure,
            AskForApproval::Never,
        ];
        let asks = |annotations: Option<&Value>| -> Vec<bool> {
            policies
                .iter()
                .map(|policy| needs_approval(*policy, annotations))
                .collect()
        };
        assert_eq!(asks(Some(&read_only)), [false, false, false, false]);
        assert_eq!(asks(Some(&destructive)), [true, true, false, false]);
        assert_eq!(asks(Some(&harmless)), [true, false, false, false]);
        assert_eq!(asks(None), [true, false, false, false]);
    }

    #[test]
    fn arguments_must_be_an_object_or_nothing() {
        assert_eq!(parse_arguments(""), Ok(None));
        assert_eq!(parse_arguments("null"), Ok(None));
        assert_eq!(
            parse_arguments(r#"{"a": 1}"#),
            Ok(Some(
                json!({"a": 1}).as_object().cloned().unwrap_or_default()
            ))
        );
        assert!(
            parse_arguments("[1]")
                .unwrap_err()
                .contains("expected a JSON object")
        );
        assert!(
            parse_arguments("{")
                .unwrap_err()
                .starts_with("failed to parse function arguments")
        );
    }
}
