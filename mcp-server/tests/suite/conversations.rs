//! Durable conversations: rollouts on disk, `codex-reply` after a restart, list / fork /
//! archive, compaction, and unloading idle conversations.

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use codex_test_support::responses::assistant_answer;
use codex_test_support::responses::conversation_texts;
use codex_test_support::responses::last_user_text;
use codex_test_support::rollout_files;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;

use super::TestServer;
use super::thread_id;

const NEVER_ASK: &str = "approval_policy = \"never\"";

fn rollout_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn is_ok(result: &Value) -> bool {
    result["isError"] != json!(true)
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// The texts of the last request the model received, as `(role, text)`.
async fn last_request_texts(server: &TestServer) -> Vec<(String, String)> {
    let bodies = server.model.request_bodies().await;
    conversation_texts(bodies.last().expect("the model received no request"))
}

/// What the user wrote, as the last request carried it (context blocks left out).
async fn last_request_user_texts(server: &TestServer) -> Vec<String> {
    last_request_texts(server)
        .await
        .into_iter()
        .filter(|(role, text)| role == "user" && !text.starts_with('<'))
        .map(|(_, text)| text)
        .collect()
}

fn pair(role: &str, text: &str) -> (String, String) {
    (role.to_string(), text.to_string())
}

#[tokio::test]
async fn a_conversation_survives_a_server_crash() -> anyhow::Result<()> {
    let mut server = TestServer::start(NEVER_ASK, &[]).await?;
    server.model.mount_echo(Duration::ZERO).await;
    let first = server
        .call("codex", json!({"prompt": "remember PEAR"}))
        .await?;
    let thread = thread_id(&first);

    server.restart().await?;
    let reply = server
        .call(
            "codex-reply",
            json!({"threadId": thread, "prompt": "which fruit?"}),
        )
        .await?;

    assert!(is_ok(&reply), "{reply}");
    assert_eq!(text_of(&reply), "echo: which fruit?");
    assert_eq!(reply["structuredContent"]["threadId"], json!(thread));
    let texts = last_request_texts(&server).await;
    let tail: Vec<_> = texts.iter().rev().take(3).rev().cloned().collect();
    assert_eq!(
        tail,
        vec![
            pair("user", "remember PEAR"),
            pair("assistant", "echo: remember PEAR"),
            pair("user", "which fruit?"),
        ]
    );

    let files = rollout_files(&server.home().join("sessions"));
    assert_eq!(files.len(), 1, "one conversation, one file: {files:?}");
    let lines = rollout_lines(&files[0]);
    assert_eq!(lines[0]["type"], "session_meta");
    assert_eq!(lines[0]["payload"]["id"], json!(thread));
    assert_eq!(lines[0]["payload"]["source"], "mcp");
    let metas = lines.iter().filter(|l| l["type"] == "session_meta").count();
    assert_eq!(metas, 1);
    let user_messages: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "event_msg" && l["payload"]["type"] == "user_message")
        .map(|l| &l["payload"]["message"])
        .collect();
    assert_eq!(user_messages, vec!["remember PEAR", "which fruit?"]);
    Ok(())
}

