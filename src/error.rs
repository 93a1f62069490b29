//! The crate's one error type.

use std::{fmt, time::Duration};

use crate::{auth::ConnectionStringError, models::JobResponse};

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
    job: Option<JobResponse>,
    source: Option<Source>,
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
    /// [`JobsClient::cancel_job_and_wait`](crate::JobsClient::cancel_job_and_wait): the job did
    /// not read `cancelled` in time; [`Error::job`] has it as last seen, if the cancel itself
    /// answered in time.
    WaitTimedOut,
    /// The answer is larger than the configured cap
    /// ([`JobsClientOptions::with_max_response_bytes`](crate::JobsClientOptions::with_max_response_bytes)).
    ResponseTooLarge,
}

/// What the service said when it answered with an error status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The HTTP status code.
    pub status: u16,
    /// The IoT Hub error code name, such as `JobNotFound`: the innermost one in the body, else
    /// the `iothub-errorcode` header.
    pub code: Option<String>,
    /// The numeric IoT Hub error code, such as `404002`, when the service gives one.
    pub numeric_code: Option<u32>,
    /// The service's human-readable explanation.
    pub message: Option<String>,
    /// The service's tracking id, which Azure support asks for.
    pub tracking_id: Option<String>,
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

    pub(crate) fn with_job(mut self, job: JobResponse) -> Self {
        self.0.job = Some(job);
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

    /// The job as last seen, for [`ErrorKind::NotCancelled`] and [`ErrorKind::WaitTimedOut`].
    pub fn job(&self) -> Option<&JobResponse> {
        self.0.job.as_ref()
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

    /// Trying the same call again later may succeed: throttling, a server-side failure, a
    /// timeout or a broken connection.
    pub fn is_transient(&self) -> bool {
        match self.0.kind {
            ErrorKind::Transport => true,
            ErrorKind::Service => matches!(self.status(), Some(408 | 429 | 500 | 502 | 503 | 504)),
            _ => false,
        }
    }
}

fn service_message(service: &ServiceError) -> String {
    let mut text = format!("IoT Hub answered {}", service.status);
    if let Some(code) = &service.code {
        text.push_str(&format!(" {code}"));
    }
    if let Some(message) = &service.message {
        text.push_str(&format!(": {message}"));
    }
    if let Some(advice) = advice(service) {
        text.push_str(&format!(" ({advice})"));
    }
    text
}

/// What the caller can do about an error status.
fn advice(service: &ServiceError) -> Option<&'static str> {
    Some(match (service.status, service.code.as_deref()) {
        (404, _) if service.is_job_not_found() => {
            "check the job id and that the hub is the one the job was created on"
        }
        (404, Some("DeviceNotFound")) => "check the device id",
        (404, _) => {
            "the endpoint does not serve this API at that path: check the base URL given to JobsClientOptions::with_endpoint"
        }
        (401, _) => {
            "check the shared access key and policy name, that the token has not expired, and the clock"
        }
        (403, _) => {
            "the policy or identity lacks the permission; jobs need the registry write and service connect rights"
        }
        (_, Some("OperationNotAllowedInCurrentState")) => {
            "only a scheduled or queued job can be cancelled"
        }
        (411, _) => {
            "the request carried no Content-Length; this is a bug in iothub-jobs, please report it"
        }
        (429, _) => "the hub is throttling; try again later",
        (500..=599, _) => "the service failed; try again later",
        _ => return None,
    })
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

impl ServiceError {
    /// `404 JobNotFound`, by name or by number.
    fn is_job_not_found(&self) -> bool {
        self.status == 404
            && (self.code.as_deref() == Some("JobNotFound") || self.numeric_code == Some(404002))
    }

    /// Reads an error answer from its status, `iothub-errorcode` header and body, whichever
    /// shape the service used: classic (`{"Message":"ErrorCode:…;…","ExceptionMessage":"Tracking ID:…"}`),
    /// nested (`Error: 429 {…}` inside the message), structured (`{"errorCode":404103,…}`, also
    /// as a string in `Message`), or not JSON at all. Never fails: it keeps what it could read.
    /// Useful when you call other IoT Hub endpoints yourself.
    pub fn parse(status: u16, error_code_header: Option<&str>, body: &[u8]) -> Self {
        let mut error = Self {
            status,
            code: None,
            numeric_code: None,
            message: None,
            tracking_id: None,
        };
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(json) => read_json_body(&json, &mut error, 0),
            Err(_) => {
                // An HTML page from the front end (411, 502): keep a bounded piece of its text.
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if !text.is_empty() {
                    error.message = Some(text.chars().take(500).collect());
                }
            }
        }
        // The header names the outermost code; a nested body's is more specific.
        if error.code.is_none() {
            error.code = error_code_header.map(str::to_owned);
        }
        error
    }
}

/// How deep bodies nested in bodies are followed; the service nests one level.
const MAX_NESTING: usize = 4;

