//! The crate's one error type, and everything that turns a failure into it.
//!
//! - `service`: reading the service's error answers, and the advice a message carries;
//! - `codes`: the service's numeric error codes and their names;
//! - `convert`: progenitor's and reqwest's failures as an [`Error`].

mod codes;
mod convert;
mod service;

use std::{any::Any, fmt, time::Duration};

pub use service::ServiceError;

pub(crate) use convert::from_generated;

use service::service_message;

/// The statuses that say "try again later": timeout, throttling and server failures. The one
/// list both [`Error::is_transient`] and the retry decision read.
pub(crate) const TRANSIENT_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// A boxed error kept as the [`source`](std::error::Error::source) of an [`Error`].
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong with a call or with building a client.
///
/// Match on [`kind`](Error::kind), or use the `is_*` helpers. When the service answered, its
/// status, error code, message and tracking id are in [`service_error`](Error::service_error).
/// What belongs to one kind of failure travels as its [`detail`](Error::detail): the job a
/// wait last saw ([`WaitFailure`](crate::WaitFailure)), the connection string's problem
/// ([`ConnectionStringError`](crate::auth::ConnectionStringError)). No variant ever carries a
/// key, token or signature.
pub struct Error(Box<Details>);

/// Boxed so that `Result<T, Error>` stays one pointer wide on the happy path.
struct Details {
    kind: ErrorKind,
    message: String,
    service: Option<ServiceError>,
    request_id: Option<String>,
    attempts: u32,
    retry_after: Option<Duration>,
    detail: Option<Detail>,
    source: Option<Source>,
}

/// Typed data about one kind of failure, and its type's name for `Debug`.
struct Detail {
    value: Box<dyn Any + Send + Sync>,
    type_name: &'static str,
}

/// What was not found, for [`Error::not_found`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotFound {
    /// The job the call names (`JobNotFound`, numerically `404002`).
    Job,
    /// The device the call names (`DeviceNotFound`, numerically `404001`).
    Device,
    /// Nothing is served at the request's path (`404` with `NotFound`, another code or none):
    /// usually a wrong base URL given to
    /// [`JobsClientOptions::with_endpoint`](crate::JobsClientOptions::with_endpoint).
    Route,
}

