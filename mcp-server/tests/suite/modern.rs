//! A 2026-07-28 client: no `initialize`, capabilities in every request's `_meta`, and no
//! requests from the server. Approvals travel in `input_required` results and come back with
//! the retried call, or, with the tasks extension, through `tasks/get` and `tasks/update`.

use std::time::Duration;

use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::shell_call;
use codex_test_support::wait_for_processes;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::TestServer;

const UNTRUSTED: &str = r#"approval_policy = "untrusted""#;
const FULL_ACCESS: &str = r#"approval_policy = "never"
sandbox_mode = "danger-full-access""#;

fn elicitation() -> Value {
    json!({"elicitation": {"form": {}}})
}

fn elicitation_and_tasks() -> Value {
    json!({"elicitation": {"form": {}}, "extensions": {"io.modelcontextprotocol/tasks": {}}})
}

/// The `_meta` a 2026-07-28 client puts on every request.
fn meta(capabilities: &Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "modern-test", "version": "1.0.0"},
    })
}

/// A server and the capabilities this client declares on each request.
struct Modern {
    server: TestServer,
    capabilities: Value,
}

impl Modern {
    async fn start(top_level: &str, capabilities: Value) -> anyhow::Result<Self> {
        Ok(Self {
            server: TestServer::start_uninitialized(top_level).await?,
            capabilities,
        })
    }

    /// Sends `method` with `params` plus this client's `_meta` (and `extra_meta`).
    async fn send(
        &mut self,
        method: &str,
        mut params: Value,
        extra_meta: Value,
    ) -> anyhow::Result<i64> {
        let mut meta = meta(&self.capabilities);
        if let (Some(meta), Some(extra)) = (meta.as_object_mut(), extra_meta.as_object()) {
            meta.extend(extra.clone());
        }
        params["_meta"] = meta;
        self.server.mcp.send_request(method, params).await
    }

    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.send(method, params, json!({})).await?;
        self.server.mcp.read_until_response(id).await
    }

    /// `tools/call` of `codex` with `arguments`; returns the request id.
    async fn codex(&mut self, arguments: &Value) -> anyhow::Result<i64> {
        self.send(
            "tools/call",
            json!({"name": "codex", "arguments": arguments}),
            json!({}),
        )
        .await
    }

    /// The retry of a `codex` call with `arguments`, answering `input_required`.
    async fn retry(
        &mut self,
        arguments: &Value,
        state: &Value,
        responses: Value,
        extra_meta: Value,
    ) -> anyhow::Result<i64> {
        self.send(
            "tools/call",
            json!({
                "name": "codex",
                "arguments": arguments,
                "inputResponses": responses,
                "requestState": state,
            }),
            extra_meta,
        )
        .await
    }

    /// The retry that accepts question `key`, echoing `state`.
    async fn accept(&mut self, arguments: &Value, state: &Value, key: &str) -> anyhow::Result<i64> {
        self.retry(
            arguments,
            state,
            json!({ key: {"action": "accept"} }),
            json!({}),
        )
        .await
    }

    async fn result_of(&mut self, id: i64) -> anyhow::Result<Value> {
        let response = self.server.mcp.read_until_response(id).await?;
        response
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no result: {response}"))
    }

    /// Waits for the `codex/event` of type `kind` of the turn started by request `id`.
    async fn event(&mut self, id: i64, kind: &str) -> anyhow::Result<Value> {
        self.server
            .mcp
            .read_until(|m| {
                m["method"] == "codex/event"
                    && m["params"]["_meta"]["requestId"] == json!(id)
                    && m["params"]["msg"]["type"] == kind
            })
            .await
    }
}

/// The model asks to `touch created.txt`, then says "done".
async fn mount_touch(server: &TestServer) {
    server
        .model
        .mount_sse_sequence(vec![
            shell_call("call-1", &["touch", "created.txt"], json!({})),
            assistant_answer("done"),
        ])
        .await;
}

/// The model runs `sleep <lead>.<pid of this test binary>` (a marker no other test or run
/// shares, to find the process by) and nothing more; returns the marker.
async fn mount_sleep(client: &Modern, lead: u32) -> String {
    let marker = format!("{lead}.{}", std::process::id());
    client
        .server
        .model
        .mount_sse_sequence(vec![shell_call("call-1", &["sleep", &marker], json!({}))])
        .await;
    marker
}

