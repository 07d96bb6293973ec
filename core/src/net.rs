//! What every HTTP client in the engine shares (model requests, token refreshes): how long to
//! wait before a retry, and how to tell the whole story of an error.

use std::time::Duration;

use rand::Rng as _;

const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// 200 ms × 2^(attempt-1), with ±10 % jitter so that concurrent turns do not retry in step.
pub(crate) fn backoff(attempt: u64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let base = INITIAL_BACKOFF.saturating_mul(2u32.saturating_pow(exponent));
    let jitter = rand::rng().random_range(0.9..1.1);
    base.mul_f64(jitter)
}

/// reqwest's own message omits the cause ("error sending request"); the cause ("connection
/// refused") is what a reader needs.
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter() {
        for (attempt, nominal) in [(1, 200.0), (2, 400.0), (3, 800.0)] {
            let ms = backoff(attempt).as_secs_f64() * 1000.0;
            assert!(
                ms >= nominal * 0.9 && ms <= nominal * 1.1,
                "{attempt}: {ms}"
            );
        }
    }
}
