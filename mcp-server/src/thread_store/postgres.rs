//! The PostgreSQL backend of the thread store: what replicas behind one load balancer share.
//!
//! A few connections (`tokio-postgres`, no TLS: keep the database on a private network or a
//! local socket) serve every query; each is opened again when it drops. The schema is
//! versioned in `codex_schema_migrations` and brought up to date at start under an advisory
//! lock, so replicas that start together migrate once. See `docs/replicas.md`.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use sha2::Digest as _;
use sha2::Sha256;
use tokio::sync::Mutex;
use tokio::sync::MutexGuard;
use tokio_postgres::Client;
use tokio_postgres::NoTls;
use uuid::Uuid;

use super::StoreError;

/// Connections kept open: one for the delivery poller and the heartbeat, the rest for calls.
const CONNECTIONS: usize = 4;

/// Each migration once, in order; never edit one that has shipped, add the next instead.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r"
CREATE TABLE codex_threads (
    id text PRIMARY KEY,
    rollout_path text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    archived boolean NOT NULL DEFAULT false,
    items bigint NOT NULL DEFAULT 0,
    digest bytea
);
CREATE TABLE codex_rollout_items (
    thread_id text NOT NULL REFERENCES codex_threads (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    line text NOT NULL,
    PRIMARY KEY (thread_id, seq)
);
CREATE TABLE codex_replicas (
    replica text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL
);
CREATE TABLE codex_leases (
    thread_id text PRIMARY KEY,
    holder text NOT NULL,
    replica text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX codex_leases_replica ON codex_leases (replica);
CREATE TABLE codex_turns (
    key uuid PRIMARY KEY,
    thread_id text NOT NULL,
    replica text NOT NULL,
    task jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE codex_deliveries (
    id bigserial PRIMARY KEY,
    replica text NOT NULL,
    turn uuid NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX codex_deliveries_replica ON codex_deliveries (replica);
CREATE TABLE codex_carried (
    turn uuid NOT NULL,
    round bigint NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (turn, round)
);
CREATE TABLE codex_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
",
    ),
    (
        2,
        r"
CREATE TABLE codex_owners (
    kind text NOT NULL,
    id text NOT NULL,
    principal text NOT NULL,
    PRIMARY KEY (kind, id)
);
",
    ),
];

/// Any number that only this program takes as an advisory lock.
const MIGRATION_LOCK: i64 = 0x636f_6465_785f_6d63;

pub(crate) struct PgStore {
    url: String,
    slots: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

/// What a replica finds of a thread in the store.
pub(crate) struct StoredThread {
    pub(crate) rollout_path: String,
    pub(crate) items: i64,
    pub(crate) digest: Option<Vec<u8>>,
}

/// A 2026-07-28 turn as the store knows it: which replica runs it, and its task record.
pub(crate) struct StoredTurn {
    pub(crate) thread_id: String,
    pub(crate) replica: String,
    pub(crate) task: Option<Value>,
    /// Whether that replica has been heard from within the lease's lifetime.
    pub(crate) replica_alive: bool,
}

fn query(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

impl PgStore {
    /// Connects and brings the schema up to date.
    pub(crate) async fn open(url: &str) -> Result<Arc<Self>, StoreError> {
        let store = Arc::new(Self {
            url: url.to_string(),
            slots: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(1),
        });
        store.migrate().await?;
        Ok(store)
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .map_err(StoreError::Connect)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!("thread store connection ended: {err}");
            }
        });
        Ok(client)
    }

    /// A connection of its own for a while (a transaction, or a query); slot 0 is the
    /// background tasks'.
    async fn client(&self, background: bool) -> Result<MutexGuard<'_, Option<Client>>, StoreError> {
        let slot = if background {
            0
        } else {
            1 + self.next.fetch_add(1, Ordering::Relaxed) % (CONNECTIONS - 1)
        };
        let mut guard = self.slots[slot].lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect().await?);
        }
        Ok(guard)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut guard = self.client(false).await?;
        let client = guard.as_mut().ok_or(StoreError::NotConnected)?;
        let tx = client.transaction().await.map_err(query("begin"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(query("lock for migrations"))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS codex_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(query("create codex_schema_migrations"))?;
        let applied: i32 = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM codex_schema_migrations",
                &[],
            )
            .await
            .map_err(query("read the schema version"))?
            .get(0);
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
            tx.batch_execute(sql)
                .await
                .map_err(|source| StoreError::Migrate {
                    version: *version,
                    source,
                })?;
            tx.execute(
                "INSERT INTO codex_schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(query("record a migration"))?;
            tracing::info!(version, "thread store migrated");
        }
        tx.commit().await.map_err(query("commit migrations"))
    }

    /// The secret every replica seals `requestState` with: drawn by the first replica,
    /// read by the others. Never logged.
    pub(crate) async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let fresh: [u8; 32] = rand::random();
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        client
            .execute(
                "INSERT INTO codex_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh.as_slice()],
            )
            .await
            .map_err(query("draw the shared secret"))?;
        let row = client
            .query_one("SELECT value FROM codex_secrets WHERE name = $1", &[&name])
            .await
            .map_err(query("read the shared secret"))?;
        Ok(row.get(0))
    }

    /// Records that `replica` is alive, extends every lease it holds, and returns the
    /// holders of those leases (a lease missing from them was lost).
    pub(crate) async fn heartbeat(
        &self,
        replica: &str,
        lease_ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let guard = self.client(true).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        client
            .execute(
                "INSERT INTO codex_replicas (replica, seen_at) VALUES ($1, now()) ON CONFLICT (replica) DO UPDATE SET seen_at = now()",
                &[&replica],
            )
            .await
            .map_err(query("replica heartbeat"))?;
        let rows = client
            .query(
                "UPDATE codex_leases SET expires_at = now() + make_interval(secs => $2) WHERE replica = $1 AND expires_at > now() RETURNING holder",
                &[&replica, &lease_ttl.as_secs_f64()],
            )
            .await
            .map_err(query("extend leases"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Takes the thread's lease for `holder` unless a live one is held; false when it is.
    pub(crate) async fn acquire_lease(
        &self,
        thread: &str,
        holder: &str,
        replica: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let row = client
            .query_opt(
                "INSERT INTO codex_leases (thread_id, holder, replica, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
                 ON CONFLICT (thread_id) DO UPDATE SET holder = EXCLUDED.holder, replica = EXCLUDED.replica, expires_at = EXCLUDED.expires_at
                 WHERE codex_leases.expires_at <= now()
                 RETURNING holder",
                &[&thread, &holder, &replica, &ttl.as_secs_f64()],
            )
            .await
            .map_err(query("acquire a lease"))?;
        Ok(row.is_some())
    }

    pub(crate) async fn release_lease(&self, thread: &str, holder: &str) -> Result<(), StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        client
            .execute(
                "DELETE FROM codex_leases WHERE thread_id = $1 AND holder = $2",
                &[&thread, &holder],
            )
            .await
            .map_err(query("release a lease"))?;
        Ok(())
    }

    pub(crate) async fn thread(&self, thread: &str) -> Result<Option<StoredThread>, StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let row = client
            .query_opt(
                "SELECT rollout_path, items, digest FROM codex_threads WHERE id = $1",
                &[&thread],
            )
            .await
            .map_err(query("read a thread"))?;
        Ok(row.map(|row| StoredThread {
            rollout_path: row.get(0),
            items: row.get(1),
            digest: row.get(2),
        }))
    }

    /// Every line of the thread's rollout, in order.
    pub(crate) async fn lines(&self, thread: &str) -> Result<Vec<String>, StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let rows = client
            .query(
                "SELECT line FROM codex_rollout_items WHERE thread_id = $1 ORDER BY seq",
                &[&thread],
            )
            .await
            .map_err(query("read rollout items"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Appends the lines of `content` past those already stored, in one transaction, only
    /// while `holder` still holds the thread's lease (a replica that lost it commits
    /// nothing). Returns how many lines were added.
    pub(crate) async fn commit(
        &self,
        thread: &str,
        holder: &str,
        rollout_path: &str,
        content: &[u8],
    ) -> Result<usize, StoreError> {
        let lines = complete_lines(content);
        let whole: usize = lines.iter().map(|line| line.len() + 1).sum();
        let digest = Sha256::digest(&content[..whole]).to_vec();
        let mut guard = self.client(false).await?;
        let client = guard.as_mut().ok_or(StoreError::NotConnected)?;
        let tx = client.transaction().await.map_err(query("begin"))?;
        let leased = tx
            .query_opt(
                "SELECT 1 FROM codex_leases WHERE thread_id = $1 AND holder = $2 FOR SHARE",
                &[&thread, &holder],
            )
            .await
            .map_err(query("check the lease"))?;
        if leased.is_none() {
            return Err(StoreError::LeaseLost {
                thread: thread.to_string(),
            });
        }
        tx.execute(
            "INSERT INTO codex_threads (id, rollout_path) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[&thread, &rollout_path],
        )
        .await
        .map_err(query("record a thread"))?;
        let stored: i64 = tx
            .query_one(
                "SELECT items FROM codex_threads WHERE id = $1 FOR UPDATE",
                &[&thread],
            )
            .await
            .map_err(query("lock a thread"))?
            .get(0);
        let start = usize::try_from(stored).unwrap_or(usize::MAX);
        let fresh = lines.get(start..).unwrap_or_default();
        if !fresh.is_empty() {
            let insert = tx
                .prepare(
                    "INSERT INTO codex_rollout_items (thread_id, seq, line) VALUES ($1, $2, $3)",
                )
                .await
                .map_err(query("prepare an item insert"))?;
            for (offset, line) in fresh.iter().enumerate() {
                let seq = stored + i64::try_from(offset).unwrap_or(i64::MAX);
                let text = String::from_utf8_lossy(line);
                tx.execute(&insert, &[&thread, &seq, &text.as_ref()])
                    .await
                    .map_err(query("insert a rollout item"))?;
            }
        }
        let total = i64::try_from(lines.len()).unwrap_or(i64::MAX).max(stored);
        tx.execute(
            "UPDATE codex_threads SET items = $2, digest = $3, updated_at = now() WHERE id = $1",
            &[&thread, &total, &digest],
        )
        .await
        .map_err(query("update a thread"))?;
        tx.commit().await.map_err(query("commit rollout items"))?;
        Ok(fresh.len())
    }

    /// Records who owns a thread or task (`kind`), once: the first owner stays.
    pub(crate) async fn set_owner(
        &self,
        kind: &str,
        id: &str,
        principal: &str,
    ) -> Result<(), StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        client
            .execute(
                "INSERT INTO codex_owners (kind, id, principal) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&kind, &id, &principal],
            )
            .await
            .map_err(query("record an owner"))?;
        Ok(())
    }

    pub(crate) async fn owner(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let row = client
            .query_opt(
                "SELECT principal FROM codex_owners WHERE kind = $1 AND id = $2",
                &[&kind, &id],
            )
            .await
            .map_err(query("read an owner"))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Records which replica runs a 2026-07-28 turn (and its task record, if any). A task that
    /// has ended stays ended: a late write of an earlier state (its questions being published
    /// on another connection) cannot bring it back.
    pub(crate) async fn put_turn(
        &self,
        key: Uuid,
        thread: &str,
        replica: &str,
        task: Option<&Value>,
    ) -> Result<(), StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        client
            .execute(
                "INSERT INTO codex_turns (key, thread_id, replica, task) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET task = COALESCE(EXCLUDED.task, codex_turns.task), updated_at = now()
                 WHERE COALESCE(codex_turns.task ->> 'status', '') NOT IN ('completed', 'cancelled', 'failed')",
                &[&key, &thread, &replica, &task],
            )
            .await
            .map_err(query("record a turn"))?;
        Ok(())
    }

    pub(crate) async fn turn(
        &self,
        key: Uuid,
        lease_ttl: Duration,
    ) -> Result<Option<StoredTurn>, StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let row = client
            .query_opt(
                "SELECT t.replica, t.task, COALESCE(r.seen_at > now() - make_interval(secs => $2), false), t.thread_id
                 FROM codex_turns t LEFT JOIN codex_replicas r ON r.replica = t.replica WHERE t.key = $1",
                &[&key, &lease_ttl.as_secs_f64()],
            )
            .await
            .map_err(query("read a turn"))?;
        Ok(row.map(|row| StoredTurn {
            thread_id: row.get(3),
            replica: row.get(0),
            task: row.get(1),
            replica_alive: row.get(2),
        }))
    }

    /// Removes task records whose TTL has passed (`expires` is checked by the caller's
    /// rule: `createdAt + ttlMs`).
    pub(crate) async fn sweep_turns(&self) -> Result<u64, StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let turns = client
            .execute(
                "DELETE FROM codex_turns WHERE updated_at < now() - interval '1 day'",
                &[],
            )
            .await
            .map_err(query("sweep turns"))?;
        client
            .execute(
                "DELETE FROM codex_carried WHERE created_at < now() - interval '1 day'",
                &[],
            )
            .await
            .map_err(query("sweep carried answers"))?;
        Ok(turns)
    }

    /// Hands `payload` to the replica that runs `turn`.
    pub(crate) async fn deliver(
        &self,
        replica: &str,
        turn: Uuid,
        kind: &str,
        payload: &Value,
    ) -> Result<(), StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        client
            .execute(
                "INSERT INTO codex_deliveries (replica, turn, kind, payload) VALUES ($1, $2, $3, $4)",
                &[&replica, &turn, &kind, payload],
            )
            .await
            .map_err(query("deliver"))?;
        Ok(())
    }

    /// Takes (and removes) what other replicas delivered to `replica`, oldest first.
    pub(crate) async fn take_deliveries(
        &self,
        replica: &str,
    ) -> Result<Vec<(Uuid, String, Value)>, StoreError> {
        let guard = self.client(true).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let rows = client
            .query(
                "DELETE FROM codex_deliveries WHERE replica = $1 RETURNING id, turn, kind, payload",
                &[&replica],
            )
            .await
            .map_err(query("take deliveries"))?;
        let mut taken: Vec<(i64, Uuid, String, Value)> = rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect();
        taken.sort_by_key(|(id, ..)| *id);
        Ok(taken
            .into_iter()
            .map(|(_, turn, kind, payload)| (turn, kind, payload))
            .collect())
    }

    /// The answer to round `round` of `turn`, published by the replica that runs it.
    pub(crate) async fn put_carried(
        &self,
        turn: Uuid,
        round: i64,
        response: &Value,
    ) -> Result<(), StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        client
            .execute(
                "INSERT INTO codex_carried (turn, round, response) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&turn, &round, response],
            )
            .await
            .map_err(query("publish an answer"))?;
        Ok(())
    }

    pub(crate) async fn carried(
        &self,
        turn: Uuid,
        round: i64,
    ) -> Result<Option<Value>, StoreError> {
        let guard = self.client(false).await?;
        let client = guard.as_ref().ok_or(StoreError::NotConnected)?;
        let row = client
            .query_opt(
                "DELETE FROM codex_carried WHERE turn = $1 AND round = $2 RETURNING response",
                &[&turn, &round],
            )
            .await
            .map_err(query("collect an answer"))?;
        Ok(row.map(|row| row.get(0)))
    }
}

/// The complete (newline-terminated) lines of `content`, without their newlines.
pub(crate) fn complete_lines(content: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = content.split(|byte| *byte == b'\n').collect();
    // The part after the last newline is incomplete (or empty).
    lines.pop();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_lines_count() {
        assert_eq!(complete_lines(b""), Vec::<&[u8]>::new());
        assert_eq!(complete_lines(b"a\nb\npartial"), vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(complete_lines(b"a\n"), vec![&b"a"[..]]);
    }
}
