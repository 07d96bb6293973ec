//! The `apply_patch` tool as the agent uses it: one road for the function tool, the freeform
//! tool and a patch sent through `shell`: verify, check the paths, ask if needed, apply, report.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::json;

use crate::apply_patch::VerifiedPatch;
use crate::apply_patch::parse_patch;
use crate::apply_patch::verify_patch;
use crate::protocol::EventMsg;
use crate::protocol::FileChange;
use crate::protocol::PatchApplyBeginEvent;
use crate::protocol::PatchApplyEndEvent;
use crate::protocol::ReviewDecision;
use crate::safety::patch::PatchSafety;
use crate::safety::patch::assess_patch_safety;
use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;

pub(crate) const APPLY_PATCH_TOOL_NAME: &str = "apply_patch";
pub(crate) const PATCH_REJECTED_BY_USER: &str = "patch rejected by user";

pub(crate) fn apply_patch_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": APPLY_PATCH_TOOL_NAME,
        "description": "Edit files with a patch. The input is the whole patch:\n*** Begin Patch\n*** Add File: path/new.txt\n+line\n*** Update File: path/old.txt\n@@ context line\n-removed\n+added\n*** Delete File: path/gone.txt\n*** End Patch\nPaths are relative to the working directory. `*** Move to: new/path` may follow an Update File line.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "input": {"type": "string", "description": "The entire contents of the apply_patch command"}
            },
            "required": ["input"],
            "additionalProperties": false
        }
    })
}

/// The freeform tool: the model writes the patch itself, constrained by this grammar of the
/// patch language (`apply_patch/parser.rs` is the reader it must satisfy).
pub(crate) fn apply_patch_freeform_tool_spec() -> serde_json::Value {
    json!({
        "type": "custom",
        "name": APPLY_PATCH_TOOL_NAME,
        "description": "Edit files with a patch. Paths are relative to the working directory; send the whole patch, from `*** Begin Patch` to `*** End Patch`.",
        "format": {
            "type": "grammar",
            "syntax": "lark",
            "definition": PATCH_GRAMMAR,
        }
    })
}

/// The patch language as a Lark grammar: file operations between the begin and end markers;
/// an update is an optional move and hunks of context, removed and added lines.
const PATCH_GRAMMAR: &str = r#"start: "*** Begin Patch" LF operation+ "*** End Patch" LF?

operation: add_file | delete_file | update_file

add_file: "*** Add File: " PATH LF added+
delete_file: "*** Delete File: " PATH LF
update_file: "*** Update File: " PATH LF move_to? hunk+

move_to: "*** Move to: " PATH LF
hunk: hunk_header? hunk_line+ end_of_file?
hunk_header: "@@" (" " TEXT)? LF
hunk_line: (" " | "-" | "+") TEXT? LF
added: "+" TEXT? LF
end_of_file: "*** End of File" LF

PATH: /[^
]+/
TEXT: /[^
]+/

%import common.LF
"#;

#[derive(Deserialize)]
struct ApplyPatchArgs {
    input: String,
}

/// The function tool: `{"input": "<patch>"}`.
pub(crate) async fn handle_apply_patch_call(
    turn: &TurnContext<'_>,
    call_id: &str,
    arguments: &str,
) -> ToolOutput {
    match serde_json::from_str::<ApplyPatchArgs>(arguments) {
        Ok(args) => apply_patch(turn, call_id, &args.input, &turn.config().cwd).await,
        Err(err) => ToolOutput::text(format!("failed to parse function arguments: {err}")),
    }
}

/// Verifies `patch` with relative paths resolved against `cwd` (a shell call's `workdir`), asks
/// when it writes outside the conversation's writable roots, applies it. The roots always come
/// from the conversation, never from `cwd`: a model cannot widen them by picking a workdir.
pub(crate) async fn apply_patch(
    turn: &TurnContext<'_>,
    call_id: &str,
    patch: &str,
    cwd: &Path,
) -> ToolOutput {
    // Verifying and assessing read the files and resolve links: off the async workers.
    let verified = {
        let (patch, cwd) = (patch.to_string(), cwd.to_path_buf());
        tokio::task::spawn_blocking(move || {
            parse_patch(&patch).and_then(|hunks| verify_patch(&hunks, &cwd))
        })
        .await
    };
    let verified = match verified {
        Ok(Ok(verified)) => verified,
        Ok(Err(err)) => {
            return ToolOutput::text(format!("apply_patch verification failed: {err}"));
        }
        Err(join) => return ToolOutput::text(format!("apply_patch verification failed: {join}")),
    };
    let config = turn.config();
    let changes: BTreeMap<PathBuf, FileChange> = verified.changes().into_iter().collect();
    let touched = verified.touched_paths();
    let approved: std::collections::HashSet<PathBuf> = touched
        .iter()
        .filter(|path| turn.is_path_approved_for_session(path))
        .cloned()
        .collect();
    let safety = {
        let (policy, sandbox, cwd) = (
            config.approval_policy,
            config.sandbox_policy.clone(),
            config.cwd.clone(),
        );
        tokio::task::spawn_blocking(move || {
            assess_patch_safety(&touched, policy, &sandbox, &cwd, |path| {
                approved.contains(path)
            })
        })
        .await
        .unwrap_or_else(|join| PatchSafety::Reject {
            reason: format!("the patch could not be checked: {join}"),
        })
    };
    let auto_approved = match safety {
        PatchSafety::AutoApprove => true,
        PatchSafety::Reject { reason } => return ToolOutput::text(reason),
        PatchSafety::AskUser { reason, grant_root } => {
            match turn
                .request_patch_approval(call_id, changes.clone(), Some(reason), grant_root)
                .await
            {
                ReviewDecision::Approved => false,
                ReviewDecision::ApprovedForSession => {
                    turn.approve_paths_for_session(verified.touched_paths());
                    false
                }
                ReviewDecision::Denied => {
                    return ToolOutput::text(PATCH_REJECTED_BY_USER.to_string());
                }
                ReviewDecision::DeniedWithReason(reason) => {
                    return ToolOutput::text(format!("{PATCH_REJECTED_BY_USER}: {reason}"));
                }
                ReviewDecision::Abort => {
                    return ToolOutput {
                        output: PATCH_REJECTED_BY_USER.to_string(),
                        abort_turn: true,
                        images: Vec::new(),
                    };
                }
            }
        }
    };
    apply_verified(turn, call_id, verified, changes, auto_approved).await
}

async fn apply_verified(
    turn: &TurnContext<'_>,
    call_id: &str,
    verified: VerifiedPatch,
    changes: BTreeMap<PathBuf, FileChange>,
    auto_approved: bool,
) -> ToolOutput {
    turn.record_patch_originals(verified.touched_paths()).await;
    turn.emit(EventMsg::PatchApplyBegin(PatchApplyBeginEvent {
        call_id: call_id.to_string(),
        auto_approved,
        changes,
    }));
    // Applied in place, not on the blocking pool: with no `.await` between its begin and end
    // events, a cancelled turn either applied the patch and said so, or did not apply it.
    let (stdout, stderr, success) = match verified.apply() {
        Ok(summary) => (summary, String::new(), true),
        Err(err) => (String::new(), err.to_string(), false),
    };
    turn.emit(EventMsg::PatchApplyEnd(PatchApplyEndEvent {
        call_id: call_id.to_string(),
        stdout: stdout.clone(),
        stderr: stderr.clone(),
        success,
    }));
    ToolOutput::text(if success {
        stdout
    } else {
        format!("apply_patch failed: {stderr}")
    })
}
