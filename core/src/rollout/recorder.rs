//! The write side of a rollout: one background writer per conversation, so that recording never
//! blocks the agent loop on disk I/O and lines from one conversation never interleave.

use std::fs::OpenOptions;
use std::io;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Local;
use chrono::Utc;
use tokio::sync::mpsc;
use tokio::sync::oneshot;

use super::RolloutError;
use super::RolloutItem;
use super::RolloutLine;
use super::SESSIONS_SUBDIR;
use super::SessionMeta;

/// Bounded so a stalled disk slows the conversation down instead of growing memory.
const CHANNEL_CAPACITY: usize = 256;

/// Past this much unwritten output the writer writes even if more items are queued, so a long
/// burst does not sit in memory.
const MAX_PENDING_BYTES: usize = 1 << 20;

/// The largest write buffer a writer keeps between batches.
const KEPT_BUFFER_BYTES: usize = 16 * 1024;

/// Unwritten lines kept for a retry after a failed write (a full disk); past this, they are
/// dropped rather than grown without bound.
const MAX_RETAINED_BYTES: usize = 64 * 1024 * 1024;

/// The UTC time in the rollout format, `YYYY-MM-DDThh:mm:ss.mmmZ`.
pub(crate) fn utc_timestamp() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

enum Command {
    Add(Vec<RolloutItem>),
    Flush(oneshot::Sender<Result<(), RolloutError>>),
    Shutdown(oneshot::Sender<Result<(), RolloutError>>),
}

/// A cheap, clonable handle to a conversation's rollout writer. The writer ends once
/// [`RolloutRecorder::shutdown`] is called or every handle is dropped.
#[derive(Clone)]
pub struct RolloutRecorder {
    tx: mpsc::Sender<Command>,
    path: Arc<Path>,
}

impl std::fmt::Debug for RolloutRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutRecorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RolloutRecorder {
    /// Starts the rollout of a new conversation. The file exists, with its `session_meta` line
    /// and `initial` items, when this returns, so the path can be handed out at once.
    pub async fn create(
        codex_home: &Path,
        meta: SessionMeta,
        initial: Vec<RolloutItem>,
    ) -> Result<Self, RolloutError> {
        let path = new_rollout_path(codex_home, &meta);
        // The directories this creates (a new day's `YYYY/MM/DD`), to be synced with the file.
        let mut made = Vec::new();
        if let Some(dir) = path.parent() {
            let dir = dir.to_path_buf();
            let created = {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || create_dirs(&dir))
                    .await
                    .unwrap_or_else(|join| Err(io::Error::other(join)))
            };
            made = created.map_err(|source| RolloutError::Io { path: dir, source })?;
        }
        let recorder = Self::resume(path);
        let mut items = Vec::with_capacity(initial.len() + 1);
        items.push(RolloutItem::SessionMeta(meta));
        items.extend(initial);
        recorder.record(items).await;
        recorder.flush().await?;
        // A new file is durable only once its directory entry is, and so is every directory
        // made for it, in its parent. Windows cannot open a directory as a file to sync it.
        if cfg!(unix)
            && let Some(dir) = recorder.path.parent()
        {
            let mut to_sync: Vec<PathBuf> = vec![dir.to_path_buf()];
            to_sync.extend(
                made.iter()
                    .filter_map(|made| made.parent().map(Path::to_path_buf)),
            );
            let synced = tokio::task::spawn_blocking(move || {
                for dir in &to_sync {
                    std::fs::File::open(dir)
                        .and_then(|dir_file| dir_file.sync_all())
                        .map_err(|source| (dir.clone(), source))?;
                }
                Ok(())
            })
            .await
            .unwrap_or_else(|join| Err((dir.to_path_buf(), io::Error::other(join))));
            synced.map_err(|(path, source)| RolloutError::Io { path, source })?;
        }
        Ok(recorder)
    }

    /// Appends to an existing rollout (a resumed conversation): no new `session_meta`.
    /// Must be called inside a Tokio runtime, which runs the writer.
    pub fn resume(path: PathBuf) -> Self {
        let path: Arc<Path> = Arc::from(path);
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(Writer::new(Arc::clone(&path)).run(rx));
        Self { tx, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `items` for writing. Waits while the writer is behind (back-pressure). A stopped
    /// writer is logged, not returned: losing the transcript must not fail the conversation.
    pub async fn record(&self, items: Vec<RolloutItem>) {
        if items.is_empty() {
            return;
        }
        if self.tx.send(Command::Add(items)).await.is_err() {
            tracing::warn!(
                path = %self.path.display(),
                "rollout writer has stopped; items not recorded"
            );
        }
    }

    /// Returns once everything recorded before this call is written, synced to the disk
    /// (fsync) and the file closed, with the first write error since the previous flush, if
    /// any.
    pub async fn flush(&self) -> Result<(), RolloutError> {
        self.request(Command::Flush).await
    }

    /// Flushes, then stops the writer; later `record` calls are dropped with a warning.
    pub async fn shutdown(&self) -> Result<(), RolloutError> {
        self.request(Command::Shutdown).await
    }

    async fn request(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), RolloutError>>) -> Command,
    ) -> Result<(), RolloutError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        self.tx
            .send(command(ack_tx))
            .await
            .map_err(|_| RolloutError::WriterGone)?;
        ack_rx.await.map_err(|_| RolloutError::WriterGone)?
    }
}

