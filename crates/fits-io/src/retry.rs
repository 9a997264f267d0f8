//! Retry policy for remote drivers: exponential backoff with full jitter, honouring `Retry-After`.

use std::time::Duration;

/// When and how often a failed request is tried again.
///
/// Retried: 5xx, 408, 429, timeouts, connection failures, bodies cut short,
/// responses that do not match their request. Never retried: other 4xx
/// (403, 404, 412, 416): asking again would not change the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt (default 5).
    pub max_retries: usize,
    /// Backoff before the first retry (default 100 ms); doubles each time, with full jitter.
    pub initial_backoff: Duration,
    /// Longest backoff (default 5 s).
    pub max_backoff: Duration,
    /// Give up when this much time has passed since the first attempt (default 60 s).
    pub retry_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            retry_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn none() -> RetryConfig {
        RetryConfig { max_retries: 0, ..RetryConfig::default() }
    }

    /// The wait before retry number `attempt` (0-based): uniform in `[0, min(max, initial * 2^attempt)]`,
    /// or the server's `Retry-After` if that is longer. (A wait that would overrun
    /// `retry_timeout` is not taken: the caller gives up instead.)
    pub fn backoff(&self, attempt: usize, retry_after: Option<Duration>, noise: u64) -> Duration {
        let ceiling = self.initial_backoff.saturating_mul(1u32 << attempt.min(20)).min(self.max_backoff);
        let fraction = (noise >> 11) as f64 / (1u64 << 53) as f64;
        let jittered = ceiling.mul_f64(fraction);
        match retry_after {
            Some(r) => r.max(jittered),
            None => jittered,
        }
    }
}

/// A little noise for jitter (no dependency on a random-number crate).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn noise() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut z = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ t;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Parses a `Retry-After` value: delay seconds (HTTP dates are treated as "no hint").
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = RetryConfig::default();
        assert!(c.backoff(0, None, u64::MAX) <= Duration::from_millis(100));
        assert!(c.backoff(3, None, u64::MAX) <= Duration::from_millis(800));
        assert!(c.backoff(30, None, u64::MAX) <= Duration::from_secs(5));
        assert_eq!(c.backoff(0, Some(Duration::from_secs(2)), 0), Duration::from_secs(2));
        assert_eq!(c.backoff(0, Some(Duration::from_secs(3600)), 0), Duration::from_secs(3600));
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_ne!(noise(), noise());
    }
}
