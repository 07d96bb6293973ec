//! How many turns run across a manager's conversations: what a graceful stop waits on, so
//! that turns running with no request open (tasks, the conversation API, a turn waiting for
//! an approval's retry) are given their grace period too.

use tokio::sync::watch;

/// A shared count of running turns. Clones count together.
#[derive(Debug, Clone)]
pub struct ActiveTurns(watch::Sender<usize>);

impl Default for ActiveTurns {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl ActiveTurns {
    pub(crate) fn started(&self) {
        self.0.send_modify(|running| *running += 1);
    }

    pub(crate) fn ended(&self) {
        self.0
            .send_modify(|running| *running = running.saturating_sub(1));
    }

    /// How many turns run now.
    pub fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until no turn runs.
    pub async fn all_ended(&self) {
        let mut running = self.0.subscribe();
        // An error means every sender is gone, which it cannot be while `self` lives.
        let _ = running.wait_for(|running| *running == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn waits_until_every_started_turn_has_ended() {
        let running = ActiveTurns::default();
        running.started();
        running.started();
        let waiting = tokio::spawn({
            let running = running.clone();
            async move { running.all_ended().await }
        });
        running.ended();
        assert_eq!(running.count(), 1);
        assert!(!waiting.is_finished());
        running.ended();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("all_ended returns once the count is zero")
            .unwrap();
    }
}
