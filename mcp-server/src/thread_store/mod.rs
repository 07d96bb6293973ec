//! Where threads live, so that more than one server can serve them: the thread store.
//!
//! Two backends. **Files** (the default, nothing to set up) is what a single server always did:
//! rollouts under `$CODEX_HOME/sessions`, tasks under `$CODEX_HOME/tasks`, one turn per thread
//! through the engine's file lock; every method here is then a no-op. **PostgreSQL**
//! (`thread_store_url = "postgres://…"`) lets replicas behind a load balancer share threads:
//!
//! - a turn takes the thread's *lease* (one replica at a time; a heartbeat extends it, and it
//!   expires when its replica dies), and a second turn elsewhere gets the usual busy answer;
//! - before a turn the replica makes its local rollout file match the store (`hydrate`), and
//!   after the turn, before it is answered, commits the file's new lines (`Lease::commit`): the
//!   local file is a working copy, the store is the record, and the commit unit is a turn;
//! - task records, and which replica runs each 2026-07-28 turn, are in the store, and answers
//!   to a turn's questions that reach another replica are delivered through it
//!   (`running_turns.rs`).

#[cfg(test)]
mod pg_tests;
mod postgres;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::Duration;
use std::time::Instant;

use sha2::Digest as _;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::task_store::write_durably;

pub(crate) use postgres::PgStore;

/// How long a lease lasts without a heartbeat, unless `thread_lease_secs` says otherwise.
pub(crate) const DEFAULT_LEASE_SECS: u64 = 15;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("cannot connect to the thread store (thread_store_url): {}", chain(.0))]
    Connect(#[source] tokio_postgres::Error),
    #[error("the thread store connection is gone")]
    NotConnected,
    #[error("thread store migration {version} failed: {}", chain(source))]
    Migrate {
        version: i32,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("thread store: cannot {what}: {}", chain(source))]
    Query {
        what: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("thread store: cannot use the local rollout `{path}`: {source}")]
    Rollout {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "this replica lost the lease of thread {thread} (no heartbeat reached the store in time), so the turn's history was not committed"
    )]
    LeaseLost { thread: String },
    #[error(
        "the rollout `{path}` is not a plain path under CODEX_HOME/sessions, so replicas cannot share it"
    )]
    OutsideHome { path: PathBuf },
}

/// `err` and its causes: tokio-postgres says only "db error" or "error connecting to server" at
/// the top, and the server's message or the socket's error below.
pub(crate) fn chain(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The store a server uses, set once at start (files until then).
#[derive(Clone, Default)]
pub(crate) struct StoreSlot(Arc<OnceLock<ThreadStore>>);

impl std::fmt::Debug for StoreSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            ThreadStore::Files => f.write_str("StoreSlot(files)"),
            ThreadStore::Postgres(_) => f.write_str("StoreSlot(postgres)"),
        }
    }
}

impl StoreSlot {
    pub(crate) fn set(&self, store: ThreadStore) {
        if self.0.set(store).is_err() {
            tracing::warn!("the thread store was set twice; the first stays");
        }
    }

    pub(crate) fn get(&self) -> &ThreadStore {
        static FILES: ThreadStore = ThreadStore::Files;
        self.0.get().unwrap_or(&FILES)
    }
}

#[derive(Clone)]
pub(crate) enum ThreadStore {
    Files,
    Postgres(Arc<Shared>),
}

/// The PostgreSQL store and this replica's part in it.
pub(crate) struct Shared {
    pub(crate) pg: Arc<PgStore>,
    /// This process, as other replicas see it; new at every start.
    pub(crate) replica: String,
    pub(crate) lease_ttl: Duration,
    /// Leases this replica holds: holder token → (when taken, fired when lost).
    held: Mutex<HashMap<String, (Instant, CancellationToken)>>,
}

/// What trying to take a thread found.
pub(crate) enum Claim {
    /// Go ahead (with the lease to hold for the turn, on the shared store).
    Held(Option<Lease>),
    /// Another replica runs a turn of this thread.
    Busy,
}

