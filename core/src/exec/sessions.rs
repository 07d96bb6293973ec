//! Processes that outlive the tool call that started them (`exec_command`): a REPL, a dev
//! server, a build the model checks on later. Each runs in its own process group, in a PTY or on
//! pipes, and the model talks to it by session id (`write_stdin`).
//!
//! A conversation owns its sessions: they are killed when its turn is interrupted, when the
//! conversation ends (dropping [`ExecSessions`] kills them all), and when they sit idle past
//! [`IDLE_LIMIT`]. At most [`MAX_SESSIONS`] run at once, and each keeps at most
//! [`MAX_BUFFERED_BYTES`] of unread output, dropping the oldest.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::Read as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use tokio::io::AsyncReadExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Notify;

use super::process_tree::ProcessTree;
use super::process_tree::isolate;
use crate::lock::lock;

/// Sessions a conversation may hold at once; starting one more ends the one idle longest.
pub(crate) const MAX_SESSIONS: usize = 16;
/// A session nobody wrote to or read from for this long is killed.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Unread output kept per session; older bytes are dropped and counted.
pub(crate) const MAX_BUFFERED_BYTES: usize = 1024 * 1024;
const READ_CHUNK_BYTES: usize = 8 * 1024;
/// After the process exits, how long its output may stay open (a background job can hold it)
/// before the group is killed.
const IO_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// A write the program does not take in this long is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Output shown to the host as deltas per session, in all; beyond it, the model still reads
/// the output and the end event carries the last of it.
pub(crate) const DELTA_BYTE_BUDGET: usize = 256 * 1024;
/// How often idle sessions are looked for.
const REAP_INTERVAL: Duration = Duration::from_secs(60);

/// Output not yet handed to the model, and how the process ended, if it has.
#[derive(Default)]
struct Shared {
    buffer: VecDeque<u8>,
    /// Bytes dropped from the front of `buffer` since the last read.
    dropped: u64,
    exit_code: Option<i32>,
    /// Set once every reader has reached end of file.
    closed: bool,
}

/// One running process and the ends the model reaches it by.
struct Process {
    shared: Arc<Mutex<Shared>>,
    changed: Arc<Notify>,
    stdin: StdinEnd,
    group: Arc<ProcessTree>,
    last_used: Instant,
    /// The tool call that started it, for its end event.
    call_id: String,
    /// Output bytes the host may still be shown as deltas.
    deltas_left: usize,
    command: Vec<String>,
    started: Instant,
}

enum StdinEnd {
    Pty(Box<dyn std::io::Write + Send>),
    Pipe(tokio::process::ChildStdin),
    Closed,
}

impl Process {
    fn new(
        shared: Arc<Mutex<Shared>>,
        changed: Arc<Notify>,
        stdin: StdinEnd,
        group: Arc<ProcessTree>,
        params: &SpawnParams<'_>,
    ) -> Self {
        Self {
            shared,
            changed,
            stdin,
            group,
            last_used: Instant::now(),
            deltas_left: DELTA_BYTE_BUDGET,
            call_id: params.call_id.to_string(),
            command: params.command.to_vec(),
            started: Instant::now(),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Now, even though the task that waits for it still holds the group.
        self.group.kill();
    }
}

/// What a wait on a session saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Poll {
    /// Output since the last poll, lossily decoded.
    pub(crate) output: String,
    /// Bytes of output dropped because nobody read them in time.
    pub(crate) dropped: u64,
    /// The exit code, once the process has ended (the session is then gone).
    pub(crate) exit_code: Option<i32>,
    /// How many bytes of `output` the host may still be shown as deltas: each session streams
    /// at most [`DELTA_BYTE_BUDGET`] in all, like a `shell` command.
    pub(crate) delta_bytes: usize,
}

/// A session that ended, for its end event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub(crate) call_id: String,
    pub(crate) command: Vec<String>,
    pub(crate) duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("execution error: {0}")]
    Spawn(String),
    #[error("no session with id {0} (it ended, or was never started)")]
    Unknown(u32),
    #[error("could not write to session {id}: {source}")]
    Write { id: u32, source: std::io::Error },
}

