//! Import/export device jobs on the local hub, as the service runs them: `enqueued`, then
//! `running` with `progress` rising, then `completed` — or `failed` with a `failureReason` when
//! a container URI cannot be used — on the hub's clock; one active job at a time, on every
//! tier; get, list and cancel; gone once it ended longer ago than the retention (30 days).
//!
//! No blob storage is involved: nothing is read or written. A container URI is "unusable" when
//! it is not an absolute `https` URL, when key-based authentication has no SAS (`sig=`) in it,
//! or when its host ends in `.invalid` (a storage account the hub cannot reach, for tests).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use serde_json::Value;

use crate::http::answers::{argument_invalid, not_found, service_error};
use crate::state::{HubState, ImportExportJob};
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

/// `POST /jobs/create`: checked as the service checks it, refused while another import or
/// export job is active, then `enqueued`.
pub(crate) async fn create(State(hub): State<Arc<HubState>>, body: axum::body::Bytes) -> Response {
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
    let mut transfers = hub.import_export_jobs_now();
    if transfers.iter().any(|t| t.is_active(now, run_time)) {
        return service_error(
            StatusCode::FORBIDDEN,
            "JobQuotaExceeded",
            "The job quota has been exceeded: one import or export job at a time",
        );
    }
    let transfer = ImportExportJob {
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
    // `sig` in any case, as the client counts it (src/redact.rs says why).
    let has_sas = url
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case("sig"));
    if !identity_based && !has_sas {
        return Some("Key-based storage authentication needs a SAS token in the container URI");
    }
    None
}

/// `GET /jobs`: every import and export job the hub still has, oldest first.
pub(crate) async fn list(State(hub): State<Arc<HubState>>) -> Response {
    let (now, run_time) = (hub.utc_now(), hub.limits.import_export_run_time);
    let jobs: Vec<Value> = hub
        .import_export_jobs_now()
        .iter()
        .map(|transfer| transfer.view(now, run_time))
        .collect();
    axum::Json(jobs).into_response()
}

/// `GET /jobs/{id}`.
pub(crate) async fn get(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    match hub.import_export_job(&id) {
        Some(job) => axum::Json(job).into_response(),
        None => not_found(&id),
    }
}

/// `DELETE /jobs/{id}`: cancels an active job; `204` either way for a known one.
pub(crate) async fn cancel(State(hub): State<Arc<HubState>>, Path(id): Path<String>) -> Response {
    let (now, run_time) = (hub.utc_now(), hub.limits.import_export_run_time);
    let mut transfers = hub.import_export_jobs_now();
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
