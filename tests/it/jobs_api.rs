//! get, schedule, query and cancel-and-wait against the local hub, over real HTTP.

use std::{pin::pin, time::Duration};

use futures::StreamExt as _;
use iothub_jobs::{
    DirectMethodJob, ErrorKind, JobQuery, JobsClient, Queried, QueriedJob, RetryOptions,
    TwinUpdateJob, WaitEnd, WaitOptions,
    models::{JobStatus, JobType},
};
use iothub_local_hub::LocalHub;
use serde_json::json;

use crate::support;
use crate::support::HubClient as _;

fn twin_update(id: &str) -> TwinUpdateJob {
    TwinUpdateJob::new(id, "deviceId IN ['d1']")
        .with_desired_properties(support::object(json!({"fw": "2.4"})))
        .with_start_time(chrono::Utc::now() + chrono::Duration::hours(1))
}

async fn all(client: &JobsClient, filter: JobQuery) -> Vec<QueriedJob> {
    let stream = pin!(client.query_jobs(filter));
    stream.map(|item| item.unwrap()).collect().await
}

fn ids(items: &[QueriedJob]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Queried::Item(job) => job.job_id.clone().unwrap(),
            other => panic!("not a job: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn get_job_returns_the_job_or_not_found() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j1");
    let client = hub.client().unwrap();
    let job = client.get_job("j1").await.unwrap();
    assert_eq!(
        (job.job_id.as_deref(), job.status),
        (Some("j1"), Some(JobStatus::Scheduled))
    );
    assert!(client.get_job("nope").await.unwrap_err().is_not_found());
    assert_eq!(
        client.get_job("a/b").await.unwrap_err().kind(),
        &ErrorKind::InvalidJobId
    );
    assert_eq!(hub.requests().len(), 2, "nothing sent for the invalid id");
}

#[tokio::test]
async fn a_twin_update_is_scheduled_with_etag_star() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    let job = client
        .schedule_twin_update(twin_update("fw-rollout"))
        .await
        .unwrap();
    assert_eq!(job.status, Some(JobStatus::Scheduled));
    assert_eq!(job.type_, Some(JobType::ScheduleUpdateTwin));
    let stored = hub.job("fw-rollout").unwrap();
    assert_eq!(stored["updateTwin"]["etag"], "*");
    assert_eq!(stored["updateTwin"]["properties"]["desired"]["fw"], "2.4");
    let request = &hub.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("PUT", "/jobs/v2/fw-rollout")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_direct_method_job_is_scheduled_and_a_taken_id_is_a_conflict() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    let job = DirectMethodJob::new("reboot", "tags.site = 'b'", "reboot")
        .with_payload(json!({"delay": 5}))
        .with_response_timeout(Duration::from_secs(30));
    let created = client.schedule_direct_method(job.clone()).await.unwrap();
    assert_eq!(created.type_, Some(JobType::ScheduleDeviceMethod));
    assert_eq!(
        hub.job("reboot").unwrap()["cloudToDeviceMethod"]["payload"],
        json!({"delay": 5})
    );
    let again = client.schedule_direct_method(job).await.unwrap_err();
    assert_eq!(
        (again.status(), again.code()),
        (Some(409), Some("JobAlreadyExists"))
    );
    assert_eq!(again.attempts(), 1, "a create is not sent twice");
}

#[tokio::test]
async fn invalid_jobs_are_refused_before_sending() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    let no_changes = client
        .schedule_twin_update(TwinUpdateJob::new("j", "q"))
        .await
        .unwrap_err();
    assert_eq!(no_changes.kind(), &ErrorKind::InvalidJobRequest);
    let big = json!({"blob": "x".repeat(DirectMethodJob::MAX_PAYLOAD_BYTES)});
    let too_big = client
        .schedule_direct_method(DirectMethodJob::new("j", "q", "m").with_payload(big))
        .await
        .unwrap_err();
    assert_eq!(too_big.kind(), &ErrorKind::InvalidJobRequest);
    let bad_id = client
        .schedule_twin_update(twin_update(".."))
        .await
        .unwrap_err();
    assert_eq!(bad_id.kind(), &ErrorKind::InvalidJobId);
    assert!(hub.requests().is_empty());
}

