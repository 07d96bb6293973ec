//! The engine in process: a conversation started through `codex_core`'s public API against a
//! mock provider, and waits on its *events*, in the manner of codex's `test_codex()` and
//! `wait_for_event`. Engine behaviour is tested here without the `codex` binary in between;
//! the binary's suites stay for the wire contract.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use codex_core::AuthManager;
use codex_core::AuthSettings;
use codex_core::CodexConversation;
use codex_core::Config;
use codex_core::ConfigOverride;
use codex_core::ConfigOverrides;
use codex_core::ConversationManager;
use codex_core::EventMsg;
use codex_core::NewConversation;
use codex_core::Op;
use codex_core::protocol::InputItem;
use codex_core::protocol::SessionConfiguredEvent;
use codex_core::protocol::Submission;
use tempfile::TempDir;

use crate::DEFAULT_READ_TIMEOUT;
use crate::Wire;
use crate::mock_model::write_config_without_key;

/// The model requests a test manager allows open at once: plenty, so that only a test that
/// sets a limit itself ever waits for one.
const TEST_MAX_MODEL_REQUESTS: usize = 64;

/// Starts a [`TestCodexBuilder`]: `test_codex().with_config("...").build(&model)`.
pub fn test_codex() -> TestCodexBuilder {
    TestCodexBuilder {
        top_level: String::new(),
        overrides: Vec::new(),
        max_model_requests: TEST_MAX_MODEL_REQUESTS,
    }
}

/// What the conversation under test is configured with; see [`test_codex`].
pub struct TestCodexBuilder {
    top_level: String,
    overrides: Vec<String>,
    max_model_requests: usize,
}

impl TestCodexBuilder {
    /// Top-level config.toml keys, e.g. `approval_policy = "never"`.
    pub fn with_config(mut self, top_level: &str) -> Self {
        self.top_level = top_level.to_string();
        self
    }

    /// A `key=value` override, as the server's `-c` flag takes it; applied above config.toml.
    pub fn with_override(mut self, raw: &str) -> Self {
        self.overrides.push(raw.to_string());
        self
    }

    /// The manager's bound on model requests open at once (`max_concurrent_model_requests`).
    pub fn with_max_model_requests(mut self, limit: usize) -> Self {
        self.max_model_requests = limit;
        self
    }

    /// A manager and one new conversation, against the provider at `base_url` (ending in
    /// `/v1`) that speaks `wire`.
    pub async fn build_at(self, base_url: &str, wire: Wire) -> anyhow::Result<TestCodex> {
        let home = TempDir::new()?;
        let cwd = TempDir::new()?;
        write_config_without_key(home.path(), base_url, wire, &self.top_level)?;
        let overrides = self
            .overrides
            .iter()
            .map(|raw| ConfigOverride::parse(raw))
            .collect::<Result<Vec<_>, _>>()?;
        let auth = AuthManager::shared(home.path(), AuthSettings::default());
        let manager = Arc::new(ConversationManager::new(
            auth,
            home.path().to_path_buf(),
            self.max_model_requests,
        )?);
        let config = load_config(home.path(), &overrides, cwd.path().to_path_buf())?;
        let NewConversation {
            conversation,
            session_configured,
            ..
        } = start_conversation(&manager, config).await?;
        Ok(TestCodex {
            manager,
            overrides,
            conversation,
            session_configured,
            cwd,
            home,
        })
    }

    /// Like [`Self::build_at`], against `model`.
    pub async fn build(self, model: &crate::MockModel) -> anyhow::Result<TestCodex> {
        self.build_at(&model.base_url(), model.wire()).await
    }
}

/// A manager with its own `CODEX_HOME`, and the conversation it started.
pub struct TestCodex {
    pub manager: Arc<ConversationManager>,
    overrides: Vec<ConfigOverride>,
    conversation: Arc<CodexConversation>,
    session_configured: SessionConfiguredEvent,
    /// The conversation's working directory (a temporary one).
    pub cwd: TempDir,
    /// `CODEX_HOME`: config.toml, rollouts, turn locks.
    pub home: TempDir,
}

impl TestCodex {
    /// The conversation [`TestCodexBuilder::build`] started.
    pub fn conversation(&self) -> &Arc<CodexConversation> {
        &self.conversation
    }

    /// The `session_configured` event of [`Self::conversation`].
    pub fn session_configured(&self) -> &SessionConfiguredEvent {
        &self.session_configured
    }

    pub fn home_path(&self) -> &Path {
        self.home.path()
    }

