//! The command line around the server: `codex-mcp` as a second name, the version everywhere,
//! handing OpenAI's CLI its own commands (with a fake `codex` on `PATH`), signing in and out
//! from a terminal, and host entries written for OpenAI's `codex mcp-server` with its flags.

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use assert_cmd::Command;
use codex_test_support::McpProcess;
use codex_test_support::MockModel;
use codex_test_support::responses::assistant_answer;
use codex_test_support::sse_response;
use pretty_assertions::assert_eq;
use serde_json::Value;
use serde_json::json;
use tempfile::TempDir;
use tokio::io::AsyncBufReadExt as _;
use wiremock::Mock;
use wiremock::MockServer;
use wiremock::ResponseTemplate;
use wiremock::matchers::body_string_contains;
use wiremock::matchers::header;
use wiremock::matchers::method;
use wiremock::matchers::path;

use super::CODEX_BIN;
use super::CODEX_MCP_BIN;
use super::auth::browser_get;
use super::auth::id_token;
use super::auth::query;

/// No command here may take longer: a hand-off loop would otherwise hang the suite.
const COMMAND_LIMIT: Duration = Duration::from_secs(20);
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(unix)] // A `#!/bin/sh` script.
/// Writes an executable script `dir/codex`.
fn write_codex_script(dir: &Path, body: &str) -> anyhow::Result<()> {
    let path = dir.join("codex");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(unix)] // A `#!/bin/sh` script.
/// A stand-in for OpenAI's CLI: prints its arguments, each in brackets, and exits 7.
fn fake_openai_codex() -> anyhow::Result<TempDir> {
    let dir = TempDir::new()?;
    write_codex_script(
        dir.path(),
        r#"printf 'fake codex:'; for a in "$@"; do printf ' [%s]' "$a"; done; printf '\n'; exit 7"#,
    )?;
    Ok(dir)
}

/// The directory of the binary under test, which holds our own `codex`.
fn our_dir() -> &'static Path {
    Path::new(CODEX_BIN).parent().unwrap_or(Path::new("/"))
}

fn path_of(dirs: &[&Path]) -> String {
    dirs.iter()
        .map(|dir| dir.display().to_string())
        .chain(["/usr/bin".to_string(), "/bin".to_string()])
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs `program args` with `PATH` and `CODEX_HOME` set, stdin empty.
fn run(program: &str, args: &[&str], path: &str, home: &Path) -> Output {
    Command::new(program)
        .args(args)
        .env("PATH", path)
        .env("CODEX_HOME", home)
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_MCP_HANDED_OFF")
        .env("RUST_BACKTRACE", "0")
        .write_stdin("")
        .timeout(COMMAND_LIMIT)
        .output()
        .expect("run codex")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[cfg(unix)]
#[test]
fn commands_of_openais_cli_go_to_the_next_codex_on_path() -> anyhow::Result<()> {
    let fake = fake_openai_codex()?;
    let home = TempDir::new()?;
    // Our own directory comes first: the search must skip this very program.
    let path = path_of(&[our_dir(), fake.path()]);
    for (args, expected) in [
        (
            &["exec", "fix the bug"][..],
            "fake codex: [exec] [fix the bug]",
        ),
        (&[][..], "fake codex:"),
        (&["mcp", "list"][..], "fake codex: [mcp] [list]"),
        (
            &["-m", "o3", "exec", "x"][..],
            "fake codex: [-m] [o3] [exec] [x]",
        ),
        (
            &["-c", "model=o3", "resume", "--last"][..],
            "fake codex: [-c] [model=o3] [resume] [--last]",
        ),
    ] {
        for program in [CODEX_BIN, CODEX_MCP_BIN] {
            let output = run(program, args, &path, home.path());
            assert_eq!(output.status.code(), Some(7), "{args:?}: {output:?}");
            assert_eq!(stdout(&output).trim_end(), expected, "{args:?}");
        }
    }
    Ok(())
}

#[cfg(unix)]
#[test]
fn our_own_commands_are_never_handed_off() -> anyhow::Result<()> {
    let fake = fake_openai_codex()?;
    let home = TempDir::new()?;
    let path = path_of(&[fake.path()]);

    let output = run(CODEX_BIN, &["mcp", "--bogus"], &path, home.path());
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stdout(&output).is_empty(), "{output:?}");
    assert!(
        stderr(&output).contains("unexpected argument '--bogus'"),
        "{output:?}"
    );

    let output = run(CODEX_BIN, &["--version"], &path, home.path());
    assert_eq!(stdout(&output), format!("codex {VERSION}\n"));

    let output = run(CODEX_BIN, &["login", "status"], &path, home.path());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("Not signed in"), "{output:?}");

    // `codex mcp` serves, fake CLI or not: stdin is empty, so it answers nothing and ends.
    let output = run(CODEX_BIN, &["mcp-server"], &path, home.path());
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).is_empty(), "{output:?}");
    Ok(())
}

