//! What a running turn offers the tools it runs: its settings, a way to emit events, the
//! approvals of its conversation, and the record of what its patches changed.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::HashSet;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::conversation::EventSink;
use crate::exec::sessions::ExecSessions;
use crate::lock::lock;
use crate::mcp::McpConnectionManager;
use crate::protocol::ApplyPatchApprovalRequestEvent;
use crate::protocol::EventMsg;
use crate::protocol::ExecApprovalRequestEvent;
use crate::protocol::FileChange;
use crate::protocol::RequestUserInputEvent;
use crate::protocol::RequestUserInputResponse;
use crate::protocol::ReviewDecision;
use crate::protocol::UserInputQuestion;
use crate::safety::parse_command::parse_command;
use crate::tools::turn_diff::TurnDiffTracker;

/// What a tool call gives back to the model.
pub(crate) struct ToolOutput {
    pub(crate) output: String,
    /// The user chose to end the turn; the output is still recorded for the model.
    pub(crate) abort_turn: bool,
    /// Images to show the model after the output (`data:` URLs), as a user message: a
    /// function's output is text only.
    pub(crate) images: Vec<String>,
}

impl ToolOutput {
    pub(crate) fn text(output: String) -> Self {
        Self {
            output,
            abort_turn: false,
            images: Vec::new(),
        }
    }
}

/// The approvals of one conversation: the requests waiting for an answer, and what the user
/// approved for the rest of the conversation.
#[derive(Default)]
pub(crate) struct Approvals {
    /// Approval requests waiting for an `Op::ExecApproval`, by call id. A std lock: entries
    /// are inserted and taken, never held across an `.await`. A dropped sender (the turn
    /// ended) reads as a denial on the waiting side.
    pending: Mutex<HashMap<String, oneshot::Sender<ReviewDecision>>>,
    /// Commands the user approved for the rest of the conversation, by exact argv.
    approved_commands: Mutex<HashSet<Vec<String>>>,
    /// Files the user approved patches to for the rest of the conversation.
    approved_paths: Mutex<HashSet<PathBuf>>,
    /// `request_user_input` calls waiting for an `Op::UserInputAnswer`, by call id; like
    /// `pending`, a dropped sender reads as no answer.
    questions: Mutex<HashMap<String, oneshot::Sender<RequestUserInputResponse>>>,
    /// MCP tools the user approved for the rest of the conversation, as (server, tool): kept
    /// apart from commands, so approving a tool never approves a command spelled like it.
    approved_mcp_tools: Mutex<HashSet<(String, String)>>,
}

impl Approvals {
    /// Hands `decision` to the request waiting under `call_id`.
    pub(crate) fn resolve(&self, call_id: &str, decision: ReviewDecision) {
        let waiting = lock(&self.pending).remove(call_id);
        match waiting {
            Some(sender) => {
                let _ = sender.send(decision);
            }
            None => tracing::warn!(call_id, "approval for a request that is not pending"),
        }
    }

    /// Hands the user's answers to the `request_user_input` call waiting under `call_id`.
    pub(crate) fn answer_questions(&self, call_id: &str, response: RequestUserInputResponse) {
        let waiting = lock(&self.questions).remove(call_id);
        match waiting {
            Some(sender) => {
                let _ = sender.send(response);
            }
            None => tracing::warn!(call_id, "answers for questions that are not pending"),
        }
    }
}

/// What a running turn offers the tools it runs.
pub(crate) struct TurnContext<'a> {
    pub(crate) events: &'a EventSink,
    pub(crate) approvals: &'a Approvals,
    /// The conversation's long-lived processes (`exec_command`).
    pub(crate) exec_sessions: &'a ExecSessions,
    /// The settings this turn runs with.
    pub(crate) config: Arc<Config>,
    pub(crate) sub_id: &'a str,
    pub(crate) cancel: &'a CancellationToken,
    /// What the turn changed by patch; a std lock, never held across an `.await`.
    pub(crate) diff: Mutex<TurnDiffTracker>,
    /// The conversation's MCP servers, where calls to their tools go.
    pub(crate) mcp: &'a McpConnectionManager,
}

