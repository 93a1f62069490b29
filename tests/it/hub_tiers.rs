//! The local hub's job limits per IoT Hub tier, and its 30-day retention of finished jobs, over
//! real HTTP: each tier refuses one scheduled job more than it runs, every hub one import or
//! export job more than one, and a job that finished 30 days ago is gone.

use std::{pin::pin, time::Duration};

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use iothub_jobs::{
    DeviceJobQuery, DirectMethodJob, Error, ExportJob, JobQuery, JobsClient, Queried, RetryOptions,
    StorageAuthentication, TwinUpdateJob, models::JobStatus,
};
use iothub_local_hub::{LocalHub, LocalHubBuilder, Tier};
use reqwest::Method;
use serde_json::json;

use crate::support;
use crate::support::HubClient as _;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// The service's retention, written out here so that a change to the hub's shows.
const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 60 * 60);
const SECOND: Duration = Duration::from_secs(1);

/// `builder`'s hub on a clock held at the real time (jobs move on with `advance_time`), with
/// device `d1`, and the hub's time.
async fn held(builder: LocalHubBuilder) -> (LocalHub, DateTime<Utc>) {
    let hub = builder.start().await.unwrap();
    let now = std::time::SystemTime::now();
    hub.set_time(now);
    hub.add_devices(["d1"]).unwrap();
    (hub, now.into())
}

/// A client that sends each call once, so a refusal is seen as it is, with tokens valid
/// however far the hub's clock is moved.
fn client(hub: &LocalHub) -> JobsClient {
    let options = hub
        .client_options()
        .with_retry(RetryOptions::disabled())
        .with_sas_token_lifetime(10_000 * 365 * DAY);
    JobsClient::from_connection_string_with_options(&hub.connection_string(), options).unwrap()
}

/// A twin update of `d1` starting at `start`.
fn update(id: &str, start: DateTime<Utc>) -> TwinUpdateJob {
    TwinUpdateJob::new(id, "deviceId IN ['d1']")
        .with_tags(support::object(json!({"ring": "canary"})))
        .with_start_time(start)
}

/// A direct method on `d1` starting at `start`.
fn method(id: &str, start: DateTime<Utc>) -> DirectMethodJob {
    DirectMethodJob::new(id, "deviceId IN ['d1']", "reboot").with_start_time(start)
}

/// Schedules job `id` starting at `start`: a twin update when its id ends in an even digit,
/// else a direct method, so that both kinds are counted.
async fn schedule(client: &JobsClient, id: &str, start: DateTime<Utc>) -> Result<(), Error> {
    if id.ends_with(['0', '2', '4', '6', '8']) {
        client.schedule_twin_update(update(id, start)).await?;
    } else {
        client.schedule_direct_method(method(id, start)).await?;
    }
    Ok(())
}

fn assert_throttled(error: &Error, what: &str) {
    assert_eq!(
        (error.status(), error.code()),
        (Some(429), Some("ThrottlingMaxActiveJobCountExceeded")),
        "{what}: {error}"
    );
}

/// Each tier runs as many scheduled jobs as IoT Hub's quotas say; one more is refused until a
/// job is cancelled or ends.
#[tokio::test]
async fn each_tier_refuses_one_scheduled_job_more_than_it_runs_until_one_ends() {
    for (tier, allowed) in [
        (Tier::Free, 1),
        (Tier::S1, 1),
        (Tier::S2, 5),
        (Tier::S3, 10),
    ] {
        let (hub, now) = held(
            LocalHub::builder()
                .tier(tier)
                .job_run_time(Duration::from_secs(60)),
        )
        .await;
        let client = client(&hub);
        let start = now + chrono::Duration::seconds(10);
        for at in 0..allowed {
            schedule(&client, &format!("job-{at}"), start)
                .await
                .unwrap();
        }
        let refused = schedule(&client, "one-more", start).await.unwrap_err();
        assert_throttled(&refused, &format!("{tier:?}, {allowed} active"));
        assert!(
            client.get_job("one-more").await.unwrap_err().is_not_found(),
            "{tier:?}: a refused job is not created"
        );

        // A cancelled job frees its place, for one job.
        client.cancel_job("job-0").await.unwrap();
        schedule(&client, "one-more", start).await.unwrap();
        let refused = schedule(&client, "after-cancel", start).await.unwrap_err();
        assert_throttled(&refused, &format!("{tier:?}, after a cancel"));

        // Once the clock passes their end (10 s to start, 60 s to run), every place is free.
        hub.advance_time(Duration::from_secs(71));
        let done = client.get_job("one-more").await.unwrap();
        assert_eq!(done.status, Some(JobStatus::Completed), "{tier:?}");
        for at in 0..allowed {
            let later = now + chrono::Duration::hours(1);
            schedule(&client, &format!("later-{at}"), later)
                .await
                .unwrap();
        }
        let refused = schedule(&client, "later-more", now).await.unwrap_err();
        assert_throttled(&refused, &format!("{tier:?}, after they ran"));
    }
}