/// The one question of an `input_required` result: its key and its params.
fn only_question(result: &Value) -> (String, Value) {
    assert_eq!(result["resultType"], "input_required", "{result}");
    let requests = result["inputRequests"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(requests.len(), 1, "{result}");
    let (key, request) = requests.into_iter().next().unwrap_or_default();
    assert_eq!(request["method"], "elicitation/create", "{request}");
    (key, request["params"].clone())
}

#[tokio::test]
async fn an_approval_travels_in_the_result_and_its_answer_in_the_retry() -> anyhow::Result<()> {
    for (reply, runs) in [
        (json!({"action": "accept"}), true),
        (json!({"action": "decline"}), false),
        (json!({"decision": "approved"}), true),
        (json!({"action": "cancel"}), false),
        // A reply that contradicts itself denies.
        (json!({"action": "accept", "decision": "denied"}), false),
    ] {
        let mut client = Modern::start(UNTRUSTED, elicitation()).await?;
        if reply["action"] == "cancel" {
            // The turn ends there: the model is asked nothing more.
            client
                .server
                .model
                .mount_sse_sequence(vec![shell_call(
                    "call-1",
                    &["touch", "created.txt"],
                    json!({}),
                )])
                .await;
        } else {
            mount_touch(&client.server).await;
        }
        let cwd = TempDir::new()?;
        let arguments = json!({"prompt": "make a file", "cwd": cwd.path()});
        let first = client.codex(&arguments).await?;
        let asked = client.result_of(first).await?;
        let (key, params) = only_question(&asked);
        let thread =
            client.event(first, "session_configured").await?["params"]["_meta"]["threadId"].clone();
        // The same question a legacy host gets as `elicitation/create`.
        assert_eq!(
            params["message"],
            format!(
                "Allow Codex to run `touch created.txt` in `{}`?",
                cwd.path().display()
            )
        );
        assert_eq!(params["mode"], "form");
        assert_eq!(
            params["requestedSchema"]["properties"]["decision"]["enum"],
            json!(["approved", "approved_for_session", "denied", "abort"])
        );
        for (field, value) in [
            ("threadId", thread.clone()),
            ("codex_elicitation", json!("exec-approval")),
            ("codex_mcp_tool_call_id", json!(first.to_string())),
            ("codex_call_id", json!("call-1")),
            ("codex_command", json!(["touch", "created.txt"])),
            ("codex_cwd", json!(cwd.path().display().to_string())),
        ] {
            assert_eq!(params[field], value, "{field}");
            assert_eq!(params["_meta"][field], value, "{field} in _meta");
        }
        assert!(params["_meta"].get("progressToken").is_none());
        assert!(
            !cwd.path().join("created.txt").exists(),
            "asked before running"
        );

        let retry = client
            .retry(
                &arguments,
                &asked["requestState"],
                json!({ key: reply.clone() }),
                json!({"progressToken": "retry"}),
            )
            .await?;
        let done = client.result_of(retry).await?;
        assert_eq!(cwd.path().join("created.txt").exists(), runs, "{reply}");
        if reply["action"] == "cancel" {
            assert_eq!(done["isError"], true, "{done}");
            assert_eq!(
                done["content"][0]["text"],
                "The turn was aborted before it finished; call `codex-reply` to continue."
            );
        } else {
            assert_eq!(done["structuredContent"]["content"], "done", "{done}");
            assert_eq!(done["structuredContent"]["threadId"], thread);
        }
        if runs {
            // The retried call carries the rest of the turn, progress included.
            let progress = client
                .server
                .mcp
                .take_others()
                .into_iter()
                .filter(|m| {
                    m["method"] == "notifications/progress"
                        && m["params"]["progressToken"] == "retry"
                })
                .count();
            assert!(progress >= 1, "progress reached the retried call");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_forged_altered_or_replayed_state_approves_nothing() -> anyhow::Result<()> {
    let mut client = Modern::start(UNTRUSTED, elicitation()).await?;
    client
        .server
        .model
        .mount_sse_sequence(vec![
            shell_call("call-a", &["touch", "a.txt"], json!({})),
            shell_call("call-b", &["touch", "b.txt"], json!({})),
            assistant_answer("done"),
        ])
        .await;
    let cwd = TempDir::new()?;
    let arguments = json!({"prompt": "make two files", "cwd": cwd.path()});
    let first = client.codex(&arguments).await?;
    let asked = client.result_of(first).await?;
    let (key, _) = only_question(&asked);
    let state = asked["requestState"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let accept = json!({ key.clone(): {"action": "accept"} });

    let mut altered = state.clone();
    altered.insert(state.len() / 2, 'x');
    let other_arguments = json!({"prompt": "something else", "cwd": cwd.path()});
    for (arguments, state) in [
        (&arguments, json!("forged")),
        (&arguments, json!(altered)),
        (&other_arguments, json!(state)),
    ] {
        let id = client
            .retry(arguments, &state, accept.clone(), json!({}))
            .await?;
        let refused = client.server.mcp.read_until_response(id).await?;
        assert_eq!(refused["error"]["code"], -32602, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("`requestState` was refused:"),
            "{message}"
        );
        assert!(message.ends_with("Nothing was approved."), "{message}");
    }
    assert!(!cwd.path().join("a.txt").exists(), "nothing was approved");

    // The real state still works, and the turn's second approval is a second round.
    let retry = client
        .retry(&arguments, &json!(state), accept.clone(), json!({}))
        .await?;
    let asked_again = client.result_of(retry).await?;
    let (second_key, params) = only_question(&asked_again);
    assert_ne!(second_key, key, "a key is never reused within a turn");
    assert_eq!(params["codex_call_id"], "call-b");
    assert!(cwd.path().join("a.txt").exists());

    // The first state has been used: replaying it approves nothing.
    let replay = client
        .accept(&arguments, &json!(state), &second_key)
        .await?;
    let refused = client.server.mcp.read_until_response(replay).await?;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already used")),
        "{refused}"
    );
    assert!(!cwd.path().join("b.txt").exists());

    let last = client
        .accept(&arguments, &asked_again["requestState"], &second_key)
        .await?;
    let done = client.result_of(last).await?;
    assert_eq!(done["structuredContent"]["content"], "done", "{done}");
    assert!(cwd.path().join("b.txt").exists());
    Ok(())
}

#[tokio::test]
async fn an_unanswered_approval_is_denied_after_the_timeout() -> anyhow::Result<()> {
    let config = format!("{UNTRUSTED}\n[approvals]\ntimeout_secs = 1");
    let mut client = Modern::start(&config, elicitation()).await?;
    mount_touch(&client.server).await;
    let cwd = TempDir::new()?;
    let arguments = json!({"prompt": "make a file", "cwd": cwd.path()});
    let first = client.codex(&arguments).await?;
    let asked = client.result_of(first).await?;
    only_question(&asked);
    // No retry: the question times out and the turn goes on without the command.
    client.event(first, "task_complete").await?;
    assert!(!cwd.path().join("created.txt").exists());
    let told = client.server.output_seen_by_model("call-1").await;
    assert!(
        told.contains("approval request failed (no answer within 1 s"),
        "{told}"
    );

    // A late retry collects the result; its answer reaches nothing.
    let (key, _) = only_question(&asked);
    let late = client
        .accept(&arguments, &asked["requestState"], &key)
        .await?;
    let done = client.result_of(late).await?;
    assert_eq!(
        done["structuredContent"]["content"],
        "done\n\nApproval to run `touch created.txt` was denied because the request failed: no answer within 1 s (approvals.timeout_secs).",
        "{done}"
    );
    assert!(!cwd.path().join("created.txt").exists());
    Ok(())
}

#[tokio::test]
async fn a_request_without_elicitation_gets_the_fallback() -> anyhow::Result<()> {
    let mut client = Modern::start(UNTRUSTED, json!({})).await?;
    mount_touch(&client.server).await;
    let cwd = TempDir::new()?;
    let id = client
        .codex(&json!({"prompt": "make a file", "cwd": cwd.path()}))
        .await?;
    let done = client.result_of(id).await?;
    assert_eq!(done["resultType"], "complete", "{done}");
    let text = done["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("the MCP client did not declare elicitation for this call"),
        "{text}"
    );
    assert!(!cwd.path().join("created.txt").exists());
    Ok(())
}

#[tokio::test]
async fn cancelling_a_retried_call_interrupts_the_turn() -> anyhow::Result<()> {
    let mut client = Modern::start(UNTRUSTED, elicitation()).await?;
    let marker = &mount_sleep(&client, 37).await;
    let cwd = TempDir::new()?;
    let arguments = json!({"prompt": "wait", "cwd": cwd.path()});
    let first = client.codex(&arguments).await?;
    let asked = client.result_of(first).await?;
    let (key, _) = only_question(&asked);
    let retry = client
        .accept(&arguments, &asked["requestState"], &key)
        .await?;
    let sleep = format!("sleep {marker}");
    assert!(wait_for_processes(&sleep, true, Duration::from_secs(10)).await);
    client
        .server
        .mcp
        .send_notification(
            "notifications/cancelled",
            Some(json!({"requestId": retry, "reason": "user"})),
        )
        .await?;
    assert!(
        wait_for_processes(&sleep, false, Duration::from_secs(10)).await,
        "the command died with its turn"
    );
    client.event(first, "turn_aborted").await?;
    Ok(())
}

/// Polls `tasks/get` until the task's status is `status`, as a client does (every 20 ms here,
/// bounded by the read timeout); returns that answer.
async fn task_when(client: &mut Modern, task: &Value, status: &str) -> anyhow::Result<Value> {
    let poll = async {
        loop {
            let got = client.request("tasks/get", json!({"taskId": task})).await?;
            let result = got
                .get("result")
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("tasks/get failed: {got}"))?;
            if result["status"] == status {
                return anyhow::Ok(result);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(codex_test_support::DEFAULT_READ_TIMEOUT, poll)
        .await
        .map_err(|_| anyhow::anyhow!("task {task} never reached {status}"))?
}

#[tokio::test]
async fn a_task_asks_through_tasks_get_and_hears_through_tasks_update() -> anyhow::Result<()> {
    let mut client = Modern::start(UNTRUSTED, elicitation_and_tasks()).await?;
    mount_touch(&client.server).await;
    let cwd = TempDir::new()?;
    let id = client
        .codex(&json!({"prompt": "make a file", "cwd": cwd.path()}))
        .await?;
    let created = client.result_of(id).await?;
    assert_eq!(created["resultType"], "task", "{created}");
    assert_eq!(created["status"], "working");
    assert_eq!(created["ttlMs"], 3_600_000);
    assert_eq!(created["pollIntervalMs"], 1000);
    let task = created["taskId"].clone();
    // Recorded before the id was returned.
    let record = client
        .server
        .home()
        .join("tasks")
        .join(format!("{}.json", task.as_str().unwrap_or_default()));
    assert!(record.exists(), "{}", record.display());

    let asking = task_when(&mut client, &task, "input_required").await?;
    let requests = asking["inputRequests"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(requests.len(), 1, "{asking}");
    let (key, request) = requests.into_iter().next().unwrap_or_default();
    assert_eq!(
        request["params"]["codex_command"],
        json!(["touch", "created.txt"])
    );

    let ack = client
        .request(
            "tasks/update",
            json!({"taskId": task, "inputResponses": { key: {"action": "accept"} }}),
        )
        .await?;
    assert!(ack.get("result").is_some(), "{ack}");

    let done = task_when(&mut client, &task, "completed").await?;
    assert_eq!(
        done["result"]["structuredContent"]["content"], "done",
        "{done}"
    );
    assert_eq!(done["result"]["isError"], false);
    assert!(cwd.path().join("created.txt").exists());
    Ok(())
}

#[tokio::test]
async fn tasks_cancel_kills_the_command() -> anyhow::Result<()> {
    let mut client = Modern::start(FULL_ACCESS, elicitation_and_tasks()).await?;
    let marker = &mount_sleep(&client, 38).await;
    let cwd = TempDir::new()?;
    let id = client
        .codex(&json!({"prompt": "wait", "cwd": cwd.path()}))
        .await?;
    let task = client.result_of(id).await?["taskId"].clone();
    let sleep = format!("sleep {marker}");
    assert!(wait_for_processes(&sleep, true, Duration::from_secs(10)).await);
    client.event(id, "exec_command_begin").await?;
    let working = client.request("tasks/get", json!({"taskId": task})).await?;
    assert_eq!(working["result"]["status"], "working", "{working}");
    assert_eq!(
        working["result"]["statusMessage"],
        format!("running `sleep {marker}`")
    );

    let ack = client
        .request("tasks/cancel", json!({"taskId": task}))
        .await?;
    assert!(ack.get("result").is_some(), "{ack}");
    assert!(
        wait_for_processes(&sleep, false, Duration::from_secs(10)).await,
        "the command died with its task"
    );
    task_when(&mut client, &task, "cancelled").await?;
    client.event(id, "turn_aborted").await?;
    Ok(())
}

#[tokio::test]
async fn tasks_outlive_a_restart_within_their_ttl() -> anyhow::Result<()> {
    let mut client = Modern::start(FULL_ACCESS, elicitation_and_tasks()).await?;
    let marker = &format!("39.{}", std::process::id());
    client
        .server
        .model
        .mount_sse_sequence(vec![
            assistant_answer("finished before the restart"),
            shell_call("call-1", &["sleep", marker], json!({})),
        ])
        .await;
    let cwd = TempDir::new()?;
    let finished = client
        .codex(&json!({"prompt": "one", "cwd": cwd.path()}))
        .await?;
    let finished_task = client.result_of(finished).await?["taskId"].clone();
    task_when(&mut client, &finished_task, "completed").await?;
    let cut_off = client
        .codex(&json!({"prompt": "two", "cwd": cwd.path()}))
        .await?;
    let cut_off_task = client.result_of(cut_off).await?["taskId"].clone();
    let thread =
        client.event(cut_off, "session_configured").await?["params"]["_meta"]["threadId"].clone();
    assert!(wait_for_processes(&format!("sleep {marker}"), true, Duration::from_secs(10)).await);

    client.server.restart().await?;

    let done = client
        .request("tasks/get", json!({"taskId": finished_task}))
        .await?;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["structuredContent"]["content"],
        "finished before the restart"
    );
    let failed = client
        .request("tasks/get", json!({"taskId": cut_off_task}))
        .await?;
    assert_eq!(failed["result"]["status"], "failed", "{failed}");
    let message = failed["result"]["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("the server stopped"), "{message}");
    assert!(
        message.contains(thread.as_str().unwrap_or("no thread")),
        "{message}"
    );
    let unknown = client
        .request(
            "tasks/get",
            json!({"taskId": uuid::Uuid::new_v4().to_string()}),
        )
        .await?;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    Ok(())
}

#[tokio::test]
async fn a_task_that_cannot_be_recorded_is_refused_and_its_turn_stopped() -> anyhow::Result<()> {
    let mut client = Modern::start(FULL_ACCESS, elicitation_and_tasks()).await?;
    // Where the records go is a file: no record can be written.
    std::fs::write(client.server.home().join("tasks"), "not a directory")?;
    // A slow model: the turn is still waiting for it when the record fails.
    client.server.model.mount_echo(Duration::from_secs(5)).await;
    let cwd = TempDir::new()?;
    let id = client
        .codex(&json!({"prompt": "wait", "cwd": cwd.path()}))
        .await?;
    let refused = client.server.mcp.read_until_response(id).await?;
    assert_eq!(refused["error"]["code"], -32603, "{refused}");
    assert!(
        refused["error"]["message"].as_str().is_some_and(
            |m| m.contains("the task could not be recorded, so its turn was cancelled")
        ),
        "{refused}"
    );
    // Cancelled indeed: the turn is aborted (left alone, it would complete once the model
    // answered, with `task_complete`).
    client.event(id, "turn_aborted").await?;
    Ok(())
}

#[tokio::test]
async fn the_models_questions_travel_in_the_result_and_the_answer_in_the_retry()
-> anyhow::Result<()> {
    let mut client = Modern::start("", elicitation()).await?;
    client
        .server
        .model
        .mount_sse_sequence(vec![
            super::user_input::ask_database(),
            codex_test_support::responses::assistant_answer("done"),
        ])
        .await;
    let arguments = json!({"prompt": "set it up", "model": "gpt-5.2-codex"});
    let first = client.codex(&arguments).await?;
    let asked = client.result_of(first).await?;
    let (key, params) = only_question(&asked);
    assert_eq!(params["codex_elicitation"], "user-input");
    assert_eq!(
        params["requestedSchema"]["properties"]["db"]["enum"],
        json!(["postgres", "sqlite"])
    );
    let retry = client
        .retry(
            &arguments,
            &asked["requestState"],
            json!({ key: {"action": "accept", "content": {"db": "postgres"}} }),
            json!({}),
        )
        .await?;
    let result = client.result_of(retry).await?;
    assert_eq!(result["structuredContent"]["content"], "done", "{result}");
    assert_eq!(
        client.server.output_seen_by_model("call-q").await,
        r#"{"answers":{"db":"postgres"}}"#
    );
    Ok(())
}