/// Creates `dir` and its missing ancestors; returns those it made, deepest last.
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|ancestor| !ancestor.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir)?;
    Ok(missing.into_iter().rev().collect())
}

/// `sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<id>.jsonl`, in local time like the server
/// we replace, so listings sort the same way for old and new files.
fn new_rollout_path(codex_home: &Path, meta: &SessionMeta) -> PathBuf {
    let now = Local::now();
    codex_home
        .join(SESSIONS_SUBDIR)
        .join(now.format("%Y").to_string())
        .join(now.format("%m").to_string())
        .join(now.format("%d").to_string())
        .join(format!(
            "rollout-{}-{}.jsonl",
            now.format("%Y-%m-%dT%H-%M-%S"),
            meta.id
        ))
}

/// Owns the file. It is opened only while there is something to write and closed as soon as
/// the queue runs dry, so idle conversations hold no file descriptor.
struct Writer {
    path: Arc<Path>,
    pending: Vec<u8>,
    /// The first failure since the last flush, for the next flush caller. `io::Error` is not
    /// `Clone`, so it is kept as kind + message.
    error: Option<(io::ErrorKind, String)>,
    /// Whether the current run of failures has been logged; one warning per run, not per batch.
    warned: bool,
    /// Whether the file is known to end with a whole line. A resumed file may end in half a
    /// line (a crash mid-write); the first write then starts a new line, so that what follows
    /// is not glued to the torn one and lost with it.
    line_start: bool,
    /// Written since the last sync: the next flush must fsync.
    unsynced: bool,
    /// `pending` starts with a batch whose write failed, kept for a retry.
    retaining: bool,
}

impl Writer {
    fn new(path: Arc<Path>) -> Self {
        Self {
            path,
            pending: Vec::new(),
            error: None,
            warned: false,
            retaining: false,
            line_start: false,
            unsynced: false,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(command) = rx.recv().await {
            match command {
                Command::Add(items) => {
                    self.serialize(items);
                    if rx.is_empty() || self.pending.len() >= MAX_PENDING_BYTES {
                        self.write_pending().await;
                    }
                }
                Command::Flush(ack) => {
                    self.write_pending().await;
                    self.sync().await;
                    let _ = ack.send(self.take_error());
                }
                Command::Shutdown(ack) => {
                    self.abandon_retained();
                    self.write_pending().await;
                    self.sync().await;
                    let _ = ack.send(self.take_error());
                    return;
                }
            }
        }
        self.abandon_retained();
        self.write_pending().await;
    }

    fn serialize(&mut self, items: Vec<RolloutItem>) {
        for item in items {
            let line = RolloutLine {
                timestamp: utc_timestamp(),
                item,
            };
            match serde_json::to_writer(&mut self.pending, &line) {
                Ok(()) => self.pending.push(b'\n'),
                Err(err) => {
                    // A failed serialization may have left a partial line behind.
                    if let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') {
                        self.pending.truncate(end + 1);
                    } else {
                        self.pending.clear();
                    }
                    tracing::warn!(path = %self.path.display(), "cannot serialize rollout item: {err}");
                }
            }
        }
    }