#[tokio::test]
async fn too_many_active_jobs_are_throttled() {
    let hub = LocalHub::builder()
        .max_active_jobs(1)
        .start()
        .await
        .unwrap();
    let options = hub.client_options().with_retry(
        RetryOptions::default()
            .with_max_attempts(2)
            .with_initial_delay(Duration::from_millis(10)),
    );
    let client =
        JobsClient::from_connection_string_with_options(&hub.connection_string(), options).unwrap();
    client
        .schedule_twin_update(twin_update("first"))
        .await
        .unwrap();
    let error = client
        .schedule_twin_update(twin_update("second"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("ThrottlingMaxActiveJobCountExceeded"));
    assert!(error.is_throttled());
    assert_eq!(error.attempts(), 2, "a refused create is retried");
}

#[tokio::test]
async fn the_hub_validates_create_requests_like_the_service() {
    let hub = LocalHub::start().await.unwrap();
    let cases = [
        (
            json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": "2030-01-01T00:00:00Z", "updateTwin": {"etag": "abc"}}),
            "etag",
        ),
        (
            json!({"type": "export", "queryCondition": "*", "startTime": "2030-01-01T00:00:00Z"}),
            "cannot be scheduled",
        ),
        (
            json!({"type": "scheduleDeviceMethod", "queryCondition": "*", "startTime": "2030-01-01T00:00:00Z"}),
            "methodName",
        ),
        (
            json!({"type": "scheduleDeviceMethod", "startTime": "2030-01-01T00:00:00Z", "cloudToDeviceMethod": {"methodName": "m"}}),
            "queryCondition",
        ),
        (
            json!({"type": "scheduleDeviceMethod", "queryCondition": "*", "cloudToDeviceMethod": {"methodName": "m"}}),
            "startTime",
        ),
        (
            json!({"jobId": "other", "type": "scheduleDeviceMethod", "queryCondition": "*", "startTime": "2030-01-01T00:00:00Z", "cloudToDeviceMethod": {"methodName": "m"}}),
            "differs",
        ),
    ];
    let http = reqwest::Client::new();
    for (body, complaint) in cases {
        let response = http
            .put(support::hub_url(&hub, "/jobs/v2/j"))
            .header("authorization", support::hub_token(&hub))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains("ArgumentInvalid") && text.contains(complaint),
            "{body}: {text}"
        );
    }
    assert!(hub.job("j").is_none());
}

#[tokio::test]
async fn a_query_follows_the_continuation_across_pages() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    for n in 0..7 {
        client
            .schedule_twin_update(twin_update(&format!("job-{n}")))
            .await
            .unwrap();
    }
    hub.insert_job_json(
        json!({"jobId": "job-9", "type": "scheduleDeviceMethod", "status": "completed"}),
    );
    let before = hub.requests().len();
    let items = all(&client, JobQuery::default()).await;
    assert_eq!(
        ids(&items),
        [
            "job-0", "job-1", "job-2", "job-3", "job-4", "job-5", "job-6", "job-9"
        ]
    );
    let pages: Vec<_> = hub.requests()[before..].to_vec();
    assert_eq!(pages.len(), 3, "the hub answers three jobs a page");
    assert_eq!(pages[0].header("x-ms-continuation"), None);
    assert_eq!(pages[1].header("x-ms-continuation"), Some("job-2"));
    assert_eq!(pages[2].header("x-ms-continuation"), Some("job-5"));

    let completed = all(
        &client,
        JobQuery::default().with_status(JobStatus::Completed),
    )
    .await;
    assert_eq!(ids(&completed), ["job-9"]);
    let before = hub.requests().len();
    let twin_updates = all(
        &client,
        JobQuery::default()
            .with_type(JobType::ScheduleUpdateTwin)
            .with_page_size(2),
    )
    .await;
    assert_eq!(twin_updates.len(), 7);
    assert_eq!(
        hub.requests().len() - before,
        4,
        "the caller's page size (2) wins over the hub's (3)"
    );
    let last = hub.requests().last().unwrap().clone();
    assert_eq!(last.header("x-ms-max-item-count"), Some("2"));
    assert!(
        last.query
            .as_deref()
            .unwrap()
            .contains("jobType=scheduleUpdateTwin"),
        "{last:?}"
    );
}

