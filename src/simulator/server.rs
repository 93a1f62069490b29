//! The local hub's HTTP side: the front end (411, recording), auth, and the jobs routes.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use sha2::Sha256;

use super::RecordedRequest;

/// The api-versions of the jobs API the hub answers; others get `400 InvalidProtocolVersion`.
const SUPPORTED_API_VERSIONS: &[&str] = &[
    "2019-06-30",
    "2019-07-01-preview",
    "2020-03-01",
    "2020-03-13",
    "2020-05-31-preview",
    "2020-09-30",
    "2021-04-12",
    "2024-03-31",
];

/// Requests larger than this are refused: the jobs API takes small JSON bodies.
const MAX_BODY: usize = 1 << 20;

pub(super) struct HubState {
    pub host_name: String,
    pub policy_name: String,
    pub key: Vec<u8>,
    pub jobs: Mutex<BTreeMap<String, Value>>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    /// The time tests set, or `None` for the real clock.
    pub frozen_time: Mutex<Option<SystemTime>>,
}

pub(super) fn router(state: Arc<HubState>) -> Router {
    Router::new()
        .route("/jobs/v2/{id}/cancel", post(cancel_job))
        .fallback(|| async {
            service_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The requested resource does not exist",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), front_end))
        .with_state(state)
}

/// What every request meets before a route: recording, the front end's length check, the
/// api-version check and authentication.
async fn front_end(State(hub): State<Arc<HubState>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return service_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MessageTooLarge",
            "The request body is too large",
        );
    };
    hub.requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        });
    let has_length = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    if parts.method == Method::POST && !has_length {
        return length_required();
    }
    let api_version = parts
        .uri
        .query()
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(name, _)| name == "api-version")
        .map(|(_, value)| value.into_owned());
    match api_version {
        Some(version) if SUPPORTED_API_VERSIONS.contains(&version.as_str()) => {}
        Some(version) => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "InvalidProtocolVersion",
                &format!("Invalid api-version '{version}'"),
            );
        }
        None => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "InvalidProtocolVersion",
                "The api-version query parameter is required",
            );
        }
    }
    if let Err(reason) = hub.authorize(&parts.headers) {
        return service_error(StatusCode::UNAUTHORIZED, "IotHubUnauthorizedAccess", reason);
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

impl HubState {
    pub fn now(&self) -> SystemTime {
        self.frozen_time
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(SystemTime::now)
    }

    /// Checks a `SharedAccessSignature sr=…&sig=…&se=…&skn=…` header against the hub's policy.
    fn authorize(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or("Unauthorized: no Authorization header")?;
        let fields = token
            .strip_prefix("SharedAccessSignature ")
            .ok_or("Unauthorized: not a SharedAccessSignature")?;
        let mut sr = None;
        let mut sig = None;
        let mut se = None;
        let mut skn = None;
        for pair in fields.split('&') {
            let (name, value) = pair
                .split_once('=')
                .ok_or("Unauthorized: malformed token")?;
            let slot = match name {
                "sr" => &mut sr,
                "sig" => &mut sig,
                "se" => &mut se,
                "skn" => &mut skn,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err("Unauthorized: a token field appears twice");
            }
        }
        let (Some(sr), Some(sig), Some(se), Some(skn)) = (sr, sig, se, skn) else {
            return Err("Unauthorized: the token lacks sr, sig, se or skn");
        };
        if decode(skn) != self.policy_name {
            return Err("Unauthorized: unknown shared access policy");
        }
        let resource = decode(sr).to_ascii_lowercase();
        let host = self.host_name.to_ascii_lowercase();
        if resource != host && !resource.starts_with(&format!("{host}/")) {
            return Err("Unauthorized: the token is for another resource");
        }
        let expiry: u64 = se.parse().map_err(|_| "Unauthorized: se is not a number")?;
        let now = self
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if expiry <= now {
            return Err("Unauthorized: the token has expired");
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(decode(sig).as_bytes())
            .map_err(|_| "Unauthorized: sig is not base64")?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(format!("{sr}\n{se}").as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| "Unauthorized: the signature does not match")
    }
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

async fn cancel_job(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    let mut jobs = hub.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let Some(job) = jobs.get_mut(&id) else {
        return service_error(
            StatusCode::NOT_FOUND,
            "JobNotFound",
            &format!("Job with id '{id}' not found"),
        );
    };
    match job.get("status").and_then(Value::as_str) {
        Some("scheduled" | "queued" | "enqueued") => job["status"] = json!("cancelled"),
        Some(status @ ("running" | "completed" | "failed")) => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "OperationNotAllowedInCurrentState",
                &format!("Job '{id}' is {status} and cannot be cancelled"),
            );
        }
        // Already cancelled, or a state this simulator does not model: answered as it is.
        _ => {}
    }
    axum::Json(job.clone()).into_response()
}

/// An error as the service writes it: the classic body and the `iothub-errorcode` header.
fn service_error(status: StatusCode, code: &str, message: &str) -> Response {
    let now = chrono::Utc::now();
    let body = json!({
        "Message": format!("ErrorCode:{code};{message}"),
        "ExceptionMessage": format!(
            "Tracking ID:{}-G:0-TimeStamp:{}",
            uuid::Uuid::new_v4().simple(),
            now.format("%m/%d/%Y %H:%M:%S")
        ),
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(code) = HeaderValue::from_str(code) {
        response.headers_mut().insert("iothub-errorcode", code);
    }
    response
}

/// The HTML page the service's front end sends when a POST has no length.
fn length_required() -> Response {
    let page = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n\
        <HTML><HEAD><TITLE>Length Required</TITLE></HEAD>\r\n\
        <BODY><h2>Length Required</h2><hr><p>HTTP Error 411. The request must be chunked or have a content length.</p></BODY></HTML>\r\n";
    (
        StatusCode::LENGTH_REQUIRED,
        [(header::CONTENT_TYPE, "text/html; charset=us-ascii")],
        page,
    )
        .into_response()
}
