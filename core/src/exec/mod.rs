//! Running one command: a child in its own process group (a job object on Windows), output
//! captured within fixed memory, a timeout, and nothing left running afterwards.

pub mod env;
#[cfg(windows)]
mod job_object;
pub(crate) mod process_tree;
pub mod sandbox;
pub(crate) mod sessions;

use std::collections::HashMap;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use tokio::io::AsyncRead;
use tokio::io::AsyncReadExt as _;
use tokio_util::sync::CancellationToken;

use crate::exec::process_tree::ProcessTree;
use crate::exec::process_tree::isolate;
use crate::protocol::ExecOutputStream;

/// Exit code reported for a command killed by its timeout, as `timeout(1)` does.
pub(crate) const TIMEOUT_EXIT_CODE: i32 = 124;
/// The timeout when the model gives none.
pub(crate) const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes kept from the start and from the end of each stream; the middle of a huge output
/// is counted, not stored, so a command printing gigabytes costs a fixed amount of memory.
const CAPTURE_HEAD_BYTES: usize = 64 * 1024;
const CAPTURE_TAIL_BYTES: usize = 64 * 1024;
const READ_CHUNK_BYTES: usize = 8 * 1024;
/// After the command exits, how long its pipes may stay open (a background grandchild can
/// hold them) before we stop reading.
const IO_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct ExecParams {
    pub(crate) command: Vec<String>,
    pub(crate) cwd: PathBuf,
    pub(crate) timeout: Duration,
    pub(crate) env: HashMap<String, String>,
}

