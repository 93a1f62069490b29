//! Waiting for a job to settle: the options, and a poller that takes what it needs as closures
//! (the first request, the next poll, when to stop) so it knows nothing of the client.

use std::time::{Duration, Instant};

use crate::{Error, retry};

/// How a wait polls, and for how long. Start from `WaitOptions::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitOptions {
    poll_interval: Duration,
    max_poll_interval: Duration,
    timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
            max_poll_interval: Self::DEFAULT_MAX_POLL_INTERVAL,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

impl WaitOptions {
    /// The first pause between polls unless configured otherwise.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);
    /// The longest pause between polls unless configured otherwise.
    pub const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);
    /// How long a wait lasts in all unless configured otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// The shortest pause between polls, whatever the options say: a zero interval would flood
    /// the service.
    pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

    /// The first pause between polls (default [`Self::DEFAULT_POLL_INTERVAL`]); each next one
    /// doubles, up to [`with_max_poll_interval`](Self::with_max_poll_interval). Pauses are
    /// never shorter than [`Self::MIN_POLL_INTERVAL`].
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest pause between polls (default [`Self::DEFAULT_MAX_POLL_INTERVAL`]).
    pub fn with_max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How long to wait in all, the requests included (default [`Self::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The configured timeout, for messages.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    fn first_pause(&self) -> Duration {
        self.poll_interval.max(Self::MIN_POLL_INTERVAL)
    }

    fn next_pause(&self, pause: Duration) -> Duration {
        pause
            .saturating_mul(2)
            .min(self.max_poll_interval)
            .max(Self::MIN_POLL_INTERVAL)
    }
}

/// How a wait ended.
pub(crate) enum Waited<J, S> {
    /// `settled` said `S` of the job, as last seen.
    Settled(J, S),
    /// The timeout passed; the job as last seen, if any answer came in time.
    TimedOut(Option<J>),
    /// A request failed.
    Failed(Error),
}

/// Asks `first`, then `poll`s with growing pauses until `settled` says something of the job,
/// all within `options`' timeout, requests included: a poll that stalls ends the wait too.
pub(crate) async fn until_settled<J, S, Fut>(
    options: &WaitOptions,
    first: impl Future<Output = Result<J, Error>>,
    mut poll: impl FnMut() -> Fut,
    mut settled: impl FnMut(&J) -> Option<S>,
) -> Waited<J, S>
where
    Fut: Future<Output = Result<J, Error>>,
{
    let deadline = retry::deadline(Instant::now(), options.timeout);
    let mut last_seen = None;
    let polled = tokio::time::timeout_at(deadline.into(), async {
        let mut job = first.await?;
        let mut pause = options.first_pause();
        loop {
            let verdict = settled(&job);
            last_seen = Some(job);
            if let Some(verdict) = verdict {
                return Ok(Some(verdict));
            }
            // A pause that would end past the deadline cannot be followed by a poll.
            if pause >= deadline.saturating_duration_since(Instant::now()) {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = options.next_pause(pause);
            job = poll().await?;
        }
    })
    .await;
    match (polled, last_seen) {
        (Ok(Err(error)), _) => Waited::Failed(error),
        (Ok(Ok(Some(verdict))), Some(job)) => Waited::Settled(job, verdict),
        // Out of time, sleeping or in a request.
        (_, job) => Waited::TimedOut(job),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_never_drop_below_the_floor() {
        let ms = Duration::from_millis;
        let options = WaitOptions::default()
            .with_poll_interval(ms(100))
            .with_max_poll_interval(ms(350));
        assert_eq!(options.first_pause(), ms(100));
        assert_eq!(options.next_pause(ms(100)), ms(200));
        assert_eq!(options.next_pause(ms(200)), ms(350));
        let zero = WaitOptions::default()
            .with_poll_interval(Duration::ZERO)
            .with_max_poll_interval(Duration::ZERO);
        assert_eq!(zero.first_pause(), WaitOptions::MIN_POLL_INTERVAL);
        assert_eq!(
            zero.next_pause(zero.first_pause()),
            WaitOptions::MIN_POLL_INTERVAL
        );
        let huge = WaitOptions::default().with_max_poll_interval(Duration::MAX);
        assert_eq!(huge.next_pause(Duration::MAX), Duration::MAX);
    }
}
