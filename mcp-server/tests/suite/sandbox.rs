//! The Linux sandbox for real: `codex sandbox-exec` run by hand on real files, sockets and
//! processes, and the approval policies around it through the MCP server. Needs a kernel with
//! Landlock; these tests fail (rather than skip) without it, because then the sandbox the
//! server promises does not exist.

use std::path::Path;
use std::path::PathBuf;
use std::process::Output;

use codex_test_support::DEFAULT_READ_TIMEOUT;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;

use super::CODEX_BIN;
use super::TestServer;

const WORKSPACE: &str = r#"{"type":"workspace-write"}"#;
/// Nothing but the cwd is writable, so "outside" needs no care about where temp dirs are.
const WORKSPACE_ONLY_CWD: &str =
    r#"{"type":"workspace-write","exclude_slash_tmp":true,"exclude_tmpdir_env_var":true}"#;
const READ_ONLY: &str = r#"{"type":"read-only"}"#;

/// A fresh directory for a test. It may well be under `/tmp` (a checkout there puts
/// CARGO_TARGET_TMPDIR there too), which `workspace-write` allows by default: tests that need
/// "outside the workspace" use [`WORKSPACE_ONLY_CWD`], where only the cwd is writable.
fn scratch_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("sandbox-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a scratch directory under CARGO_TARGET_TMPDIR")
}

fn real(dir: &TempDir) -> PathBuf {
    dir.path().canonicalize().expect("the directory exists")
}

/// Runs `codex sandbox-exec --policy <policy> --cwd <cwd> -- argv` in `cwd`.
async fn sandbox_exec(policy: &str, cwd: &Path, argv: &[&str]) -> anyhow::Result<Output> {
    let child = tokio::process::Command::new(CODEX_BIN)
        .arg("sandbox-exec")
        .arg("--policy")
        .arg(policy)
        .arg("--cwd")
        .arg(cwd)
        .arg("--")
        .args(argv)
        .current_dir(cwd)
        .kill_on_drop(true)
        .output();
    Ok(tokio::time::timeout(DEFAULT_READ_TIMEOUT, child).await??)
}

fn bash(script: &str) -> [&str; 3] {
    ["bash", "-c", script]
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn workspace_write_allows_the_workspace_and_nothing_else() -> anyhow::Result<()> {
    let cwd = scratch_dir();
    let outside = scratch_dir();
    let (cwd_path, outside_path) = (real(&cwd), real(&outside));
    std::fs::write(outside_path.join("readme"), "readable\n")?;

    let inside = sandbox_exec(WORKSPACE, &cwd_path, &bash("echo hi > inside.txt")).await?;
    assert!(inside.status.success(), "{}", stderr(&inside));
    assert_eq!(
        std::fs::read_to_string(cwd_path.join("inside.txt"))?,
        "hi\n"
    );

    let target = outside_path.join("planted.txt");
    let script = format!("echo hi > {}", target.display());
    let denied = sandbox_exec(WORKSPACE_ONLY_CWD, &cwd_path, &bash(&script)).await?;
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("Read-only file system"),
        "{}",
        stderr(&denied)
    );
    assert!(!target.exists(), "the write outside the workspace happened");

    let script = format!(
        "cat {} && ls / > /dev/null",
        outside_path.join("readme").display()
    );
    let read = sandbox_exec(WORKSPACE, &cwd_path, &bash(&script)).await?;
    assert!(read.status.success(), "{}", stderr(&read));
    assert_eq!(stdout(&read), "readable\n");

    // `/tmp` is a writable root by default, and not once it is excluded.
    let in_tmp = TempDir::new_in("/tmp")?;
    let tmp_file = in_tmp.path().join("tmp.txt");
    let script = format!("echo t > {}", tmp_file.display());
    let tmp_write = sandbox_exec(WORKSPACE, &cwd_path, &bash(&script)).await?;
    assert!(tmp_write.status.success(), "{}", stderr(&tmp_write));
    std::fs::remove_file(&tmp_file)?;
    let excluded = sandbox_exec(WORKSPACE_ONLY_CWD, &cwd_path, &bash(&script)).await?;
    assert!(!excluded.status.success());
    assert!(!tmp_file.exists());
    Ok(())
}

