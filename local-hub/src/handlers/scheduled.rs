//! Scheduled jobs on the local hub: created, cancelled, read and listed as the service does,
//! and moved along by the hub's clock.

use std::{collections::BTreeMap, ops::Bound, sync::Arc, time::SystemTime};

use chrono::{DateTime, Utc};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::http::answers::{
    Paging, argument_invalid, continuation, not_found, page, query_too_long, service_error,
};
use crate::query;
use crate::state::rows::Fleet;
use crate::state::rules;
use crate::state::twin_rules;
use crate::state::{HubState, ScheduledJob};

pub(crate) async fn get_job(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    // A twin update whose end has come reads `completed` once its twins are written: its own
    // read helps write them, a slice at a time; other requests go on meanwhile.
    hub.settle_job(&id).await;
    match hub.jobs_now().get(&id) {
        Some(job) => axum::Json(&job.json).into_response(),
        None => not_found(&id),
    }
}

pub(crate) async fn cancel_job(
    State(hub): State<Arc<HubState>>,
    Path(id): Path<String>,
) -> Response {
    let mut jobs = hub.jobs_now();
    let Some(job) = jobs.get_mut(&id) else {
        return not_found(&id);
    };
    match job.json["status"].as_str().map(str::to_owned) {
        Some(status) if rules::is_waiting(&status) => job.set_status("cancelled"),
        Some(status) if rules::has_started(&status) => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "OperationNotAllowedInCurrentState",
                &format!("Job '{id}' is {status} and cannot be cancelled"),
            );
        }
        // Already cancelled, or a state this hub does not model: answered as it is.
        _ => {}
    }
    axum::Json(&job.json).into_response()
}

/// Creates a job as the service does: validated, refused when the id is taken or too many
/// jobs are active, then `scheduled` (or `queued` when its start time has come).
pub(crate) async fn create_job(
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
    let condition = request["queryCondition"].as_str().unwrap_or_default();
    if condition.trim().is_empty() {
        return argument_invalid("queryCondition is required");
    }
    if condition.len() > rules::MAX_QUERY_BYTES {
        return query_too_long(condition);
    }
    let filter = match query::condition(condition) {
        Ok(filter) => filter,
        Err(refused) => return argument_invalid(&format!("Invalid queryCondition: {}", refused.0)),
    };
    let Some(start) = request["startTime"].as_str().and_then(rules::date_time) else {
        return argument_invalid("startTime is required and must be a date-time");
    };
    match job_type {
        "scheduleUpdateTwin" if request["updateTwin"]["etag"] != "*" => {
            return argument_invalid("A scheduled twin update needs updateTwin with etag '*'");
        }
        "scheduleUpdateTwin" => {
            if let Err(problem) = twin_rules::check_patch(&request["updateTwin"]) {
                return argument_invalid(&format!("Invalid updateTwin: {problem}"));
            }
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
        "scheduleDeviceMethod" => {}
        other => return argument_invalid(&format!("Job type '{other}' cannot be scheduled")),
    }
    // Made before the table is locked, and a slice of twins at a time: evaluating the
    // condition grows with the devices.
    let fleet = Fleet::new(hub.targets(&filter).await);
    let job = created_job(&id, request, fleet, start, hub.now());
    let mut jobs = hub.jobs_now();
    if jobs.contains_key(&id) {
        return service_error(
            StatusCode::CONFLICT,
            "JobAlreadyExists",
            &format!("A job with id '{id}' already exists"),
        );
    }
    let active = jobs
        .values()
        .filter(|job| rules::is_active(&job.json))
        .count();
    let allowed = hub.limits.max_active_jobs;
    if active >= allowed {
        return service_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingMaxActiveJobCountExceeded",
            &format!("The hub already has {active} active jobs; its tier allows {allowed}"),
        );
    }
    let answer = axum::Json(&job.json).into_response();
    jobs.insert(id, job);
    answer
}

/// A new job as the service returns it: the request with its id, creation time, initial
/// status (`scheduled` until `start`, else `queued`) and its statistics, reaching the devices
/// of `fleet`.
pub(crate) fn created_job(
    id: &str,
    request: Value,
    fleet: Fleet,
    start: DateTime<Utc>,
    now: SystemTime,
) -> ScheduledJob {
    let now = DateTime::<Utc>::from(now);
    let mut json = request;
    json["jobId"] = json!(id);
    json["createdTime"] = json!(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut job = ScheduledJob {
        json,
        fleet,
        held_since: now,
        writing: false,
    };
    job.set_status(if start > now { "scheduled" } else { "queued" });
    job
}

/// Lists jobs as the service does: filtered by type and status, a JSON array per page, the
/// next page's token in `x-ms-continuation`.
pub(crate) async fn query_jobs(
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
    let paging = Paging::read(&headers, hub.limits.max_page_size);
    let after = paging.after(0).map_or(Bound::Unbounded, Bound::Excluded);
    let jobs = hub.jobs_now();
    let selected = jobs
        .range::<str, _>((after, Bound::Unbounded))
        .filter(|(_, job)| {
            matches(&job.json, "type", filter.get("jobType"))
                && matches(&job.json, "status", filter.get("jobStatus"))
        })
        .map(|(id, job)| (continuation(&[id]), job.json.clone()));
    page(selected, paging.size, "JobResponse")
}
