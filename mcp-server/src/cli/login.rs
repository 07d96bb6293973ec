//! `codex login`, `codex login --api-key`, `codex login status` and `codex logout`: signing the
//! server in from a terminal, for hosts that cannot send the account API's JSON-RPC methods
//! (Claude Code and Claude Desktop cannot). They go through the same [`AuthManager`] and
//! `$CODEX_HOME/auth.json` as `loginApiKey`, `loginChatGpt` and `logoutChatGpt`, with the
//! same config.toml settings (`auth_issuer`, `login_callback_port`, ...), so a server started
//! later finds the credentials saved here, and an auth.json written by OpenAI's CLI serves
//! both.
//!
//! Everything is said on stderr; the key is read from stdin only, never from the command line,
//! where `ps` and shell history would show it.

use std::io::IsTerminal as _;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use anyhow::bail;
use codex_core::AuthManager;
use codex_core::ConfigOverride;
use codex_core::auth::AUTH_JSON_FILE;
use codex_core::auth::ChatGptLogin;
use codex_core::auth::CodexAuth;
use codex_core::config::find_codex_home;

use crate::codex_tool_config::ServerConfigLayer;
use crate::codex_tool_config::ServerSettings;

/// As long as the account API gives a browser login.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The variable the server falls back to without auth.json.
const API_KEY_ENV: &str = "OPENAI_API_KEY";
/// More than any API key: a pipe that never ends is not a key.
const MAX_KEY_BYTES: u64 = 64 * 1024;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct LoginArgs {
    /// Sign in with an OpenAI API key read from stdin, e.g.
    /// `printenv OPENAI_API_KEY | codex login --api-key`. The key is never taken from the
    /// command line, where other users and shell history could see it.
    #[arg(long = "api-key", visible_alias = "with-api-key")]
    api_key: bool,

    /// Whatever else is on the command line, so that a key typed there (`--api-key sk-...`)
    /// is refused without clap repeating it in an error message.
    #[arg(hide = true)]
    stray: Option<std::ffi::OsString>,

    #[command(subcommand)]
    command: Option<LoginCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum LoginCommand {
    /// Say how the server is signed in; exits with status 1 when it is not.
    Status,
}

/// `codex login [--api-key | status]`.
pub(crate) fn login(
    overrides: Vec<ConfigOverride>,
    profile: Option<String>,
    args: LoginArgs,
) -> anyhow::Result<()> {
    if args.stray.is_some() {
        // The word is not repeated: it is most likely the key itself.
        bail!(
            "`codex login` takes no arguments besides `status`: an API key is read from stdin, e.g. `printenv {API_KEY_ENV} | codex login --api-key`"
        );
    }
    let api_key = if args.api_key {
        Some(read_api_key()?)
    } else {
        None
    };
    run(overrides, profile, async move |auth, settings| {
        match (args.command, api_key) {
            (Some(LoginCommand::Status), _) => status(&auth),
            (None, Some(key)) => {
                auth.login_with_api_key(&key).await?;
                say(&format!(
                    "Signed in with an API key, saved in {}.",
                    auth_json(&auth).display()
                ));
                Ok(())
            }
            (None, None) => login_chatgpt(auth, settings.login_callback_port).await,
        }
    })
}

/// `codex logout`: deletes auth.json, as `logoutChatGpt` does.
pub(crate) fn logout(
    overrides: Vec<ConfigOverride>,
    profile: Option<String>,
) -> anyhow::Result<()> {
    run(overrides, profile, async move |auth, _| {
        let path = auth_json(&auth);
        if auth.logout().await? {
            say(&format!("Signed out: deleted {}.", path.display()));
        } else {
            say(&format!("Not signed in: there is no {}.", path.display()));
        }
        if std::env::var_os(API_KEY_ENV).is_some_and(|key| !key.is_empty()) {
            say(&format!(
                "{API_KEY_ENV} is set in this environment: a server started with it still uses it."
            ));
        }
        Ok(())
    })
}

/// Loads the settings the server would start with and runs `work` with its AuthManager.
fn run(
    overrides: Vec<ConfigOverride>,
    profile: Option<String>,
    work: impl AsyncFnOnce(Arc<AuthManager>, ServerSettings) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let codex_home = find_codex_home()?;
        let config = ServerConfigLayer {
            codex_home: codex_home.clone(),
            overrides,
            profile,
            codex_events: true,
            sandbox_exe: None,
            heartbeat_interval: crate::turn_driver::HEARTBEAT_INTERVAL,
            store: Default::default(),
        };
        let settings = config.server_settings().await;
        let auth = AuthManager::shared(&codex_home, settings.auth.clone());
        work(auth, settings).await
    })
}

