//! The registry of conversations, shared by everything that serves them: the live ones in
//! memory, and the recorded ones it can load, fork, list and archive.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::RwLock;
use std::sync::Weak;
use std::time::Duration;

use tokio::sync::Notify;

use crate::auth::AuthManager;
use crate::client::ModelTransport;
use crate::client::user_agent::UserAgent;
use crate::config::Config;
use crate::conversation::ActiveTurns;
use crate::conversation::CodexConversation;
use crate::conversation::ConversationShared;
use crate::error::CodexErr;
use crate::error::Result;
use crate::protocol::AskForApproval;
use crate::protocol::ConversationId;
use crate::protocol::EventMsg;
use crate::protocol::Op;
use crate::protocol::ReasoningEffort;
use crate::protocol::ReasoningSummary;
use crate::protocol::SandboxPolicy;
use crate::protocol::SessionConfiguredEvent;
use crate::rollout;
use crate::rollout::ConversationsPage;
use crate::rollout::LoadedRollout;
use crate::session;
use crate::session::InitialHistory;

/// How long `archive` waits for a live conversation to shut down.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// The idle sweeper never spins faster than this.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(10);

type ConversationMap = RwLock<HashMap<ConversationId, Arc<CodexConversation>>>;

/// A conversation that has just started or been loaded, with the event that describes it.
pub struct NewConversation {
    pub conversation_id: ConversationId,
    pub conversation: Arc<CodexConversation>,
    pub session_configured: SessionConfiguredEvent,
}

/// Which recorded conversation to fork.
#[derive(Debug, Clone)]
pub enum ForkSource {
    Id(ConversationId),
    Path(PathBuf),
}

/// The settings a conversation last ran with, as its rollout recorded them; a reloaded
/// conversation continues under them rather than under whatever the server defaults to now.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedSettings {
    pub conversation_id: ConversationId,
    pub cwd: PathBuf,
    pub model: Option<String>,
    pub approval_policy: Option<AskForApproval>,
    pub sandbox_policy: Option<SandboxPolicy>,
    pub effort: Option<ReasoningEffort>,
    pub summary: Option<ReasoningSummary>,
    pub base_instructions: Option<String>,
}

impl SavedSettings {
    fn from_rollout(loaded: &LoadedRollout) -> Self {
        let turn = loaded.last_turn_context();
        Self {
            conversation_id: loaded.conversation_id(),
            cwd: turn.map_or_else(|| loaded.meta.cwd.clone(), |turn| turn.cwd.clone()),
            model: turn.map(|turn| turn.model.clone()),
            approval_policy: turn.map(|turn| turn.approval_policy),
            sandbox_policy: turn.map(|turn| turn.sandbox_policy.clone()),
            effort: turn.and_then(|turn| turn.effort),
            summary: turn.map(|turn| turn.summary),
            base_instructions: loaded.meta.base_instructions.clone(),
        }
    }
}

/// Creates, holds and loads conversations. One per server.
pub struct ConversationManager {
    /// A std lock: lookups and inserts are short and never cross an `.await`. Shared with
    /// the idle sweeper, which holds it weakly.
    conversations: Arc<ConversationMap>,
    /// One HTTP client (and connection pool), one set of credentials and one User-Agent for
    /// every conversation's model requests.
    transport: ModelTransport,
    codex_home: PathBuf,
    /// Held for a thread while it is loaded from or archived to disk, so that one rollout
    /// never gets two sessions writing to it; loads of other threads do not wait.
    disk: DiskLocks,
    /// Wakes the idle sweeper, started with the first conversation.
    sweeper: OnceLock<Arc<Notify>>,
    /// The turns running in this manager's conversations.
    running: ActiveTurns,
}

impl ConversationManager {
    /// `max_model_requests` bounds the model requests open at once, across conversations
    /// (`max_concurrent_model_requests`).
    pub fn new(
        auth_manager: Arc<AuthManager>,
        codex_home: PathBuf,
        max_model_requests: usize,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(crate::client::user_agent::base_user_agent())
            .build()?;
        Ok(Self {
            conversations: Arc::new(RwLock::new(HashMap::new())),
            transport: ModelTransport {
                http,
                auth: auth_manager,
                user_agent: Arc::new(UserAgent::default()),
                open_requests: Arc::new(tokio::sync::Semaphore::new(max_model_requests.max(1))),
            },
            codex_home,
            disk: DiskLocks::default(),
            sweeper: OnceLock::new(),
            running: ActiveTurns::default(),
        })
    }