/// The refusal as the service writes its errors — the classic body and the
/// `iothub-errorcode` header — and saying the limit.
#[tokio::test]
async fn the_refusal_reads_like_the_services_errors_and_names_the_limit() {
    let (hub, now) = held(LocalHub::builder().tier(Tier::S1)).await;
    let start = (now + chrono::Duration::hours(1)).to_rfc3339();
    let job = json!({
        "type": "scheduleUpdateTwin", "queryCondition": "deviceId IN ['d1']",
        "startTime": start, "updateTwin": {"etag": "*", "tags": {"ring": "canary"}},
    });
    let (status, _, _) =
        support::send(&hub, Method::PUT, "/jobs/v2/first", Some(job.clone())).await;
    assert_eq!(status, 200);
    let (status, code, body) = support::send(&hub, Method::PUT, "/jobs/v2/second", Some(job)).await;
    assert_eq!(
        (status, code.as_deref()),
        (429, Some("ThrottlingMaxActiveJobCountExceeded"))
    );
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.starts_with("ErrorCode:ThrottlingMaxActiveJobCountExceeded;")
            && message.contains("1 active jobs; its tier allows 1"),
        "{message}"
    );
    assert!(
        body["ExceptionMessage"]
            .as_str()
            .is_some_and(|text| text.starts_with("Tracking ID:")),
        "{body}"
    );
}

/// Without a tier the hub runs 100 jobs at once, so that tests are not throttled by chance.
#[tokio::test]
async fn a_hub_without_a_tier_runs_a_hundred_jobs_at_once() {
    let (hub, now) = held(LocalHub::builder()).await;
    for at in 0..99 {
        hub.schedule_job(&format!("job-{at}"));
    }
    let client = client(&hub);
    let later = now + chrono::Duration::hours(1);
    schedule(&client, "hundredth", later).await.unwrap();
    let refused = schedule(&client, "one-more", later).await.unwrap_err();
    assert_throttled(&refused, "100 active");
}

/// Import and export jobs run one at a time on every tier, whatever scheduled jobs run.
#[tokio::test]
async fn a_second_import_or_export_job_is_refused_even_on_s3() {
    let (hub, now) = held(LocalHub::builder().tier(Tier::S3)).await;
    let client = client(&hub);
    for at in 0..9 {
        schedule(
            &client,
            &format!("job-{at}"),
            now + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    }
    client.export_devices(export()).await.unwrap();
    let refused = client.export_devices(export()).await.unwrap_err();
    assert!(refused.is_job_quota_exceeded(), "{refused}");
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(403), Some("JobQuotaExceeded"))
    );
    // The export takes no scheduled job's place.
    schedule(&client, "tenth", now + chrono::Duration::hours(1))
        .await
        .unwrap();
}

/// Starts an export; its id.
async fn exported(client: &JobsClient) -> String {
    client
        .export_devices(export())
        .await
        .unwrap()
        .job_id
        .unwrap()
}

fn export() -> ExportJob {
    ExportJob::new(
        "https://backups.blob.core.windows.net/devices?sv=2024-08-04&sp=rwl&sig=c2ln",
        StorageAuthentication::KeyBased,
    )
}

