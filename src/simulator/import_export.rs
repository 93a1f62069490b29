//! Import/export device jobs on the local hub, as the service runs them: `enqueued`, then
//! `running` with `progress` rising, then `completed` — or `failed` with a `failureReason` when
//! a container URI cannot be used — on the hub's clock; one active job at a time; get, list and
//! cancel.
//!
//! No blob storage is involved: nothing is read or written. A container URI is "unusable" when
//! it is not an absolute `https` URL, when key-based authentication has no SAS (`sig=`) in it,
//! or when its host ends in `.invalid` (a storage account the hub cannot reach, for tests).

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::server::{HubState, argument_invalid, not_found, service_error};
use crate::util;

/// The request fields a job is created with that the service echoes back.
const ECHOED: &[&str] = &[
    "type",
    "inputBlobContainerUri",
    "inputBlobName",
    "outputBlobContainerUri",
    "outputBlobName",
    "excludeKeysInExport",
    "storageAuthenticationType",
    "identity",
    "includeConfigurations",
    "configurationsBlobName",
];

/// An import or export job as the hub keeps it: what it was asked, and what decides its course.
pub(super) struct Transfer {
    id: String,
    /// The echoed fields of the create request.
    request: Map<String, Value>,
    created: DateTime<Utc>,
    /// Why it fails as soon as it starts, when a container URI cannot be used.
    failure: Option<&'static str>,
    cancelled: Option<DateTime<Utc>>,
}

/// Where a job is at some moment.
#[derive(Clone, Copy)]
enum Stage {
    Enqueued,
    Running {
        progress: u8,
    },
    Completed {
        end: DateTime<Utc>,
    },
    Failed {
        end: DateTime<Utc>,
        reason: &'static str,
    },
}

impl Transfer {
    /// When it leaves the queue: after a tenth of the run time (never, for a run time too long
    /// for the calendar).
    fn start(&self, run_time: Duration) -> Option<DateTime<Utc>> {
        after(self.created, run_time / 10)
    }

    fn end(&self, run_time: Duration) -> Option<DateTime<Utc>> {
        after(self.created, run_time)
    }

    fn stage_at(&self, at: DateTime<Utc>, run_time: Duration) -> Stage {
        let Some(start) = self.start(run_time).filter(|start| *start <= at) else {
            return Stage::Enqueued;
        };
        if let Some(reason) = self.failure {
            return Stage::Failed { end: start, reason };
        }
        match self.end(run_time) {
            Some(end) if end <= at => Stage::Completed { end },
            end => {
                let done = (at - start).num_milliseconds() as f64;
                let total =
                    end.map_or(f64::INFINITY, |end| (end - start).num_milliseconds() as f64);
                Stage::Running {
                    progress: (100.0 * done / total).clamp(0.0, 99.0) as u8,
                }
            }
        }
    }

    fn is_active(&self, now: DateTime<Utc>, run_time: Duration) -> bool {
        self.cancelled.is_none()
            && matches!(
                self.stage_at(now, run_time),
                Stage::Enqueued | Stage::Running { .. }
            )
    }

    /// The job as the service returns it at `now`.
    fn view(&self, now: DateTime<Utc>, run_time: Duration) -> Value {
        let at = self.cancelled.unwrap_or(now);
        let stage = self.stage_at(at, run_time);
        let mut job = self.request.clone();
        job.entry("excludeKeysInExport").or_insert(json!(false));
        job.insert("jobId".into(), json!(self.id));
        // Fields the service sends that the API description does not list.
        job.insert("parentJobId".into(), Value::Null);
        job.insert("useSecondaryStorageAsSource".into(), json!(false));
        job.insert("failureReason".into(), Value::Null);
        if let Some(start) = self.start(run_time).filter(|start| *start <= at) {
            job.insert("startTimeUtc".into(), json!(time(start)));
        }
        let (status, progress) = match stage {
            _ if self.cancelled.is_some() => {
                job.insert("endTimeUtc".into(), json!(time(at)));
                let progress = match stage {
                    Stage::Running { progress } => progress,
                    _ => 0,
                };
                ("cancelled", progress)
            }
            Stage::Enqueued => ("enqueued", 0),
            Stage::Running { progress } => ("running", progress),
            Stage::Completed { end } => {
                job.insert("endTimeUtc".into(), json!(time(end)));
                ("completed", 100)
            }
            Stage::Failed { end, reason } => {
                job.insert("endTimeUtc".into(), json!(time(end)));
                job.insert("failureReason".into(), json!(reason));
                ("failed", 0)
            }
        };
        job.insert("status".into(), json!(status));
        job.insert("progress".into(), json!(progress));
        Value::Object(job)
    }
}

/// `start + span`, or `None` past the calendar.
fn after(start: DateTime<Utc>, span: Duration) -> Option<DateTime<Utc>> {
    start.checked_add_signed(TimeDelta::from_std(span).ok()?)
}

/// A date-time as the service writes these jobs' (`2020-01-08T22:51:23+00:00`).
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

impl HubState {
    fn utc_now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.now())
    }

    /// The import/export job `id` as the service would return it now.
    pub(super) fn import_export_job(&self, id: &str) -> Option<Value> {
        let (now, run_time) = (self.utc_now(), self.limits.import_export_run_time);
        util::lock(&self.transfers)
            .iter()
            .find(|transfer| transfer.id == id)
            .map(|transfer| transfer.view(now, run_time))
    }
}