    pub fn auth_manager(&self) -> &Arc<AuthManager> {
        &self.transport.auth
    }

    /// The User-Agent of model requests; the server adds the host's name once it knows it.
    pub fn user_agent(&self) -> &UserAgent {
        &self.transport.user_agent
    }

    /// The turns running across every conversation: a graceful stop waits on them.
    pub fn active_turns(&self) -> &ActiveTurns {
        &self.running
    }

    pub fn codex_home(&self) -> &Path {
        &self.codex_home
    }

    /// How many conversations are in memory.
    pub fn loaded_conversations(&self) -> usize {
        read(&self.conversations).len()
    }

    /// Starts a conversation and waits for its `session_configured` event.
    pub async fn new_conversation(&self, config: Config) -> Result<NewConversation> {
        self.spawn(config, ConversationId::new(), InitialHistory::New)
            .await
    }

    pub fn get_conversation(&self, id: ConversationId) -> Result<Arc<CodexConversation>> {
        read(&self.conversations)
            .get(&id)
            .cloned()
            .ok_or(CodexErr::ConversationNotFound(id))
    }

    /// The conversation with this id: the live one, or else the recorded one, loaded with
    /// the config `make_config` builds from its saved settings.
    pub async fn get_or_resume<F, Fut>(
        &self,
        id: ConversationId,
        make_config: F,
    ) -> Result<Arc<CodexConversation>>
    where
        F: FnOnce(SavedSettings) -> Fut,
        Fut: Future<Output = Result<Config>>,
    {
        if let Ok(conversation) = self.get_conversation(id) {
            return Ok(conversation);
        }
        let _disk = self.disk.lock(id).await;
        // Another call may have loaded it while this one waited.
        if let Ok(conversation) = self.get_conversation(id) {
            return Ok(conversation);
        }
        let path = rollout::find_conversation_path(&self.codex_home, id)
            .await?
            .ok_or(CodexErr::ConversationNotFound(id))?;
        let loaded = rollout::load_rollout(&path).await?;
        if loaded.conversation_id() != id {
            return Err(CodexErr::ConversationNotFound(id));
        }
        let config = make_config(SavedSettings::from_rollout(&loaded)).await?;
        let new = self
            .spawn(config, id, InitialHistory::Resumed(Box::new(loaded)))
            .await?;
        Ok(new.conversation)
    }

    /// Loads the conversation recorded at `path`, which keeps its id and file. Refused when
    /// it is already in memory.
    pub async fn resume_conversation<F, Fut>(
        &self,
        path: &Path,
        make_config: F,
    ) -> Result<NewConversation>
    where
        F: FnOnce(SavedSettings) -> Fut,
        Fut: Future<Output = Result<Config>>,
    {
        let loaded = rollout::load_rollout(path).await?;
        let id = loaded.conversation_id();
        let _disk = self.disk.lock(id).await;
        if self.get_conversation(id).is_ok() {
            return Err(CodexErr::AlreadyLoaded(id));
        }
        let config = make_config(SavedSettings::from_rollout(&loaded)).await?;
        self.spawn(config, id, InitialHistory::Resumed(Box::new(loaded)))
            .await
    }

    /// Starts a new conversation (new id, new file) from a recorded one's history, without
    /// its last `drop_last_user_messages` user messages and what followed them. The config
    /// comes from `make_config`, given the source's saved settings.
    pub async fn fork_conversation<F, Fut>(
        &self,
        source: ForkSource,
        drop_last_user_messages: usize,
        make_config: F,
    ) -> Result<NewConversation>
    where
        F: FnOnce(SavedSettings) -> Fut,
        Fut: Future<Output = Result<Config>>,
    {
        let path = match source {
            ForkSource::Path(path) => path,
            ForkSource::Id(id) => match self.get_conversation(id) {
                Ok(live) => live.rollout_path().to_path_buf(),
                Err(_) => rollout::find_conversation_path(&self.codex_home, id)
                    .await?
                    .ok_or(CodexErr::ConversationNotFound(id))?,
            },
        };
        let loaded = rollout::load_rollout(&path).await?;
        let config = make_config(SavedSettings::from_rollout(&loaded)).await?;
        let items =
            rollout::truncate_before_last_user_messages(loaded.items, drop_last_user_messages);
        let initial = if items.is_empty() {
            InitialHistory::New
        } else {
            InitialHistory::Forked(items)
        };
        self.spawn(config, ConversationId::new(), initial).await
    }