/// The key on stdin: a terminal is asked for it, a pipe is read to its end.
fn read_api_key() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut input = String::new();
    if stdin.is_terminal() {
        say("Paste your OpenAI API key and press Enter:");
        stdin.read_line(&mut input).context("reading the key")?;
    } else {
        stdin
            .lock()
            .take(MAX_KEY_BYTES)
            .read_to_string(&mut input)
            .context("reading the key from stdin")?;
    }
    let key = input.trim();
    if key.is_empty() {
        bail!(
            "no API key on stdin: pipe it in, e.g. `printenv {API_KEY_ENV} | codex login --api-key`"
        );
    }
    if key.contains(char::is_whitespace) {
        bail!("stdin held more than one word: expected only the API key");
    }
    Ok(key.to_string())
}

/// `codex login status`. The key itself is never shown, not even in part.
fn status(auth: &AuthManager) -> anyhow::Result<()> {
    let path = auth_json(auth);
    let from = if path.is_file() {
        format!("saved in {}", path.display())
    } else {
        format!("from the {API_KEY_ENV} environment variable")
    };
    match auth.auth() {
        Some(CodexAuth::ApiKey(_)) => say(&format!("Signed in with an API key, {from}.")),
        Some(signed_in @ CodexAuth::ChatGpt { .. }) => say(&format!(
            "Signed in with ChatGPT{}, saved in {}.",
            signed_in
                .email()
                .map(|email| format!(" as {email}"))
                .unwrap_or_default(),
            path.display()
        )),
        None => {
            say(&format!(
                "Not signed in. Set {API_KEY_ENV} in the server's environment, or run `codex login` (ChatGPT) or `codex login --api-key` (reads the key from stdin)."
            ));
            std::process::exit(1);
        }
    }
    Ok(())
}

/// The browser login: the URL is printed (a terminal over SSH has no browser to open), and
/// opened where a desktop is likely; the issuer's redirect comes back to the callback server.
async fn login_chatgpt(auth: Arc<AuthManager>, port: u16) -> anyhow::Result<()> {
    let login = ChatGptLogin::start(Arc::clone(&auth), port, LOGIN_TIMEOUT).await?;
    say(&format!(
        "Sign in with ChatGPT: open this URL in a browser on this machine:\n\n  {}\n",
        login.auth_url
    ));
    open_browser(&login.auth_url);
    say(&format!(
        "Waiting for the browser to come back to http://localhost:{}/auth/callback (Ctrl-C cancels)...",
        login.port
    ));
    let cancel = login.canceller();
    tokio::select! {
        finished = login.finished() => finished?,
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.context("waiting for Ctrl-C")?;
            cancel.cancel();
            bail!("login cancelled");
        }
    }
    let email = auth
        .auth()
        .and_then(|signed_in| signed_in.email().map(str::to_string));
    say(&format!(
        "Signed in with ChatGPT{}, saved in {}.",
        email
            .map(|email| format!(" as {email}"))
            .unwrap_or_default(),
        auth_json(&auth).display()
    ));
    Ok(())
}

/// Best effort: a failure leaves the printed URL, which is enough.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        "xdg-open"
    } else {
        return;
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(err) = spawned {
        tracing::debug!("{opener} did not start: {err}");
    }
}

fn auth_json(auth: &AuthManager) -> std::path::PathBuf {
    Path::new(auth.codex_home()).join(AUTH_JSON_FILE)
}

fn say(line: &str) {
    eprintln!("{line}");
}