#[tokio::test]
async fn git_init_works_but_an_existing_git_dir_stays_read_only() -> anyhow::Result<()> {
    let cwd = scratch_dir();
    let cwd_path = real(&cwd);
    let init = sandbox_exec(WORKSPACE_ONLY_CWD, &cwd_path, &["git", "init", "-q"]).await?;
    assert!(init.status.success(), "{}", stderr(&init));
    assert!(cwd_path.join(".git/HEAD").is_file());

    // Now `.git` exists when the command starts: hooks and config cannot be written.
    let hook = cwd_path.join(".git/hooks/pre-commit");
    let config_before = std::fs::read_to_string(cwd_path.join(".git/config"))?;
    let script = format!(
        "echo 'curl evil' > {}; echo '[core] fsmonitor = evil' >> .git/config",
        hook.display()
    );
    let denied = sandbox_exec(WORKSPACE_ONLY_CWD, &cwd_path, &bash(&script)).await?;
    assert!(!denied.status.success());
    let err = stderr(&denied);
    assert_eq!(err.matches("Read-only file system").count(), 2, "{err}");
    assert!(!hook.exists(), "a hook was planted");
    assert_eq!(
        std::fs::read_to_string(cwd_path.join(".git/config"))?,
        config_before
    );

    // The rest of the root stays fully writable, new top-level entries included.
    let script =
        "echo x > new-at-top.txt && mkdir -p src && echo y > src/lib.rs && rm new-at-top.txt";
    let work = sandbox_exec(WORKSPACE_ONLY_CWD, &cwd_path, &bash(script)).await?;
    assert!(work.status.success(), "{}", stderr(&work));
    assert_eq!(std::fs::read_to_string(cwd_path.join("src/lib.rs"))?, "y\n");
    Ok(())
}

/// Where no mount namespace can be had (here: inside another sandbox, where Landlock forbids
/// mounting), Landlock alone keeps `.git` read-only, at the price of new top-level entries.
#[tokio::test]
async fn without_a_mount_namespace_landlock_alone_protects_git() -> anyhow::Result<()> {
    let parent = scratch_dir();
    let parent_path = real(&parent);
    let repo = parent_path.join("repo");
    std::fs::create_dir_all(repo.join(".git/hooks"))?;
    std::fs::create_dir_all(repo.join("src"))?;
    std::fs::write(repo.join("README"), "old\n")?;
    let repo_str = repo.display().to_string();
    // The outer sandbox lets the whole parent be written; only the inner one protects `.git`.
    let script = "echo x > .git/hooks/pre-commit; echo hook=$?; echo y > src/a; echo src=$?; \
                  echo new > README; echo readme=$?; touch new-top; echo top=$?";
    let argv = [
        CODEX_BIN,
        "sandbox-exec",
        "--policy",
        WORKSPACE_ONLY_CWD,
        "--cwd",
        &repo_str,
        "--",
        "bash",
        "-c",
        &format!("cd {repo_str} && {{ {script}; }}"),
    ];
    let output = sandbox_exec(WORKSPACE_ONLY_CWD, &parent_path, &argv).await?;
    assert_eq!(
        stdout(&output),
        "hook=1\nsrc=0\nreadme=0\ntop=1\n",
        "{}",
        stderr(&output)
    );
    assert!(!repo.join(".git/hooks/pre-commit").exists());
    assert_eq!(std::fs::read_to_string(repo.join("README"))?, "new\n");
    Ok(())
}