impl TurnContext<'_> {
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn emit(&self, msg: EventMsg) {
        self.events.emit(self.sub_id, msg);
    }

    pub(crate) fn exec_sessions(&self) -> &ExecSessions {
        self.exec_sessions
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        self.cancel
    }

    pub(crate) fn is_approved_for_session(&self, command: &[String]) -> bool {
        lock(&self.approvals.approved_commands).contains(command)
    }

    pub(crate) fn approve_for_session(&self, command: Vec<String>) {
        lock(&self.approvals.approved_commands).insert(command);
    }

    pub(crate) fn is_mcp_tool_approved_for_session(&self, server: &str, tool: &str) -> bool {
        lock(&self.approvals.approved_mcp_tools).contains(&(server.to_string(), tool.to_string()))
    }

    pub(crate) fn approve_mcp_tool_for_session(&self, server: &str, tool: &str) {
        lock(&self.approvals.approved_mcp_tools).insert((server.to_string(), tool.to_string()));
    }

    pub(crate) fn is_path_approved_for_session(&self, path: &Path) -> bool {
        lock(&self.approvals.approved_paths).contains(path)
    }

    pub(crate) fn approve_paths_for_session(&self, paths: Vec<PathBuf>) {
        lock(&self.approvals.approved_paths).extend(paths);
    }

    /// Remembers the content of files about to be patched, for the turn's diff; the files are
    /// read on the blocking pool.
    pub(crate) async fn record_patch_originals(&self, paths: Vec<PathBuf>) {
        let unseen = lock(&self.diff).unseen(paths);
        if unseen.is_empty() {
            return;
        }
        let originals =
            tokio::task::spawn_blocking(move || crate::tools::turn_diff::read_originals(unseen))
                .await
                .unwrap_or_default();
        lock(&self.diff).insert_originals(originals);
    }

    /// Asks the client whether a patch may be applied; like `request_exec_approval`.
    pub(crate) async fn request_patch_approval(
        &self,
        call_id: &str,
        changes: BTreeMap<PathBuf, FileChange>,
        reason: Option<String>,
        grant_root: Option<PathBuf>,
    ) -> ReviewDecision {
        let (tx, rx) = oneshot::channel();
        let _pending = PendingApproval::register(self.approvals, call_id, tx);
        self.emit(EventMsg::ApplyPatchApprovalRequest(
            ApplyPatchApprovalRequestEvent {
                call_id: call_id.to_string(),
                changes,
                reason,
                grant_root,
            },
        ));
        rx.await.unwrap_or_default()
    }

    /// Puts the model's questions to the user and waits for the answers; every way the wait
    /// can end without them (the client goes away, the turn is dropped) is no answer.
    pub(crate) async fn request_user_input(
        &self,
        call_id: &str,
        questions: Vec<UserInputQuestion>,
    ) -> RequestUserInputResponse {
        let (tx, rx) = oneshot::channel();
        lock(&self.approvals.questions).insert(call_id.to_string(), tx);
        let _pending = PendingQuestions {
            approvals: self.approvals,
            call_id,
        };
        self.emit(EventMsg::RequestUserInput(RequestUserInputEvent {
            call_id: call_id.to_string(),
            questions,
        }));
        rx.await.unwrap_or_default()
    }

    /// Asks the client whether `command` may run and waits for the answer. Every way the
    /// wait can end without an answer (the client goes away, the turn is dropped) is a denial.
    pub(crate) async fn request_exec_approval(
        &self,
        call_id: &str,
        command: &[String],
        cwd: &Path,
        reason: Option<String>,
    ) -> ReviewDecision {
        let (tx, rx) = oneshot::channel();
        let _pending = PendingApproval::register(self.approvals, call_id, tx);
        self.emit(EventMsg::ExecApprovalRequest(ExecApprovalRequestEvent {
            call_id: call_id.to_string(),
            command: command.to_vec(),
            cwd: cwd.to_path_buf(),
            reason,
            parsed_cmd: parse_command(command),
        }));
        rx.await.unwrap_or_default()
    }
}

/// Removes a pending approval when its waiter goes away, answered or not.
struct PendingApproval<'a> {
    approvals: &'a Approvals,
    call_id: String,
}

impl<'a> PendingApproval<'a> {
    fn register(
        approvals: &'a Approvals,
        call_id: &str,
        tx: oneshot::Sender<ReviewDecision>,
    ) -> Self {
        lock(&approvals.pending).insert(call_id.to_string(), tx);
        Self {
            approvals,
            call_id: call_id.to_string(),
        }
    }
}

impl Drop for PendingApproval<'_> {
    fn drop(&mut self) {
        lock(&self.approvals.pending).remove(&self.call_id);
    }
}

/// Removes pending questions when their waiter goes away, answered or not.
struct PendingQuestions<'a> {
    approvals: &'a Approvals,
    call_id: &'a str,
}

impl Drop for PendingQuestions<'_> {
    fn drop(&mut self) {
        lock(&self.approvals.questions).remove(self.call_id);
    }
}