    /// The config a new conversation gets: config.toml, the builder's overrides, and the
    /// test's working directory.
    pub fn config(&self) -> anyhow::Result<Config> {
        self.config_in(self.cwd.path().to_path_buf())
    }

    /// Like [`Self::config`], in `cwd`.
    pub fn config_in(&self, cwd: PathBuf) -> anyhow::Result<Config> {
        load_config(self.home.path(), &self.overrides, cwd)
    }

    /// Starts another conversation on the same manager.
    pub async fn new_conversation(&self) -> anyhow::Result<NewConversation> {
        start_conversation(&self.manager, self.config()?).await
    }

    /// Starts a turn of [`Self::conversation`] with `text` as the user's message, as the
    /// server does (one turn at a time); returns the submission id its events carry.
    pub async fn start_turn(&self, text: &str) -> anyhow::Result<String> {
        start_turn(self.conversation(), text).await
    }
}

fn load_config(
    codex_home: &Path,
    overrides: &[ConfigOverride],
    cwd: PathBuf,
) -> anyhow::Result<Config> {
    let typed = ConfigOverrides {
        cwd: Some(cwd),
        ..ConfigOverrides::default()
    };
    Config::load(codex_home, overrides, typed).context("loading the test config")
}

async fn start_conversation(
    manager: &ConversationManager,
    config: Config,
) -> anyhow::Result<NewConversation> {
    within("new_conversation", manager.new_conversation(config))
        .await?
        .context("starting a conversation")
}

/// Starts a turn of `conversation` with `text` as the user's message; returns the submission
/// id its events carry. Fails when a turn is running already.
pub async fn start_turn(conversation: &CodexConversation, text: &str) -> anyhow::Result<String> {
    let id = next_submission_id(conversation);
    let submission = Submission {
        id: id.clone(),
        op: Op::UserInput {
            items: vec![InputItem::Text {
                text: text.to_string(),
            }],
        },
    };
    within("start_turn", conversation.start_turn(submission))
        .await?
        .context("starting a turn")?;
    Ok(id)
}

/// A submission id unique in the process, so a test can tell its turns' events apart.
fn next_submission_id(conversation: &CodexConversation) -> String {
    use std::sync::atomic::AtomicU64;
    use std::sync::atomic::Ordering;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "turn-{}-{}",
        conversation.conversation_id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads `conversation`'s events until one satisfies `predicate` and returns it, failing
/// after [`DEFAULT_READ_TIMEOUT`] or when the conversation ends. Events read on the way are
/// dropped; see [`collect_events_until`] to keep them.
pub async fn wait_for_event(
    conversation: &CodexConversation,
    predicate: impl FnMut(&EventMsg) -> bool,
) -> anyhow::Result<EventMsg> {
    let mut events = collect_events_until(conversation, predicate).await?;
    events
        .pop()
        .context("collect_events_until returns the matching event last")
}

/// Reads `conversation`'s events up to and including the first that satisfies `predicate`,
/// and returns them all in order. Bounded like [`wait_for_event`].
pub async fn collect_events_until(
    conversation: &CodexConversation,
    mut predicate: impl FnMut(&EventMsg) -> bool,
) -> anyhow::Result<Vec<EventMsg>> {
    let mut seen = Vec::new();
    let read = async {
        loop {
            let event = conversation.next_event().await?;
            let done = predicate(&event.msg);
            seen.push(event.msg);
            if done {
                return anyhow::Ok(());
            }
        }
    };
    match tokio::time::timeout(DEFAULT_READ_TIMEOUT, read).await {
        Ok(Ok(())) => Ok(seen),
        Ok(Err(err)) => Err(err.context(format!("the conversation ended; events: {seen:?}"))),
        Err(_) => anyhow::bail!(
            "no matching event within {DEFAULT_READ_TIMEOUT:?}; events seen: {seen:?}"
        ),
    }
}

/// `future`, failing after [`DEFAULT_READ_TIMEOUT`] with `what` in the message: every await
/// in a test is bounded, so a hang fails instead of stalling CI.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    within_for(DEFAULT_READ_TIMEOUT, what, future).await
}

/// Like [`within`], with another bound.
pub async fn within_for<T>(
    limit: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| anyhow::anyhow!("{what} did not finish within {limit:?}"))
}

/// Waits until `condition` holds, failing after [`DEFAULT_READ_TIMEOUT`] with `what` in the
/// message. For a state that announces no event (a conversation unloaded from memory): it is
/// looked at again every couple of milliseconds, which is waiting on the state itself, never
/// on an assumed duration.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) -> anyhow::Result<()> {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}