impl ThreadStore {
    /// The PostgreSQL store at `url`, migrated, with this replica's heartbeat running.
    pub(crate) async fn postgres(url: &str, lease_ttl: Duration) -> Result<Self, StoreError> {
        let pg = PgStore::open(url).await?;
        let replica = format!(
            "{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".to_string()),
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        pg.heartbeat(&replica, lease_ttl).await?;
        if let Err(err) = pg.sweep_turns().await {
            tracing::warn!("{err}");
        }
        let shared = Arc::new(Shared {
            pg,
            replica,
            lease_ttl,
            held: Mutex::new(HashMap::new()),
        });
        tracing::info!(replica = %shared.replica, "thread store: PostgreSQL");
        spawn_heartbeat(Arc::downgrade(&shared));
        Ok(Self::Postgres(shared))
    }

    pub(crate) fn shared(&self) -> Option<&Arc<Shared>> {
        match self {
            ThreadStore::Files => None,
            ThreadStore::Postgres(shared) => Some(shared),
        }
    }

    /// Takes the thread for a turn. On the files backend there is nothing to take here (the
    /// engine's file lock does it).
    pub(crate) async fn claim(&self, thread: &str) -> Result<Claim, StoreError> {
        let Some(shared) = self.shared() else {
            return Ok(Claim::Held(None));
        };
        let holder = format!("{}:{}", shared.replica, Uuid::new_v4().simple());
        let lost = CancellationToken::new();
        // Registered first, so a heartbeat that runs meanwhile does not call it lost.
        if let Ok(mut held) = shared.held.lock() {
            held.insert(holder.clone(), (Instant::now(), lost.clone()));
        }
        let taken = shared
            .pg
            .acquire_lease(thread, &holder, &shared.replica, shared.lease_ttl)
            .await;
        if !matches!(taken, Ok(true)) {
            shared.forget(&holder);
        }
        Ok(if taken? {
            Claim::Held(Some(Lease {
                shared: Arc::clone(shared),
                thread: thread.to_string(),
                holder,
                lost,
            }))
        } else {
            Claim::Busy
        })
    }

    /// Makes the local rollout of `thread` what the store holds, when the store knows the
    /// thread and the file differs (absent, behind, or ahead with a turn that was never
    /// committed). Returns whether the file was rewritten: a copy of the thread in memory is
    /// then stale.
    pub(crate) async fn hydrate(
        &self,
        codex_home: &Path,
        thread: &str,
    ) -> Result<bool, StoreError> {
        let Some(shared) = self.shared() else {
            return Ok(false);
        };
        let Some(stored) = shared.pg.thread(thread).await? else {
            return Ok(false);
        };
        // The path comes from the database: only a plain path under `sessions/` is written.
        let relative = Path::new(&stored.rollout_path);
        if !relative.starts_with(codex_core::rollout::SESSIONS_SUBDIR)
            || !relative
                .components()
                .all(|part| matches!(part, std::path::Component::Normal(_)))
        {
            return Err(StoreError::OutsideHome {
                path: relative.to_path_buf(),
            });
        }
        let path = codex_home.join(relative);
        let local = match tokio::fs::read(&path).await {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(StoreError::Rollout { path, source }),
        };
        if let (Some(local), Some(digest)) = (&local, &stored.digest) {
            let lines = postgres::complete_lines(local);
            let whole: usize = lines.iter().map(|line| line.len() + 1).sum();
            if whole == local.len()
                && i64::try_from(lines.len()).ok() == Some(stored.items)
                && Sha256::digest(local).as_slice() == digest.as_slice()
            {
                return Ok(false);
            }
        }
        let lines = shared.pg.lines(thread).await?;
        let mut content = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in &lines {
            content.push_str(line);
            content.push('\n');
        }
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_durably(&target, content.as_bytes()))
            .await
            .map_err(std::io::Error::other)
            .and_then(|written| written)
            .map_err(|source| StoreError::Rollout { path, source })?;
        tracing::info!(
            thread,
            items = lines.len(),
            "local rollout loaded from the thread store"
        );
        Ok(true)
    }
}

