//! What happens on the wire for every call, in one place: headers, retries, timeouts, the
//! response size cap, tracing and error mapping.
//!
//! The generated code builds each request; our [`ClientHooks`] impl adds the headers
//! ([`ClientHooks::pre`]) and caps the response body ([`ClientHooks::exec`]). Per-call values
//! (the credential's header, the request id) are resolved by [`Transport::attempt`], within
//! the attempt's timeout and so that their errors stay typed, and reach the hook through the
//! task-local [`CallContext`].

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use progenitor_client::{
    ClientHooks, ClientInfo, Error as GeneratedError, OperationInfo, ResponseValue,
};
use reqwest::{
    Method,
    header::{AUTHORIZATION, CONTENT_LENGTH, HeaderName, HeaderValue, USER_AGENT},
};
use tracing::Instrument as _;

use crate::{
    API_VERSION, Error, ErrorKind, ServiceError,
    auth::{Authorization, Credential},
    generated::Client,
    retry::{self, RetryOptions, retry_after},
};

/// The request id header the service echoes back and logs.
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");

/// The generated client's inner state: what is the same for every request.
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub user_agent: HeaderValue,
    pub max_response_bytes: usize,
}

/// The headers that change with every attempt.
struct CallContext {
    authorization: Authorization,
    request_id: HeaderValue,
}

tokio::task_local! {
    static CALL: CallContext;
}

impl ClientHooks<Pipeline> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), GeneratedError<E>> {
        let needs_length =
            request.body().is_none() && matches!(*request.method(), Method::POST | Method::PUT);
        let headers = request.headers_mut();
        CALL.try_with(|call| {
            headers.insert(AUTHORIZATION, call.authorization.header_value().clone());
            headers.insert(CLIENT_REQUEST_ID, call.request_id.clone());
        })
        .map_err(|_| {
            GeneratedError::Custom(format!(
                "{} was called outside Transport::call",
                info.operation_id
            ))
        })?;
        headers.insert(USER_AGENT, self.inner.user_agent.clone());
        // The service's front end answers 411 to a POST without a length, and reqwest sends
        // none for an empty body.
        if needs_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        // progenitor also sends `info.version` as an `api-version` header; the service reads
        // the query parameter only, and the wire should carry exactly what spec/ declares.
        headers.remove("api-version");
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let response = self.client().execute(request).await?;
        Ok(capped(response, self.inner.max_response_bytes))
    }
}

/// `response` with a body that fails, instead of growing, past `limit` bytes.
fn capped(response: reqwest::Response, limit: usize) -> reqwest::Response {
    // A declared length within the cap is enforced by hyper already: skip the re-wrapping,
    // which costs a URL parse and a boxed body on every call.
    if response
        .content_length()
        .is_some_and(|length| length <= limit as u64)
    {
        return response;
    }
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let body = reqwest::Body::wrap(http_body_util::Limited::new(body, limit));
    reqwest::Response::from(http::Response::from_parts(parts, body))
}

/// Whether a request may be sent again after a failure.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Replay {
    /// Sending it twice does what sending it once does (get, cancel, query): retry every
    /// transient failure.
    Always,
    /// It may have taken effect even if no answer came (create): retry only answers that say
    /// the service turned it away (429, 503).
    IfRejected,
}

pin_project_lite::pin_project! {
    /// A generated operation with its [`CallContext`] set for its first poll only.
    ///
    /// The generated code calls [`ClientHooks::pre`] before its first await, so the context is
    /// needed in that poll alone; a task-local scope around the whole future would swap it in and
    /// out on every poll. (A generated operation that awaited before `pre` would fail every call
    /// with "called outside Transport::call", which every test would show.)
    struct FirstPollScoped<F> {
        context: Option<CallContext>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for FirstPollScoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        match this.context.take() {
            Some(context) => CALL.sync_scope(context, || future.poll(cx)),
            None => future.poll(cx),
        }
    }
}

/// The generated client with what every call needs around it.
pub(crate) struct Transport {
    pub generated: Client,
    pub credential: Arc<dyn Credential>,
    pub retry: RetryOptions,
    /// How long one attempt may take, from asking the credential for a token to the last
    /// byte of the answer.
    pub request_timeout: Duration,
}