    async fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.pending);
        let path = Arc::clone(&self.path);
        let line_start = self.line_start;
        let result = tokio::task::spawn_blocking(move || {
            let written = append(&path, &bytes, line_start);
            (bytes, written)
        })
        .await;
        let written = match result {
            Ok((mut bytes, Ok(()))) => {
                // Keep the allocation for the next batch, unless a large item made it big: an
                // idle conversation should hold its history, not its largest batch.
                if bytes.capacity() <= KEPT_BUFFER_BYTES {
                    bytes.clear();
                    self.pending = bytes;
                }
                Ok(())
            }
            Ok((bytes, Err(err))) => {
                // The batch was cut back off the file; it stays first in line, so that later
                // lines never land without it and nothing is lost once the disk has room.
                let uncut = err
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<UncutWrite>())
                    .is_some();
                if uncut {
                    tracing::warn!(path = %self.path.display(), "dropping {} bytes of rollout that may be half-written", bytes.len());
                } else if bytes.len() <= MAX_RETAINED_BYTES {
                    self.pending = bytes;
                    self.retaining = true;
                } else {
                    tracing::warn!(path = %self.path.display(), "dropping {} unwritten bytes of rollout", bytes.len());
                }
                Err(err)
            }
            Err(join) => Err(io::Error::other(join)),
        };
        match written {
            Ok(()) => {
                self.retaining = false;
                self.warned = false;
                self.line_start = true;
                self.unsynced = true;
            }
            Err(err) => {
                // If cutting the failed write back off failed too, the file may end mid-line.
                self.line_start = false;
                self.failed(&err);
            }
        }
    }

    /// At the writer's end, lines a failed write left are given up rather than kept: this
    /// process no longer owns the file (a newer owner may have appended since), so they must
    /// not land later from anywhere.
    fn abandon_retained(&mut self) {
        if self.retaining && !self.pending.is_empty() {
            tracing::warn!(path = %self.path.display(), "giving up {} unwritten bytes of rollout", self.pending.len());
            self.pending.clear();
        }
        self.retaining = false;
    }

    /// Makes what was written durable: `File::flush` is not an fsync.
    async fn sync(&mut self) {
        if !self.unsynced {
            return;
        }
        let path = Arc::clone(&self.path);
        let synced = tokio::task::spawn_blocking(move || {
            OpenOptions::new().append(true).open(&path)?.sync_data()
        })
        .await
        .unwrap_or_else(|join| Err(io::Error::other(join)));
        match synced {
            Ok(()) => self.unsynced = false,
            Err(err) => self.failed(&err),
        }
    }

    fn failed(&mut self, err: &io::Error) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(path = %self.path.display(), "cannot write rollout: {err}");
        }
        if self.error.is_none() {
            self.error = Some((err.kind(), err.to_string()));
        }
    }

    fn take_error(&mut self) -> Result<(), RolloutError> {
        match self.error.take() {
            None => Ok(()),
            Some((kind, message)) => Err(RolloutError::Io {
                path: self.path.to_path_buf(),
                source: io::Error::new(kind, message),
            }),
        }
    }
}

/// Opens, writes and closes: dropping the `File` at the end releases the descriptor. Unless
/// `line_start` says the file ends with a newline, one is added first where it does not. A
/// write that fails part-way (a full disk) is cut back off, so the file never ends in half a
/// line.
fn append(path: &Path, bytes: &[u8], line_start: bool) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let before = file.metadata()?.len();
    let written = (|| {
        if !line_start && ends_mid_line(&file)? {
            file.write_all(b"\n")?;
        }
        file.write_all(bytes)
    })();
    if let Err(err) = written {
        if let Err(cut) = file.set_len(before) {
            tracing::warn!(path = %path.display(), "cannot cut a failed write off the rollout: {cut}");
            // Part of the batch may be in the file: writing it again would repeat lines.
            return Err(io::Error::other(UncutWrite(err)));
        }
        return Err(err);
    }
    Ok(())
}