/// What an owner record is of.
#[derive(Clone, Copy)]
pub(crate) enum Owned {
    Thread,
    Task,
}

impl Owned {
    fn kind(self) -> &'static str {
        match self {
            Owned::Thread => "thread",
            Owned::Task => "task",
        }
    }
}

impl ThreadStore {
    /// Records `principal` as the owner of a thread or task in the shared store, so that
    /// every replica knows it (`$CODEX_HOME/owners/` knows it only on this one). A no-op on
    /// the files backend.
    pub(crate) async fn record_owner(&self, owned: Owned, id: &str, principal: &str) {
        if let Some(shared) = self.shared()
            && let Err(err) = shared.pg.set_owner(owned.kind(), id, principal).await
        {
            tracing::warn!("{err}");
        }
    }

    /// Whether `principal` owns the thread or task: from the shared store when there is
    /// one (`None` on the files backend, where `owners.rs` decides).
    pub(crate) async fn owned_by(
        &self,
        owned: Owned,
        id: &str,
        principal: &str,
    ) -> Result<Option<bool>, StoreError> {
        let Some(shared) = self.shared() else {
            return Ok(None);
        };
        let owner = shared.pg.owner(owned.kind(), id).await?;
        Ok(Some(owner.as_deref() == Some(principal)))
    }
}

impl Shared {
    fn forget(&self, holder: &str) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(holder);
        }
    }
}

/// One turn's hold on a thread across replicas. Dropping it releases the lease.
pub(crate) struct Lease {
    shared: Arc<Shared>,
    thread: String,
    holder: String,
    lost: CancellationToken,
}

impl Lease {
    /// Fires if the heartbeat finds the lease gone (it expired and another replica took it):
    /// the turn must stop.
    pub(crate) fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Commits the rollout's lines past those stored, as the turn left the file.
    pub(crate) async fn commit(&self, codex_home: &Path, rollout: &Path) -> Result<(), StoreError> {
        let relative = rollout
            .strip_prefix(codex_home)
            .map_err(|_| StoreError::OutsideHome {
                path: rollout.to_path_buf(),
            })?
            .to_string_lossy()
            .into_owned();
        let content = tokio::fs::read(rollout)
            .await
            .map_err(|source| StoreError::Rollout {
                path: rollout.to_path_buf(),
                source,
            })?;
        let added = self
            .shared
            .pg
            .commit(&self.thread, &self.holder, &relative, &content)
            .await?;
        tracing::debug!(thread = %self.thread, added, "rollout items committed");
        Ok(())
    }

    /// Gives the thread back now, so the next turn (on any replica) can take it at once.
    pub(crate) async fn release(mut self) {
        self.shared.forget(&self.holder);
        let holder = std::mem::take(&mut self.holder);
        if let Err(err) = self.shared.pg.release_lease(&self.thread, &holder).await {
            // It expires on its own.
            tracing::warn!("{err}");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.holder.is_empty() {
            return;
        }
        self.shared.forget(&self.holder);
        let (shared, thread, holder) = (
            Arc::clone(&self.shared),
            std::mem::take(&mut self.thread),
            std::mem::take(&mut self.holder),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = shared.pg.release_lease(&thread, &holder).await {
                    // It expires on its own.
                    tracing::warn!("{err}");
                }
            });
        }
    }
}

/// Every third of the lease's lifetime: this replica is alive, its leases are extended, and
/// those that were lost are told.
fn spawn_heartbeat(shared: std::sync::Weak<Shared>) {
    tokio::spawn(async move {
        loop {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let period = shared.lease_ttl / 3;
            let started = Instant::now();
            match shared.pg.heartbeat(&shared.replica, shared.lease_ttl).await {
                Ok(extended) => {
                    if let Ok(held) = shared.held.lock() {
                        for (holder, (taken, lost)) in held.iter() {
                            if *taken < started && !extended.contains(holder) {
                                tracing::error!(%holder, "thread lease lost; stopping its turn");
                                lost.cancel();
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!("thread store heartbeat failed: {err}"),
            }
            drop(shared);
            tokio::time::sleep(period).await;
        }
    });
}
