//! The crate's one error type, and everything that turns a failure into it.
//!
//! - `service`: reading the service's error answers, and the advice a message carries;
//! - `codes`: the service's numeric error codes and their names;
//! - `convert`: progenitor's and reqwest's failures as an [`Error`].

mod codes;
mod convert;
mod service;

use std::{fmt, time::Duration};

pub use service::ServiceError;

pub(crate) use convert::from_generated;

use crate::{
    auth::ConnectionStringError,
    models::{JobProperties, JobResponse},
};
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
/// No variant ever carries a key, token or signature.
pub struct Error(Box<Details>);

/// Boxed so that `Result<T, Error>` stays one pointer wide on the happy path.
struct Details {
    kind: ErrorKind,
    message: String,
    service: Option<ServiceError>,
    request_id: Option<String>,
    attempts: u32,
    retry_after: Option<Duration>,
    job: Option<SeenJob>,
    source: Option<Source>,
}

/// A job as a wait last saw it, attached to the error that ended the wait.
#[derive(Debug)]
pub(crate) enum SeenJob {
    Scheduled(Box<JobResponse>),
    ImportExport(Box<JobProperties>),
}

impl From<JobResponse> for SeenJob {
    fn from(job: JobResponse) -> Self {
        Self::Scheduled(Box::new(job))
    }
}

impl From<JobProperties> for SeenJob {
    fn from(job: JobProperties) -> Self {
        Self::ImportExport(Box::new(job))
    }
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
    /// The connection string cannot be used; nothing was sent.
    InvalidConnectionString(ConnectionStringError),
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
    /// [`JobsClient::cancel_job_and_wait`](crate::JobsClient::cancel_job_and_wait): the job ran
    /// or finished before it could be cancelled; [`Error::job`] has it.
    NotCancelled,
    /// A wait ended because the job failed; [`Error::job`] has it, and
    /// [`Error::failure_reason`] says why.
    JobFailed,
    /// A wait for a job to complete ended because it was cancelled; [`Error::job`] has it.
    JobCancelled,
    /// A wait did not see the job settle within its timeout
    /// ([`WaitOptions::with_timeout`](crate::WaitOptions::with_timeout)); [`Error::job`] has it
    /// as last seen, if any answer came in time.
    WaitTimedOut,
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
            job: None,
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

    pub(crate) fn with_job(mut self, job: impl Into<SeenJob>) -> Self {
        self.0.job = Some(job.into());
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

    /// The scheduled job as last seen, for the errors that end a wait for one:
    /// [`ErrorKind::NotCancelled`], [`ErrorKind::JobFailed`], [`ErrorKind::JobCancelled`] and
    /// [`ErrorKind::WaitTimedOut`].
    pub fn job(&self) -> Option<&JobResponse> {
        match self.0.job.as_ref()? {
            SeenJob::Scheduled(job) => Some(job),
            SeenJob::ImportExport(_) => None,
        }
    }

    /// The import or export job as last seen, for the errors that end a wait for one
    /// ([`ErrorKind::JobFailed`], [`ErrorKind::JobCancelled`], [`ErrorKind::WaitTimedOut`]).
    /// Its `Debug` output keeps the containers' SAS tokens out.
    pub fn import_export_job(&self) -> Option<&JobProperties> {
        match self.0.job.as_ref()? {
            SeenJob::ImportExport(job) => Some(job),
            SeenJob::Scheduled(_) => None,
        }
    }

    /// Why the job failed, as the service reports it (`failureReason`), for
    /// [`ErrorKind::JobFailed`].
    pub fn failure_reason(&self) -> Option<&str> {
        match self.0.job.as_ref()? {
            SeenJob::Scheduled(job) => job.failure_reason.as_deref(),
            SeenJob::ImportExport(job) => job.failure_reason.as_deref(),
        }
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

    /// The job does not exist (`404` with error code `JobNotFound`, numerically `404002`).
    ///
    /// A `404` with another code is not a missing job: `NotFound` (or no code) means the
    /// endpoint does not serve the jobs API at that path, usually a wrong base URL given to
    /// [`JobsClientOptions::with_endpoint`](crate::JobsClientOptions::with_endpoint), and the
    /// error's message says so.
    pub fn is_not_found(&self) -> bool {
        self.0
            .service
            .as_ref()
            .is_some_and(ServiceError::is_job_not_found)
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
    /// time, whatever its tier. Not retried, since the running job may take many minutes: wait
    /// for it ([`JobsClient::wait_for_import_export_job`](crate::JobsClient::wait_for_import_export_job),
    /// after [`JobsClient::list_import_export_jobs`](crate::JobsClient::list_import_export_jobs)
    /// to find it), then start this one again.
    pub fn is_job_quota_exceeded(&self) -> bool {
        self.0
            .service
            .as_ref()
            .is_some_and(ServiceError::is_job_quota_exceeded)
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

impl From<ConnectionStringError> for Error {
    fn from(error: ConnectionStringError) -> Self {
        Self::new(
            ErrorKind::InvalidConnectionString(error.clone()),
            error.to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let of = |status| Error::service(ServiceError::parse(status, None, b""));
        let job_not_found = Error::service(ServiceError::parse(404, Some("JobNotFound"), b""));
        assert!(job_not_found.is_not_found() && !job_not_found.is_transient());
        let by_number = br#"{"errorCode":404002,"trackingId":"t","message":"m"}"#;
        assert!(Error::service(ServiceError::parse(404, None, by_number)).is_not_found());
        for route in [
            ServiceError::parse(404, Some("NotFound"), b""),
            ServiceError::parse(404, None, b"<html>Not Found</html>"),
            ServiceError::parse(404, Some("DeviceNotFound"), b""),
        ] {
            assert!(!Error::service(route).is_not_found());
        }
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