/// Reads the service's error shapes, following nested ones so the innermost (most specific)
/// code and message win:
/// - structured: `{"errorCode":404103,"trackingId":"…","message":"…","timestampUtc":"…"}`,
///   at the top level or as a JSON string in `Message`;
/// - classic: `{"Message":"ErrorCode:JobNotFound;Job with id 'x' not found","ExceptionMessage":"Tracking ID:…-G:…-TimeStamp:…"}`;
/// - nested: a classic body whose message text carries `Error: 429 {…another body…}`.
fn read_json_body(json: &serde_json::Value, error: &mut ServiceError, depth: usize) {
    let field = |name: &str| json.get(name).and_then(|v| v.as_str());
    if let Some(number) = json.get("errorCode").and_then(|v| v.as_u64()) {
        error.numeric_code = u32::try_from(number).ok();
        if let Some(message) = field("message") {
            error.message = Some(message.to_owned());
        }
        if let Some(tracking) = field("trackingId") {
            error.tracking_id = Some(tracking.to_owned());
        }
        return;
    }
    if let Some(tracking) = field("ExceptionMessage").and_then(|m| m.strip_prefix("Tracking ID:")) {
        let id = tracking.split("-TimeStamp:").next().unwrap_or(tracking);
        error.tracking_id = Some(id.to_owned());
    }
    let Some(message) = field("Message") else {
        return;
    };
    if depth < MAX_NESTING
        && let Ok(inner @ serde_json::Value::Object(_)) = serde_json::from_str(message)
    {
        return read_json_body(&inner, error, depth + 1);
    }
    let text = match message
        .strip_prefix("ErrorCode:")
        .and_then(|rest| rest.split_once(';'))
    {
        Some((code, text)) => {
            error.code = Some(code.to_owned());
            text
        }
        None => message,
    };
    error.message = Some(text.to_owned());
    if depth < MAX_NESTING
        && let Some(inner) = nested_body(text)
    {
        read_json_body(&inner, error, depth + 1);
    }
}

/// The body in `… Error: 429 {…}`, if the text carries one.
fn nested_body(text: &str) -> Option<serde_json::Value> {
    let (_, after) = text.split_once("Error: ")?;
    let start = after.find('{')?;
    let status = after[..start].trim();
    if status.is_empty() || !status.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(&after[start..])
        .ok()
        .filter(serde_json::Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_classic_body() {
        let body = br#"{"Message":"ErrorCode:JobNotFound;Job with id 'j1' not found","ExceptionMessage":"Tracking ID:0123456789abcdef0123456789abcdef-G:3-TimeStamp:11/26/2026 05:28:52"}"#;
        let error = ServiceError::parse(404, None, body);
        assert_eq!(error.code.as_deref(), Some("JobNotFound"));
        assert_eq!(error.message.as_deref(), Some("Job with id 'j1' not found"));
        assert_eq!(
            error.tracking_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef-G:3")
        );
    }

    #[test]
    fn reads_the_structured_body() {
        let body = br#"{"errorCode":404103,"trackingId":"abc","message":"Device not online","timestampUtc":"2026-11-26T05:28:52Z"}"#;
        let error = ServiceError::parse(404, Some("DeviceNotOnline"), body);
        assert_eq!(error.numeric_code, Some(404103));
        assert_eq!(error.code.as_deref(), Some("DeviceNotOnline"));
        assert_eq!(error.tracking_id.as_deref(), Some("abc"));
    }

    #[test]
    fn follows_a_body_nested_in_the_message() {
        let inner = r#"{\"Message\":\"ErrorCode:ThrottlingBacklogTimeout;Too many requests\",\"ExceptionMessage\":\"Tracking ID:feedfacefeedfacefeedfacefeedface-G:7-TimeStamp:11/26/2026 05:28:52\"}"#;
        let body = format!(
            r#"{{"Message":"ErrorCode:ServerError;Error: 429 {inner}","ExceptionMessage":"Tracking ID:00000000000000000000000000000000-G:1-TimeStamp:11/26/2026 05:28:52"}}"#
        );
        let error = ServiceError::parse(429, Some("ServerError"), body.as_bytes());
        assert_eq!(error.code.as_deref(), Some("ThrottlingBacklogTimeout"));
        assert_eq!(error.message.as_deref(), Some("Too many requests"));
        assert_eq!(
            error.tracking_id.as_deref(),
            Some("feedfacefeedfacefeedfacefeedface-G:7")
        );
    }

    #[test]
    fn reads_a_structured_body_sent_as_a_string_in_message() {
        let body = br#"{"Message":"{\"errorCode\":404002,\"trackingId\":\"t-1\",\"message\":\"Job not found\",\"timestampUtc\":\"2026-11-26T05:28:52Z\"}","ExceptionMessage":""}"#;
        let error = ServiceError::parse(404, Some("JobNotFound"), body);
        assert_eq!(error.numeric_code, Some(404002));
        assert_eq!(error.code.as_deref(), Some("JobNotFound"));
        assert_eq!(error.message.as_deref(), Some("Job not found"));
        assert_eq!(error.tracking_id.as_deref(), Some("t-1"));
    }

    #[test]
    fn tells_a_missing_job_from_a_missing_device() {
        let job = ServiceError::parse(
            404,
            None,
            br#"{"Message":"ErrorCode:JobNotFound;x","ExceptionMessage":""}"#,
        );
        let device = ServiceError::parse(404, Some("DeviceNotFound"), b"");
        assert_eq!(
            (job.code.as_deref(), device.code.as_deref()),
            (Some("JobNotFound"), Some("DeviceNotFound"))
        );
    }

    #[test]
    fn keeps_the_text_of_a_non_json_answer() {
        let error = ServiceError::parse(411, None, b"<html><body>Length Required</body></html>");
        assert_eq!(error.code, None);
        assert!(error.message.unwrap().contains("Length Required"));
        let service = Error::service(ServiceError::parse(411, None, b""));
        assert!(service.to_string().contains("411"), "{service}");
    }

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
        assert!(of(429).is_throttled() && of(429).is_transient());
        assert!(of(503).is_transient() && of(408).is_transient());
        assert!(of(401).is_unauthorized() && !of(401).is_transient());
        assert!(!of(400).is_transient());
    }
}