/// The ids `query_jobs` lists.
async fn listed(client: &JobsClient) -> Vec<String> {
    pin!(client.query_jobs(JobQuery::default()))
        .map(|item| match item.unwrap() {
            Queried::Item(job) => job.job_id.unwrap(),
            other => panic!("not a job: {other:?}"),
        })
        .collect()
        .await
}

/// The devices job `id` has rows for.
async fn device_rows(client: &JobsClient, id: &str) -> Vec<String> {
    pin!(client.query_device_jobs(id, DeviceJobQuery::default()))
        .map(|row| match row.unwrap() {
            Queried::Item(row) => row.device_id.unwrap(),
            other => panic!("not a device job: {other:?}"),
        })
        .collect()
        .await
}

/// Job `id` as every way of reading it shows it: there, with its row for `d1`, or gone.
async fn assert_kept(client: &JobsClient, id: &str, kept: bool) {
    let read = client.get_job(id).await;
    let in_listing = listed(client).await.contains(&id.to_owned());
    let rows = device_rows(client, id).await;
    if kept {
        assert!(read.is_ok(), "{id} kept: {read:?}");
        assert!(in_listing, "{id} listed");
        assert_eq!(rows, ["d1"], "{id}'s row");
    } else {
        assert!(read.unwrap_err().is_not_found(), "{id} gone");
        assert!(!in_listing, "{id} not listed");
        assert!(rows.is_empty(), "{id} has no rows: {rows:?}");
        let cancelled = client.cancel_job(id).await.unwrap_err();
        assert!(
            cancelled.is_not_found(),
            "{id} cannot be cancelled: {cancelled}"
        );
    }
}

/// A scheduled job is kept 30 days after it finished, on the hub's clock (from its creation
/// for one cancelled before it started), then gone; one that waits for its start is kept
/// however long.
#[tokio::test]
async fn a_scheduled_job_is_gone_30_days_after_it_finished() {
    let (hub, now) = held(LocalHub::builder().job_run_time(Duration::from_secs(60))).await;
    let client = client(&hub);
    let seconds = chrono::Duration::seconds;
    // Ending 70 s and 72 s from now.
    schedule(&client, "ran-0", now + seconds(10)).await.unwrap();
    schedule(&client, "ran-1", now + seconds(12)).await.unwrap();
    schedule(&client, "stopped-2", now + seconds(10))
        .await
        .unwrap();
    client.cancel_job("stopped-2").await.unwrap();
    let far = now + chrono::Duration::days(100 * 365);
    schedule(&client, "waiting-4", far).await.unwrap();

    hub.advance_time(THIRTY_DAYS - SECOND);
    for id in ["ran-0", "ran-1", "stopped-2", "waiting-4"] {
        assert_kept(&client, id, true).await;
    }
    hub.advance_time(Duration::from_secs(2));
    assert_kept(&client, "stopped-2", false).await;

    // 68 s on, "ran-0" (ended 70 s after the start) did 30 days less a second ago.
    hub.advance_time(Duration::from_secs(68));
    assert_kept(&client, "ran-0", true).await;
    assert_eq!(
        client.get_job("ran-0").await.unwrap().status,
        Some(JobStatus::Completed)
    );
    hub.advance_time(Duration::from_secs(2));
    assert_kept(&client, "ran-0", false).await;
    assert_kept(&client, "ran-1", true).await;

    hub.advance_time(50 * 365 * DAY);
    assert_kept(&client, "ran-1", false).await;
    assert_kept(&client, "waiting-4", true).await;
    assert_eq!(
        client.get_job("waiting-4").await.unwrap().status,
        Some(JobStatus::Scheduled)
    );
}