#[derive(Debug)]
pub(crate) struct ExecOutput {
    pub(crate) exit_code: i32,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    /// stdout and stderr interleaved in arrival order.
    pub(crate) aggregated: CapturedOutput,
    pub(crate) duration: Duration,
    pub(crate) timed_out: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExecError {
    #[error("execution error: {0}")]
    Spawn(std::io::Error),
    #[error("execution error: empty command")]
    EmptyCommand,
    /// The turn was interrupted; the process group has been killed.
    #[error("interrupted")]
    Interrupted,
}

/// Output kept within a fixed budget: the first and last bytes, and a count of the rest.
#[derive(Debug, Default)]
pub(crate) struct CapturedOutput {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total_bytes: u64,
}

impl CapturedOutput {
    fn push(&mut self, mut bytes: &[u8]) {
        self.total_bytes += bytes.len() as u64;
        let head_room = CAPTURE_HEAD_BYTES - self.head.len();
        if head_room > 0 {
            let (to_head, rest) = bytes.split_at(head_room.min(bytes.len()));
            self.head.extend_from_slice(to_head);
            bytes = rest;
        }
        if bytes.len() >= CAPTURE_TAIL_BYTES {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - CAPTURE_TAIL_BYTES..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(CAPTURE_TAIL_BYTES);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// The output as text; when the middle was dropped, a marker says how much.
    pub(crate) fn to_text(&self) -> String {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.total_bytes > kept {
            text.push_str(&format!(
                "\n[... {} bytes of output omitted ...]\n",
                self.total_bytes - kept
            ));
        }
        let (a, b) = self.tail.as_slices();
        if b.is_empty() {
            text.push_str(&String::from_utf8_lossy(a));
        } else {
            let tail: Vec<u8> = self.tail.iter().copied().collect();
            text.push_str(&String::from_utf8_lossy(&tail));
        }
        text
    }
}

/// Runs `params.command` to completion, its timeout, or `cancel`. `on_output` sees every
/// chunk as it arrives (for streaming deltas).
pub(crate) async fn run(
    params: ExecParams,
    cancel: &CancellationToken,
    mut on_output: impl FnMut(ExecOutputStream, &[u8]),
) -> Result<ExecOutput, ExecError> {
    let (program, args) = params
        .command
        .split_first()
        .ok_or(ExecError::EmptyCommand)?;
    let started = Instant::now();
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&params.cwd)
        .env_clear()
        .envs(&params.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own group (or job), so that a timeout or an interrupt can kill everything it started.
    let mut child = isolate(&mut command).spawn().map_err(ExecError::Spawn)?;
    // Owning the group: however this future ends (completion, timeout, or being dropped
    // because the turn was interrupted), everything the command started is killed.
    let group = ProcessTree::of_child(&child);
    let kill_group = || group.kill();

    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out_buf = vec![0u8; READ_CHUNK_BYTES];
    let mut err_buf = vec![0u8; READ_CHUNK_BYTES];
    let mut output = ExecOutput {
        exit_code: -1,
        stdout: CapturedOutput::default(),
        stderr: CapturedOutput::default(),
        aggregated: CapturedOutput::default(),
        duration: Duration::ZERO,
        timed_out: false,
    };
    let mut status = None;
    let timeout = tokio::time::sleep(params.timeout);
    tokio::pin!(timeout);
    // Armed when the command exits.
    let drain = tokio::time::sleep(IO_DRAIN_TIMEOUT);
    tokio::pin!(drain);

    while stdout.is_some() || stderr.is_some() || status.is_none() {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buf), if stdout.is_some() => {
                match read {
                    Some(n) => {
                        let chunk = &out_buf[..n];
                        on_output(ExecOutputStream::Stdout, chunk);
                        output.stdout.push(chunk);
                        output.aggregated.push(chunk);
                    }
                    None => stdout = None,
                }
            }
            read = read_some(&mut stderr, &mut err_buf), if stderr.is_some() => {
                match read {
                    Some(n) => {
                        let chunk = &err_buf[..n];
                        on_output(ExecOutputStream::Stderr, chunk);
                        output.stderr.push(chunk);
                        output.aggregated.push(chunk);
                    }
                    None => stderr = None,
                }
            }
            exited = child.wait(), if status.is_none() => {
                status = Some(exited.ok());
                drain.as_mut().reset(tokio::time::Instant::now() + IO_DRAIN_TIMEOUT);
                // Whatever the command left behind in its group dies with it.
                kill_group();
            }
            () = &mut timeout, if !output.timed_out && status.is_none() => {
                output.timed_out = true;
                kill_group();
            }
            () = &mut drain, if status.is_some() => break,
            () = cancel.cancelled() => {
                kill_group();
                let _ = child.wait().await;
                return Err(ExecError::Interrupted);
            }
        }
    }
    output.duration = started.elapsed();
    output.exit_code = if output.timed_out {
        TIMEOUT_EXIT_CODE
    } else {
        exit_code(status.flatten())
    };
    Ok(output)
}

/// Reads one chunk; `None` at end of stream or on a read error.
async fn read_some<R: AsyncRead + Unpin>(reader: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    let reader = reader.as_mut()?;
    match reader.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// The exit code, or 128 plus the signal that killed it, as shells report it (only Unix has
/// signals: a Windows process always has a code).
fn exit_code(status: Option<std::process::ExitStatus>) -> i32 {
    let Some(status) = status else {
        return -1;
    };
    #[cfg(unix)]
    let signal = {
        use std::os::unix::process::ExitStatusExt as _;
        status.signal().map(|signal| 128 + signal)
    };
    #[cfg(not(unix))]
    let signal = None;
    status.code().or(signal).unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn params(script: &str, timeout: Duration) -> ExecParams {
        ExecParams {
            command: vec!["bash".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            timeout,
            env: HashMap::from([(
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            )]),
        }
    }

    #[tokio::test]
    async fn captures_both_streams_and_the_exit_code() {
        let output = run(
            params("echo out; echo err >&2; exit 3", DEFAULT_EXEC_TIMEOUT),
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(output.exit_code, 3);
        assert_eq!(output.stdout.to_text(), "out\n");
        assert_eq!(output.stderr.to_text(), "err\n");
        assert!(!output.timed_out);
    }

    #[tokio::test]
    async fn timeout_kills_the_group_and_reports_124() {
        let output = run(
            params("sleep 30 & sleep 30", Duration::from_millis(200)),
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(output.exit_code, TIMEOUT_EXIT_CODE);
        assert!(output.timed_out);
        assert!(
            output.duration < Duration::from_secs(5),
            "{:?}",
            output.duration
        );
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_whole_group() {
        let marker = format!("sleep 20.{}", std::process::id());
        let cancel = CancellationToken::new();
        let run = run(
            params(&format!("{marker} & {marker}"), DEFAULT_EXEC_TIMEOUT),
            &cancel,
            |_, _| {},
        );
        // Let the command start, then drop it mid-flight as an interrupted turn does.
        let _ = tokio::time::timeout(Duration::from_millis(300), run).await;
        let mut survivors = 0;
        for _ in 0..50 {
            survivors = count_processes(&marker);
            if survivors == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(survivors, 0);
    }

    fn count_processes(marker: &str) -> usize {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| {
                std::fs::read(entry.path().join("cmdline"))
                    .map(|c| {
                        String::from_utf8_lossy(&c)
                            .replace('\0', " ")
                            .contains(marker)
                    })
                    .unwrap_or(false)
            })
            .count()
    }

    #[tokio::test]
    async fn huge_output_is_kept_within_budget() {
        let output = run(
            params(
                "head -c 5000000 /dev/zero | tr '\\0' 'a'",
                DEFAULT_EXEC_TIMEOUT,
            ),
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(output.stdout.total_bytes, 5_000_000);
        assert_eq!(output.stdout.head.len(), CAPTURE_HEAD_BYTES);
        assert_eq!(output.stdout.tail.len(), CAPTURE_TAIL_BYTES);
        let text = output.stdout.to_text();
        assert!(text.contains("[... 4868928 bytes of output omitted ...]"));
    }

    #[tokio::test]
    async fn missing_programs_are_reported() {
        let err = run(
            ExecParams {
                command: vec!["surely-not-a-program-xyz".into()],
                ..params("", DEFAULT_EXEC_TIMEOUT)
            },
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert!(err.to_string().starts_with("execution error: "), "{err}");
    }

    #[test]
    fn capture_keeps_head_and_tail() {
        let mut captured = CapturedOutput::default();
        for _ in 0..3 {
            captured.push(&vec![b'x'; CAPTURE_HEAD_BYTES]);
        }
        captured.push(b"end");
        assert_eq!(captured.total_bytes, 3 * CAPTURE_HEAD_BYTES as u64 + 3);
        assert_eq!(captured.tail.len(), CAPTURE_TAIL_BYTES);
        assert!(captured.to_text().ends_with("xxend"));
    }
}
