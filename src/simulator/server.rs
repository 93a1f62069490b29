//! The local hub's HTTP side: the front end (recording, 411, api-version, auth), the routes,
//! and the service's error answers. The jobs themselves are in `scheduled` and `import_export`.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::hmac;
use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{RecordedRequest, device_jobs, import_export, scheduled};
use crate::util;

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
    /// `host_name` lowercased: what a token's `sr` must name.
    pub resource: String,
    pub policy_name: String,
    pub key: Vec<u8>,
    /// `key`, prepared once for checking signatures.
    pub signing_key: hmac::Key,
    /// Scheduled jobs by id, as JSON.
    pub jobs: Mutex<BTreeMap<String, Value>>,
    /// Import and export jobs, oldest first.
    pub transfers: Mutex<Vec<import_export::Transfer>>,
    /// How devices answer direct methods, where a test said.
    pub devices: Mutex<BTreeMap<String, device_jobs::Device>>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    /// The time tests set, or `None` for the real clock.
    pub frozen_time: Mutex<Option<SystemTime>>,
    pub limits: Limits,
}

/// How the hub behaves where the service has limits of its own.
#[derive(Clone, Debug)]
pub(super) struct Limits {
    /// Jobs that are queued, scheduled or running at once; more are refused with 429.
    pub max_active_jobs: usize,
    /// How long a job runs, from its start time, before it completes.
    pub job_run_time: Duration,
    /// The most jobs a query page holds, whatever the client asks for.
    pub max_page_size: usize,
    /// How long an import or export job takes, from its creation until it completes.
    pub import_export_run_time: Duration,
}

pub(super) fn router(state: Arc<HubState>) -> Router {
    Router::new()
        .route("/jobs/v2/query", get(scheduled::query_jobs))
        .route(
            "/jobs/v2/{id}",
            get(scheduled::get_job).put(scheduled::create_job),
        )
        .route("/jobs/v2/{id}/cancel", post(scheduled::cancel_job))
        .route("/devices/query", post(device_jobs::query))
        .route("/jobs/create", post(import_export::create))
        .route("/jobs", get(import_export::list))
        .route(
            "/jobs/{id}",
            get(import_export::get).delete(import_export::cancel),
        )
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

/// What every request meets: the checks before a route, and a log line at INFO with the
/// method, path and status (never a header or the query, which may hold a token).
async fn front_end(State(hub): State<Arc<HubState>>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = checked(hub, request, next).await;
    tracing::info!(%method, path, status = response.status().as_u16(), "local hub answered");
    response
}

/// Recording, the front end's length check, the api-version check and authentication, then
/// the route.
async fn checked(hub: Arc<HubState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return service_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MessageTooLarge",
            "The request body is too large",
        );
    };
    util::lock(&hub.requests).push(RecordedRequest {
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
    if let Err(reason) = hub.authorize(&parts.headers, parts.uri.path()) {
        return service_error(StatusCode::UNAUTHORIZED, "IotHubUnauthorizedAccess", reason);
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

impl HubState {
    /// The hub's clock: the time a test set, or the real one; always within years 0000–9999.
    pub fn now(&self) -> SystemTime {
        util::lock(&self.frozen_time).unwrap_or_else(|| within_dates(SystemTime::now()))
    }

    /// Checks a `SharedAccessSignature sr=…&sig=…&se=…&skn=…` header against the hub's policy,
    /// for a request to `path`: as the service does, the request's target (host name and path)
    /// must lie under the token's resource `sr`.
    fn authorize(&self, headers: &HeaderMap, path: &str) -> Result<(), &'static str> {
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
        let target = format!("{}{}", self.resource, decode(path).to_ascii_lowercase());
        let below = target.strip_prefix(resource.as_str()).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with('/') || resource.ends_with('/')
        });
        if resource.is_empty() || !below {
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
        hmac::verify(
            &self.signing_key,
            format!("{sr}\n{se}").as_bytes(),
            &signature,
        )
        .map_err(|_| "Unauthorized: the signature does not match")
    }
}

/// `time` within the years a date-time can carry (0000–9999), so the hub's clock can be set
/// anywhere without a conversion overflowing.
pub(super) fn within_dates(time: SystemTime) -> SystemTime {
    // 0000-01-01T00:00:00Z.
    const BEFORE_EPOCH: Duration = Duration::from_secs(62_167_219_200);
    let first = UNIX_EPOCH.checked_sub(BEFORE_EPOCH).unwrap_or(UNIX_EPOCH);
    time.clamp(first, last_date())
}

/// 9999-12-31T23:59:59Z, the last second a date-time can carry.
pub(super) fn last_date() -> SystemTime {
    const AFTER_EPOCH: Duration = Duration::from_secs(253_402_300_799);
    UNIX_EPOCH.checked_add(AFTER_EPOCH).unwrap_or(UNIX_EPOCH)
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

pub(super) fn not_found(id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "JobNotFound",
        &format!("Job with id '{id}' not found"),
    )
}

pub(super) fn argument_invalid(message: &str) -> Response {
    service_error(StatusCode::BAD_REQUEST, "ArgumentInvalid", message)
}

/// One page of `items` (sorted by their keys) as the service pages queries: a JSON array of
/// at most `x-ms-max-item-count` items (and the hub's own limit), after the key named by
/// `x-ms-continuation`, the next page's token in the same response header, and the items'
/// type in `x-ms-item-type`.
pub(super) fn page(
    hub: &HubState,
    headers: &HeaderMap,
    mut items: Vec<(String, Value)>,
    item_type: &'static str,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let page_size = header("x-ms-max-item-count")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|size| *size > 0)
        .map_or(hub.limits.max_page_size, |size| {
            size.min(hub.limits.max_page_size)
        });
    let after = header("x-ms-continuation").unwrap_or_default();
    items.sort_by(|(a, _), (b, _)| a.cmp(b));
    let mut selected = items
        .into_iter()
        .filter(|(key, _)| after.is_empty() || key.as_str() > after);
    let page: Vec<(String, Value)> = selected.by_ref().take(page_size).collect();
    let more = selected.next().is_some();
    let next = page.last().map(|(key, _)| key.clone());
    let mut response =
        axum::Json(page.into_iter().map(|(_, item)| item).collect::<Vec<_>>()).into_response();
    let headers = response.headers_mut();
    headers.insert("x-ms-item-type", HeaderValue::from_static(item_type));
    if more && let Some(token) = next.and_then(|key| HeaderValue::from_str(&key).ok()) {
        headers.insert("x-ms-continuation", token);
    }
    response
}

/// An error as the service writes it: the classic body and the `iothub-errorcode` header.
pub(super) fn service_error(status: StatusCode, code: &str, message: &str) -> Response {
    let now = chrono::Utc::now();
    let body = json!({
        "Message": format!("ErrorCode:{code};{message}"),
        "ExceptionMessage": format!(
            "Tracking ID:{}-G:0-TimeStamp:{}",
            util::random_uuid().simple(),
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