#[tokio::test]
async fn read_only_allows_reads_and_no_writes() -> anyhow::Result<()> {
    let cwd = scratch_dir();
    let cwd_path = real(&cwd);
    std::fs::write(cwd_path.join("existing.txt"), "content\n")?;
    let in_tmp = TempDir::new_in("/tmp")?;
    for script in [
        "touch new.txt".to_string(),
        "echo more >> existing.txt".to_string(),
        format!("echo x > {}/x", in_tmp.path().display()),
        "mkdir newdir".to_string(),
        "rm existing.txt".to_string(),
    ] {
        let output = sandbox_exec(READ_ONLY, &cwd_path, &bash(&script)).await?;
        assert!(!output.status.success(), "{script} succeeded");
        assert!(
            stderr(&output).contains("Read-only file system"),
            "{script}: {}",
            stderr(&output)
        );
    }
    assert!(!cwd_path.join("new.txt").exists());
    assert!(!cwd_path.join("newdir").exists());
    assert!(!in_tmp.path().join("x").exists());
    assert_eq!(
        std::fs::read_to_string(cwd_path.join("existing.txt"))?,
        "content\n"
    );
    let read = sandbox_exec(
        READ_ONLY,
        &cwd_path,
        &bash("cat existing.txt && echo discarded > /dev/null"),
    )
    .await?;
    assert!(read.status.success(), "{}", stderr(&read));
    assert_eq!(stdout(&read), "content\n");
    Ok(())
}

#[tokio::test]
async fn the_network_is_off_unless_the_policy_allows_it() -> anyhow::Result<()> {
    let cwd = scratch_dir();
    let cwd_path = real(&cwd);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let connect = format!(
        "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')"
    );
    let argv = ["python3", "-c", &connect];

    let blocked = sandbox_exec(WORKSPACE, &cwd_path, &argv).await?;
    assert!(!blocked.status.success());
    assert!(
        stderr(&blocked).contains("Operation not permitted"),
        "{}",
        stderr(&blocked)
    );
    assert_eq!(stdout(&blocked), "");

    let with_network = r#"{"type":"workspace-write","network_access":true}"#;
    let allowed = sandbox_exec(with_network, &cwd_path, &argv).await?;
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert_eq!(stdout(&allowed), "connected\n");

    // Unix-domain sockets keep working without the network.
    let unix = "import socket; a, b = socket.socketpair(); a.send(b'u'); print(b.recv(1).decode())";
    let local = sandbox_exec(WORKSPACE, &cwd_path, &["python3", "-c", unix]).await?;
    assert!(local.status.success(), "{}", stderr(&local));
    assert_eq!(stdout(&local), "u\n");
    Ok(())
}

#[tokio::test]
async fn forked_grandchildren_are_confined_too() -> anyhow::Result<()> {
    let cwd = scratch_dir();
    let outside = scratch_dir();
    let outside_path = real(&outside);
    let from_shell = outside_path.join("from-shell.txt");
    let from_fork = outside_path.join("from-fork.txt");
    let script = format!(
        "(sh -c 'echo x > {}'); python3 -c \"import os
pid = os.fork()
if pid == 0:
    try:
        open('{}', 'w').write('x')
    except OSError as err:
        print('grandchild:', err, flush=True)
    os._exit(0)
os.waitpid(pid, 0)\"",
        from_shell.display(),
        from_fork.display()
    );
    let output = sandbox_exec(WORKSPACE_ONLY_CWD, &real(&cwd), &bash(&script)).await?;
    assert!(
        stderr(&output).contains("Read-only file system"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).starts_with("grandchild: [Errno 30] Read-only file system"),
        "{}",
        stdout(&output)
    );
    assert!(!from_shell.exists());
    assert!(!from_fork.exists());
    Ok(())
}

#[tokio::test]
async fn a_bad_policy_or_a_missing_program_is_reported() -> anyhow::Result<()> {
    let cwd = scratch_dir();
    let cwd_path = real(&cwd);
    let bad = sandbox_exec(r#"{"type":"sometimes"}"#, &cwd_path, &["true"]).await?;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).starts_with("codex sandbox-exec: --policy is not a sandbox policy"),
        "{}",
        stderr(&bad)
    );
    let missing = sandbox_exec(WORKSPACE, &cwd_path, &["surely-not-a-program-xyz"]).await?;
    assert_eq!(missing.status.code(), Some(127));
    assert!(
        stderr(&missing).starts_with("codex: cannot run `surely-not-a-program-xyz`"),
        "{}",
        stderr(&missing)
    );
    Ok(())
}

