//! Scheduled jobs on the local hub: created, cancelled, read and listed as the service does,
//! and moved along by the hub's clock.

use std::{collections::BTreeMap, sync::Arc, time::SystemTime};

use chrono::{DateTime, Utc};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    answers::{argument_invalid, not_found, page, service_error},
    rows, rules,
    state::HubState,
};

pub(super) async fn get_job(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    match hub.jobs_now().get(&id) {
        Some(job) => axum::Json(job.clone()).into_response(),
        None => not_found(&id),
    }
}

pub(super) async fn cancel_job(
    State(hub): State<Arc<HubState>>,
    Path(id): Path<String>,
) -> Response {
    let mut jobs = hub.jobs_now();
    let Some(job) = jobs.get_mut(&id) else {
        return not_found(&id);
    };
    match job["status"].as_str().map(str::to_owned) {
        Some(status) if rules::is_waiting(&status) => job["status"] = json!("cancelled"),
        Some(status) if rules::has_started(&status) => {
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
pub(super) async fn create_job(
    State(hub): State<Arc<HubState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return argument_invalid("The request body is not JSON");
    };
    if !rules::is_job_id(&id) {
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
    let Some(start) = request["startTime"].as_str().and_then(rules::date_time) else {
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
    let active = jobs.values().filter(|job| rules::is_active(job)).count();
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
pub(super) fn created_job(
    id: &str,
    request: Value,
    start: DateTime<Utc>,
    now: SystemTime,
) -> Value {
    let now = DateTime::<Utc>::from(now);
    let mut job = request;
    job["jobId"] = json!(id);
    job["createdTime"] = json!(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    job["status"] = json!(if start > now { "scheduled" } else { "queued" });
    job["deviceJobStatistics"] = rows::statistics(&job, &BTreeMap::new());
    job
}

/// Lists jobs as the service does: filtered by type and status, a JSON array per page, the
/// next page's token in `x-ms-continuation`.
pub(super) async fn query_jobs(
    State(hub): State<Arc<HubState>>,
    axum::extract::Query(filter): axum::extract::Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let matches = |job: &Value, field: &str, wanted: Option<&String>| {
        wanted.is_none_or(|wanted| {
            job[field]
                .as_str()
                .is_some_and(|value| value.eq_ignore_ascii_case(wanted))
        })
    };
    let selected = hub
        .jobs_now()
        .iter()
        .filter(|(_, job)| {
            matches(job, "type", filter.get("jobType"))
                && matches(job, "status", filter.get("jobStatus"))
        })
        .map(|(id, job)| (id.clone(), job.clone()))
        .collect();
    page(hub.limits.max_page_size, &headers, selected, "JobResponse")
}
