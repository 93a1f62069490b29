//! Import/export device jobs against the local hub, over real HTTP: started, watched to the
//! end, listed, cancelled; refused before sending when they cannot work; and their container
//! SAS kept out of everything printed.

use std::{pin::pin, time::Duration};

use futures::StreamExt as _;
use iothub_jobs::{
    ErrorKind, ExportJob, ImportJob, JobResponse, StorageAuthentication, WaitEnd, WaitFailure,
    WaitOptions,
    models::{JobStatus, JobType, StorageAuthenticationType},
};
use iothub_local_hub::LocalHub;

use crate::support::HubClient as _;
use crate::{secret_forms, support};

/// "secret-sas-signature", in base64: the part of a container URI that must never be shown.
const SIG: &str = "c2VjcmV0LXNhcy1zaWduYXR1cmU=";

fn container(name: &str) -> String {
    format!("https://backups.blob.core.windows.net/{name}?sv=2024-08-04&sr=c&sp=rwl&sig={SIG}")
}

fn quick() -> WaitOptions {
    WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_max_poll_interval(Duration::from_millis(50))
        .with_timeout(Duration::from_secs(10))
}

async fn hub(run_time: Duration) -> LocalHub {
    LocalHub::builder()
        .import_export_run_time(run_time)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_export_runs_to_completion_with_its_progress_observed() {
    let hub = hub(Duration::from_millis(600)).await;
    let client = hub.client().unwrap();
    let created = client
        .export_devices(ExportJob::new(
            container("devices"),
            StorageAuthentication::KeyBased,
        ))
        .await
        .unwrap();
    assert_eq!(
        (created.type_.clone(), created.status.clone()),
        (Some(JobType::Export), Some(JobStatus::Enqueued))
    );
    assert_eq!(created.exclude_keys_in_export, Some(true), "keys left out");
    assert_eq!(
        created.storage_authentication_type,
        Some(StorageAuthenticationType::KeyBased)
    );
    let id = created.job_id.clone().unwrap();
    let sent = &hub.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/jobs/create")
    );

    let states: Vec<_> = pin!(client.watch_import_export_job(&id, quick()))
        .collect()
        .await;
    let progress: Vec<i32> = states
        .iter()
        .map(|state| state.as_ref().unwrap().progress.unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(
        progress.iter().any(|p| (1..100).contains(p)),
        "seen running: {progress:?}"
    );
    let done = states.last().unwrap().as_ref().unwrap();
    assert_eq!(
        (done.status.clone(), done.progress),
        (Some(JobStatus::Completed), Some(100))
    );
    assert!(done.start_time_utc.is_some() && done.end_time_utc.is_some());

    let again = client
        .wait_for_import_export_job(&id, quick())
        .await
        .unwrap();
    assert_eq!(again.status, Some(JobStatus::Completed));
    let listed = client.list_import_export_jobs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].job_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn an_import_with_a_user_assigned_identity_sends_what_the_service_needs() {
    let hub = hub(Duration::from_secs(60)).await;
    let client = hub.client().unwrap();
    let identity = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hub";
    let plain = "https://staging.blob.core.windows.net/new-devices";
    let created = client
        .import_devices(
            ImportJob::new(
                plain,
                plain,
                StorageAuthentication::UserAssignedIdentity(identity.into()),
            )
            .with_input_blob_name("devices.txt")
            .with_configurations(),
        )
        .await
        .unwrap();
    assert_eq!(created.type_, Some(JobType::Import));
    let sent: serde_json::Value = serde_json::from_slice(&hub.requests()[0].body).unwrap();
    assert_eq!(sent["storageAuthenticationType"], "identityBased");
    assert_eq!(sent["identity"]["userAssignedIdentity"], identity);
    assert_eq!(sent["includeConfigurations"], true);
    assert_eq!(sent["inputBlobName"], "devices.txt");
}

#[tokio::test]
async fn one_job_at_a_time_a_second_gets_the_quota_error_unretried() {
    let hub = hub(Duration::from_secs(60)).await;
    let client = hub.client().unwrap();
    let export = || ExportJob::new(container("devices"), StorageAuthentication::KeyBased);
    let first = client.export_devices(export()).await.unwrap();
    let error = client.export_devices(export()).await.unwrap_err();
    assert!(error.is_job_quota_exceeded(), "{error}");
    assert_eq!(
        (error.status(), error.code()),
        (Some(403), Some("JobQuotaExceeded"))
    );
    assert!(!error.is_transient());
    assert_eq!(error.attempts(), 1, "not retried blindly");
    assert!(
        error
            .to_string()
            .contains("one import or export job at a time"),
        "{error}"
    );

    client
        .cancel_import_export_job(first.job_id.as_deref().unwrap())
        .await
        .unwrap();
    let cancelled = client
        .get_import_export_job(first.job_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    let waited = client
        .wait_for_import_export_job(first.job_id.as_deref().unwrap(), quick())
        .await
        .unwrap_err();
    assert_eq!(support::import_export_wait(&waited).0, WaitEnd::Cancelled);
    assert_eq!(
        support::import_export_wait(&waited).1.unwrap().status,
        Some(JobStatus::Cancelled)
    );
    client
        .export_devices(export())
        .await
        .expect("the hub is free again");
}

#[tokio::test]
async fn a_job_that_fails_ends_the_wait_with_its_reason() {
    let hub = hub(Duration::from_millis(200)).await;
    let client = hub.client().unwrap();
    // A storage account the local hub cannot reach.
    let unreachable = format!("https://gone.invalid/devices?sig={SIG}");
    let created = client
        .export_devices(ExportJob::new(unreachable, StorageAuthentication::KeyBased))
        .await
        .unwrap();
    let error = client
        .wait_for_import_export_job(created.job_id.as_deref().unwrap(), quick())
        .await
        .unwrap_err();
    assert_eq!(support::import_export_wait(&error).0, WaitEnd::Failed);
    assert!(
        support::import_export_wait(&error)
            .1
            .and_then(|job| job.failure_reason.as_deref())
            .unwrap()
            .contains("could not be reached"),
        "{error}"
    );
    assert!(
        error.to_string().contains("could not be reached"),
        "{error}"
    );
    assert!(
        error.detail::<WaitFailure<JobResponse>>().is_none()
            && support::import_export_wait(&error).1.is_some()
    );
}

#[tokio::test]
async fn bad_jobs_and_ids_are_refused_before_anything_is_sent() {
    let hub = hub(Duration::from_secs(60)).await;
    let client = hub.client().unwrap();
    let plain = "https://backups.blob.core.windows.net/devices";
    for job in [
        ExportJob::new("devices?sig=x", StorageAuthentication::KeyBased),
        ExportJob::new(
            format!("http://backups.blob.core.windows.net/d?sig={SIG}"),
            StorageAuthentication::KeyBased,
        ),
        ExportJob::new(plain, StorageAuthentication::KeyBased),
        ExportJob::new(
            container("d"),
            StorageAuthentication::SystemAssignedIdentity,
        ),
    ] {
        let error = client.export_devices(job).await.unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidJobRequest, "{error}");
        secret_forms::assert_hidden(&format!("{error} {error:?}"), SIG);
    }
    let error = client
        .import_devices(ImportJob::new(
            plain,
            container("logs"),
            StorageAuthentication::SystemAssignedIdentity,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidJobRequest);
    secret_forms::assert_hidden(&format!("{error} {error:?}"), SIG);
    for id in ["create", "a/b", ""] {
        assert_eq!(
            client.get_import_export_job(id).await.unwrap_err().kind(),
            &ErrorKind::InvalidJobId,
            "{id}"
        );
        assert_eq!(
            client
                .cancel_import_export_job(id)
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidJobId
        );
    }
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());
    let missing = client
        .get_import_export_job("no-such-job")
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

/// A container SAS is a secret: not in `Debug` or `Display` of the job or its builder, not in
/// an error, not in a TRACE log, wherever the crate meets it.
#[test]
fn a_container_sas_never_reaches_debug_display_errors_or_logs() {
    let mut shown = Vec::new();
    let logs = support::trace_logs(async {
        let hub = hub(Duration::from_millis(100)).await;
        let client = hub.client().unwrap();
        let export = ExportJob::new(container("devices"), StorageAuthentication::KeyBased);
        shown.push(format!("{export:?}"));
        let job = client.export_devices(export).await.unwrap();
        let id = job.job_id.clone().unwrap();
        shown.push(format!("{job:?}"));
        let uri = job.output_blob_container_uri.clone().unwrap();
        shown.push(format!("{uri} {uri:?}"));
        assert!(
            uri.expose_secret().contains(SIG),
            "the service echoed the URI"
        );
        // While the first job runs, a second is refused with the quota error.
        let busy = client
            .export_devices(ExportJob::new(
                container("again"),
                StorageAuthentication::KeyBased,
            ))
            .await
            .unwrap_err();
        assert!(busy.is_job_quota_exceeded(), "{busy}");
        shown.push(format!("{busy} {busy:?}"));
        let done = client
            .wait_for_import_export_job(&id, quick())
            .await
            .unwrap();
        shown.push(format!("{done:?}"));
        shown.push(format!(
            "{:?}",
            client.list_import_export_jobs().await.unwrap()
        ));
        let refused = client
            .export_devices(ExportJob::new(
                container("d"),
                StorageAuthentication::SystemAssignedIdentity,
            ))
            .await
            .unwrap_err();
        shown.push(format!("{refused} {refused:?}"));
        let wrong = support::client_with_key(&hub, "d3Jvbmcta2V5LW1hdGVyaWFs");
        let unauthorized = wrong
            .export_devices(ExportJob::new(
                container("x"),
                StorageAuthentication::KeyBased,
            ))
            .await
            .unwrap_err();
        shown.push(format!("{unauthorized} {unauthorized:?}"));
    });
    assert!(
        logs.contains("iothub_jobs::call"),
        "the calls were traced:\n{logs}"
    );
    secret_forms::assert_hidden(&logs, SIG);
    for text in shown {
        secret_forms::assert_hidden(&text, SIG);
    }
}

/// A SAS hidden outside the query — its `?` percent-encoded (once or twice) or typed as `&`,
/// `sig=` as a path segment, in the fragment or the user info — is never shown, and is
/// refused before sending: storage would not read it there, and an identity-based job must
/// carry none.
#[tokio::test]
async fn a_sas_anywhere_in_a_container_uri_is_hidden_and_refused_before_sending() {
    let hub = hub(Duration::from_millis(100)).await;
    let client = hub.client().unwrap();
    let account = "https://backups.blob.core.windows.net";
    let hiding = [
        format!("{account}/devices%3Fsv=2024-08-04%26sig={SIG}"),
        format!("{account}/devices%253Fsv=2024-08-04%2526sig%253D{SIG}"),
        format!("{account}/devices&sv=2024-08-04&sig={SIG}"),
        format!("{account}/devices/sig={SIG}"),
        format!("{account}/devices#sv=2024-08-04&sig={SIG}"),
        format!("https://sig={SIG}@backups.blob.core.windows.net/devices"),
    ];
    for uri in &hiding {
        let shown = iothub_jobs::models::BlobContainerUri::from(uri.clone());
        secret_forms::assert_hidden(&format!("{shown} {shown:?}"), SIG);
        for authentication in [
            StorageAuthentication::KeyBased,
            StorageAuthentication::SystemAssignedIdentity,
            StorageAuthentication::UserAssignedIdentity("/subscriptions/s/x".into()),
        ] {
            let export = ExportJob::new(uri.clone(), authentication.clone());
            secret_forms::assert_hidden(&format!("{export:?}"), SIG);
            let import = ImportJob::new(uri.clone(), uri.clone(), authentication.clone());
            secret_forms::assert_hidden(&format!("{import:?}"), SIG);
            let error = client.export_devices(export).await.unwrap_err();
            assert_eq!(
                error.kind(),
                &ErrorKind::InvalidJobRequest,
                "{uri}: {error}"
            );
            secret_forms::assert_hidden(&format!("{error} {error:?}"), SIG);
            let error = client.import_devices(import).await.unwrap_err();
            assert_eq!(
                error.kind(),
                &ErrorKind::InvalidJobRequest,
                "{uri}: {error}"
            );
            secret_forms::assert_hidden(&format!("{error} {error:?}"), SIG);
        }
        let key_based = client
            .export_devices(ExportJob::new(uri.clone(), StorageAuthentication::KeyBased))
            .await
            .unwrap_err();
        assert!(
            key_based.to_string().contains("outside its query"),
            "{uri}: says where the token went wrong: {key_based}"
        );
    }
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());

    // `SIG=` in the query counts as a SAS for the client and the hub alike: the job runs.
    let upper = format!("{account}/devices?sv=2024-08-04&SIG={SIG}");
    let job = client
        .export_devices(ExportJob::new(upper, StorageAuthentication::KeyBased))
        .await
        .unwrap();
    let done = client
        .wait_for_import_export_job(job.job_id.as_deref().unwrap(), quick())
        .await
        .unwrap();
    assert_eq!(done.status, Some(JobStatus::Completed), "{done:?}");
}

/// A job as the service may return it: unknown values, an empty container URI, nulls, fields
/// the API description does not list, an offset-less "never".
const ODD_JOB: &str = r#"{"jobId":"j","type":"exportDevicesV3","status":"cancelling",
    "outputBlobContainerUri":"","inputBlobContainerUri":null,"failureReason":null,"progress":null,
    "parentJobId":null,"useSecondaryStorageAsSource":false,"statusMessage":null,
    "startTimeUtc":"2026-12-01T10:00:00+00:00","endTimeUtc":"0001-01-01T00:00:00",
    "storageAuthenticationType":"IdentityBased","identity":{}}"#;