#[tokio::test]
async fn one_item_of_another_shape_does_not_end_the_query() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("a");
    hub.insert_job_json(json!({"jobId": "b", "maxExecutionTimeInSeconds": "one hour"}));
    hub.schedule_job("c");
    let items = all(&hub.client().unwrap(), JobQuery::default()).await;
    assert_eq!(items.len(), 3);
    assert!(matches!(&items[1], Queried::Unrecognized(raw) if raw["jobId"] == "b"));
    assert!(matches!(&items[2], Queried::Item(job) if job.job_id.as_deref() == Some("c")));
}

#[tokio::test]
async fn a_failed_page_ends_the_query_with_the_error() {
    let hub = LocalHub::start().await.unwrap();
    let client = support::client_with_key(&hub, "d3Jvbmc=");
    let results: Vec<_> = pin!(client.query_jobs(JobQuery::default())).collect().await;
    assert_eq!(results.len(), 1);
    assert!(results[0].as_ref().unwrap_err().is_unauthorized());
}

fn quick() -> WaitOptions {
    WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn cancel_and_wait_returns_the_cancelled_job() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    client.schedule_twin_update(twin_update("w")).await.unwrap();
    let job = client.cancel_job_and_wait("w", quick()).await.unwrap();
    assert_eq!(job.status, Some(JobStatus::Cancelled));
}