/// The category of an [`Error`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The job id breaks the service's rules; nothing was sent.
    InvalidJobId,
    /// A new job's settings cannot work (no query condition, no twin changes, a payload over
    /// 128 KB, …); nothing was sent.
    InvalidJobRequest,
    /// A query condition cannot be sent: empty, a whole `SELECT …` where only the `WHERE` part
    /// belongs, an unclosed quote or bracket, over the size limit, a device id the service's
    /// rule refuses, or a name or value a query cannot hold; nothing was sent. The message
    /// names the problem.
    InvalidCondition,
    /// The connection string cannot be used; nothing was sent. The
    /// [`ConnectionStringError`](crate::auth::ConnectionStringError) detail says why.
    InvalidConnectionString,
    /// A host name, endpoint, timeout or other option cannot work; nothing was sent.
    InvalidConfiguration,
    /// The credential could not produce an `Authorization` header.
    Credential,
    /// The service answered with an error status; see [`Error::service_error`].
    Service,
    /// The request could not be sent or its answer not read: connection refused or reset,
    /// DNS, TLS, or a timeout.
    Transport,
    /// The service answered `200` with a body that is not a valid response, or with a status
    /// the API does not describe (a redirect, say), or paged a listing in a way that would
    /// never end (a continuation token handed out twice, a long run of empty pages).
    InvalidResponse,
    /// A wait for a job ended without the state it waited for: the job failed, was cancelled,
    /// ran before it could be cancelled, or did not settle within the wait's timeout. The
    /// [`WaitFailure`](crate::WaitFailure) detail says which, with the job as last seen.
    Wait,
    /// A fleet operation found a job under the id it needs that does other work (another type,
    /// condition, twin patch, method, payload or timeouts), so it neither adopted that job nor
    /// reported its devices as its own. The [`ConflictingJob`](crate::ConflictingJob) detail
    /// names the job and what differs.
    ConflictingJob,
    /// The answer is larger than the configured cap
    /// ([`JobsClientOptions::with_max_response_bytes`](crate::JobsClientOptions::with_max_response_bytes)).
    ResponseTooLarge,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            kind,
            message: message.into(),
            service: None,
            request_id: None,
            attempts: 0,
            retry_after: None,
            detail: None,
            source: None,
        }))
    }

    /// An error from a [`Credential`](crate::auth::Credential) implementation: `message` says what
    /// failed and must not contain secrets; `source`, if any, is kept as the cause.
    pub fn credential(message: impl Into<String>, source: Option<Source>) -> Self {
        let mut error = Self::new(ErrorKind::Credential, message);
        error.0.source = source;
        error
    }

    pub(crate) fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    pub(crate) fn with_request_id(mut self, request_id: &str) -> Self {
        self.0.request_id = Some(request_id.to_owned());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.0.retry_after = retry_after;
        self
    }

    pub(crate) fn with_detail<T: Any + Send + Sync>(mut self, detail: T) -> Self {
        self.0.detail = Some(Detail {
            value: Box::new(detail),
            type_name: std::any::type_name::<T>(),
        });
        self
    }

    pub(crate) fn service(service: ServiceError) -> Self {
        let message = service_message(&service);
        let mut error = Self::new(ErrorKind::Service, message);
        error.0.service = Some(service);
        error
    }

    /// The category of the error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The service's answer, when the error is an error status from the service.
    pub fn service_error(&self) -> Option<&ServiceError> {
        self.0.service.as_ref()
    }

    /// The HTTP status the service answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        self.0.service.as_ref().map(|s| s.status)
    }

    /// The IoT Hub error code name (`JobNotFound`, `IotHubUnauthorizedAccess`, …), if the
    /// service gave one.
    pub fn code(&self) -> Option<&str> {
        self.0.service.as_ref()?.code.as_deref()
    }

    /// The `x-ms-client-request-id` this crate sent with the failed request, for correlating
    /// with service-side logs.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// Typed data about this kind of failure, if it has data of type `T`: a
    /// [`WaitFailure`](crate::WaitFailure) for [`ErrorKind::Wait`] (`WaitFailure<JobResponse>`
    /// or `WaitFailure<JobProperties>`, by the kind of job), a
    /// [`ConnectionStringError`](crate::auth::ConnectionStringError) for
    /// [`ErrorKind::InvalidConnectionString`].
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) {
    /// use iothub_jobs::{JobResponse, WaitFailure};
    ///
    /// if let Err(error) = client.wait_for_job("nightly-reboot", Default::default()).await {
    ///     if let Some(wait) = error.detail::<WaitFailure<JobResponse>>() {
    ///         eprintln!("{:?}; last seen: {:?}", wait.end, wait.job.as_ref().and_then(|j| j.status.as_ref()));
    ///     }
    /// }
    /// # }
    /// ```
    pub fn detail<T: Any>(&self) -> Option<&T> {
        self.0.detail.as_ref()?.value.downcast_ref()
    }

    /// How many attempts were made (0 when the call was refused before any, such as for an
    /// invalid job id). An attempt whose credential failed sent nothing.
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// How long the service asked callers to wait (`Retry-After`, `retry-after-ms`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// What the service did not find, when it answered that something is missing: the job,
    /// the device, or nothing at the request's path (a wrong endpoint).
    pub fn not_found(&self) -> Option<NotFound> {
        let service = self.0.service.as_ref()?;
        if service.is_job_not_found() {
            Some(NotFound::Job)
        } else if service.is_device_not_found() {
            Some(NotFound::Device)
        } else if service.status == 404 {
            Some(NotFound::Route)
        } else {
            None
        }
    }

    /// The job or device the call names does not exist ([`NotFound::Job`] or
    /// [`NotFound::Device`]; [`not_found`](Self::not_found) says which).
    ///
    /// A `404` for a path the endpoint does not serve ([`NotFound::Route`]) is not a missing
    /// job: usually a wrong base URL given to
    /// [`JobsClientOptions::with_endpoint`](crate::JobsClientOptions::with_endpoint), and the
    /// error's message says so.
    pub fn is_not_found(&self) -> bool {
        matches!(self.not_found(), Some(NotFound::Job | NotFound::Device))
    }

    /// The request was not authorized: wrong key or policy, expired or malformed token (`401`).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// The service is throttling this hub (`429`).
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// The job is in a state that does not allow the operation, such as cancelling a running
    /// job (`OperationNotAllowedInCurrentState`).
    pub fn is_operation_not_allowed(&self) -> bool {
        self.code() == Some("OperationNotAllowedInCurrentState")
    }

    /// The hub already runs an import or export job (`403 JobQuotaExceeded`): it runs one at a
    /// time, whatever its tier. Not retried unless the client waits for job slots
    /// ([`JobsClientOptions::with_job_slot_wait`](crate::JobsClientOptions::with_job_slot_wait)),
    /// since the running job may take many minutes: wait for it
    /// ([`JobsClient::wait_for_import_export_job`](crate::JobsClient::wait_for_import_export_job),
    /// after [`JobsClient::list_import_export_jobs`](crate::JobsClient::list_import_export_jobs)
    /// to find it), then start this one again.
    pub fn is_job_quota_exceeded(&self) -> bool {
        self.0
            .service
            .as_ref()
            .is_some_and(ServiceError::is_job_quota_exceeded)
    }

    /// The hub already runs as many jobs as it allows, and did nothing with this one: `429
    /// ThrottlingMaxActiveJobCountExceeded` (scheduled jobs: 1 on the Free and S1 tiers, 5 on
    /// S2, 10 on S3) or `403 JobQuotaExceeded` (one import or export job at a time). Creating
    /// it again once a job ends succeeds; a client can wait for that itself
    /// ([`JobsClientOptions::with_job_slot_wait`](crate::JobsClientOptions::with_job_slot_wait)).
    pub fn is_job_limit_reached(&self) -> bool {
        self.0.service.as_ref().is_some_and(|service| {
            service.is_max_active_jobs_exceeded() || service.is_job_quota_exceeded()
        })
    }

    /// A fleet operation (a rollout's wave, a re-run) found another job's work under the id it
    /// needs ([`ErrorKind::ConflictingJob`]); the [`ConflictingJob`](crate::ConflictingJob)
    /// detail says what differs.
    pub fn is_conflicting_job(&self) -> bool {
        self.0.kind == ErrorKind::ConflictingJob
    }

    /// Trying the same call again later may succeed: throttling, a server-side failure, a
    /// timeout or a broken connection.
    pub fn is_transient(&self) -> bool {
        match self.0.kind {
            ErrorKind::Transport => true,
            ErrorKind::Service => self
                .status()
                .is_some_and(|status| TRANSIENT_STATUSES.contains(&status)),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)?;
        if let Some(tracking_id) = self
            .0
            .service
            .as_ref()
            .and_then(|s| s.tracking_id.as_deref())
        {
            write!(f, "; tracking id {tracking_id}")?;
        }
        if let Some(request_id) = &self.0.request_id {
            write!(f, "; request id {request_id}")?;
        }
        if self.0.attempts > 1 {
            write!(f, "; after {} attempts", self.0.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("service", &self.0.service)
            .field("request_id", &self.0.request_id)
            .field("attempts", &self.0.attempts)
            .field("retry_after", &self.0.retry_after)
            .field("detail", &self.0.detail.as_ref().map(|d| d.type_name))
            .field("source", &self.0.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_kind_message_and_detail_type() {
        let error = Error::new(ErrorKind::Wait, "job \"j\" failed: no reason given")
            .with_detail(7_u32)
            .with_attempts(2);
        let shown = format!("{error:?}");
        for part in [
            "kind: Wait",
            r#"message: "job \"j\" failed"#,
            "attempts: 2",
            r#"detail: Some("u32")"#,
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        assert_eq!(error.detail::<u32>(), Some(&7));
        assert_eq!(error.detail::<u64>(), None);
    }

    #[test]
    fn classifies_statuses() {
        let of = |status| Error::service(ServiceError::parse(status, None, b""));
        let job_not_found = Error::service(ServiceError::parse(404, Some("JobNotFound"), b""));
        assert!(job_not_found.is_not_found() && !job_not_found.is_transient());
        let by_number = br#"{"errorCode":404002,"trackingId":"t","message":"m"}"#;
        assert!(Error::service(ServiceError::parse(404, None, by_number)).is_not_found());
        assert_eq!(job_not_found.not_found(), Some(NotFound::Job));
        for route in [
            ServiceError::parse(404, Some("NotFound"), b""),
            ServiceError::parse(404, None, b"<html>Not Found</html>"),
        ] {
            let route = Error::service(route);
            assert!(!route.is_not_found());
            assert_eq!(route.not_found(), Some(NotFound::Route));
        }
        let device = Error::service(ServiceError::parse(404, Some("DeviceNotFound"), b""));
        assert!(device.is_not_found());
        assert_eq!(device.not_found(), Some(NotFound::Device));
        assert_eq!(of(400).not_found(), None);
        assert!(of(404).to_string().contains("with_endpoint"), "{}", of(404));
        let quota = Error::service(ServiceError::parse(
            403,
            None,
            br#"{"Message":"ErrorCode:JobQuotaExceeded;Job quota has been exceeded","ExceptionMessage":""}"#,
        ));
        assert!(quota.is_job_quota_exceeded() && !quota.is_transient());
        assert!(
            quota
                .to_string()
                .contains("one import or export job at a time"),
            "{quota}"
        );
        let by_number = br#"{"errorCode":403003,"trackingId":"t","message":"m"}"#;
        assert!(Error::service(ServiceError::parse(403, None, by_number)).is_job_quota_exceeded());
        assert!(!of(403).is_job_quota_exceeded() && !of(429).is_job_quota_exceeded());
        assert!(
            of(403).to_string().contains("lacks the permission"),
            "{}",
            of(403)
        );
        assert!(of(429).is_throttled() && of(429).is_transient());
        assert!(of(503).is_transient() && of(408).is_transient());
        assert!(of(401).is_unauthorized() && !of(401).is_transient());
        assert!(!of(400).is_transient());
    }
}