/// A failed write whose partial bytes could not be cut off again: never retried.
#[derive(Debug, thiserror::Error)]
#[error("{0} (and the partial write could not be cut off)")]
struct UncutWrite(io::Error);

fn ends_mid_line(file: &std::fs::File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    read_exact_at(file, &mut last, len - 1)?;
    Ok(last[0] != b'\n')
}

/// Reads at `offset` without moving the file's cursor, where appends are made.
#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    file.read_exact_at(buf, offset)
}

/// Reads at `offset`; Windows moves the cursor, which matters not: the file is opened for
/// appending, and every write goes to its end regardless.
#[cfg(windows)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt as _;
    let read = file.seek_read(buf, offset)?;
    if read == buf.len() {
        Ok(())
    } else {
        Err(io::Error::from(io::ErrorKind::UnexpectedEof))
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use tempfile::TempDir;

    use super::*;
    use crate::protocol::ConversationId;
    use crate::protocol::EventMsg;
    use crate::protocol::ResponseItem;
    use crate::protocol::UserMessageEvent;
    use crate::rollout::SessionSource;

    fn meta() -> SessionMeta {
        SessionMeta {
            id: ConversationId::new(),
            timestamp: utc_timestamp(),
            cwd: PathBuf::from("/tmp/project"),
            originator: "codex_mcp_server".to_string(),
            cli_version: "0.0.0".to_string(),
            instructions: None,
            base_instructions: None,
            source: SessionSource::Mcp,
            model_provider: None,
            git: None,
        }
    }

    fn read_lines(path: &Path) -> Vec<RolloutLine> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped; `None` where
    /// this process may not mount (it needs root).
    struct SmallDisk {
        dir: TempDir,
    }

    impl SmallDisk {
        fn mount(size: &str) -> Option<Self> {
            let dir = TempDir::new().ok()?;
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            mounted.then_some(Self { dir })
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.dir.path())
                .status();
        }
    }

    #[test]
    fn the_directories_made_for_a_rollout_are_named_for_syncing() {
        let home = TempDir::new().unwrap();
        std::fs::create_dir(home.path().join("2026")).unwrap();
        let day = home.path().join("2026").join("12").join("04");
        let made = create_dirs(&day).unwrap();
        assert_eq!(made, vec![home.path().join("2026").join("12"), day.clone()]);
        assert!(day.is_dir());
        assert_eq!(create_dirs(&day).unwrap(), Vec::<PathBuf>::new());
    }

    #[tokio::test]
    async fn a_write_that_fills_the_disk_leaves_only_whole_lines() {
        let Some(disk) = SmallDisk::mount("8k") else {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipped: mounting a tmpfs needs root");
            }
            return;
        };
        let path = disk.dir.path().join("rollout.jsonl");
        let recorder = RolloutRecorder::resume(path.clone());
        let mut failures = 0;
        for i in 0..4 {
            recorder
                .record(vec![RolloutItem::EventMsg(EventMsg::UserMessage(
                    UserMessageEvent {
                        message: format!("{i}{}", "x".repeat(3000)),
                    },
                ))])
                .await;
            failures += usize::from(recorder.flush().await.is_err());
        }
        assert!(failures >= 1, "the disk never filled up");
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.ends_with(b"\n"), "a torn last line");
        let lines = read_lines(&path);
        assert_eq!(
            lines.len(),
            4 - failures,
            "every line that was kept is whole"
        );
    }

    fn items_of(path: &Path) -> Vec<RolloutItem> {
        read_lines(path).into_iter().map(|line| line.item).collect()
    }

    fn is_utc_millis(ts: &str) -> bool {
        chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok()
            && ts.len() == "2025-01-01T00:00:00.000Z".len()
    }

    #[test]
    fn utc_timestamp_has_millisecond_precision_and_z() {
        let ts = utc_timestamp();
        assert!(is_utc_millis(&ts), "{ts}");
    }

    #[tokio::test]
    async fn create_writes_meta_and_initial_items_before_returning() {
        let home = TempDir::new().unwrap();
        let meta = meta();
        let initial = vec![RolloutItem::ResponseItem(ResponseItem::text_message(
            "user", "hello",
        ))];
        let recorder = RolloutRecorder::create(home.path(), meta.clone(), initial.clone())
            .await
            .unwrap();

        let path = recorder.path().to_path_buf();
        let mut expected = vec![RolloutItem::SessionMeta(meta.clone())];
        expected.extend(initial);
        assert_eq!(items_of(&path), expected);
        for line in read_lines(&path) {
            assert!(is_utc_millis(&line.timestamp), "{}", line.timestamp);
        }

        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let suffix = format!("-{}.jsonl", meta.id);
        assert!(
            name.starts_with("rollout-") && name.ends_with(&suffix),
            "{name}"
        );
        let stamp = &name["rollout-".len()..name.len() - suffix.len()];
        let local = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H-%M-%S").unwrap();
        let day_dir = path.parent().unwrap();
        assert_eq!(
            day_dir,
            home.path()
                .join(SESSIONS_SUBDIR)
                .join(local.format("%Y/%m/%d").to_string())
        );
    }

    #[tokio::test]
    async fn record_appends_in_order_and_flush_makes_it_visible() {
        let home = TempDir::new().unwrap();
        let meta = meta();
        let recorder = RolloutRecorder::create(home.path(), meta.clone(), Vec::new())
            .await
            .unwrap();
        let mut expected = vec![RolloutItem::SessionMeta(meta)];
        for i in 0..600 {
            let item = RolloutItem::EventMsg(EventMsg::UserMessage(UserMessageEvent {
                message: format!("message {i}"),
            }));
            expected.push(item.clone());
            recorder.clone().record(vec![item]).await;
        }
        recorder.record(Vec::new()).await;
        recorder.flush().await.unwrap();
        assert_eq!(items_of(recorder.path()), expected);
    }

    #[tokio::test]
    async fn resume_appends_without_new_meta() {
        let home = TempDir::new().unwrap();
        let meta = meta();
        let first = RolloutRecorder::create(home.path(), meta.clone(), Vec::new())
            .await
            .unwrap();
        first.shutdown().await.unwrap();

        let item = RolloutItem::ResponseItem(ResponseItem::text_message("assistant", "hi"));
        let resumed = RolloutRecorder::resume(first.path().to_path_buf());
        resumed.record(vec![item.clone()]).await;
        resumed.shutdown().await.unwrap();
        assert_eq!(
            items_of(first.path()),
            vec![RolloutItem::SessionMeta(meta), item]
        );
    }

    #[tokio::test]
    async fn a_resume_after_a_torn_line_starts_a_new_line() {
        let home = TempDir::new().unwrap();
        let meta = meta();
        let first = RolloutRecorder::create(home.path(), meta.clone(), Vec::new())
            .await
            .unwrap();
        first.shutdown().await.unwrap();
        let mut file = OpenOptions::new().append(true).open(first.path()).unwrap();
        file.write_all(br#"{"timestamp":"x","type":"respo"#)
            .unwrap();

        let item = RolloutItem::ResponseItem(ResponseItem::text_message("assistant", "hi"));
        let resumed = RolloutRecorder::resume(first.path().to_path_buf());
        resumed.record(vec![item.clone()]).await;
        resumed.record(vec![item.clone()]).await;
        resumed.shutdown().await.unwrap();
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().nth(1).unwrap().ends_with(r#""type":"respo"#));
        // The torn line stays unreadable; everything after it is whole, as the reader sees it.
        let loaded = crate::rollout::load_rollout(first.path()).await.unwrap();
        assert_eq!(loaded.meta, meta);
        assert_eq!(loaded.items, vec![item.clone(), item]);
    }

    #[tokio::test]
    async fn dropping_every_handle_flushes_pending_items() {
        let home = TempDir::new().unwrap();
        let path = home.path().join("rollout.jsonl");
        let item = RolloutItem::ResponseItem(ResponseItem::text_message("user", "bye"));
        let recorder = RolloutRecorder::resume(path.clone());
        recorder.record(vec![item.clone()]).await;
        drop(recorder);
        for _ in 0..200 {
            if std::fs::read_to_string(&path).is_ok_and(|text| text.ends_with('\n')) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(items_of(&path), vec![item]);
    }

    #[tokio::test]
    async fn after_shutdown_flush_reports_writer_gone() {
        let home = TempDir::new().unwrap();
        let recorder = RolloutRecorder::create(home.path(), meta(), Vec::new())
            .await
            .unwrap();
        recorder.shutdown().await.unwrap();
        let before = std::fs::read_to_string(recorder.path()).unwrap();
        recorder
            .record(vec![RolloutItem::ResponseItem(ResponseItem::text_message(
                "user", "late",
            ))])
            .await;
        assert!(matches!(
            recorder.flush().await,
            Err(RolloutError::WriterGone)
        ));
        assert_eq!(std::fs::read_to_string(recorder.path()).unwrap(), before);
    }

    #[tokio::test]
    async fn unwritten_lines_are_reported_and_retried_until_they_land() {
        let home = TempDir::new().unwrap();
        // A directory where the file should be makes every open fail.
        let path = home.path().join("blocked.jsonl");
        std::fs::create_dir(&path).unwrap();
        let recorder = RolloutRecorder::resume(path.clone());
        recorder
            .record(vec![RolloutItem::ResponseItem(ResponseItem::text_message(
                "user", "x",
            ))])
            .await;
        match recorder.flush().await {
            Err(RolloutError::Io { path: failed, .. }) => assert_eq!(failed, path),
            other => panic!("expected an I/O error, got {other:?}"),
        }
        // The line is still unwritten: the next flush tries again and says so again.
        assert!(recorder.flush().await.is_err());
        // Once the file can be written, the line lands, and nothing was lost.
        std::fs::remove_dir(&path).unwrap();
        recorder.flush().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("\"text\":\"x\""), "{text}");
    }

    #[tokio::test]
    async fn lines_a_failed_write_left_are_given_up_when_the_writer_ends() {
        let home = TempDir::new().unwrap();
        let path = home.path().join("blocked.jsonl");
        std::fs::create_dir(&path).unwrap();
        let recorder = RolloutRecorder::resume(path.clone());
        recorder
            .record(vec![RolloutItem::ResponseItem(ResponseItem::text_message(
                "user", "x",
            ))])
            .await;
        assert!(recorder.flush().await.is_err());
        // The file could be written now, but this writer is ending: another owner may have
        // appended since, so the old lines must not land after theirs.
        std::fs::remove_dir(&path).unwrap();
        recorder.shutdown().await.unwrap();
        assert!(!path.exists(), "nothing was written at the end");
    }

    #[tokio::test]
    async fn create_fails_when_sessions_dir_cannot_be_made() {
        let home = TempDir::new().unwrap();
        std::fs::write(home.path().join(SESSIONS_SUBDIR), "not a dir").unwrap();
        let err = RolloutRecorder::create(home.path(), meta(), Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, RolloutError::Io { .. }), "{err:?}");
    }

    #[cfg(target_os = "linux")]
    fn open_fd_count() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn idle_recorders_hold_no_file_descriptors() {
        let home = TempDir::new().unwrap();
        let baseline = open_fd_count();
        let mut recorders = Vec::new();
        for _ in 0..200 {
            let recorder = RolloutRecorder::create(home.path(), meta(), Vec::new())
                .await
                .unwrap();
            recorder
                .record(vec![RolloutItem::ResponseItem(ResponseItem::text_message(
                    "user", "idle",
                ))])
                .await;
            recorder.flush().await.unwrap();
            recorders.push(recorder);
        }
        let open = open_fd_count();
        // Other tests in this process open files too; 200 leaked descriptors would stand out.
        assert!(
            open < baseline + 50,
            "baseline {baseline}, now {open} with {} recorders",
            recorders.len()
        );
    }
}