impl Transport {
    /// Runs one operation: a fresh request id, the credential's header, retries of transient
    /// failures within the total timeout, one retry with a fresh token after a 401, a span,
    /// and our error type. Every operation goes through here.
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
        // Unique, not secret: a fast non-cryptographic source spares a syscall per call.
        let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
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
        let deadline = retry::deadline(started, self.retry.total_timeout());
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
        let mut refreshed_after_401 = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            span.record("attempt", attempt);
            let result = self.attempt(request_id.clone(), deadline, send).await;
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error.with_attempts(attempt),
            };
            if let Some(status) = error.status() {
                span.record("status", status);
            }
            // A rejected token may be a rotated key or a skewed clock: get a fresh one, once.
            if error.is_unauthorized() && !refreshed_after_401 && self.credential.invalidate() {
                refreshed_after_401 = true;
                tracing::info!(attempt, reason = %error, "retrying with a fresh token");
                continue;
            }
            let retryable = match replay {
                Replay::Always => error.is_transient(),
                Replay::IfRejected => matches!(error.status(), Some(429 | 503)),
            };
            if !retryable || attempt >= self.retry.max_attempts() {
                return Err(error);
            }
            let delay = self.retry.delay(attempt, error.retry_after());
            // Compared as durations: a service's Retry-After can be too large to add to an Instant.
            if delay >= deadline.saturating_duration_since(Instant::now()) {
                return Err(error);
            }
            tracing::warn!(attempt, reason = %error, delay_ms = delay.as_millis() as u64, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

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
            let scoped = FirstPollScoped {
                context: Some(context),
                future: send(&self.generated),
            };
            match scoped.await {
                Ok(response) => Ok(response),
                Err(error) => Err(map_error(error, self.generated.inner.max_response_bytes).await),
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

/// Turns what the generated client returned into our error, reading the service's error body.
async fn map_error(error: GeneratedError<()>, limit: usize) -> Error {
    match error {
        GeneratedError::UnexpectedResponse(response) => {
            let status = response.status().as_u16();
            if (300..400).contains(&status) {
                // Redirects are not followed: the service does not send them, and a
                // followed redirect could carry the request, and its token, elsewhere.
                return Error::new(
                    ErrorKind::InvalidResponse,
                    format!("IoT Hub answered {status}, a redirect, which is not followed"),
                );
            }
            if status < 300 {
                return Error::new(
                    ErrorKind::InvalidResponse,
                    format!("IoT Hub answered {status}, which the API does not describe"),
                );
            }
            // Read before the body consumes the response.
            let code = response
                .headers()
                .get("iothub-errorcode")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let wait = retry_after(response.headers());
            match response.bytes().await {
                Ok(body) => Error::service(ServiceError::parse(status, code.as_deref(), &body))
                    .with_retry_after(wait),
                Err(e) => body_error(e, limit, &format!("the {status} answer")),
            }
        }
        GeneratedError::InvalidResponsePayload(_, e) => Error::new(
            ErrorKind::InvalidResponse,
            format!("the answer is not a valid response body: {e}"),
        )
        .with_source(e),
        GeneratedError::ResponseBodyError(e) => body_error(e, limit, "the answer"),
        GeneratedError::CommunicationError(e) | GeneratedError::InvalidUpgrade(e) => {
            transport_error(e)
        }
        GeneratedError::ErrorResponse(response) => {
            Error::service(ServiceError::parse(response.status().as_u16(), None, b""))
        }
        GeneratedError::InvalidRequest(message) | GeneratedError::Custom(message) => Error::new(
            ErrorKind::InvalidConfiguration,
            format!("the request could not be built: {message}"),
        ),
    }
}

/// A failure while reading a body: over the size cap, or a transport failure.
fn body_error(error: reqwest::Error, limit: usize, what: &str) -> Error {
    let over_limit = std::iter::successors(std::error::Error::source(&error), |e| e.source())
        .any(|cause| cause.is::<http_body_util::LengthLimitError>());
    if over_limit {
        return Error::new(
            ErrorKind::ResponseTooLarge,
            format!(
                "{what} is larger than the {limit}-byte limit (JobsClientOptions::with_max_response_bytes)"
            ),
        );
    }
    transport_error(error)
}

fn transport_error(error: reqwest::Error) -> Error {
    let what = if error.is_timeout() {
        "the request timed out"
    } else if error.is_connect() {
        "could not connect to the hub"
    } else {
        "the request failed"
    };
    Error::new(ErrorKind::Transport, format!("{what}: {}", causes(&error)))
        .with_source(error.without_url())
}

/// reqwest's causes without its URL, which the span already records.
fn causes(error: &reqwest::Error) -> String {
    let causes: Vec<String> =
        std::iter::successors(std::error::Error::source(error), |e| e.source())
            .map(ToString::to_string)
            .collect();
    if causes.is_empty() {
        "no details".to_owned()
    } else {
        causes.join(": ")
    }
}