#[tokio::test]
async fn cancel_and_wait_polls_until_the_job_reads_cancelled() {
    let hub = LocalHub::start().await.unwrap();
    hub.insert_job_json(json!({"jobId": "slow", "status": "cancelling"}));
    let client = hub.client().unwrap();
    let wait = tokio::spawn({
        let client = client.clone();
        async move { client.cancel_job_and_wait("slow", quick()).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    hub.insert_job_json(json!({"jobId": "slow", "status": "cancelled"}));
    let job = wait.await.unwrap().unwrap();
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert!(hub.requests().iter().filter(|r| r.method == "GET").count() >= 2);
}

#[tokio::test]
async fn cancel_and_wait_reports_a_job_that_ran_or_never_settles() {
    let (hub, soon) = support::hub_on_a_held_clock().await;
    let client = hub.client().unwrap();
    client
        .schedule_twin_update(twin_update("soon").with_start_time(soon))
        .await
        .unwrap();
    client
        .schedule_twin_update(twin_update("later").with_start_time(soon))
        .await
        .unwrap();

    hub.advance_time(Duration::from_secs(11));
    let running = client
        .cancel_job_and_wait("soon", quick())
        .await
        .unwrap_err();
    assert_eq!(support::scheduled_wait(&running).0, WaitEnd::NotCancelled);
    assert_eq!(
        support::scheduled_wait(&running).1.unwrap().status,
        Some(JobStatus::Running)
    );

    hub.advance_time(Duration::from_secs(60));
    let completed = client
        .cancel_job_and_wait("later", quick())
        .await
        .unwrap_err();
    assert_eq!(support::scheduled_wait(&completed).0, WaitEnd::NotCancelled);
    assert_eq!(
        support::scheduled_wait(&completed).1.unwrap().status,
        Some(JobStatus::Completed)
    );

    hub.insert_job_json(json!({"jobId": "stuck", "status": "cancelling"}));
    let options = quick().with_timeout(Duration::from_millis(200));
    let stuck = client
        .cancel_job_and_wait("stuck", options)
        .await
        .unwrap_err();
    assert_eq!(support::scheduled_wait(&stuck).0, WaitEnd::TimedOut);
    assert_eq!(
        support::scheduled_wait(&stuck).1.unwrap().status,
        Some(JobStatus::UnknownValue("cancelling".into()))
    );
}

#[tokio::test]
async fn waiting_for_a_job_follows_it_to_completion() {
    let (hub, start) = support::hub_on_a_held_clock().await;
    let client = hub.client().unwrap();
    client
        .schedule_twin_update(twin_update("rollout").with_start_time(start))
        .await
        .unwrap();
    let watch = tokio::spawn({
        let client = client.clone();
        async move {
            let states: Vec<_> = pin!(client.watch_job("rollout", quick())).collect().await;
            states
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    hub.advance_time(Duration::from_secs(11));
    tokio::time::sleep(Duration::from_millis(100)).await;
    hub.advance_time(Duration::from_secs(60));
    let states = watch.await.unwrap();
    let statuses: Vec<_> = states
        .iter()
        .map(|state| state.as_ref().unwrap().status.clone().unwrap())
        .collect();
    assert_eq!(
        statuses.first(),
        Some(&JobStatus::Scheduled),
        "{statuses:?}"
    );
    assert!(statuses.contains(&JobStatus::Running), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&JobStatus::Completed), "{statuses:?}");
    let done = client.wait_for_job("rollout", quick()).await.unwrap();
    assert_eq!(done.status, Some(JobStatus::Completed));
}

#[tokio::test]
async fn a_failed_or_cancelled_job_ends_the_wait_with_a_typed_error() {
    let hub = LocalHub::start().await.unwrap();
    hub.insert_job_json(
        json!({"jobId": "broken", "status": "failed", "failureReason": "device quota exceeded"}),
    );
    hub.insert_job_json(json!({"jobId": "stopped", "status": "cancelled"}));
    let client = hub.client().unwrap();
    let failed = client.wait_for_job("broken", quick()).await.unwrap_err();
    assert_eq!(support::scheduled_wait(&failed).0, WaitEnd::Failed);
    assert_eq!(
        support::scheduled_wait(&failed)
            .1
            .and_then(|job| job.failure_reason.as_deref()),
        Some("device quota exceeded")
    );
    assert!(
        failed.to_string().contains("device quota exceeded"),
        "{failed}"
    );
    let cancelled = client.wait_for_job("stopped", quick()).await.unwrap_err();
    assert_eq!(support::scheduled_wait(&cancelled).0, WaitEnd::Cancelled);
    assert_eq!(
        support::scheduled_wait(&cancelled).1.unwrap().status,
        Some(JobStatus::Cancelled)
    );
    assert_eq!(
        client
            .wait_for_job("a/b", quick())
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::InvalidJobId
    );
}

#[tokio::test]
async fn a_job_that_never_settles_times_out_with_its_last_state() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("later");
    let client = hub.client().unwrap();
    let options = quick().with_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let error = client.wait_for_job("later", options).await.unwrap_err();
    assert_eq!(
        support::scheduled_wait(&error).0,
        WaitEnd::TimedOut,
        "{error}"
    );
    assert_eq!(
        support::scheduled_wait(&error).1.unwrap().status,
        Some(JobStatus::Scheduled)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(hub.requests().len() >= 2, "it polled");
}

/// A job whose start time is the hub's now runs at once: the start is inclusive.
#[tokio::test]
async fn a_job_starting_exactly_now_runs() {
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    // Whole seconds, so that the start time reads back as exactly this instant.
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let now = std::time::UNIX_EPOCH + Duration::from_secs(seconds);
    hub.set_time(now);
    let client = hub.client().unwrap();
    client
        .schedule_twin_update(twin_update("now").with_start_time(chrono::DateTime::from(now)))
        .await
        .unwrap();
    let job = client.get_job("now").await.unwrap();
    assert_eq!(job.status, Some(JobStatus::Running));
}
