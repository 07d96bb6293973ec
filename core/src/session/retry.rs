//! Transient model failures, retried within the provider's budgets.

use crate::error::CodexErr;
use crate::error::Result;
use crate::net::backoff;
use crate::protocol::EventMsg;
use crate::protocol::StreamErrorEvent;
use crate::tools::context::TurnContext;

/// Transient failures are retried with backoff, each retry announced to the client as a
/// `stream_error`; the provider's budgets bound them.
pub(super) struct Retries<'a, 'b> {
    turn: &'a TurnContext<'b>,
    count: u64,
}

impl<'a, 'b> Retries<'a, 'b> {
    pub(super) fn new(turn: &'a TurnContext<'b>) -> Self {
        Self { turn, count: 0 }
    }

    pub(super) fn reset(&mut self) {
        self.count = 0;
    }

    /// Waits before the next attempt, or gives `err` back when it is final.
    pub(super) async fn wait_or_fail(&mut self, err: CodexErr) -> Result<()> {
        let provider = &self.turn.config.model_provider;
        let budget = if err.is_request_failure() {
            provider.request_max_retries()
        } else {
            provider.stream_max_retries()
        };
        if !err.is_retryable() || self.count >= budget {
            return Err(err);
        }
        self.count += 1;
        let delay = err.retry_after().unwrap_or_else(|| backoff(self.count));
        tracing::warn!(
            retries = self.count,
            budget,
            ?delay,
            "model request failed, retrying: {err}"
        );
        self.turn.emit(EventMsg::StreamError(StreamErrorEvent {
            message: format!("Reconnecting... {}/{budget} ({err})", self.count),
        }));
        tokio::time::sleep(delay).await;
        Ok(())
    }
}