/// How to start a process.
pub(crate) struct SpawnParams<'a> {
    pub(crate) argv: &'a [String],
    pub(crate) cwd: &'a Path,
    pub(crate) env: &'a HashMap<String, String>,
    pub(crate) tty: bool,
    /// The tool call that asked, and the command as the model wrote it.
    pub(crate) call_id: &'a str,
    pub(crate) command: &'a [String],
}

/// The processes of one conversation, by session id.
#[derive(Default)]
pub(crate) struct ExecSessions {
    /// A std lock: taken briefly, never across an `.await`.
    processes: Mutex<BTreeMap<u32, Process>>,
    next_id: Mutex<u32>,
}

impl ExecSessions {
    /// Starts a process and returns its session id. Ends idle sessions first, and the one
    /// idle longest when [`MAX_SESSIONS`] are running.
    pub(crate) fn spawn(&self, params: SpawnParams<'_>) -> Result<u32, SessionError> {
        let process = if params.tty {
            spawn_pty(&params)?
        } else {
            spawn_pipes(&params)?
        };
        let mut processes = lock(&self.processes);
        processes.retain(|_, process| process.last_used.elapsed() < IDLE_LIMIT);
        if processes.len() >= MAX_SESSIONS
            && let Some(oldest) = processes
                .iter()
                .min_by_key(|(_, process)| process.last_used)
                .map(|(id, _)| *id)
        {
            processes.remove(&oldest);
        }
        let id = {
            let mut next = lock(&self.next_id);
            *next += 1;
            *next
        };
        processes.insert(id, process);
        Ok(id)
    }

    /// Writes `chars` to session `id` (nothing for an empty string: a poll).
    pub(crate) async fn write(&self, id: u32, chars: &str) -> Result<(), SessionError> {
        if chars.is_empty() {
            return self.touch(id);
        }
        // The pipe is taken out for the await and put back, so the lock is never held across
        // it.
        let stdin = {
            let mut processes = lock(&self.processes);
            let process = processes.get_mut(&id).ok_or(SessionError::Unknown(id))?;
            process.last_used = Instant::now();
            std::mem::replace(&mut process.stdin, StdinEnd::Closed)
        };
        let (stdin, written) = match stdin {
            StdinEnd::Pty(mut writer) => {
                // A PTY's writer blocks when the program does not read its input: off the
                // async workers.
                let bytes = chars.as_bytes().to_vec();
                let joined = tokio::time::timeout(
                    WRITE_TIMEOUT,
                    tokio::task::spawn_blocking(move || {
                        let written = writer.write_all(&bytes).and_then(|()| writer.flush());
                        (writer, written)
                    }),
                )
                .await;
                match joined {
                    Ok(Ok((writer, written))) => (StdinEnd::Pty(writer), written),
                    Ok(Err(join)) => (StdinEnd::Closed, Err(std::io::Error::other(join))),
                    Err(_) => (StdinEnd::Closed, Err(not_reading())),
                }
            }
            StdinEnd::Pipe(mut pipe) => {
                match tokio::time::timeout(WRITE_TIMEOUT, pipe.write_all(chars.as_bytes())).await {
                    Ok(written) => (StdinEnd::Pipe(pipe), written),
                    // Part of the input may be in the pipe; what follows would not be in order.
                    Err(_) => (StdinEnd::Closed, Err(not_reading())),
                }
            }
            StdinEnd::Closed => (
                StdinEnd::Closed,
                Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "its input is closed",
                )),
            ),
        };
        if let Some(process) = lock(&self.processes).get_mut(&id) {
            process.stdin = stdin;
        }
        written.map_err(|source| SessionError::Write { id, source })
    }

    fn touch(&self, id: u32) -> Result<(), SessionError> {
        let mut processes = lock(&self.processes);
        let process = processes.get_mut(&id).ok_or(SessionError::Unknown(id))?;
        process.last_used = Instant::now();
        Ok(())
    }

    /// Waits up to `yield_time` for the process to end, then returns the output so far. An
    /// ended process's session is removed, with what its end event needs.
    pub(crate) async fn poll(
        &self,
        id: u32,
        yield_time: Duration,
    ) -> Result<(Poll, Option<Ended>), SessionError> {
        let (shared, changed) = {
            let processes = lock(&self.processes);
            let process = processes.get(&id).ok_or(SessionError::Unknown(id))?;
            (Arc::clone(&process.shared), Arc::clone(&process.changed))
        };
        let deadline = tokio::time::Instant::now() + yield_time;
        loop {
            let notified = changed.notified();
            {
                let state = lock(&shared);
                if state.exit_code.is_some() && state.closed {
                    break;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let poll = {
            let mut state = lock(&shared);
            let bytes: Vec<u8> = state.buffer.drain(..).collect();
            let dropped = std::mem::take(&mut state.dropped);
            Poll {
                output: String::from_utf8_lossy(&bytes).into_owned(),
                dropped,
                exit_code: state.exit_code.filter(|_| state.closed),
                delta_bytes: 0,
            }
        };
        let mut poll = poll;
        if let Some(process) = lock(&self.processes).get_mut(&id) {
            poll.delta_bytes = poll.output.len().min(process.deltas_left);
            process.deltas_left -= poll.delta_bytes;
        }
        let ended = if poll.exit_code.is_some() {
            lock(&self.processes).remove(&id).map(|process| Ended {
                call_id: process.call_id.clone(),
                command: process.command.clone(),
                duration: process.started.elapsed(),
            })
        } else {
            None
        };
        Ok((poll, ended))
    }

    /// Kills every session (the turn was interrupted); returns what their end events need.
    pub(crate) fn kill_all(&self) -> Vec<Ended> {
        let processes = std::mem::take(&mut *lock(&self.processes));
        processes
            .into_values()
            .map(|process| Ended {
                call_id: process.call_id.clone(),
                command: process.command.clone(),
                duration: process.started.elapsed(),
            })
            .collect()
    }

    /// Kills, from now on, every session of `sessions` idle past [`IDLE_LIMIT`], checking
    /// every [`REAP_INTERVAL`] until the sessions are dropped with their conversation.
    pub(crate) fn reap_idle(sessions: &Arc<ExecSessions>) {
        let sessions = Arc::downgrade(sessions);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REAP_INTERVAL);
            loop {
                ticks.tick().await;
                let Some(sessions) = sessions.upgrade() else {
                    return;
                };
                let mut processes = lock(&sessions.processes);
                processes.retain(|id, process| {
                    let keep = process.last_used.elapsed() < IDLE_LIMIT;
                    if !keep {
                        tracing::info!(session = id, "exec session idle too long; killed");
                    }
                    keep
                });
            }
        });
    }

    /// The tool call that started session `id`.
    pub(crate) fn call_id(&self, id: u32) -> Option<String> {
        lock(&self.processes)
            .get(&id)
            .map(|process| process.call_id.clone())
    }
}

