//! Durable records of tasks (the `io.modelcontextprotocol/tasks` extension), so that a host
//! polling a task after the server restarted learns how it ended instead of "unknown task".
//!
//! One JSON file per task under `$CODEX_HOME/tasks/`, written whole (temporary file, fsync,
//! rename, fsync of the directory): when a task is created, before its id is returned, and
//! when it ends. A record that is still `working` when no live turn stands behind it belongs
//! to a server that stopped while the turn ran. Records are kept for the task's TTL and
//! removed at the next start after that.

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;

use chrono::DateTime;
use chrono::Utc;
use rmcp::model::JsonObject;
use rmcp::model::TaskStatus;
use serde::Deserialize;
use serde::Serialize;
use uuid::Uuid;

/// The directory under `$CODEX_HOME`.
const TASKS_DIR: &str = "tasks";

#[derive(Debug, thiserror::Error)]
pub(crate) enum TaskStoreError {
    #[error("cannot record task {task_id} in {path}: {source}")]
    Write {
        task_id: Uuid,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the record of task {task_id} at {path}: {source}")]
    Read {
        task_id: Uuid,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What is kept of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskRecord {
    pub(crate) task_id: Uuid,
    pub(crate) thread_id: String,
    pub(crate) status: TaskStatus,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_updated_at: DateTime<Utc>,
    pub(crate) ttl_ms: u64,
    pub(crate) poll_interval_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<JsonObject>,
    /// The open questions of an `input_required` task, kept in the shared thread store so
    /// that any replica can show them (the files backend never writes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input_requests: Option<serde_json::Value>,
}

impl TaskRecord {
    pub(crate) fn expired(&self, now: DateTime<Utc>) -> bool {
        let ttl = chrono::Duration::milliseconds(i64::try_from(self.ttl_ms).unwrap_or(i64::MAX));
        self.created_at
            .checked_add_signed(ttl)
            .is_none_or(|expiry| expiry <= now)
    }
}

pub(crate) struct TaskStore {
    dir: PathBuf,
}

impl TaskStore {
    pub(crate) fn new(codex_home: &Path) -> Self {
        Self {
            dir: codex_home.join(TASKS_DIR),
        }
    }

    fn path_of(&self, task_id: Uuid) -> PathBuf {
        self.dir.join(format!("{task_id}.json"))
    }

    /// Writes `record` whole and durably, replacing any earlier one.
    pub(crate) async fn write(&self, record: &TaskRecord) -> Result<(), TaskStoreError> {
        let path = self.path_of(record.task_id);
        let task_id = record.task_id;
        let bytes = serde_json::to_vec_pretty(record).map_err(|err| TaskStoreError::Write {
            task_id,
            path: path.clone(),
            source: err.into(),
        })?;
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_durably(&target, &bytes))
            .await
            .map_err(std::io::Error::other)
            .and_then(|written| written)
            .map_err(|source| TaskStoreError::Write {
                task_id,
                path,
                source,
            })
    }

    /// The record of `task_id`, if there is one.
    pub(crate) async fn read(&self, task_id: Uuid) -> Result<Option<TaskRecord>, TaskStoreError> {
        let path = self.path_of(task_id);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TaskStoreError::Read {
                    task_id,
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| TaskStoreError::Read {
                task_id,
                path,
                source: err.into(),
            })
    }

    /// Removes the records whose TTL has passed. Run once at start, off the async workers.
    pub(crate) fn sweep_expired(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = Utc::now();
        for entry in entries.flatten() {
            let path = entry.path();
            let expired = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<TaskRecord>(&bytes).ok())
                .is_some_and(|record| record.expired(now));
            if expired && let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(
                    "cannot remove the expired task record {}: {err}",
                    path.display()
                );
            }
        }
    }
}

/// Replaces `path` whole and durably: a temporary file beside it, synced, renamed over it, and
/// (on Unix) the directory synced so the rename itself survives a crash. Windows cannot open a
/// directory as a file; there the rename is as durable as NTFS makes it.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other(format!("{} has no directory", path.display())))?;
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn record(created_at: DateTime<Utc>) -> TaskRecord {
        TaskRecord {
            task_id: Uuid::new_v4(),
            thread_id: "thread".to_string(),
            status: TaskStatus::Working,
            created_at,
            last_updated_at: created_at,
            ttl_ms: 60_000,
            poll_interval_ms: 1000,
            result: None,
            input_requests: None,
        }
    }

    #[tokio::test]
    async fn records_survive_and_expired_ones_are_swept() {
        let home = tempfile::TempDir::new().unwrap();
        let store = TaskStore::new(home.path());
        let fresh = record(Utc::now());
        let old = record(Utc::now() - chrono::Duration::minutes(2));
        store.write(&fresh).await.unwrap();
        store.write(&old).await.unwrap();
        let mut done = fresh.clone();
        done.status = TaskStatus::Completed;
        store.write(&done).await.unwrap();

        let reopened = TaskStore::new(home.path());
        assert_eq!(reopened.read(fresh.task_id).await.unwrap(), Some(done));
        assert!(reopened.read(old.task_id).await.unwrap().is_some());
        reopened.sweep_expired();
        assert_eq!(reopened.read(old.task_id).await.unwrap(), None);
        assert!(reopened.read(fresh.task_id).await.unwrap().is_some());
        assert_eq!(reopened.read(Uuid::new_v4()).await.unwrap(), None);
    }
}