/// Reading stays lenient: the checks apply to what is sent, never to what is read.
#[tokio::test]
async fn odd_jobs_from_the_service_read_fine() {
    let (port, _) = crate::faults::serve(|_| crate::faults::Answer::Json("", ODD_JOB), 0).await;
    let client = crate::faults::client(port);
    let job = client.get_import_export_job("j").await.unwrap();
    assert_eq!(
        job.type_,
        Some(JobType::UnknownValue("exportDevicesV3".into()))
    );
    assert_eq!(
        job.status,
        Some(JobStatus::UnknownValue("cancelling".into()))
    );
    assert_eq!(job.output_blob_container_uri.unwrap().expose_secret(), "");
    assert_eq!(job.input_blob_container_uri, None);
    assert_eq!(
        job.end_time_utc.unwrap().to_string(),
        "0001-01-01T00:00:00Z",
        "an offset-less time reads as UTC"
    );
    assert_eq!(
        job.storage_authentication_type,
        Some(StorageAuthenticationType::UnknownValue(
            "IdentityBased".into()
        ))
    );
    assert_eq!(
        client.list_import_export_jobs().await.unwrap_err().kind(),
        &ErrorKind::InvalidResponse,
        "an object is not a list"
    );
}

/// `200` with a body and `204` without one both mean cancelled.
#[tokio::test]
async fn a_cancel_answered_200_with_a_body_or_204_succeeds() {
    use crate::faults::Answer;
    let with_body: fn(usize) -> Answer = |_| Answer::Json("", r#"{"some":"object"}"#);
    let no_content: fn(usize) -> Answer =
        |_| Answer::Raw("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
    for answers in [with_body, no_content] {
        let (port, seen) = crate::faults::serve(answers, 0).await;
        let client = crate::faults::client(port);
        client.cancel_import_export_job("j").await.unwrap();
        assert_eq!(
            seen.lock().unwrap().request_lines[0].split(' ').next(),
            Some("DELETE")
        );
    }
}
