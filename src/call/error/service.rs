//! What the service says when it answers with an error status: the four shapes of its error
//! bodies, read into a [`ServiceError`], and the advice an error's message carries.

use std::fmt;

use super::codes;
use crate::call::util;

/// What the service said when it answered with an error status.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The HTTP status code.
    pub status: u16,
    /// The IoT Hub error code name, such as `JobNotFound`: the innermost one in the body, else
    /// the `iothub-errorcode` header, else the name of [`numeric_code`](Self::numeric_code)
    /// in Microsoft's list of codes (`404001` is `DeviceNotFound`).
    pub code: Option<String>,
    /// The numeric IoT Hub error code, such as `404002`, when the service gives one.
    pub numeric_code: Option<u32>,
    /// The service's human-readable explanation: the innermost message when one service
    /// error wraps another, without the `ErrorCode:…;` prefix.
    pub message: Option<String>,
    /// The service's tracking id, which Azure support asks for. Every body shape gives it
    /// the same way: without the `-TimeStamp:…` suffix the classic shape appends (the time the
    /// service answered, not part of the id).
    pub tracking_id: Option<String>,
    /// The body as the service sent it (text, lossily decoded), for callers who want what
    /// the fields above leave out.
    raw_body: String,
}

impl ServiceError {
    /// `403 JobQuotaExceeded`, by name or by number.
    pub(super) fn is_job_quota_exceeded(&self) -> bool {
        self.is(403, "JobQuotaExceeded", 403003)
    }

    /// `429 ThrottlingMaxActiveJobCountExceeded`, by name or by number.
    pub(super) fn is_max_active_jobs_exceeded(&self) -> bool {
        self.is(429, "ThrottlingMaxActiveJobCountExceeded", 429004)
    }

    /// `404 JobNotFound`, by name or by number.
    pub(super) fn is_job_not_found(&self) -> bool {
        self.is(404, "JobNotFound", 404002)
    }

    /// `404 DeviceNotFound`, by name or by number.
    pub(super) fn is_device_not_found(&self) -> bool {
        self.is(404, "DeviceNotFound", 404001)
    }

    /// The answer is `status` with the error `name`, or its `number` when another name was given.
    fn is(&self, status: u16, name: &str, number: u32) -> bool {
        self.status == status
            && (self.code.as_deref() == Some(name) || self.numeric_code == Some(number))
    }

    /// The body as the service sent it (lossily decoded as UTF-8): every field, including
    /// those [`parse`](Self::parse) does not read, and a wrapped error's outer text.
    pub fn raw_body(&self) -> &str {
        &self.raw_body
    }

    /// Reads an error answer from its status, `iothub-errorcode` header and body, whichever
    /// shape the service used: classic (`{"Message":"ErrorCode:…;…","ExceptionMessage":"Tracking ID:…"}`),
    /// wrapped (`Error: 429 {…}` or `Error: BadRequest {…}` inside the message), structured
    /// (`{"errorCode":404103,…}`, also as a string in `Message`), or not JSON at all. Never
    /// fails: it keeps what it could read. Useful when you call other IoT Hub endpoints
    /// yourself.
    pub fn parse(status: u16, error_code_header: Option<&str>, body: &[u8]) -> Self {
        let mut error = Self {
            status,
            code: None,
            numeric_code: None,
            message: None,
            tracking_id: None,
            raw_body: String::from_utf8_lossy(body).into_owned(),
        };
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(json) => read_json_body(&json, &mut error, 0),
            Err(_) => {
                // An HTML page from the front end (411, 502): keep a bounded piece of its text.
                let text = error.raw_body.trim();
                if !text.is_empty() {
                    error.message = Some(text.chars().take(500).collect());
                }
            }
        }
        // The header names the outermost code; a nested body's is more specific. A number
        // alone is named from Microsoft's list.
        if error.code.is_none() {
            error.code = error_code_header
                .map(str::to_owned)
                .or_else(|| Some(codes::name_of(error.numeric_code?)?.to_owned()));
        }
        error
    }
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The fields read from it say what matters; the whole body would drown them.
        f.debug_struct("ServiceError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("numeric_code", &self.numeric_code)
            .field("message", &self.message)
            .field("tracking_id", &self.tracking_id)
            .field("raw_body_len", &self.raw_body.len())
            .finish()
    }
}

