//! A count of work in progress that a graceful stop waits to see reach zero: HTTP calls still
//! being answered, turns whose end is not yet recorded.

use tokio::sync::watch;

/// The count. Clones count together.
#[derive(Clone)]
pub(crate) struct OpenCount(watch::Sender<usize>);

impl Default for OpenCount {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl OpenCount {
    /// Counts one more until the returned guard is dropped, however that happens.
    pub(crate) fn hold(&self) -> Hold {
        self.0.send_modify(|open| *open += 1);
        Hold(self.0.clone())
    }

    /// Waits until nothing is held.
    pub(crate) async fn zero(&self) {
        let mut open = self.0.subscribe();
        // An error means every sender is gone, which cannot be while `self` lives.
        let _ = open.wait_for(|open| *open == 0).await;
    }
}

/// One unit of an [`OpenCount`].
pub(crate) struct Hold(watch::Sender<usize>);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open = open.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn zero_waits_for_every_hold_to_drop() {
        let count = OpenCount::default();
        let (first, second) = (count.hold(), count.hold());
        let waiting = tokio::spawn({
            let count = count.clone();
            async move { count.zero().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("zero returns once nothing is held")
            .unwrap();
    }
}
