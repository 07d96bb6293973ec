//! A handle to one conversation: the queue pair of its session task.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::error::CodexErr;
use crate::error::Result;
use crate::protocol::ConversationId;
use crate::protocol::Event;
use crate::protocol::Op;
use crate::protocol::Submission;

/// Submit `Op`s, read `Event`s. Dropping the last handle ends the session task and with it
/// any running turn.
#[derive(Debug)]
pub struct CodexConversation {
    conversation_id: ConversationId,
    config: Arc<Config>,
    /// Sending half of the session task's submission queue; the task ends when it closes.
    tx_sub: mpsc::Sender<Submission>,
    /// Receiving half of the event queue. A tokio lock because a reader holds it while it
    /// waits for the next event; one reader at a time is the intended use.
    rx_event: Mutex<mpsc::UnboundedReceiver<Event>>,
    next_submission_id: AtomicU64,
}

impl CodexConversation {
    pub(crate) fn new(
        conversation_id: ConversationId,
        config: Arc<Config>,
        tx_sub: mpsc::Sender<Submission>,
        rx_event: mpsc::UnboundedReceiver<Event>,
    ) -> Self {
        Self {
            conversation_id,
            config,
            tx_sub,
            rx_event: Mutex::new(rx_event),
            next_submission_id: AtomicU64::new(0),
        }
    }

    pub fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }

    /// The settings the conversation runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Submits `op` under a generated id and returns that id.
    pub async fn submit(&self, op: Op) -> Result<String> {
        let id = self
            .next_submission_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        self.submit_with_id(Submission { id: id.clone(), op })
            .await?;
        Ok(id)
    }

    /// Submits with a caller-chosen id (e.g. the MCP request id), which its events will carry.
    pub async fn submit_with_id(&self, submission: Submission) -> Result<()> {
        self.tx_sub
            .send(submission)
            .await
            .map_err(|_| CodexErr::InternalAgentDied)
    }

    /// The next event; an error once the session task has ended and all events are read.
    pub async fn next_event(&self) -> Result<Event> {
        self.rx_event
            .lock()
            .await
            .recv()
            .await
            .ok_or(CodexErr::InternalAgentDied)
    }
}