    /// Moves a conversation's rollout to `archived_sessions/`, shutting it down first if it
    /// is live. `path` must be the conversation's own file inside `sessions/`. Returns the new
    /// path.
    pub async fn archive_conversation(&self, id: ConversationId, path: &Path) -> Result<PathBuf> {
        let _disk = self.disk.lock(id).await;
        // Canonicalizing reads the disk: off the async workers.
        let (home, requested) = (self.codex_home.clone(), path.to_path_buf());
        let path = tokio::task::spawn_blocking(move || {
            rollout::validate_archive_path(&home, id, &requested)
        })
        .await
        .map_err(|join| CodexErr::Io(std::io::Error::other(join)))??;
        if let Some(live) = self.remove_conversation(id) {
            shut_down(&live, SHUTDOWN_TIMEOUT).await;
        }
        Ok(rollout::archive_rollout(&self.codex_home, &path).await?)
    }

    /// Recorded conversations, newest first.
    pub async fn list_conversations(
        &self,
        page_size: usize,
        cursor: Option<&str>,
    ) -> Result<ConversationsPage> {
        Ok(rollout::list_conversations(&self.codex_home, page_size, cursor).await?)
    }

    /// Recorded conversations that `keep` accepts, newest first, in full pages.
    pub async fn list_conversations_where(
        &self,
        page_size: usize,
        cursor: Option<&str>,
        keep: impl Fn(ConversationId) -> bool + Send + 'static,
    ) -> Result<ConversationsPage> {
        Ok(rollout::list_conversations_where(&self.codex_home, page_size, cursor, keep).await?)
    }

    /// Shuts every live conversation down: running turns are interrupted (their processes
    /// killed, `turn_aborted` recorded) and rollouts flushed. Waits at most `limit`.
    pub async fn shutdown_all(&self, limit: Duration) {
        let live: Vec<Arc<CodexConversation>> =
            write(&self.conversations).drain().map(|(_, c)| c).collect();
        let all = futures::future::join_all(live.iter().map(|c| shut_down(c, limit)));
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("some conversations did not shut down within {limit:?}");
        }
    }

    /// Forgets a conversation; it ends once the last handle to it is dropped.
    pub fn remove_conversation(&self, id: ConversationId) -> Option<Arc<CodexConversation>> {
        write(&self.conversations).remove(&id)
    }

    /// Forgets `stale` if it is still the conversation the manager holds for its id (another
    /// call may have loaded a fresh copy already, which must stay).
    pub fn remove_stale(&self, stale: &Arc<CodexConversation>) {
        let mut conversations = write(&self.conversations);
        let id = stale.conversation_id();
        if conversations
            .get(&id)
            .is_some_and(|held| Arc::ptr_eq(held, stale))
        {
            conversations.remove(&id);
        }
    }

    async fn spawn(
        &self,
        config: Config,
        conversation_id: ConversationId,
        initial: InitialHistory,
    ) -> Result<NewConversation> {
        let config = Arc::new(config);
        let shared = Arc::new(ConversationShared::new(self.running.clone()));
        let spawned = session::spawn(
            Arc::clone(&config),
            self.transport.clone(),
            conversation_id,
            initial,
            Arc::clone(&shared),
        )
        .await?;
        let conversation = Arc::new(CodexConversation::new(
            conversation_id,
            config,
            spawned.rollout_path,
            spawned.tx_sub,
            spawned.rx_event,
            shared,
        ));
        let first = conversation.next_event().await?;
        let EventMsg::SessionConfigured(session_configured) = first.msg else {
            return Err(CodexErr::SessionStart(format!(
                "expected session_configured first, got {:?}",
                first.msg
            )));
        };
        write(&self.conversations).insert(conversation_id, Arc::clone(&conversation));
        self.wake_sweeper();
        Ok(NewConversation {
            conversation_id,
            conversation,
            session_configured,
        })
    }

    fn wake_sweeper(&self) {
        self.sweeper
            .get_or_init(|| {
                let wake = Arc::new(Notify::new());
                tokio::spawn(sweep_idle(
                    Arc::downgrade(&self.conversations),
                    Arc::clone(&wake),
                ));
                wake
            })
            .notify_one();
    }
}