fn parse_output(output: &str) -> (i64, String) {
    let value: Value =
        serde_json::from_str(output).unwrap_or_else(|_| panic!("not a shell output: {output}"));
    (
        value["metadata"]["exit_code"].as_i64().unwrap_or(-99),
        value["output"].as_str().unwrap_or_default().to_string(),
    )
}

/// `workspace-write` with only the cwd writable, so that the scratch dirs (maybe under `/tmp`)
/// are outside it.
fn config(approval: &str) -> String {
    format!(
        "approval_policy = \"{approval}\"\nsandbox_mode = \"workspace-write\"\n\n[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true"
    )
}

#[tokio::test]
async fn on_request_runs_in_the_sandbox_without_asking() -> anyhow::Result<()> {
    let mut server = TestServer::start(&config("on-request"), &[]).await?;
    let cwd = scratch_dir();
    let cwd_path = real(&cwd);
    let script = "echo hi > made.txt && echo net=$CODEX_SANDBOX_NETWORK_DISABLED";
    let (asked, output) = server
        .shell_turn(
            &cwd_path,
            &bash(script),
            json!({}),
            json!({"action": "decline"}),
        )
        .await?;
    assert_eq!(asked, Vec::<Value>::new());
    assert_eq!(parse_output(&output), (0, "net=1\n".to_string()));
    assert_eq!(std::fs::read_to_string(cwd_path.join("made.txt"))?, "hi\n");
    Ok(())
}

#[tokio::test]
async fn on_failure_asks_after_a_denial_and_reruns_unsandboxed() -> anyhow::Result<()> {
    let mut server = TestServer::start(&config("on-failure"), &[]).await?;
    let cwd = scratch_dir();
    let outside = scratch_dir();
    let target = real(&outside).join("escaped.txt");
    let script = format!("echo hi > {}", target.display());
    let argv = bash(&script);
    let (asked, output) = server
        .shell_turn(&real(&cwd), &argv, json!({}), json!({"action": "accept"}))
        .await?;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        asked[0]["codex_reason"],
        "command failed in the sandbox; run it again without the sandbox?"
    );
    assert_eq!(asked[0]["codex_command"], json!(argv));
    assert_eq!(parse_output(&output), (0, String::new()));
    assert_eq!(std::fs::read_to_string(&target)?, "hi\n");
    Ok(())
}

#[tokio::test]
async fn on_failure_denied_rerun_leaves_the_write_undone() -> anyhow::Result<()> {
    let mut server = TestServer::start(&config("on-failure"), &[]).await?;
    let cwd = scratch_dir();
    let outside = scratch_dir();
    let target = real(&outside).join("escaped.txt");
    let script = format!("echo hi > {}", target.display());
    let (asked, output) = server
        .shell_turn(
            &real(&cwd),
            &bash(&script),
            json!({}),
            json!({"action": "decline"}),
        )
        .await?;
    assert_eq!(asked.len(), 1);
    assert_eq!(output, "exec command rejected by user");
    assert!(!target.exists());
    Ok(())
}

#[tokio::test]
async fn never_returns_the_denial_to_the_model_without_asking() -> anyhow::Result<()> {
    let mut server = TestServer::start(&config("never"), &[]).await?;
    let cwd = scratch_dir();
    let outside = scratch_dir();
    let target = real(&outside).join("escaped.txt");
    let script = format!("echo hi > {}", target.display());
    let (asked, output) = server
        .shell_turn(
            &real(&cwd),
            &bash(&script),
            json!({}),
            json!({"action": "accept"}),
        )
        .await?;
    assert_eq!(asked, Vec::<Value>::new());
    let (exit_code, text) = parse_output(&output);
    assert_eq!(exit_code, 1);
    assert_eq!(
        text,
        format!(
            "command failed in the workspace-write sandbox, which blocks writes outside the writable roots (and to their .git) and network access; approval_policy is never, so it cannot run outside the sandbox: do without it or tell the user\nbash: line 1: {}: Read-only file system\n",
            target.display()
        )
    );
    assert!(!target.exists());
    Ok(())
}