fn spawn_pty(params: &SpawnParams<'_>) -> Result<Process, SessionError> {
    use portable_pty::CommandBuilder;
    use portable_pty::PtySize;
    let pair = portable_pty::native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|err| SessionError::Spawn(err.to_string()))?;
    let (program, args) = params
        .argv
        .split_first()
        .ok_or_else(|| SessionError::Spawn("empty command".to_string()))?;
    let mut command = CommandBuilder::new(program);
    command.args(args);
    command.cwd(params.cwd);
    command.env_clear();
    for (key, value) in params.env {
        command.env(key, value);
    }
    let mut child = pair
        .slave
        .spawn_command(command)
        .map_err(|err| SessionError::Spawn(err.to_string()))?;
    // The child holds its own end; ours would keep the PTY open after it exits.
    drop(pair.slave);
    let mut reader = pair
        .master
        .try_clone_reader()
        .map_err(|err| SessionError::Spawn(err.to_string()))?;
    let writer = pair
        .master
        .take_writer()
        .map_err(|err| SessionError::Spawn(err.to_string()))?;
    // The PTY's child leads its own session, so its pid is its process group.
    let group = Arc::new(ProcessTree::of_pty_child(child.as_ref()));
    let shared = Arc::new(Mutex::new(Shared::default()));
    let changed = Arc::new(Notify::new());
    {
        let (shared, changed) = (Arc::clone(&shared), Arc::clone(&changed));
        // portable-pty's ends are blocking: one thread reads, another reaps the child. The
        // master moves in with the reader, so the PTY lives as long as the reader needs it.
        let master = pair.master;
        let (read_all, output_done) = std::sync::mpsc::channel::<()>();
        {
            let (shared, changed) = (Arc::clone(&shared), Arc::clone(&changed));
            std::thread::spawn(move || {
                let _master = master;
                let mut chunk = [0u8; READ_CHUNK_BYTES];
                loop {
                    match reader.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => append(&shared, &changed, chunk.get(..n).unwrap_or_default()),
                    }
                }
                let _ = read_all.send(());
            });
        }
        let group = Arc::clone(&group);
        std::thread::spawn(move || {
            let code = child
                .wait()
                .map(|status| i32::try_from(status.exit_code()).unwrap_or(i32::MAX))
                .unwrap_or(-1);
            // A background job can hold the terminal open after the shell exits: its output
            // gets a short window, then the group goes and the reader sees the end.
            let _ = output_done.recv_timeout(IO_DRAIN_TIMEOUT);
            group.kill();
            ended(&shared, &changed, code);
        });
    }
    Ok(Process::new(
        shared,
        changed,
        StdinEnd::Pty(writer),
        group,
        params,
    ))
}