impl Drop for ConversationManager {
    fn drop(&mut self) {
        // The sweeper finds the map gone and ends.
        if let Some(wake) = self.sweeper.get() {
            wake.notify_one();
        }
    }
}

/// One lock per thread being loaded or archived, made on demand and forgotten once nobody
/// holds or waits for it.
#[derive(Default)]
struct DiskLocks {
    /// A std lock, held only to find or make a thread's lock.
    locks: std::sync::Mutex<HashMap<ConversationId, std::sync::Weak<tokio::sync::Mutex<()>>>>,
}

impl DiskLocks {
    async fn lock(&self, id: ConversationId) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.retain(|_, held| held.strong_count() > 0);
            match locks.get(&id).and_then(std::sync::Weak::upgrade) {
                Some(mutex) => mutex,
                None => {
                    let mutex = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(id, Arc::downgrade(&mutex));
                    mutex
                }
            }
        };
        mutex.lock_owned().await
    }
}

/// Asks a conversation to shut down and waits, bounded, for it to confirm.
async fn shut_down(conversation: &CodexConversation, limit: Duration) {
    let mut events = conversation.subscribe();
    if conversation.submit(Op::Shutdown).await.is_err() {
        return; // Already gone.
    }
    let confirmed = tokio::time::timeout(limit, async {
        while let Some(event) = events.recv().await {
            if matches!(event.msg, EventMsg::ShutdownComplete) {
                return;
            }
        }
    })
    .await;
    if confirmed.is_err() {
        tracing::warn!(conversation_id = %conversation.conversation_id(), "shutdown not confirmed in time");
    }
}

/// Unloads conversations that nobody uses and that have been idle for their configured
/// timeout. Their rollouts stay; `get_or_resume` loads them again when they are needed.
async fn sweep_idle(conversations: Weak<ConversationMap>, wake: Arc<Notify>) {
    loop {
        let Some(map) = conversations.upgrade() else {
            return;
        };
        let next_check = evict_idle(&map);
        drop(map);
        match next_check {
            Some(delay) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

/// Evicts what is due; returns when to look again (`None`: nothing loaded).
fn evict_idle(map: &ConversationMap) -> Option<Duration> {
    let mut next_check: Option<Duration> = None;
    write(map).retain(|id, conversation| {
        let timeout = conversation.config().conversation_idle_timeout;
        // Only the map holds it, no turn runs, nobody listens: nothing is lost by dropping it.
        let unused = Arc::strong_count(conversation) == 1
            && !conversation.is_busy()
            && !conversation.has_observers();
        let idle = conversation.idle_for();
        if unused && idle >= timeout {
            tracing::info!(conversation_id = %id, "unloaded idle conversation");
            return false;
        }
        let wait = if unused {
            timeout.saturating_sub(idle)
        } else {
            timeout
        };
        let wait = wait.max(MIN_SWEEP_INTERVAL);
        next_check = Some(next_check.map_or(wait, |current| current.min(wait)));
        true
    });
    next_check
}

fn read(
    map: &ConversationMap,
) -> std::sync::RwLockReadGuard<'_, HashMap<ConversationId, Arc<CodexConversation>>> {
    map.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(
    map: &ConversationMap,
) -> std::sync::RwLockWriteGuard<'_, HashMap<ConversationId, Arc<CodexConversation>>> {
    map.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loading_one_thread_does_not_wait_for_another() {
        let locks = DiskLocks::default();
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let held = locks.lock(a).await;
        let other = tokio::time::timeout(Duration::from_secs(5), locks.lock(b)).await;
        assert!(other.is_ok(), "another thread's lock was free");
        drop(other);
        // Bounded: it cannot complete while `held` lives.
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock(a)).await;
        assert!(same.is_err(), "the same thread's lock was held");
        drop(held);
        let same = tokio::time::timeout(Duration::from_secs(5), locks.lock(a)).await;
        assert!(same.is_ok());
        drop(same);
        assert!(
            locks
                .locks
                .lock()
                .unwrap()
                .values()
                .all(|held| held.strong_count() == 0),
            "nothing is kept once released"
        );
    }
}