#[test]
fn without_another_codex_the_user_is_told_what_this_one_is() -> anyhow::Result<()> {
    let empty = TempDir::new()?;
    let home = TempDir::new()?;
    let path = path_of(&[our_dir(), empty.path()]);
    let output = run(CODEX_BIN, &["exec", "hi"], &path, home.path());
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = stderr(&output);
    assert!(
        said.contains("`exec` is not a command of codex-mcp"),
        "{said}"
    );
    assert!(said.contains("no other `codex`"), "{said}");

    let output = run(CODEX_BIN, &[], &path, home.path());
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr(&output).contains("`codex mcp`"), "{output:?}");
    Ok(())
}

/// A shim named `codex` that runs this binary (as a package manager's may) is another file,
/// so without the loop guard each would hand the command to the other for ever.
#[cfg(unix)]
#[test]
fn a_wrapper_named_codex_does_not_make_a_loop() -> anyhow::Result<()> {
    let wrapper = TempDir::new()?;
    write_codex_script(wrapper.path(), &format!("exec '{CODEX_BIN}' \"$@\""))?;
    let wrapper_codex = wrapper.path().join("codex");
    let wrapper_codex = wrapper_codex.to_str().context("path")?;
    let fake = fake_openai_codex()?;
    let home = TempDir::new()?;

    let output = run(
        wrapper_codex,
        &["exec", "x"],
        &path_of(&[wrapper.path(), fake.path()]),
        home.path(),
    );
    assert_eq!(output.status.code(), Some(7), "{output:?}");
    assert_eq!(stdout(&output).trim_end(), "fake codex: [exec] [x]");

    let output = run(
        wrapper_codex,
        &["exec", "x"],
        &path_of(&[wrapper.path()]),
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr(&output).contains("no other `codex`"), "{output:?}");
    Ok(())
}

#[tokio::test]
async fn codex_mcp_serves_and_the_version_is_the_same_everywhere() -> anyhow::Result<()> {
    let output = run(
        CODEX_MCP_BIN,
        &["--version"],
        "/usr/bin:/bin",
        Path::new("/"),
    );
    assert_eq!(stdout(&output), format!("codex-mcp {VERSION}\n"));

    let model = MockModel::start().await;
    let home = TempDir::new()?;
    model.write_config(home.path(), "")?;
    model
        .mount_sse_sequence(vec![assistant_answer("hello")])
        .await;
    let mut mcp = McpProcess::spawn(CODEX_MCP_BIN, home.path()).await?;
    let init = mcp.initialize().await?;
    assert_eq!(init["serverInfo"]["version"], VERSION, "{init}");
    let id = mcp.call_tool("codex", json!({"prompt": "hi"})).await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(result["structuredContent"]["content"], "hello", "{result}");
    let requests = model.requests().await;
    let agent = requests[0]
        .headers
        .get("user-agent")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    assert!(
        agent.starts_with(&format!("codex_mcp_server/{VERSION} (")),
        "{agent}"
    );
    Ok(())
}

/// A config.toml whose provider takes OpenAI credentials and expects `key` from them.
async fn openai_style_provider(home: &Path, key: &str) -> anyhow::Result<MockServer> {
    let model = MockServer::start().await;
    std::fs::write(
        home.join("config.toml"),
        format!(
            r#"model = "mock-model"
model_provider = "mock_openai"

[model_providers.mock_openai]
name = "Mock OpenAI"
base_url = "{}/v1"
wire_api = "responses"
requires_openai_auth = true
request_max_retries = 0
stream_max_retries = 0
"#,
            model.uri()
        ),
    )?;
    Mock::given(method("POST"))
        .and(path("/v1/responses"))
        .and(header("authorization", format!("Bearer {key}")))
        .respond_with(sse_response(assistant_answer("signed in")))
        .expect(1)
        .mount(&model)
        .await;
    Ok(model)
}