/// The longest service message an error's `Display` repeats.
const MAX_MESSAGE_CHARS: usize = 1000;

/// How deep bodies nested in bodies are followed; the service nests one level.
const MAX_NESTING: usize = 4;

/// Reads the service's error shapes, following nested ones so the innermost (most specific)
/// code, message and tracking id win:
/// - structured: `{"errorCode":404103,"trackingId":"…","message":"…","timestampUtc":"…"}`,
///   at the top level or as a JSON string in `Message`;
/// - classic: `{"Message":"ErrorCode:JobNotFound;Job with id 'x' not found","ExceptionMessage":"Tracking ID:…-G:…-TimeStamp:…"}`;
/// - wrapped: a message whose text is `Error: 429 {…another body…}` or `Error: BadRequest {…}`.
fn read_json_body(json: &serde_json::Value, error: &mut ServiceError, depth: usize) {
    let field = |name: &str| json.get(name).and_then(|v| v.as_str());
    let tracking = field("trackingId")
        .or_else(|| field("ExceptionMessage").and_then(|m| m.strip_prefix("Tracking ID:")));
    if let Some(tracking) = tracking {
        error.tracking_id = Some(without_timestamp(tracking).to_owned());
    }
    match json.get("errorCode") {
        Some(serde_json::Value::Number(number)) => {
            error.numeric_code = number.as_u64().and_then(|n| u32::try_from(n).ok());
        }
        Some(serde_json::Value::String(text)) => match text.parse::<u32>() {
            Ok(number) => error.numeric_code = Some(number),
            Err(_) if !text.is_empty() => error.code = Some(text.clone()),
            Err(_) => {}
        },
        _ => {}
    }
    if let Some(message) = field("message").or_else(|| field("Message")) {
        read_message(message, error, depth);
    }
}

/// Reads a message's text: a whole body as a string, or `ErrorCode:<name>;<text>` where the
/// text may wrap another body.
fn read_message(message: &str, error: &mut ServiceError, depth: usize) {
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
    error.message = Some(text.trim().to_owned());
    if depth < MAX_NESTING
        && let Some(inner) = wrapped_body(text)
    {
        read_json_body(&inner, error, depth + 1);
    }
}

/// The body in `… Error: 429 {…}` or `… Error: BadRequest {…}`, if the text carries one
/// (text after the body is ignored).
fn wrapped_body(text: &str) -> Option<serde_json::Value> {
    let (_, after) = text.split_once("Error: ")?;
    let start = after.find('{')?;
    let status = after[..start].trim();
    if status.is_empty() || !status.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    serde_json::Deserializer::from_str(&after[start..])
        .into_iter::<serde_json::Value>()
        .next()?
        .ok()
        .filter(serde_json::Value::is_object)
}

/// A tracking id without the `-TimeStamp:…` the classic shape appends.
fn without_timestamp(tracking: &str) -> &str {
    tracking
        .split_once("-TimeStamp:")
        .map_or(tracking, |(id, _)| id)
        .trim()
}

pub(super) fn service_message(service: &ServiceError) -> String {
    let mut text = format!("IoT Hub answered {}", service.status);
    if let Some(code) = &service.code {
        text.push_str(&format!(" {code}"));
    }
    if let Some(message) = &service.message {
        // The whole message stays in `ServiceError::message`.
        text.push_str(&format!(": {}", util::bounded(message, MAX_MESSAGE_CHARS)));
    }
    if let Some(advice) = advice(service) {
        text.push_str(&format!(" ({advice})"));
    }
    text
}

