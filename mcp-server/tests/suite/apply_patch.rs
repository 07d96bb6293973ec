//! File edits through `apply_patch`: applied exactly, inside the writable roots without asking,
//! and with a patch-approval elicitation anywhere else.

use std::path::Path;

use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::ev_completed;
use codex_test_support::responses::ev_function_call;
use codex_test_support::responses::ev_response_created;
use codex_test_support::responses::shell_call;
use codex_test_support::responses::sse;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::TestServer;

const WORKSPACE: &str = "approval_policy = \"on-request\"\nsandbox_mode = \"workspace-write\"";

fn patch_call(call_id: &str, patch: &str) -> String {
    sse(&[
        ev_response_created("r-patch"),
        ev_function_call(call_id, "apply_patch", &json!({"input": patch}).to_string()),
        ev_completed("r-patch"),
    ])
}

/// What one conversation showed the host besides its result.
#[derive(Default)]
struct Seen {
    /// `elicitation/create` requests, each answered with the given reply.
    elicitations: Vec<Value>,
    /// `patch_apply_begin` and `patch_apply_end` events, in order.
    patch_events: Vec<Value>,
    /// The `unified_diff` of each `turn_diff` event.
    turn_diffs: Vec<String>,
}

/// Runs one conversation in `cwd` whose model sends `first` and then says "done"; returns
/// the call's result and what the host saw, answering any elicitation with `reply`.
async fn run(
    server: &mut TestServer,
    cwd: &Path,
    first: String,
    reply: Value,
) -> anyhow::Result<(Value, Seen)> {
    server
        .model
        .mount_sse_sequence(vec![first, assistant_answer("done")])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "edit", "cwd": cwd}))
        .await?;
    let mut seen = Seen::default();
    let response = loop {
        let message = server.mcp.read_message().await?;
        if message["method"] == "elicitation/create" {
            server
                .mcp
                .send_response(message["id"].clone(), reply.clone())
                .await?;
            seen.elicitations.push(message);
        } else if message["method"] == "codex/event" {
            let msg = &message["params"]["msg"];
            match msg["type"].as_str() {
                Some("turn_diff") => seen
                    .turn_diffs
                    .push(msg["unified_diff"].as_str().unwrap_or_default().to_string()),
                Some("patch_apply_begin" | "patch_apply_end") => {
                    seen.patch_events.push(msg.clone())
                }
                _ => {}
            }
        } else if message.get("method").is_none() && message["id"] == json!(id) {
            break message;
        }
    };
    Ok((response["result"].clone(), seen))
}

/// The three ways a model sends a patch; all take the same road.
#[derive(Debug, Clone, Copy)]
enum Form {
    FunctionTool,
    FreeformTool,
    ShellHeredoc,
}

fn patch_response(form: Form, call_id: &str, patch: &str) -> String {
    match form {
        Form::FunctionTool => patch_call(call_id, patch),
        Form::FreeformTool => sse(&[
            ev_response_created("r-patch"),
            json!({"type": "response.output_item.done", "item": {"type": "custom_tool_call", "call_id": call_id, "name": "apply_patch", "input": patch}}),
            ev_completed("r-patch"),
        ]),
        Form::ShellHeredoc => {
            let script = format!("apply_patch <<'EOF'\n{patch}\nEOF");
            shell_call(call_id, &["bash", "-lc", &script], json!({}))
        }
    }
}

