//! Waiting for a job to settle: the options, a watcher that takes what it needs as closures
//! (the first request, the next poll, what a state means) so it knows nothing of the client,
//! what "settled" means for either kind of job ([`Settling`]), and the [`WaitFailure`] an
//! unsettled wait ends with.

use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_util::StreamExt as _;

use crate::{
    Error, ErrorKind,
    call::util,
    models::{JobProperties, JobResponse, JobStatus},
};

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

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn first_pause(&self) -> Duration {
        self.poll_interval.max(Self::MIN_POLL_INTERVAL)
    }

    pub(crate) fn next_pause(&self, pause: Duration) -> Duration {
        pause
            .saturating_mul(2)
            .min(self.max_poll_interval)
            .max(Self::MIN_POLL_INTERVAL)
    }
}

/// What a watch concludes from one observed state.
pub(crate) enum Verdict {
    /// Not settled yet: poll again.
    Pending,
    /// Settled as hoped: the state is the last item.
    Done,
    /// Settled otherwise: this error, with the state attached, is the last item.
    Failed(Error),
}

/// Where a watch is.
struct Watch<F, P, V, T, J> {
    /// The job asked for: an answer about another one ends the watch.
    job_id: String,
    options: WaitOptions,
    deadline: Instant,
    first: Option<F>,
    poll: P,
    verdict: V,
    /// How a timeout reads, and the state last seen attached to it.
    timed_out: T,
    last_seen: Option<J>,
    pause: Duration,
    done: bool,
}

/// The states of `job_id` that `first` and then `poll` return, with growing pauses between
/// polls, until `verdict` settles one or `options`' timeout passes; every request is bounded
/// by that timeout too, so a stalled poll ends the watch. Yields each state as `Ok`; ends
/// after a [`Verdict::Done`] state, or with one `Err`: a failed request, an answer about
/// another job, a [`Verdict::Failed`], or `timed_out(last state seen)`.
pub(crate) fn watch<J, F, P, Fut>(
    job_id: String,
    options: WaitOptions,
    first: F,
    poll: P,
    verdict: impl FnMut(&J) -> Verdict,
    timed_out: impl Fn(Option<J>) -> Error,
) -> impl Stream<Item = Result<J, Error>>
where
    J: Settling,
    F: Future<Output = Result<J, Error>>,
    P: FnMut() -> Fut,
    Fut: Future<Output = Result<J, Error>>,
{
    let start = Watch {
        job_id,
        deadline: util::deadline(Instant::now(), options.timeout),
        pause: options.first_pause(),
        options,
        first: Some(first),
        poll,
        verdict,
        timed_out,
        last_seen: None,
        done: false,
    };
    futures_util::stream::unfold(start, |mut watch| async move {
        if watch.done {
            return None;
        }
        let deadline = tokio::time::Instant::from_std(watch.deadline);
        let answer = match watch.first.take() {
            Some(first) => tokio::time::timeout_at(deadline, first).await,
            None => {
                tokio::time::sleep(watch.pause).await;
                watch.pause = watch.options.next_pause(watch.pause);
                tokio::time::timeout_at(deadline, (watch.poll)()).await
            }
        };
        let item = match answer {
            Err(_elapsed) => Err((watch.timed_out)(watch.last_seen.take())),
            Ok(Err(error)) => Err(error),
            Ok(Ok(state)) => match another_job(&watch.job_id, &state)
                .map_or_else(|| (watch.verdict)(&state), Verdict::Failed)
            {
                Verdict::Done => {
                    watch.done = true;
                    return Some((Ok(state), watch));
                }
                Verdict::Failed(error) => Err(error),
                // A pause that would end past the deadline cannot be followed by a poll.
                Verdict::Pending
                    if watch.pause >= watch.deadline.saturating_duration_since(Instant::now()) =>
                {
                    Err((watch.timed_out)(Some(state)))
                }
                Verdict::Pending => {
                    watch.last_seen = Some(state.clone());
                    Ok(state)
                }
            },
        };
        watch.done = item.is_err();
        Some((item, watch))
    })
}

/// Why a wait ended without the state it waited for: the [`detail`](Error::detail) of an
/// [`ErrorKind::Wait`] error, as `WaitFailure<JobResponse>` for a scheduled job and
/// `WaitFailure<JobProperties>` for an import or export job.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WaitFailure<J> {
    /// How the wait ended.
    pub end: WaitEnd,
    /// The job as last seen; `None` if no answer came within the wait's timeout.
    pub job: Option<J>,
}

