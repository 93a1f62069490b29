//! What the service says when it answers with an error status: the four shapes of its error
//! bodies, read into a [`ServiceError`], and the advice an error's message carries.

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

impl ServiceError {
    /// `403 JobQuotaExceeded`: by name, or by number (Microsoft documents `403003`; a newer
    /// SDK's list says `403001`).
    pub(super) fn is_job_quota_exceeded(&self) -> bool {
        self.status == 403
            && (self.code.as_deref() == Some("JobQuotaExceeded")
                || matches!(self.numeric_code, Some(403001 | 403003)))
    }

    /// `404 JobNotFound`, by name or by number.
    pub(super) fn is_job_not_found(&self) -> bool {
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

pub(super) fn service_message(service: &ServiceError) -> String {
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
        (403, _) if service.is_job_quota_exceeded() => {
            "the hub runs one import or export job at a time: wait for the active one to finish, then start this one again"
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