/// `POST /jobs/create`: checked as the service checks it, refused while another import or
/// export job is active, then `enqueued`.
pub(super) async fn create(State(hub): State<Arc<HubState>>, body: axum::body::Bytes) -> Response {
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return argument_invalid("The request body is not a JSON object");
    };
    let text = |name: &str| request.get(name).and_then(Value::as_str);
    let needs: &[&str] = match text("type") {
        Some(kind) if kind.eq_ignore_ascii_case("export") => &["outputBlobContainerUri"],
        Some(kind) if kind.eq_ignore_ascii_case("import") => {
            &["inputBlobContainerUri", "outputBlobContainerUri"]
        }
        _ => return argument_invalid("The job type must be 'export' or 'import'"),
    };
    if let Some(missing) = needs.iter().find(|name| text(name).is_none()) {
        return argument_invalid(&format!("{missing} is required for this job type"));
    }
    let identity_based = match text("storageAuthenticationType") {
        None => false,
        Some(kind) if kind.eq_ignore_ascii_case("keyBased") => false,
        Some(kind) if kind.eq_ignore_ascii_case("identityBased") => true,
        Some(_) => {
            return argument_invalid(
                "storageAuthenticationType must be 'keyBased' or 'identityBased'",
            );
        }
    };
    let failure = needs
        .iter()
        .find_map(|name| unusable(text(name).unwrap_or_default(), identity_based));
    let (now, run_time) = (hub.utc_now(), hub.limits.import_export_run_time);
    let mut transfers = util::lock(&hub.transfers);
    if transfers.iter().any(|t| t.is_active(now, run_time)) {
        return service_error(
            StatusCode::FORBIDDEN,
            "JobQuotaExceeded",
            "The job quota has been exceeded: one import or export job at a time",
        );
    }
    let transfer = Transfer {
        id: util::random_uuid().hyphenated().to_string(),
        request: ECHOED
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), request.get(*name)?.clone())))
            .collect(),
        created: now,
        failure,
        cancelled: None,
    };
    let view = transfer.view(now, run_time);
    transfers.push(transfer);
    axum::Json(view).into_response()
}

/// Why a container URI cannot be used, if it cannot (never quoting it: it may hold a SAS).
fn unusable(uri: &str, identity_based: bool) -> Option<&'static str> {
    let Ok(url) = url::Url::parse(uri) else {
        return Some("A blob container URI is not an absolute URL");
    };
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Some("A blob container URI must be an https URL with a host");
    }
    if url
        .host_str()
        .is_some_and(|host| host.ends_with(".invalid"))
    {
        return Some("The storage account of a blob container could not be reached");
    }
    let has_sas = url.query_pairs().any(|(name, _)| name == "sig");
    if !identity_based && !has_sas {
        return Some("Key-based storage authentication needs a SAS token in the container URI");
    }
    None
}

/// `GET /jobs`: every import and export job, oldest first.
pub(super) async fn list(State(hub): State<Arc<HubState>>) -> Response {
    let (now, run_time) = (hub.utc_now(), hub.limits.import_export_run_time);
    let jobs: Vec<Value> = util::lock(&hub.transfers)
        .iter()
        .map(|transfer| transfer.view(now, run_time))
        .collect();
    axum::Json(jobs).into_response()
}

/// `GET /jobs/{id}`.
pub(super) async fn get(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    match hub.import_export_job(&id) {
        Some(job) => axum::Json(job).into_response(),
        None => not_found(&id),
    }
}

/// `DELETE /jobs/{id}`: cancels an active job; `204` either way for a known one.
pub(super) async fn cancel(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    let (now, run_time) = (hub.utc_now(), hub.limits.import_export_run_time);
    let mut transfers = util::lock(&hub.transfers);
    let Some(transfer) = transfers.iter_mut().find(|transfer| transfer.id == id) else {
        return not_found(&id);
    };
    if transfer.is_active(now, run_time) {
        transfer.cancelled = Some(now);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_container_uris_as_the_service_does() {
        let sas = "https://acct.blob.core.windows.net/c?sv=2024&sp=rwl&sig=c2lnbmF0dXJl";
        let unsigned = "https://acct.blob.core.windows.net/c?sv=2024&sp=rwl";
        let only_sig = "https://acct.blob.core.windows.net/c?sig=c2lnbmF0dXJl";
        let bare = "https://acct.blob.core.windows.net/c";
        for (uri, identity_based, expected) in [
            (sas, false, None),
            (only_sig, false, None),
            (bare, true, None),
            (unsigned, false, Some("needs a SAS token")),
            (bare, false, Some("needs a SAS token")),
            (
                "http://acct.blob.core.windows.net/c?sig=x",
                false,
                Some("https URL"),
            ),
            ("c?sig=x", true, Some("not an absolute URL")),
            ("https://acct.invalid/c", true, Some("could not be reached")),
        ] {
            let found = unusable(uri, identity_based);
            assert_eq!(
                found.is_some(),
                expected.is_some(),
                "{uri} {identity_based}: {found:?}"
            );
            if let (Some(found), Some(expected)) = (found, expected) {
                assert!(found.contains(expected), "{uri}: {found}");
            }
        }
    }
}
