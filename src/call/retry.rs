//! Whether and when to try a call again: the policy ([`RetryOptions`]) and the decision, one
//! pure function ([`RetryOptions::decide`]) that the call path follows after every failed
//! attempt.

use std::time::Duration;

use crate::call::error::TRANSIENT_STATUSES;

/// The statuses that say the service turned a request away without acting on it: the only
/// ones after which a request that may not be replayed (a create) is sent again.
const REJECTED_STATUSES: [u16; 2] = [429, 503];

/// How a client retries transient failures: throttling (`429`), server errors (`500`, `502`,
/// `503`, `504`), `408`, and failures to connect, read or finish in time. No other status is
/// retried, and a create only after `429` or `503`. Waits grow exponentially with jitter, and
/// follow the service's `Retry-After` / `retry-after-ms` when it sends one. Start from
/// `RetryOptions::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryOptions {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    total_timeout: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            initial_delay: Self::DEFAULT_INITIAL_DELAY,
            max_delay: Self::DEFAULT_MAX_DELAY,
            total_timeout: Self::DEFAULT_TOTAL_TIMEOUT,
        }
    }
}

impl RetryOptions {
    /// Attempts per call, the first included, unless configured otherwise.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
    /// The first wait before a retry (before jitter) unless configured otherwise; each next
    /// wait doubles.
    pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(800);
    /// The longest single wait unless configured otherwise.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
    /// How long a call may take in all, retries and waits included, unless configured otherwise.
    pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(100);

    /// One attempt per call, no retries.
    pub fn disabled() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Attempts per call, the first included (default [`Self::DEFAULT_MAX_ATTEMPTS`]; at
    /// least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first wait (default [`Self::DEFAULT_INITIAL_DELAY`]); later waits double, up to
    /// [`with_max_delay`](Self::with_max_delay).
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest backoff wait (default [`Self::DEFAULT_MAX_DELAY`]). The service's
    /// `Retry-After` is followed as given, as long as it ends within the total timeout.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The bound on a whole call, attempts and waits included (default
    /// [`Self::DEFAULT_TOTAL_TIMEOUT`]). A wait that would end past it is not started. Zero is
    /// refused when the client is built.
    pub fn with_total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    pub(crate) fn total_timeout(&self) -> Duration {
        self.total_timeout
    }

    /// What to do after `failed`: the whole retry policy in one place.
    ///
    /// In order: a first `401` is retried at once with a fresh token (a rotated key or a skewed
    /// clock); otherwise only what `replay` allows is retried, within the attempts and the time
    /// left, after the service's `Retry-After` or else an exponential backoff with jitter.
    pub(crate) fn decide(&self, replay: Replay, failed: &FailedAttempt) -> Decision {
        if failed.status == Some(401) && !failed.token_refreshed {
            return Decision::RetryWithFreshToken;
        }
        let retryable = match replay {
            Replay::Always => {
                failed.transport
                    || failed
                        .status
                        .is_some_and(|s| TRANSIENT_STATUSES.contains(&s))
            }
            Replay::IfRejected => failed
                .status
                .is_some_and(|s| REJECTED_STATUSES.contains(&s)),
        };
        if !retryable {
            return Decision::Stop(match replay {
                Replay::Always => Stop::NotTransient,
                Replay::IfRejected => Stop::MayHaveTakenEffect,
            });
        }
        if failed.attempt >= self.max_attempts {
            return Decision::Stop(Stop::AttemptsUsedUp);
        }
        let delay = failed
            .retry_after
            .unwrap_or_else(|| self.backoff(failed.attempt, failed.jitter));
        // Compared as durations: a service's Retry-After can be too large to add to an Instant.
        if delay >= failed.time_left {
            return Decision::Stop(Stop::OutOfTime);
        }
        Decision::RetryAfter(delay)
    }

    /// The backoff before attempt `attempt + 1`: exponential, capped, with "equal jitter" (half
    /// fixed, half scaled by `jitter` in `0.0..1.0`).
    fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponential = self
            .initial_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = exponential / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Whether a request may be sent again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Sending it twice does what sending it once does (get, cancel, query): retry every
    /// transient failure.
    Always,
    /// It may have taken effect even if no answer came (create): retry only answers that say
    /// the service turned it away (429, 503).
    IfRejected,
}

/// What the retry decision needs to know about a failed attempt.
#[derive(Clone, Debug)]
pub(crate) struct FailedAttempt {
    /// Which attempt failed, from 1.
    pub attempt: u32,
    /// The service's status, if it answered.
    pub status: Option<u16>,
    /// Nothing came back: the connection failed or broke, or the attempt timed out.
    pub transport: bool,
    /// How long the service asked callers to wait.
    pub retry_after: Option<Duration>,
    /// A fresh token was already tried after a `401`.
    pub token_refreshed: bool,
    /// What is left of the call's total timeout.
    pub time_left: Duration,
    /// A random number in `0.0..1.0` that spreads the backoff of many clients.
    pub jitter: f64,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Decision {
    /// Send again after this wait.
    RetryAfter(Duration),
    /// Drop the cached token and send again now, once.
    RetryWithFreshToken,
    /// Report the failure.
    Stop(Stop),
}

/// Why a failure is reported rather than retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Trying again would fail the same way.
    NotTransient,
    /// The request may have taken effect; sending it again could act twice.
    MayHaveTakenEffect,
    /// The configured attempts are used up.
    AttemptsUsedUp,
    /// The wait would end past the call's total timeout.
    OutOfTime,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotTransient => "the failure is not transient",
            Self::MayHaveTakenEffect => "the request may have taken effect",
            Self::AttemptsUsedUp => "the attempts are used up",
            Self::OutOfTime => "the wait would end past the total timeout",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> RetryOptions {
        RetryOptions::default()
            .with_max_attempts(4)
            .with_initial_delay(100 * MS)
            .with_max_delay(350 * MS)
    }