#[tokio::test]
async fn every_grammar_element_applies_exactly_in_every_form() -> anyhow::Result<()> {
    for form in [Form::FunctionTool, Form::FreeformTool, Form::ShellHeredoc] {
        let mut server = TestServer::start(WORKSPACE, &[]).await?;
        let cwd = TempDir::new()?;
        let dir = cwd.path();
        std::fs::write(dir.join("update.txt"), "alpha\nbeta\ngamma\ndelta\n")?;
        std::fs::write(dir.join("delete.txt"), "bye\n")?;
        std::fs::write(dir.join("move.txt"), "keep\nchange\n")?;
        let patch = "*** Begin Patch\n*** Add File: added/new.txt\n+hello\n+world\n*** Update File: update.txt\n@@ beta\n-gamma\n+GAMMA\n*** Delete File: delete.txt\n*** Update File: move.txt\n*** Move to: moved/there.txt\n@@\n keep\n-change\n+changed\n*** End Patch";
        let (result, asked) = run(
            &mut server,
            dir,
            patch_response(form, "call-1", patch),
            json!({"action": "decline"}),
        )
        .await?;
        assert_eq!(result["structuredContent"]["content"], "done", "{form:?}");
        let questions = asked.elicitations.len();
        assert_eq!(questions, 0, "{form:?}: inside cwd, no question");
        assert_eq!(
            std::fs::read_to_string(dir.join("added/new.txt"))?,
            "hello\nworld\n",
            "{form:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("update.txt"))?,
            "alpha\nbeta\nGAMMA\ndelta\n",
            "{form:?}"
        );
        assert!(!dir.join("delete.txt").exists(), "{form:?}");
        assert!(!dir.join("move.txt").exists(), "{form:?}");
        assert_eq!(
            std::fs::read_to_string(dir.join("moved/there.txt"))?,
            "keep\nchanged\n",
            "{form:?}"
        );
        let output = match form {
            Form::FreeformTool => server
                .model
                .request_bodies()
                .await
                .iter()
                .flat_map(|body| body["input"].as_array().cloned().unwrap_or_default())
                .find(|item| {
                    item["type"] == "custom_tool_call_output" && item["call_id"] == "call-1"
                })
                .and_then(|item| item["output"].as_str().map(str::to_string))
                .unwrap_or_default(),
            Form::FunctionTool | Form::ShellHeredoc => server.output_seen_by_model("call-1").await,
        };
        assert!(
            output.starts_with("Success. Updated the following files:\n"),
            "{form:?}: {output}"
        );
        for line in [
            "A added/new.txt",
            "M update.txt",
            "M moved/there.txt",
            "D delete.txt",
        ] {
            assert!(
                output.lines().any(|l| l == line),
                "{form:?}: {line} missing from {output}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn approved_for_session_remembers_the_files() -> anyhow::Result<()> {
    let mut server = TestServer::start(
        "approval_policy = \"on-request\"\nsandbox_mode = \"read-only\"",
        &[],
    )
    .await?;
    let cwd = TempDir::new()?;
    let first = "*** Begin Patch\n*** Add File: notes.txt\n+one\n*** End Patch";
    let second = "*** Begin Patch\n*** Update File: notes.txt\n-one\n+two\n*** End Patch";
    server
        .model
        .mount_sse_sequence(vec![
            patch_call("call-1", first),
            patch_call("call-2", second),
            assistant_answer("done"),
        ])
        .await;
    let id = server
        .mcp
        .call_tool("codex", json!({"prompt": "edit twice", "cwd": cwd.path()}))
        .await?;
    let request = server
        .mcp
        .read_until(|m| m["method"] == "elicitation/create")
        .await?;
    server
        .mcp
        .send_response(
            request["id"].clone(),
            json!({"action": "accept", "content": {"decision": "approved_for_session"}}),
        )
        .await?;
    let result = server.mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(result["structuredContent"]["content"], "done");
    let more = server
        .mcp
        .take_others()
        .into_iter()
        .filter(|m| m["method"] == "elicitation/create")
        .count();
    assert_eq!(
        more, 0,
        "the second patch to the same file is not asked about"
    );
    assert_eq!(
        std::fs::read_to_string(cwd.path().join("notes.txt"))?,
        "two\n"
    );
    Ok(())
}

#[tokio::test]
async fn read_only_asks_with_the_diff_and_respects_the_answer() -> anyhow::Result<()> {
    for (reply, applied) in [
        (json!({"action": "accept"}), true),
        (json!({"action": "decline"}), false),
    ] {
        let mut server = TestServer::start(
            "approval_policy = \"on-request\"\nsandbox_mode = \"read-only\"",
            &[],
        )
        .await?;
        let cwd = TempDir::new()?;
        let file = cwd.path().join("destination_file.txt");
        std::fs::write(&file, "original content\n")?;
        let patch = format!(
            "*** Begin Patch\n*** Update File: {}\n-original content\n+modified content\n*** End Patch",
            file.display()
        );
        let (result, asked) = run(
            &mut server,
            cwd.path(),
            patch_call("call-1", &patch),
            reply.clone(),
        )
        .await?;
        assert_eq!(result["structuredContent"]["content"], "done");
        let requests = &asked.elicitations;
        assert_eq!(requests.len(), 1);
        // No `_meta`: in particular no progress token the host never sent.
        let params = requests[0]["params"].clone();
        let thread = result["structuredContent"]["threadId"].clone();
        let reason = "the sandbox is read-only, so every file change needs approval";
        assert_eq!(
            params,
            json!({
                "message": format!("{reason}\nAllow Codex to apply proposed code changes?"),
                "requestedSchema": codex_mcp_types::approval_requested_schema(),
                "threadId": thread,
                "codex_elicitation": "patch-approval",
                "codex_mcp_tool_call_id": params["codex_mcp_tool_call_id"],
                "codex_event_id": params["codex_mcp_tool_call_id"],
                "codex_call_id": "call-1",
                "codex_reason": reason,
                "codex_grant_root": cwd.path().display().to_string(),
                "codex_changes": {
                    file.display().to_string(): {
                        "type": "update",
                        "unified_diff": "@@ -1 +1 @@\n-original content\n+modified content\n",
                        "move_path": null
                    }
                }
            })
        );
        let expected = if applied {
            "modified content\n"
        } else {
            "original content\n"
        };
        assert_eq!(std::fs::read_to_string(&file)?, expected, "{reply}");
        if !applied {
            assert_eq!(
                server.output_seen_by_model("call-1").await,
                "patch rejected by user"
            );
        }
    }
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn escapes_from_the_workspace_ask_or_are_refused() -> anyhow::Result<()> {
    let outside = TempDir::new()?;
    for policy in ["on-request", "never"] {
        let cwd = TempDir::new()?;
        std::os::unix::fs::symlink(outside.path(), cwd.path().join("link"))?;
        for (n, target) in ["../outside.txt", "link/through_link.txt"]
            .iter()
            .enumerate()
        {
            // A fresh server (and mock) per conversation: each mock serves one sequence.
            let mut server = TestServer::start(
                &format!("approval_policy = \"{policy}\"\nsandbox_mode = \"workspace-write\""),
                &[],
            )
            .await?;
            let patch = format!("*** Begin Patch\n*** Add File: {target}\n+escaped\n*** End Patch");
            let call_id = format!("call-{n}");
            let (_, asked) = run(
                &mut server,
                cwd.path(),
                patch_call(&call_id, &patch),
                json!({"action": "decline"}),
            )
            .await?;
            let questions = asked.elicitations.len();
            let output = server.output_seen_by_model(&call_id).await;
            if policy == "never" {
                assert_eq!(questions, 0, "{target}");
                assert!(output.starts_with("patch rejected: "), "{target}: {output}");
            } else {
                assert_eq!(questions, 1, "{target}");
                assert_eq!(output, "patch rejected by user", "{target}");
            }
        }
        assert!(!cwd.path().join("../outside.txt").exists());
        assert!(!outside.path().join("through_link.txt").exists());
    }
    Ok(())
}

#[tokio::test]
async fn the_turn_diff_covers_every_file_changed() -> anyhow::Result<()> {
    let mut server = TestServer::start(WORKSPACE, &[]).await?;
    let cwd = TempDir::new()?;
    std::fs::write(cwd.path().join("old.txt"), "one\n")?;
    let patch = "*** Begin Patch\n*** Add File: new.txt\n+fresh\n*** Update File: old.txt\n-one\n+two\n*** End Patch";
    let (result, seen) = run(
        &mut server,
        cwd.path(),
        patch_call("call-1", patch),
        json!({}),
    )
    .await?;
    assert_eq!(result["structuredContent"]["content"], "done");
    assert_eq!(
        result["content"][0]["text"], "done",
        "the result keeps its shape"
    );
    let patch_events = &seen.patch_events;
    assert_eq!(patch_events.len(), 2, "{patch_events:?}");
    let (new, old) = (cwd.path().join("new.txt"), cwd.path().join("old.txt"));
    assert_eq!(
        patch_events[0],
        json!({
            "type": "patch_apply_begin", "call_id": "call-1", "auto_approved": true,
            "changes": {
                new.display().to_string(): {"type": "add", "content": "fresh\n"},
                old.display().to_string(): {"type": "update", "unified_diff": "@@ -1 +1 @@\n-one\n+two\n", "move_path": null}
            }
        })
    );
    assert_eq!(
        patch_events[1],
        json!({
            "type": "patch_apply_end", "call_id": "call-1", "success": true, "stderr": "",
            "stdout": "Success. Updated the following files:\nA new.txt\nM old.txt\n"
        })
    );
    let diffs = &seen.turn_diffs;
    assert_eq!(diffs.len(), 1, "one turn_diff per turn");
    assert_eq!(
        diffs[0],
        format!(
            "--- /dev/null\n+++ b/{new}\n@@ -0,0 +1 @@\n+fresh\n--- a/{old}\n+++ b/{old}\n@@ -1 +1 @@\n-one\n+two\n",
            new = new.display(),
            old = old.display()
        )
    );
    Ok(())
}

#[tokio::test]
async fn a_shell_workdir_does_not_widen_the_writable_roots() -> anyhow::Result<()> {
    let mut server = TestServer::start(WORKSPACE, &[]).await?;
    let cwd = TempDir::new()?;
    let elsewhere = TempDir::new()?;
    let script =
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: planted.txt\n+x\n*** End Patch\nEOF";
    let (_, asked) = run(
        &mut server,
        cwd.path(),
        shell_call(
            "call-1",
            &["bash", "-lc", script],
            json!({"workdir": elsewhere.path()}),
        ),
        json!({"action": "decline"}),
    )
    .await?;
    let questions = asked.elicitations.len();
    assert_eq!(
        questions, 1,
        "a patch outside the conversation's cwd is asked about"
    );
    assert!(!elsewhere.path().join("planted.txt").exists());
    assert_eq!(
        server.output_seen_by_model("call-1").await,
        "patch rejected by user"
    );
    Ok(())
}