/// `codex login ...` with `stdin` as its input.
fn login(args: &[&str], home: &Path, stdin: &str) -> Output {
    Command::new(CODEX_BIN)
        .args(args)
        .env("CODEX_HOME", home)
        .env_remove("OPENAI_API_KEY")
        .env("RUST_BACKTRACE", "0")
        .write_stdin(stdin)
        .timeout(COMMAND_LIMIT)
        .output()
        .expect("run codex")
}

#[tokio::test]
async fn api_key_login_status_and_logout_from_the_cli() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    let key = "sk-cli-secret-7";
    let model = openai_style_provider(home.path(), key).await?;
    let auth_json = home.path().join("auth.json");

    let status = login(&["login", "status"], home.path(), "");
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    assert!(stderr(&status).contains("OPENAI_API_KEY"), "{status:?}");

    let saved = login(&["login", "--api-key"], home.path(), &format!("{key}\n"));
    assert!(saved.status.success(), "{saved:?}");
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&auth_json)?)?;
    assert_eq!(stored["OPENAI_API_KEY"], key);
    // Windows has no mode bits.
    #[cfg(unix)]
    assert_eq!(
        std::fs::metadata(&auth_json)?.permissions().mode() & 0o777,
        0o600
    );

    let status = login(&["login", "status"], home.path(), "");
    assert!(status.status.success(), "{status:?}");
    assert!(
        stderr(&status).contains("Signed in with an API key, saved in"),
        "{status:?}"
    );
    for output in [&saved, &status] {
        assert!(!stderr(output).contains(key) && !stdout(output).contains(key));
    }

    // A server started now signs its requests with the key saved from the terminal.
    let mut mcp = McpProcess::spawn(CODEX_BIN, home.path()).await?;
    mcp.initialize().await?;
    let auth = mcp.request("getAuthStatus", json!({})).await?;
    assert_eq!(auth["result"]["authMethod"], "apikey", "{auth}");
    let id = mcp.call_tool("codex", json!({"prompt": "hi"})).await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(
        result["structuredContent"]["content"], "signed in",
        "{result}"
    );
    model.verify().await;
    assert!(!mcp.stderr().contains(key));

    let out = login(&["logout"], home.path(), "");
    assert!(out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("Signed out"), "{out:?}");
    assert!(!auth_json.exists());
    let status = login(&["login", "status"], home.path(), "");
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    let again = login(&["logout"], home.path(), "");
    assert!(again.status.success(), "{again:?}");
    assert!(stderr(&again).contains("Not signed in"), "{again:?}");
    Ok(())
}

#[test]
fn a_key_is_taken_from_stdin_only_and_never_repeated() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    for args in [
        &["login", "--api-key", "sk-on-the-command-line"][..],
        &["login", "sk-on-the-command-line"][..],
        &["login", "--with-api-key", "sk-on-the-command-line"][..],
    ] {
        let output = login(args, home.path(), "");
        assert!(!output.status.success(), "{args:?}: {output:?}");
        let said = stderr(&output);
        assert!(!said.contains("sk-on-the-command-line"), "{said}");
        assert!(said.contains("read from stdin"), "{said}");
    }
    let output = login(&["login", "--api-key"], home.path(), "\n");
    assert!(!output.status.success(), "{output:?}");
    assert!(
        stderr(&output).contains("no API key on stdin"),
        "{output:?}"
    );
    assert!(!home.path().join("auth.json").exists());
    Ok(())
}