/// What the caller can do about an error: by its code when the service gave one (the same
/// code comes with different statuses), else by its status.
fn advice(service: &ServiceError) -> Option<&'static str> {
    match service.code.as_deref() {
        Some(code) => advice_for_code(code),
        None => advice_for_status(service.status),
    }
}

const WRONG_ENDPOINT: &str = "the endpoint does not serve this API at that path: check the base URL given to JobsClientOptions::with_endpoint";
const CHECK_CREDENTIALS: &str =
    "check the shared access key and policy name, that the token has not expired, and the clock";
const THROTTLED: &str = "the hub is throttling; try again later";
const TRY_LATER: &str = "the service failed; try again later";

fn advice_for_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "JobNotFound" => "check the job id and that the hub is the one the job was created on",
        "DeviceNotFound" => "check the device id: no device with it is registered on this hub",
        "DeviceNotOnline" => {
            "the device is not connected, or has not registered a handler for the method"
        }
        // What the front end answers for a path it does not route.
        "NotFound" | "GenericNotFound" => WRONG_ENDPOINT,
        "IotHubUnauthorizedAccess" | "IotHubUnauthorized" | "GenericUnauthorized" => {
            CHECK_CREDENTIALS
        }
        "IotHubNotFound" => "no IoT hub has this host name: check the connection string's HostName",
        "IotHubSuspended" => "the hub is suspended: check its state in the Azure portal",
        "IotHubQuotaExceeded" => {
            "the hub's daily message quota is used up: wait for the next UTC day, or add units to the hub"
        }
        "JobQuotaExceeded" => {
            "the hub runs one import or export job at a time: wait for the active one to finish, then start this one again"
        }
        "ThrottlingMaxActiveJobCountExceeded" => {
            "the hub already runs as many scheduled jobs as its tier allows: wait for one to finish, then schedule this one again"
        }
        "BlobContainerValidationError" => {
            "the hub cannot use the storage container: check the container URI, that its SAS token is valid and grants the rights the job needs, or, for identity-based authentication, that the hub's identity may use the container"
        }
        "OperationNotAllowedInCurrentState" => "only a scheduled or queued job can be cancelled",
        "JobAlreadyExists" => {
            "a job with this id exists (perhaps from an earlier attempt): read it with get_job, or choose another id"
        }
        "ThrottlingException"
        | "ThrottleBacklogLimitExceeded"
        | "ThrottlingBacklogTimeout"
        | "GenericTooManyRequests" => THROTTLED,
        "ServerError"
        | "GenericServerError"
        | "ServiceUnavailable"
        | "GenericServiceUnavailable"
        | "ServerBusy"
        | "GenericBadGateway"
        | "GenericGatewayTimeout"
        | "GatewayTimeout"
        | "GenericTimeout" => TRY_LATER,
        _ => return None,
    })
}

