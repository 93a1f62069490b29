//! The local hub's HTTP side: the front end (411, recording), auth, and the jobs routes.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::hmac;
use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::RecordedRequest;
use crate::{
    models::{JobStatus, Timestamp},
    util, validate,
};

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
    pub jobs: Mutex<BTreeMap<String, Value>>,
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
}

pub(super) fn router(state: Arc<HubState>) -> Router {
    Router::new()
        .route("/jobs/v2/query", get(query_jobs))
        .route("/jobs/v2/{id}", get(get_job).put(create_job))
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

impl HubState {
    /// The jobs, moved along by the hub's clock: a job whose start time has come is `running`,
    /// and `completed` once it has run for the configured time.
    fn jobs_now(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        let now = chrono::DateTime::<chrono::Utc>::from(self.now());
        // A run time too long for the calendar means the job never completes.
        let run_time = chrono::TimeDelta::from_std(self.limits.job_run_time).ok();
        let mut jobs = util::lock(&self.jobs);
        for job in jobs.values_mut() {
            let Some(start) = job["startTime"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
            else {
                continue;
            };
            let start = start.as_datetime();
            if !is_active(job) || start > now {
                continue;
            }
            match run_time.and_then(|run_time| start.checked_add_signed(run_time)) {
                Some(end) if end <= now => {
                    job["status"] = json!("completed");
                    job["endTime"] = json!(end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                }
                _ => job["status"] = json!("running"),
            }
        }
        jobs
    }
}

fn not_found(id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "JobNotFound",
        &format!("Job with id '{id}' not found"),
    )
}

fn argument_invalid(message: &str) -> Response {
    service_error(StatusCode::BAD_REQUEST, "ArgumentInvalid", message)
}

async fn get_job(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    match hub.jobs_now().get(&id) {
        Some(job) => axum::Json(job.clone()).into_response(),
        None => not_found(&id),
    }
}

async fn cancel_job(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    let mut jobs = hub.jobs_now();
    let Some(job) = jobs.get_mut(&id) else {
        return not_found(&id);
    };
    match status_of(job) {
        Some(status) if status.can_be_cancelled() => job["status"] = json!("cancelled"),
        Some(status) if status.has_started() => {
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

/// Creates a job as the service does: validated, refused when the id is taken or too many
/// jobs are active, then `scheduled` (or `queued` when its start time has come).
async fn create_job(
    State(hub): State<Arc<HubState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return argument_invalid("The request body is not JSON");
    };
    if validate::job_id(&id).is_err() {
        return argument_invalid(&format!("Invalid job id '{id}'"));
    }
    if request
        .get("jobId")
        .is_some_and(|body_id| body_id != id.as_str())
    {
        return argument_invalid("The jobId in the body differs from the one in the path");
    }
    let job_type = request["type"].as_str().unwrap_or_default();
    if request["queryCondition"]
        .as_str()
        .is_none_or(|q| q.trim().is_empty())
    {
        return argument_invalid("queryCondition is required");
    }
    let Some(start) = request["startTime"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok())
    else {
        return argument_invalid("startTime is required and must be a date-time");
    };
    match job_type {
        "scheduleUpdateTwin" if request["updateTwin"]["etag"] != "*" => {
            return argument_invalid("A scheduled twin update needs updateTwin with etag '*'");
        }
        "scheduleDeviceMethod"
            if request["cloudToDeviceMethod"]["methodName"]
                .as_str()
                .is_none_or(str::is_empty) =>
        {
            return argument_invalid(
                "A scheduled device method needs cloudToDeviceMethod.methodName",
            );
        }
        "scheduleUpdateTwin" | "scheduleDeviceMethod" => {}
        other => return argument_invalid(&format!("Job type '{other}' cannot be scheduled")),
    }
    let mut jobs = hub.jobs_now();
    if jobs.contains_key(&id) {
        return service_error(
            StatusCode::CONFLICT,
            "JobAlreadyExists",
            &format!("A job with id '{id}' already exists"),
        );
    }
    let active = jobs.values().filter(|job| is_active(job)).count();
    if active >= hub.limits.max_active_jobs {
        return service_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingMaxActiveJobCountExceeded",
            &format!("The hub already has {active} active jobs"),
        );
    }
    let job = created_job(&id, request, start, hub.now());
    jobs.insert(id, job.clone());
    axum::Json(job).into_response()
}

/// A new job as the service returns it: the request with its id, creation time, initial
/// status (`scheduled` until `start`, else `queued`) and empty statistics.
pub(super) fn created_job(id: &str, request: Value, start: Timestamp, now: SystemTime) -> Value {
    let now = chrono::DateTime::<chrono::Utc>::from(now);
    let mut job = request;
    job["jobId"] = json!(id);
    job["createdTime"] = json!(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    job["status"] = json!(if start.as_datetime() > now {
        "scheduled"
    } else {
        "queued"
    });
    job["deviceJobStatistics"] = json!({"deviceCount": 0, "failedCount": 0, "succeededCount": 0, "runningCount": 0, "pendingCount": 0});
    job
}

/// The status of a job as the hub keeps it (JSON, as inserted).
fn status_of(job: &Value) -> Option<JobStatus> {
    job["status"].as_str().map(JobStatus::from)
}

/// Whether `job` counts against the hub's active-job limit: waiting or running.
fn is_active(job: &Value) -> bool {
    status_of(job).is_some_and(|status| status.can_be_cancelled() || status == JobStatus::Running)
}

/// Lists jobs as the service does: filtered by type and status, a JSON array per page, the
/// next page's token in `x-ms-continuation`.
async fn query_jobs(
    State(hub): State<Arc<HubState>>,
    axum::extract::Query(filter): axum::extract::Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let page_size = header("x-ms-max-item-count")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|size| *size > 0)
        .map_or(hub.limits.max_page_size, |size| {
            size.min(hub.limits.max_page_size)
        });
    let after = header("x-ms-continuation").unwrap_or_default().to_owned();
    let matches = |job: &Value, field: &str, wanted: Option<&String>| {
        wanted.is_none_or(|wanted| {
            job[field]
                .as_str()
                .is_some_and(|value| value.eq_ignore_ascii_case(wanted))
        })
    };
    let jobs = hub.jobs_now();
    let mut selected = jobs
        .iter()
        .filter(|(id, _)| after.is_empty() || id.as_str() > after.as_str())
        .filter(|(_, job)| {
            matches(job, "type", filter.get("jobType"))
                && matches(job, "status", filter.get("jobStatus"))
        });
    let page: Vec<(&String, &Value)> = selected.by_ref().take(page_size).collect();
    let more = selected.next().is_some();
    let mut response = axum::Json(
        page.iter()
            .map(|(_, job)| (*job).clone())
            .collect::<Vec<_>>(),
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert("x-ms-item-type", HeaderValue::from_static("JobResponse"));
    if more
        && let Some((last, _)) = page.last()
        && let Ok(token) = HeaderValue::from_str(last)
    {
        headers.insert("x-ms-continuation", token);
    }
    response
}

/// An error as the service writes it: the classic body and the `iothub-errorcode` header.
fn service_error(status: StatusCode, code: &str, message: &str) -> Response {
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