/// A finished job a test inserts with an old end time (a recorded answer, say) is served as
/// given, and kept 30 days from its insertion.
#[tokio::test]
async fn an_inserted_job_that_finished_long_ago_is_kept_30_days_from_its_insertion() {
    let (hub, _) = held(LocalHub::builder()).await;
    let client = client(&hub);
    hub.insert_job_json(json!({
        "jobId": "recorded", "type": "scheduleUpdateTwin", "status": "completed",
        "queryCondition": "deviceId IN ['d1']",
        "createdTime": "2020-05-21T20:12:49Z", "endTime": "2020-05-21T20:14:49Z",
    }));
    assert_kept(&client, "recorded", true).await;
    hub.advance_time(THIRTY_DAYS - SECOND);
    assert_kept(&client, "recorded", true).await;
    hub.advance_time(Duration::from_secs(2));
    assert_kept(&client, "recorded", false).await;
    assert_eq!(hub.job("recorded"), None);
}

/// The ids `list_import_export_jobs` lists.
async fn transfers(client: &JobsClient) -> Vec<String> {
    let jobs = client.list_import_export_jobs().await.unwrap();
    jobs.into_iter().map(|job| job.job_id.unwrap()).collect()
}

/// Import/export job `id`, by get and list: there, or gone (and then not cancellable).
async fn assert_transfer_kept(client: &JobsClient, id: &str, kept: bool) {
    let read = client.get_import_export_job(id).await;
    let in_listing = transfers(client).await.contains(&id.to_owned());
    if kept {
        assert!(read.is_ok() && in_listing, "{id} kept: {read:?}");
    } else {
        assert!(read.unwrap_err().is_not_found(), "{id} gone");
        assert!(!in_listing, "{id} not listed");
        let cancelled = client.cancel_import_export_job(id).await.unwrap_err();
        assert!(cancelled.is_not_found(), "{id}: {cancelled}");
    }
}

/// An import or export job is kept 30 days after it completed or was cancelled, then gone.
#[tokio::test]
async fn an_import_or_export_job_is_gone_30_days_after_it_ended() {
    let (hub, _) = held(LocalHub::builder().import_export_run_time(Duration::from_secs(100))).await;
    let client = client(&hub);
    let completed = exported(&client).await;
    hub.advance_time(Duration::from_secs(100));
    let cancelled = exported(&client).await;
    hub.advance_time(Duration::from_secs(2));
    client.cancel_import_export_job(&cancelled).await.unwrap();

    // The export completed 2 s ago: now it did 30 days less a second ago.
    hub.advance_time(THIRTY_DAYS - 3 * SECOND);
    let done = client.get_import_export_job(&completed).await.unwrap();
    assert_eq!(done.status, Some(JobStatus::Completed));
    assert_transfer_kept(&client, &cancelled, true).await;
    hub.advance_time(Duration::from_secs(2));
    assert_transfer_kept(&client, &completed, false).await;
    assert_transfer_kept(&client, &cancelled, true).await;
    hub.advance_time(Duration::from_secs(2));
    assert_transfer_kept(&client, &cancelled, false).await;
    assert_eq!(hub.import_export_job(&cancelled), None);
}

/// One that never ends is kept however long, and still takes the one place.
#[tokio::test]
async fn an_active_import_or_export_job_is_kept_however_long() {
    let (hub, _) = held(LocalHub::builder().import_export_run_time(Duration::MAX)).await;
    let client = client(&hub);
    let running = exported(&client).await;
    hub.advance_time(1_000 * 365 * DAY);
    assert_transfer_kept(&client, &running, true).await;
    let refused = client.export_devices(export()).await.unwrap_err();
    assert!(refused.is_job_quota_exceeded(), "{refused}");
}

/// The retention can be set: shorter, or long enough that nothing is ever gone.
#[tokio::test]
async fn the_retention_can_be_set() {
    for (retention, kept) in [(Duration::from_secs(60), false), (Duration::MAX, true)] {
        let builder = LocalHub::builder()
            .job_run_time(Duration::ZERO)
            .job_retention(retention);
        let (hub, now) = held(builder).await;
        let client = client(&hub);
        schedule(&client, "ran-0", now).await.unwrap();
        hub.advance_time(Duration::from_secs(61));
        assert_kept(&client, "ran-0", kept).await;
        hub.advance_time(Duration::MAX);
        assert_kept(&client, "ran-0", kept).await;
    }
}