#[tokio::test]
async fn chatgpt_login_from_the_cli_prints_the_url_and_saves_the_tokens() -> anyhow::Result<()> {
    let issuer = MockServer::start().await;
    let home = TempDir::new()?;
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "auth_issuer = \"{}\"\nlogin_callback_port = 0\n",
            issuer.uri()
        ),
    )?;
    let id_token = id_token("cli@example.com", "acct-cli");
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=cli-code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id_token": id_token,
            "access_token": "access-cli",
            "refresh_token": "refresh-cli"
        })))
        .expect(1)
        .mount(&issuer)
        .await;

    let mut child = tokio::process::Command::new(CODEX_BIN)
        .arg("login")
        .env("CODEX_HOME", home.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().context("stderr")?).lines();
    let mut said = String::new();
    let auth_url = tokio::time::timeout(COMMAND_LIMIT, async {
        while let Some(line) = lines.next_line().await? {
            said.push_str(&line);
            said.push('\n');
            if let Some(url) = line.trim().strip_prefix(&issuer.uri()) {
                return anyhow::Ok(format!("{}{url}", issuer.uri()));
            }
        }
        anyhow::bail!("no URL printed: {said}")
    })
    .await??;
    assert!(auth_url.contains("/oauth/authorize?"), "{auth_url}");
    let params = query(&auth_url);
    let (status, page) = browser_get(
        &params["redirect_uri"],
        &[("code", "cli-code"), ("state", &params["state"])],
    )
    .await?;
    assert_eq!(status, 200, "{page}");

    let rest = tokio::time::timeout(COMMAND_LIMIT, async {
        let mut rest = String::new();
        while let Some(line) = lines.next_line().await? {
            rest.push_str(&line);
            rest.push('\n');
        }
        anyhow::Ok(rest)
    })
    .await??;
    let exit = tokio::time::timeout(COMMAND_LIMIT, child.wait()).await??;
    assert!(exit.success(), "{exit:?}: {said}{rest}");
    assert!(
        rest.contains("Signed in with ChatGPT as cli@example.com"),
        "{rest}"
    );
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("auth.json"))?)?;
    assert_eq!(stored["tokens"]["access_token"], "access-cli");
    assert_eq!(stored["tokens"]["account_id"], "acct-cli");
    for secret in ["access-cli", "refresh-cli", "cli-code"] {
        assert!(!said.contains(secret) && !rest.contains(secret), "{secret}");
    }
    issuer.verify().await;

    let status = login(&["login", "status"], home.path(), "");
    assert!(
        stderr(&status).contains("Signed in with ChatGPT as cli@example.com"),
        "{status:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_old_host_entry_with_the_old_flags_starts_and_serves_a_call() -> anyhow::Result<()> {
    let model = MockModel::start().await;
    let home = TempDir::new()?;
    // Keys OpenAI's CLI reads and this server does not are accepted under --strict-config.
    model.write_config(
        home.path(),
        "notify = [\"true\"]\nhide_agent_reasoning = true",
    )?;
    model
        .mount_sse_sequence(vec![assistant_answer("still works")])
        .await;
    let mut mcp = McpProcess::spawn_command(
        CODEX_BIN,
        home.path(),
        &[
            "mcp-server",
            "--strict-config",
            "--enable",
            "shell_tool",
            "--disable",
            "web_search_request",
            "-c",
            "model_reasoning_effort=low",
        ],
        &[],
    )
    .await?;
    mcp.initialize().await?;
    let id = mcp.call_tool("codex", json!({"prompt": "hi"})).await?;
    let result = mcp.read_until_response(id).await?["result"].clone();
    assert_eq!(
        result["structuredContent"]["content"], "still works",
        "{result}"
    );
    let said = mcp.stderr();
    assert!(
        said.contains("--disable web_search_request is ignored: this server has no such feature"),
        "{said}"
    );
    assert!(
        !said.contains("waiting for an MCP host"),
        "stdin is a pipe: {said}"
    );
    Ok(())
}

#[test]
fn strict_config_refuses_keys_nobody_knows() -> anyhow::Result<()> {
    let home = TempDir::new()?;
    std::fs::write(
        home.path().join("config.toml"),
        "modle = \"o3\"\n[tui]\nnotifications = true\n",
    )?;
    let path = "/usr/bin:/bin";
    let output = run(CODEX_BIN, &["--strict-config", "mcp"], path, home.path());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout(&output).is_empty());
    let said = stderr(&output);
    assert!(said.contains("`modle`"), "{said}");
    assert!(!said.contains("`tui`"), "{said}");
    // Without the flag the unknown key is ignored, as before.
    let output = run(CODEX_BIN, &["mcp"], path, home.path());
    assert!(output.status.success(), "{output:?}");

    std::fs::write(home.path().join("config.toml"), "model = \"o3\"\n")?;
    let output = run(
        CODEX_BIN,
        &["--strict-config", "-c", "approvl_policy=never", "mcp"],
        path,
        home.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("`approvl_policy`"), "{output:?}");
    Ok(())
}
