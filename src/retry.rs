//! When and how long to wait before trying a call again.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;

/// How a client retries transient failures: throttling (`429`), server errors (`500`, `502`,
/// `503`, `504`), `408`, and failures to connect, read or finish in time. No other status is
/// retried. Waits grow exponentially with jitter, and follow the service's `Retry-After` /
/// `retry-after-ms` when it sends one. Start from `RetryOptions::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryOptions {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    total_timeout: Duration,
}

/// Attempts per call, the first included, unless configured otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// The first wait before a retry (before jitter) unless configured otherwise; each next wait doubles.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(800);
/// The longest single wait unless configured otherwise.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// How long a call may take in all, retries and waits included, unless configured otherwise.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(100);

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_delay: DEFAULT_INITIAL_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
        }
    }
}

impl RetryOptions {
    /// One attempt per call, no retries.
    pub fn disabled() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Attempts per call, the first included (default [`DEFAULT_MAX_ATTEMPTS`]; at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first wait (default [`DEFAULT_INITIAL_DELAY`]); later waits double, up to
    /// [`with_max_delay`](Self::with_max_delay).
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest backoff wait (default [`DEFAULT_MAX_DELAY`]). The service's `Retry-After`
    /// is followed as given, as long as it ends within the total timeout.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The bound on a whole call, attempts and waits included (default
    /// [`DEFAULT_TOTAL_TIMEOUT`]). A wait that would end past it is not started.
    pub fn with_total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    pub(crate) fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn total_timeout(&self) -> Duration {
        self.total_timeout
    }

    /// The wait before attempt `attempt + 1`: the service's hint if it gave one, else
    /// exponential backoff with "equal jitter" (half fixed, half random), capped.
    pub(crate) fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            return hint;
        }
        let exponential = self
            .initial_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = exponential / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// `limit` after `start`, capped at a century: a longer limit (`Duration::MAX` for "no limit")
/// would overflow `Instant` and panic.
pub(crate) fn deadline(start: Instant, limit: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    start + limit.min(CENTURY)
}

/// The service's `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds) or `Retry-After`
/// (seconds or an HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|t| t.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    reqwest::header::HeaderName::from_static(n),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_every_form_of_retry_after() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250"), ("retry-after", "9")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ms-retry-after-ms", "40")])),
            Some(Duration::from_millis(40))
        );
        let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(61));
        let wait = retry_after(&headers(&[("retry-after", &in_a_minute)])).unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(61),
            "{wait:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backs_off_exponentially_with_jitter_and_caps() {
        let options = RetryOptions::default()
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_millis(350));
        for _ in 0..100 {
            let first = options.delay(1, None);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let second = options.delay(2, None);
            assert!(
                second >= Duration::from_millis(100) && second <= Duration::from_millis(200),
                "{second:?}"
            );
            let capped = options.delay(30, None);
            assert!(
                capped >= Duration::from_millis(175) && capped <= Duration::from_millis(350),
                "{capped:?}"
            );
        }
        assert_eq!(
            options.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2),
            "the service's hint wins"
        );
        assert_eq!(RetryOptions::disabled().max_attempts(), 1);
    }
}
