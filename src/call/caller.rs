//! Running one operation: a request id, the credential's header, attempts bounded by their
//! timeouts, the retry decision ([`RetryOptions::decide`]) between them, a span, and our error
//! type. Every operation goes through [`Caller::call`].

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use progenitor_client::{Error as GeneratedError, ResponseValue};
use reqwest::header::HeaderValue;
use tracing::Instrument as _;

use crate::{
    API_VERSION, Error, ErrorKind,
    auth::Credential,
    call::error,
    call::hooks::{self, CallContext},
    call::retry::{Decision, FailedAttempt, Replay, RetryOptions},
    call::util,
    generated::Client,
};

/// The generated client with what every call needs around it.
pub(crate) struct Caller {
    pub generated: Client,
    pub credential: Arc<dyn Credential>,
    pub retry: RetryOptions,
    /// How long one attempt may take, from asking the credential for a token to the last
    /// byte of the answer.
    pub request_timeout: Duration,
}

impl Caller {
    /// Runs the operation `send` makes, for `job_id` (empty for listings), as many times as
    /// `replay` and the retry policy allow, within the total timeout.
    pub async fn call<'a, T, F>(
        &'a self,
        operation: &'static str,
        job_id: &str,
        replay: Replay,
        send: impl Fn(&'a Client) -> F,
    ) -> Result<ResponseValue<T>, Error>
    where
        F: Future<Output = Result<ResponseValue<T>, GeneratedError<()>>>,
    {
        let uuid = util::random_uuid();
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        let request_id: &str = uuid.hyphenated().encode_lower(&mut text);
        let span = tracing::info_span!(
            "iothub_jobs",
            operation,
            job_id,
            api_version = API_VERSION,
            request_id = %request_id,
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        let header = HeaderValue::from_str(request_id).expect("a UUID is a valid header value");
        let started = Instant::now();
        let deadline = util::deadline(started, self.retry.total_timeout());
        let outcome = self
            .attempts(&header, deadline, replay, &span, &send)
            .instrument(span.clone())
            .await;
        span.record("elapsed_ms", started.elapsed().as_millis() as u64);
        let _entered = span.enter();
        match &outcome {
            Ok(_) => tracing::debug!("call succeeded"),
            Err(error) => tracing::debug!(%error, "call failed"),
        }
        outcome.map_err(|error| error.with_request_id(request_id))
    }

    /// Attempts until one succeeds or the retry decision says stop.
    async fn attempts<'a, T, F>(
        &'a self,
        request_id: &HeaderValue,
        deadline: Instant,
        replay: Replay,
        span: &tracing::Span,
        send: &impl Fn(&'a Client) -> F,
    ) -> Result<ResponseValue<T>, Error>
    where
        F: Future<Output = Result<ResponseValue<T>, GeneratedError<()>>>,
    {
        let mut token_refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            span.record("attempt", attempt);
            let error = match self.attempt(request_id.clone(), deadline, send).await {
                Ok(value) => return Ok(value),
                Err(error) => error.with_attempts(attempt),
            };
            if let Some(status) = error.status() {
                span.record("status", status);
            }
            let failed = FailedAttempt {
                attempt,
                status: error.status(),
                transport: *error.kind() == ErrorKind::Transport,
                retry_after: error.retry_after(),
                token_refreshed,
                time_left: deadline.saturating_duration_since(Instant::now()),
                jitter: fastrand::f64(),
            };
            match self.retry.decide(replay, &failed) {
                Decision::RetryWithFreshToken if self.credential.invalidate() => {
                    token_refreshed = true;
                    tracing::info!(attempt, reason = %error, "retrying with a fresh token");
                }
                Decision::RetryAfter(delay) => {
                    tracing::warn!(attempt, reason = %error, delay_ms = delay.as_millis() as u64, "retrying");
                    tokio::time::sleep(delay).await;
                }
                Decision::RetryWithFreshToken => {
                    tracing::debug!(attempt, "not retrying: the credential cannot renew");
                    return Err(error);
                }
                Decision::Stop(why) => {
                    tracing::debug!(attempt, %why, "not retrying");
                    return Err(error);
                }
            }
        }
    }

    /// One attempt, bounded as a whole by one timer.
    async fn attempt<'a, T, F>(
        &'a self,
        request_id: HeaderValue,
        deadline: Instant,
        send: &impl Fn(&'a Client) -> F,
    ) -> Result<ResponseValue<T>, Error>
    where
        F: Future<Output = Result<ResponseValue<T>, GeneratedError<()>>>,
    {
        // One timer per attempt bounds it all, the credential and error bodies included: the
        // per-attempt timeout, or what is left of the call's when that comes first. (reqwest's
        // own timeout would cost a second, boxed timer per request.)
        let remaining = deadline.saturating_duration_since(Instant::now());
        let call_deadline_first = remaining < self.request_timeout;
        let attempt = async {
            let context = CallContext {
                authorization: self.credential.authorization().await?,
                request_id,
            };
            match hooks::with_context(context, send(&self.generated)).await {
                Ok(response) => Ok(response),
                Err(failure) => Err(error::from_generated(
                    failure,
                    self.generated.inner.max_response_bytes,
                )
                .await),
            }
        };
        match tokio::time::timeout(remaining.min(self.request_timeout), attempt).await {
            Ok(result) => result,
            Err(_) if call_deadline_first => Err(Error::new(
                ErrorKind::Transport,
                format!(
                    "the call did not finish within its total timeout of {:?} (RetryOptions::with_total_timeout)",
                    self.retry.total_timeout()
                ),
            )),
            Err(_) => Err(Error::new(
                ErrorKind::Transport,
                format!(
                    "the request timed out after {:?} (JobsClientOptions::with_request_timeout)",
                    self.request_timeout
                ),
            )),
        }
    }
}