#[tokio::test]
async fn a_torn_last_line_does_not_stop_a_resume() -> anyhow::Result<()> {
    let mut server = TestServer::start(NEVER_ASK, &[]).await?;
    server.model.mount_echo(Duration::ZERO).await;
    let thread = thread_id(&server.call("codex", json!({"prompt": "one"})).await?);
    server.mcp.kill().await?;

    let file = rollout_files(&server.home().join("sessions"))
        .pop()
        .expect("a rollout");
    // A crash in the middle of a write: half a line, no newline.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)?
        .write_all(br#"{"timestamp":"2026-11-21T10:00:00.000Z","type":"response_item","payload":{"type":"mess"#)?;

    server.restart().await?;
    let reply = server
        .call("codex-reply", json!({"threadId": thread, "prompt": "two"}))
        .await?;
    assert!(is_ok(&reply), "{reply}");
    // What was appended after the torn line is readable by the next resume.
    server.restart().await?;
    let reply = server
        .call(
            "codex-reply",
            json!({"threadId": thread, "prompt": "three"}),
        )
        .await?;
    assert!(is_ok(&reply), "{reply}");
    let users = last_request_user_texts(&server).await;
    assert_eq!(users, vec!["one", "two", "three"]);
    Ok(())
}

#[tokio::test]
async fn list_fork_and_archive() -> anyhow::Result<()> {
    let mut server = TestServer::start(NEVER_ASK, &[]).await?;
    server.model.mount_echo(Duration::ZERO).await;
    let a = thread_id(&server.call("codex", json!({"prompt": "Hello A"})).await?);
    let reply = server
        .call("codex-reply", json!({"threadId": a, "prompt": "A again"}))
        .await?;
    assert!(is_ok(&reply), "{reply}");
    let b = thread_id(&server.call("codex", json!({"prompt": "Hello B"})).await?);
    let c = thread_id(&server.call("codex", json!({"prompt": "Hello C"})).await?);

    // Newest first, two to a page.
    let page = server
        .mcp
        .request("listConversations", json!({"pageSize": 2}))
        .await?;
    let items = &page["result"]["items"];
    let summary = |item: &Value| {
        (
            item["conversationId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            item["preview"].as_str().unwrap_or_default().to_string(),
        )
    };
    assert_eq!(
        items
            .as_array()
            .map(|items| items.iter().map(summary).collect::<Vec<_>>()),
        Some(vec![
            (c.clone(), "Hello C".to_string()),
            (b.clone(), "Hello B".to_string())
        ]),
        "{page}"
    );
    let cursor = page["result"]["nextCursor"].clone();
    assert!(cursor.is_string(), "{page}");
    let page2 = server
        .mcp
        .request(
            "listConversations",
            json!({"pageSize": 2, "cursor": cursor}),
        )
        .await?;
    let items2 = page2["result"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        items2.iter().map(summary).collect::<Vec<_>>(),
        vec![(a.clone(), "Hello A".to_string())]
    );
    assert_eq!(page2["result"].get("nextCursor"), None, "{page2}");
    let path_of = |item: &Value| PathBuf::from(item["path"].as_str().unwrap_or_default());
    let path_a = path_of(&items2[0]);
    let path_b = path_of(&items[1]);

    // Fork A without its last user message: a new id and file, and only "Hello A" left.
    let fork = server
        .mcp
        .request(
            "forkConversation",
            json!({"conversationId": a, "dropLastMessages": 1}),
        )
        .await?;
    let fork_id = fork["result"]["conversationId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!fork_id.is_empty() && fork_id != a, "{fork}");
    let fork_path = PathBuf::from(fork["result"]["rolloutPath"].as_str().unwrap_or_default());
    assert!(fork_path.is_file() && fork_path != path_a, "{fork}");
    let reply = server
        .call(
            "codex-reply",
            json!({"threadId": fork_id, "prompt": "after the fork"}),
        )
        .await?;
    assert!(is_ok(&reply), "{reply}");
    let users = last_request_user_texts(&server).await;
    assert_eq!(users, vec!["Hello A", "after the fork"]);

    // Archiving needs the conversation's own file.
    let refused = server
        .mcp
        .request(
            "archiveConversation",
            json!({"conversationId": b, "rolloutPath": path_a}),
        )
        .await?;
    assert_eq!(refused["error"]["code"], json!(-32600), "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match conversation id"),
        "{refused}"
    );
    assert!(path_a.is_file(), "a refused archive moves nothing");

    let archived = server
        .mcp
        .request(
            "archiveConversation",
            json!({"conversationId": b, "rolloutPath": path_b}),
        )
        .await?;
    assert_eq!(archived["result"], json!({}), "{archived}");
    assert!(!path_b.exists());
    let file_name = path_b.file_name().expect("a file name");
    assert!(
        server
            .home()
            .join("archived_sessions")
            .join(file_name)
            .is_file()
    );
    let reply = server
        .call(
            "codex-reply",
            json!({"threadId": b, "prompt": "still there?"}),
        )
        .await?;
    assert_eq!(reply["isError"], json!(true), "{reply}");
    assert!(
        text_of(&reply).contains("no conversation with id"),
        "{reply}"
    );
    Ok(())
}

#[tokio::test]
async fn a_long_conversation_is_compacted() -> anyhow::Result<()> {
    // Every mock response reports 15 tokens, so the second turn is over the limit.
    let config = format!("{NEVER_ASK}\nmodel_auto_compact_token_limit = 10");
    let mut server = TestServer::start(&config, &[]).await?;
    server
        .model
        .mount_script(|body| match last_user_text(body).as_deref() {
            Some("Summarise, please.") => assistant_answer("SUMMARY-OF-FIRST-TASK"),
            Some(text) => assistant_answer(&format!("echo: {text}")),
            None => assistant_answer("?"),
        })
        .await;
    let thread = thread_id(
        &server
            .call(
                "codex",
                json!({"prompt": "first task", "compact-prompt": "Summarise, please."}),
            )
            .await?,
    );
    let reply = server
        .call(
            "codex-reply",
            json!({"threadId": thread, "prompt": "second task"}),
        )
        .await?;
    assert_eq!(text_of(&reply), "echo: second task", "{reply}");

    let bodies = server.model.request_bodies().await;
    assert_eq!(bodies.len(), 3, "turn, summary, turn");
    assert_eq!(
        last_user_text(&bodies[1]).as_deref(),
        Some("Summarise, please.")
    );
    let after: Vec<(String, String)> = conversation_texts(&bodies[2])
        .into_iter()
        .filter(|(_, text)| {
            !text.starts_with("<environment_context>") && !text.starts_with("<permissions>")
        })
        .collect();
    assert_eq!(
        after,
        vec![
            pair("user", "first task"),
            pair(
                "user",
                "<conversation_summary>\nSUMMARY-OF-FIRST-TASK\n</conversation_summary>"
            ),
            pair("user", "second task"),
        ],
        "the old answer is replaced by the summary"
    );
    let file = rollout_files(&server.home().join("sessions"))
        .pop()
        .expect("a rollout");
    let compacted: Vec<Value> = rollout_lines(&file)
        .into_iter()
        .filter(|line| line["type"] == "compacted")
        .collect();
    assert_eq!(compacted.len(), 1);
    assert_eq!(
        compacted[0]["payload"]["message"],
        json!("SUMMARY-OF-FIRST-TASK")
    );

    // A resumed conversation continues from the summary, not from the old history.
    server.restart().await?;
    let reply = server
        .call(
            "codex-reply",
            json!({"threadId": thread, "prompt": "third"}),
        )
        .await?;
    assert!(is_ok(&reply), "{reply}");
    let texts = last_request_texts(&server).await;
    assert!(
        !texts.contains(&pair("assistant", "echo: first task")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|(_, text)| text.contains("SUMMARY-OF-FIRST-TASK"))
    );
    Ok(())
}

#[tokio::test]
async fn idle_conversations_are_unloaded_and_reloaded_on_demand() -> anyhow::Result<()> {
    const COUNT: usize = 5;
    let config = format!("{NEVER_ASK}\nconversation_idle_timeout_secs = 1");
    let mut server = TestServer::start(&config, &[]).await?;
    server.model.mount_echo(Duration::ZERO).await;
    let mut threads = Vec::new();
    for n in 0..COUNT {
        let result = server
            .call("codex", json!({"prompt": format!("task {n}")}))
            .await?;
        threads.push(thread_id(&result));
    }
    server
        .mcp
        .wait_for_stderr(|log| log.matches("unloaded idle conversation").count() == COUNT)
        .await?;
    for (n, thread) in threads.iter().enumerate() {
        let reply = server
            .call(
                "codex-reply",
                json!({"threadId": thread, "prompt": format!("more {n}")}),
            )
            .await?;
        assert_eq!(text_of(&reply), format!("echo: more {n}"), "{reply}");
        let texts = last_request_texts(&server).await;
        assert!(
            texts.contains(&pair("assistant", &format!("echo: task {n}"))),
            "the reloaded conversation kept its history: {texts:?}"
        );
    }
    Ok(())
}

/// A small tmpfs mounted over a directory, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// `None` where this process may not mount (it needs root).
    fn mount(dir: &Path) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then(|| Self(dir.to_path_buf()))
    }

    /// Takes every free byte, so the next write fails with ENOSPC.
    fn fill(&self) {
        let mut filler = std::fs::File::create(self.0.join("filler")).expect("filler");
        let block = vec![0u8; 4096];
        while filler.write_all(&block).is_ok() {}
        let _ = filler.write_all(&[0]);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_turn_that_could_not_be_saved_is_not_reported_done() -> anyhow::Result<()> {
    let home = tempfile::TempDir::new()?;
    let Some(disk) = SmallDisk::mount(&home.path().join("sessions")) else {
        eprintln!("skipped: mounting a tmpfs for a full disk needs root");
        return Ok(());
    };
    let model = codex_test_support::MockModel::start().await;
    model.write_config(home.path(), NEVER_ASK)?;
    model.mount_echo(Duration::ZERO).await;
    let mut mcp = codex_test_support::McpProcess::spawn(super::CODEX_BIN, home.path()).await?;
    mcp.initialize().await?;
    let first = call_on(&mut mcp, "codex", json!({"prompt": "one"})).await?;
    let thread = thread_id(&first);
    let files = rollout_files(&home.path().join("sessions"));
    assert_eq!(files.len(), 1, "{files:?}");
    let saved = std::fs::read(&files[0])?;

    disk.fill();
    // Longer than the slack a tmpfs page may have left after the file's end.
    let prompt = format!("two {}", "x".repeat(16 * 1024));
    let reply = call_on(
        &mut mcp,
        "codex-reply",
        json!({"threadId": thread, "prompt": prompt}),
    )
    .await?;
    assert_eq!(reply["isError"], true, "{reply}");
    let text = text_of(&reply);
    assert!(
        text.contains("the turn finished but the conversation could not be saved"),
        "{text}"
    );
    assert!(text.contains("No space left on device"), "{text}");
    assert!(
        text.ends_with(&format!("echo: {prompt}")),
        "the answer is not lost"
    );
    assert_eq!(reply["structuredContent"]["threadId"], json!(thread));
    // The file is as the first turn left it: nothing torn, nothing half-written.
    assert_eq!(std::fs::read(&files[0])?, saved);
    drop(mcp);
    Ok(())
}

/// A second server on the first one's `CODEX_HOME`, as a second host would start it.
async fn second_server(first: &TestServer) -> anyhow::Result<codex_test_support::McpProcess> {
    let mut mcp = codex_test_support::McpProcess::spawn(super::CODEX_BIN, first.home()).await?;
    mcp.initialize().await?;
    Ok(mcp)
}

async fn call_on(
    mcp: &mut codex_test_support::McpProcess,
    tool: &str,
    arguments: Value,
) -> anyhow::Result<Value> {
    let id = mcp.call_tool(tool, arguments).await?;
    Ok(mcp.read_until_response(id).await?["result"].clone())
}

#[tokio::test]
async fn two_servers_on_one_home_take_turns_on_a_thread() -> anyhow::Result<()> {
    let mut a = TestServer::start(NEVER_ASK, &[]).await?;
    a.model.mount_echo(Duration::from_millis(800)).await;
    let first = a.call("codex", json!({"prompt": "one"})).await?;
    let thread = thread_id(&first);
    let mut b = second_server(&a).await?;

    // B continues the thread; then A, which has it in memory, continues it too. A's copy is
    // stale, so A loads it again, and its model request carries B's turn.
    let from_b = call_on(
        &mut b,
        "codex-reply",
        json!({"threadId": thread, "prompt": "two"}),
    )
    .await?;
    assert_eq!(text_of(&from_b), "echo: two", "{from_b}");
    let from_a = a
        .call(
            "codex-reply",
            json!({"threadId": thread, "prompt": "three"}),
        )
        .await?;
    assert_eq!(text_of(&from_a), "echo: three", "{from_a}");
    let texts = last_request_texts(&a).await;
    let tail: Vec<_> = texts.iter().rev().take(5).rev().cloned().collect();
    assert_eq!(
        tail,
        vec![
            pair("user", "one"),
            pair("assistant", "echo: one"),
            pair("user", "two"),
            pair("assistant", "echo: two"),
            pair("user", "three"),
        ]
    );

    // While A runs a turn, B may not run one on the same thread: it is told who holds it.
    let running = a
        .mcp
        .call_tool("codex-reply", json!({"threadId": thread, "prompt": "four"}))
        .await?;
    a.mcp
        .read_until(|m| {
            m["method"] == "codex/event"
                && m["params"]["_meta"]["requestId"] == json!(running)
                && m["params"]["msg"]["type"] == "task_started"
        })
        .await?;
    let refused = call_on(
        &mut b,
        "codex-reply",
        json!({"threadId": thread, "prompt": "five"}),
    )
    .await?;
    assert_eq!(refused["isError"], true, "{refused}");
    let pid = a.mcp.pid().unwrap_or_default();
    assert_eq!(
        text_of(&refused),
        format!(
            "thread {thread} is busy with a turn in another server process (pid {pid}) that shares this CODEX_HOME; wait for its result there, or stop that process"
        )
    );
    let four = a.mcp.read_until_response(running).await?;
    assert_eq!(four["result"]["content"][0]["text"], "echo: four", "{four}");

    // One file, every turn in it once, in order.
    let files = rollout_files(&a.home().join("sessions"));
    assert_eq!(files.len(), 1, "{files:?}");
    let prompts: Vec<String> = rollout_lines(&files[0])
        .iter()
        .filter(|l| l["type"] == "event_msg" && l["payload"]["type"] == "user_message")
        .map(|l| {
            l["payload"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(prompts, ["one", "two", "three", "four"]);
    Ok(())
}