fn spawn_pipes(params: &SpawnParams<'_>) -> Result<Process, SessionError> {
    let (program, args) = params
        .argv
        .split_first()
        .ok_or_else(|| SessionError::Spawn("empty command".to_string()))?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(params.cwd)
        .env_clear()
        .envs(params.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = isolate(&mut command)
        .spawn()
        .map_err(|err| SessionError::Spawn(err.to_string()))?;
    let group = Arc::new(ProcessTree::of_child(&child));
    let stdin = child.stdin.take().map_or(StdinEnd::Closed, StdinEnd::Pipe);
    let shared = Arc::new(Mutex::new(Shared::default()));
    let changed = Arc::new(Notify::new());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    {
        let (shared, changed) = (Arc::clone(&shared), Arc::clone(&changed));
        let group = Arc::clone(&group);
        tokio::spawn(async move {
            let readers = async {
                tokio::join!(
                    drain(stdout, &shared, &changed),
                    drain(stderr, &shared, &changed)
                )
            };
            tokio::pin!(readers);
            // Reading on while waiting keeps a chatty process from blocking on a full pipe.
            let (status, all_read) = tokio::select! {
                status = child.wait() => (status, false),
                ((), ()) = &mut readers => (child.wait().await, true),
            };
            if !all_read {
                // A background job can hold the pipes after the command exits: its output gets
                // a short window, then the group goes.
                let _ = tokio::time::timeout(IO_DRAIN_TIMEOUT, &mut readers).await;
            }
            group.kill();
            let code = status.ok().and_then(|status| status.code()).unwrap_or(-1);
            ended(&shared, &changed, code);
        });
    }
    Ok(Process::new(shared, changed, stdin, group, params))
}

fn not_reading() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "the program did not take its input within {} s (it is not reading it); its input is now closed",
            WRITE_TIMEOUT.as_secs()
        ),
    )
}

/// Records how the process ended, once its output is all read, and wakes the waiters.
fn ended(shared: &Mutex<Shared>, changed: &Notify, code: i32) {
    let mut state = lock(shared);
    state.exit_code = Some(code);
    state.closed = true;
    drop(state);
    changed.notify_waiters();
}

async fn drain<R: tokio::io::AsyncRead + Unpin>(
    reader: Option<R>,
    shared: &Mutex<Shared>,
    changed: &Notify,
) {
    let Some(mut reader) = reader else {
        return;
    };
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => append(shared, changed, chunk.get(..n).unwrap_or_default()),
        }
    }
}

/// Adds output to the buffer, dropping the oldest bytes past [`MAX_BUFFERED_BYTES`].
fn append(shared: &Mutex<Shared>, changed: &Notify, bytes: &[u8]) {
    let mut state = lock(shared);
    state.buffer.extend(bytes);
    let excess = state.buffer.len().saturating_sub(MAX_BUFFERED_BYTES);
    if excess > 0 {
        state.buffer.drain(..excess);
        state.dropped += excess as u64;
    }
    drop(state);
    changed.notify_waiters();
}