/// How a wait ended without the state it waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitEnd {
    /// The job failed; its `failure_reason` says why.
    Failed,
    /// The job was cancelled while the wait waited for it to complete.
    Cancelled,
    /// The job ran or finished before it could be cancelled
    /// ([`JobsClient::cancel_job_and_wait`](crate::JobsClient::cancel_job_and_wait)).
    NotCancelled,
    /// The job did not settle within the wait's timeout
    /// ([`WaitOptions::with_timeout`]).
    TimedOut,
}

/// The error that ends a wait `end`-wise, saying `message`, with `job` as its detail.
pub(crate) fn failure<J: Send + Sync + 'static>(
    end: WaitEnd,
    message: String,
    job: Option<J>,
) -> Error {
    Error::new(ErrorKind::Wait, message).with_detail(WaitFailure { end, job })
}

/// The error that ends a wait for `job_id` to `goal` without it, with the job as last seen.
pub(crate) fn timed_out<J: Send + Sync + 'static>(
    job_id: &str,
    goal: &str,
    options: &WaitOptions,
) -> impl Fn(Option<J>) -> Error + Send + use<J> {
    let message = format!(
        "job {job_id:?} did not {goal} within {:?} (WaitOptions::with_timeout)",
        options.timeout
    );
    move |job| failure(WaitEnd::TimedOut, message.clone(), job)
}

/// What a wait reads of a job, whichever kind.
pub(crate) trait Settling: Clone + Send + Sync + 'static {
    fn job_id(&self) -> Option<&str>;
    fn status(&self) -> Option<&JobStatus>;
    fn failure_reason(&self) -> Option<&str>;
}

/// Both kinds of job name these three fields alike.
macro_rules! settling {
    ($($job:ty),*) => {$(
        impl Settling for $job {
            fn job_id(&self) -> Option<&str> {
                self.job_id.as_deref()
            }

            fn status(&self) -> Option<&JobStatus> {
                self.status.as_ref()
            }

            fn failure_reason(&self) -> Option<&str> {
                self.failure_reason.as_deref()
            }
        }
    )*};
}

settling!(JobResponse, JobProperties);

/// The error for an answer about another job than `asked` for, if `job` is one: a wait must
/// never settle on someone else's job.
fn another_job<J: Settling>(asked: &str, job: &J) -> Option<Error> {
    let answered = job.job_id().filter(|answered| *answered != asked)?;
    Some(Error::new(
        ErrorKind::InvalidResponse,
        format!(
            "asked for job {asked:?}, the service answered with job {:?}; the wait stopped",
            util::bounded(answered, 128)
        ),
    ))
}

/// The longest failure reason an error's message repeats; the job itself keeps all of it.
const MAX_REASON_CHARS: usize = 500;

/// The states `get` reads of `job_id` until it completes; a job that fails or is cancelled,
/// and a wait that times out, end with an [`ErrorKind::Wait`] error, the job attached.
pub(crate) fn until_completed<J, G, Fut>(
    job_id: &str,
    options: WaitOptions,
    get: G,
) -> impl Stream<Item = Result<J, Error>> + Send + 'static
where
    J: Settling,
    G: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<J, Error>> + Send + 'static,
{
    let id = job_id.to_owned();
    let first = get();
    let timed_out = timed_out(&id, "finish", &options);
    let verdict = move |job: &J| {
        let failed = |end, what: &str| {
            let reason = util::bounded(
                job.failure_reason().unwrap_or("no reason given"),
                MAX_REASON_CHARS,
            );
            Verdict::Failed(failure(
                end,
                format!("job {id:?} {what}: {reason}"),
                Some(job.clone()),
            ))
        };
        match job.status() {
            Some(JobStatus::Completed) => Verdict::Done,
            Some(JobStatus::Failed) => failed(WaitEnd::Failed, "failed"),
            Some(JobStatus::Cancelled) => failed(WaitEnd::Cancelled, "was cancelled"),
            _ => Verdict::Pending,
        }
    };
    watch(job_id.to_owned(), options, first, get, verdict, timed_out)
}

/// The last item of a watch: the settled state, or the error that ended it.
pub(crate) async fn outcome<J>(watch: impl Stream<Item = Result<J, Error>>) -> Result<J, Error> {
    let mut watch = std::pin::pin!(watch);
    let mut last = None;
    while let Some(item) = watch.next().await {
        last = Some(item);
    }
    last.unwrap_or_else(|| {
        Err(Error::new(
            ErrorKind::InvalidResponse,
            "a watch ended without a state or an error",
        ))
    })
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