    /// Attempt 1 failed with `status` (or, with `None`, on the way there), plenty of time left,
    /// no jitter.
    fn failed(status: Option<u16>) -> FailedAttempt {
        FailedAttempt {
            attempt: 1,
            status,
            transport: status.is_none(),
            retry_after: None,
            token_refreshed: false,
            time_left: Duration::from_secs(60),
            jitter: 0.0,
        }
    }

    #[test]
    fn each_reason_to_stop_says_what_it_is() {
        for (stop, text) in [
            (Stop::NotTransient, "the failure is not transient"),
            (
                Stop::MayHaveTakenEffect,
                "the request may have taken effect",
            ),
            (Stop::AttemptsUsedUp, "the attempts are used up"),
            (Stop::OutOfTime, "the wait would end past the total timeout"),
        ] {
            assert_eq!(stop.to_string(), text);
        }
    }

    #[test]
    fn backs_off_exponentially_with_equal_jitter_and_caps() {
        let policy = policy();
        for (attempt, jitter, expected) in [
            (1, 0.0, 50 * MS),
            (1, 0.5, 75 * MS),
            (1, 1.0, 100 * MS),
            (2, 0.0, 100 * MS),
            (2, 0.5, 150 * MS),
            (3, 0.0, 175 * MS), // 400 ms capped at 350
            (30, 1.0, 350 * MS),
        ] {
            assert_eq!(
                policy.backoff(attempt, jitter),
                expected,
                "{attempt} {jitter}"
            );
        }
    }

    #[test]
    fn every_transient_status_and_transport_failure_is_retried_when_replay_is_safe() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                policy().decide(Replay::Always, &failed(Some(status))),
                Decision::RetryAfter(50 * MS),
                "{status}"
            );
        }
        assert_eq!(
            policy().decide(Replay::Always, &failed(None)),
            Decision::RetryAfter(50 * MS)
        );
    }

    #[test]
    fn other_statuses_are_never_retried() {
        for status in [400, 403, 404, 409, 411, 412, 413, 501, 505] {
            for replay in [Replay::Always, Replay::IfRejected] {
                assert!(
                    matches!(
                        policy().decide(replay, &failed(Some(status))),
                        Decision::Stop(Stop::NotTransient | Stop::MayHaveTakenEffect)
                    ),
                    "{status} {replay:?}"
                );
            }
        }
    }

    #[test]
    fn a_request_that_may_have_taken_effect_is_retried_only_when_turned_away() {
        for status in [429, 503] {
            assert_eq!(
                policy().decide(Replay::IfRejected, &failed(Some(status))),
                Decision::RetryAfter(50 * MS),
                "{status}"
            );
        }
        for status in [Some(408), Some(500), Some(502), Some(504), None] {
            assert_eq!(
                policy().decide(Replay::IfRejected, &failed(status)),
                Decision::Stop(Stop::MayHaveTakenEffect),
                "{status:?}"
            );
        }
    }

    #[test]
    fn the_last_attempt_is_reported() {
        let last = FailedAttempt {
            attempt: 4,
            ..failed(Some(503))
        };
        assert_eq!(
            policy().decide(Replay::Always, &last),
            Decision::Stop(Stop::AttemptsUsedUp)
        );
        let third = FailedAttempt {
            attempt: 3,
            ..failed(Some(503))
        };
        assert!(matches!(
            policy().decide(Replay::Always, &third),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            RetryOptions::disabled().decide(Replay::Always, &failed(Some(503))),
            Decision::Stop(Stop::AttemptsUsedUp)
        );
    }

    #[test]
    fn the_service_hint_wins_unless_it_ends_past_the_deadline() {
        let hinted = FailedAttempt {
            retry_after: Some(Duration::from_secs(2)),
            ..failed(Some(429))
        };
        assert_eq!(
            policy().decide(Replay::Always, &hinted),
            Decision::RetryAfter(Duration::from_secs(2)),
            "followed as given, above the backoff cap"
        );
        let too_late = FailedAttempt {
            time_left: Duration::from_secs(2),
            ..hinted.clone()
        };
        assert_eq!(
            policy().decide(Replay::Always, &too_late),
            Decision::Stop(Stop::OutOfTime)
        );
        let huge = FailedAttempt {
            retry_after: Some(Duration::MAX),
            ..hinted
        };
        assert_eq!(
            policy().decide(Replay::Always, &huge),
            Decision::Stop(Stop::OutOfTime)
        );
        let backoff_too_late = FailedAttempt {
            time_left: 40 * MS,
            ..failed(Some(503))
        };
        assert_eq!(
            policy().decide(Replay::Always, &backoff_too_late),
            Decision::Stop(Stop::OutOfTime)
        );
    }

    #[test]
    fn a_401_gets_one_fresh_token_whatever_else_applies() {
        for replay in [Replay::Always, Replay::IfRejected] {
            for attempt in [1, 4, 9] {
                let unauthorized = FailedAttempt {
                    attempt,
                    ..failed(Some(401))
                };
                assert_eq!(
                    policy().decide(replay, &unauthorized),
                    Decision::RetryWithFreshToken,
                    "{replay:?} attempt {attempt}"
                );
                let again = FailedAttempt {
                    token_refreshed: true,
                    ..unauthorized
                };
                assert!(
                    matches!(policy().decide(replay, &again), Decision::Stop(_)),
                    "{replay:?} attempt {attempt}"
                );
            }
        }
    }
}
