//! Failures from progenitor's generated code and from reqwest, as an [`Error`]: error
//! answers (their bodies read within the size cap), bodies that are not what the API
//! describes, and transport failures, described without their URLs.

use std::time::{Duration, SystemTime};

use progenitor_client::Error as GeneratedError;
use reqwest::header::HeaderMap;

use super::{Error, ErrorKind, ServiceError};

/// Turns what the generated client returned into our error, reading the service's error body.
pub(crate) async fn from_generated(error: GeneratedError<()>, limit: usize) -> Error {
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

/// The service's `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds) or `Retry-After`
/// (seconds or an HTTP date).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|t| t.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    reqwest::header::HeaderName::from_static(n),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_every_form_of_retry_after() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250"), ("retry-after", "9")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ms-retry-after-ms", "40")])),
            Some(Duration::from_millis(40))
        );
        let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(61));
        let wait = retry_after(&headers(&[("retry-after", &in_a_minute)])).unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(61),
            "{wait:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