fn advice_for_status(status: u16) -> Option<&'static str> {
    Some(match status {
        404 => WRONG_ENDPOINT,
        401 => CHECK_CREDENTIALS,
        403 => {
            "the policy or identity lacks the permission; jobs need the registry write and service connect rights"
        }
        411 => {
            "the request carried no Content-Length; this is a bug in iothub-jobs, please report it"
        }
        429 => THROTTLED,
        500..=599 => TRY_LATER,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

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
    fn unwraps_a_body_wrapped_under_a_status_name_with_text_after_it() {
        let body = br#"{"Message":"ErrorCode:ArgumentInvalid;Error: BadRequest {\"Message\":\"ErrorCode:ArgumentInvalid;Inner sentence.\",\"ExceptionMessage\":\"Tracking ID:abc-G:2-TimeStamp:05/21/2020 20:14:49\"} (see logs)","ExceptionMessage":"Tracking ID:outer-G:1"}"#;
        let error = ServiceError::parse(400, None, body);
        assert_eq!(error.message.as_deref(), Some("Inner sentence."));
        assert_eq!(error.tracking_id.as_deref(), Some("abc-G:2"));
        // Not a status before the body: the text stays as it is.
        let body = br#"{"Message":"ErrorCode:ArgumentInvalid;Error: bad input {\"a\":1}"}"#;
        let error = ServiceError::parse(400, None, body);
        assert_eq!(
            error.message.as_deref(),
            Some(r#"Error: bad input {"a":1}"#)
        );
    }

    #[test]
    fn advice_follows_each_code_then_each_status() {
        let advice_of = |status, code: Option<&str>| {
            let mut error = ServiceError::parse(status, code, b"");
            error.code = code.map(str::to_owned);
            advice(&error).unwrap_or("none")
        };
        for (code, says) in [
            ("JobNotFound", "check the job id"),
            ("DeviceNotFound", "check the device id"),
            ("DeviceNotOnline", "not connected"),
            ("NotFound", "with_endpoint"),
            ("GenericNotFound", "with_endpoint"),
            ("IotHubUnauthorizedAccess", "shared access key"),
            ("IotHubNotFound", "HostName"),
            ("IotHubSuspended", "suspended"),
            ("IotHubQuotaExceeded", "daily message quota"),
            ("JobQuotaExceeded", "one import or export job at a time"),
            (
                "ThrottlingMaxActiveJobCountExceeded",
                "as many scheduled jobs as its tier",
            ),
            ("BlobContainerValidationError", "storage container"),
            (
                "OperationNotAllowedInCurrentState",
                "only a scheduled or queued job",
            ),
            ("JobAlreadyExists", "get_job"),
            ("ThrottlingBacklogTimeout", "throttling"),
            ("ServerBusy", "try again later"),
            ("ArgumentInvalid", "none"),
        ] {
            // Whatever the status: the code decides.
            for status in [400, 403, 404, 500] {
                assert!(
                    advice_of(status, Some(code)).contains(says),
                    "{status} {code}"
                );
            }
        }
        for (status, says) in [
            (404, "with_endpoint"),
            (401, "shared access key"),
            (403, "lacks the permission"),
            (411, "Content-Length"),
            (429, "throttling"),
            (500, "try again later"),
            (599, "try again later"),
            (400, "none"),
            (600, "none"),
        ] {
            assert!(advice_of(status, None).contains(says), "{status}");
        }
    }

    #[test]
    fn nesting_is_followed_only_so_deep() {
        // Each level is the next one's body as a JSON string in `Message`.
        let mut body = r#"{"Message":"ErrorCode:Deepest;the bottom"}"#.to_owned();
        for _ in 0..=MAX_NESTING {
            body = serde_json::json!({ "Message": body }).to_string();
        }
        let error = ServiceError::parse(400, None, body.as_bytes());
        assert_ne!(error.code.as_deref(), Some("Deepest"), "{error:?}");
        let one_less = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Message"]
            .as_str()
            .unwrap()
            .to_owned();
        let error = ServiceError::parse(400, None, one_less.as_bytes());
        assert_eq!(error.code.as_deref(), Some("Deepest"), "{error:?}");
    }

    #[test]
    fn reads_an_error_code_given_as_a_string() {
        let by_name = ServiceError::parse(404, None, br#"{"errorCode":"DeviceNotFound"}"#);
        assert_eq!(by_name.code.as_deref(), Some("DeviceNotFound"));
        let by_digits = ServiceError::parse(404, None, br#"{"errorCode":"404002"}"#);
        assert_eq!(
            (by_digits.numeric_code, by_digits.code.as_deref()),
            (Some(404002), Some("JobNotFound"))
        );
        assert!(
            format!("{by_digits:?}").contains("raw_body_len: 22"),
            "{by_digits:?}"
        );
        // An empty name is no name: the header's, if any, stands.
        let empty = ServiceError::parse(404, None, br#"{"errorCode":""}"#);
        assert_eq!((empty.code, empty.numeric_code), (None, None));
        let empty = ServiceError::parse(404, Some("DeviceNotFound"), br#"{"errorCode":""}"#);
        assert_eq!(empty.code.as_deref(), Some("DeviceNotFound"));
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
}
