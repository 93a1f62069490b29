//! A job's outcome and re-running its failures, against the local hub over real HTTP: a method
//! that answered outside 2xx is counted apart from the succeeded ones, and the failures run
//! again with the original's operation, in as many jobs as the size limit needs.

use std::time::Duration;

use iothub_jobs::{
    DirectMethodJob, JobsClient, OutcomeOptions, RerunOptions, TwinUpdateJob, WaitOptions,
};
use iothub_local_hub::LocalHub;
use serde_json::{Value, json};

use crate::support;
use crate::support::HubClient as _;

fn quick_wait() -> WaitOptions {
    WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_timeout(Duration::from_secs(20))
}

/// A hub where jobs run for 50 ms, with `devices` registered.
async fn hub_with(devices: &[String]) -> (LocalHub, JobsClient) {
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_millis(50))
        .max_page_size(2)
        .start()
        .await
        .unwrap();
    hub.add_devices(devices).unwrap();
    let client = hub.client().unwrap();
    (hub, client)
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|n| format!("{prefix}{n}")).collect()
}

/// `ping` with a payload and both timeouts on `t1`…`t5`: `t2` offline, `t3` answers `501`,
/// `t4` answers `500`, run to completion.
async fn pinged() -> (LocalHub, JobsClient) {
    let (hub, client) = hub_with(&ids("t", 5)).await;
    hub.set_device_offline("t2");
    hub.set_method_response("t3", 501, json!({"error": "not implemented"}));
    hub.set_method_response("t4", 500, json!({"error": "disk full"}));
    let job = DirectMethodJob::new("ping", "deviceId IN ['t1', 't2', 't3', 't4', 't5']", "ping")
        .with_payload(json!({"verbose": true}))
        .with_connect_timeout(Duration::from_secs(7))
        .with_response_timeout(Duration::from_secs(11))
        .with_max_execution_time(Duration::from_secs(600));
    client.schedule_direct_method(job).await.unwrap();
    client.wait_for_job("ping", quick_wait()).await.unwrap();
    (hub, client)
}

#[tokio::test]
async fn an_outcome_counts_a_method_outside_2xx_apart_from_the_succeeded() {
    let (_hub, client) = pinged().await;
    let job = client.get_job("ping").await.unwrap();
    let statistics = job.device_job_statistics.unwrap();
    assert_eq!(
        statistics.succeeded_count,
        Some(4),
        "the service counts every completed row as succeeded"
    );
    let outcome = client
        .job_outcome("ping", OutcomeOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.job_id, "ping");
    assert_eq!(outcome.devices, 5);
    assert_eq!(outcome.counts.succeeded, 2);
    assert_eq!(outcome.counts.method_failed, 2);
    assert_eq!(outcome.counts.failed, 1);
    let failed: Vec<_> = outcome
        .failed
        .iter()
        .map(|f| {
            (
                f.device_id.as_str(),
                f.code.as_deref(),
                f.description.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [(
            "t2",
            Some("DeviceNotOnline"),
            Some("Timed out waiting for the device to connect")
        )]
    );
    let answered: Vec<(String, Option<i32>, Option<Value>)> = outcome
        .method_failed
        .iter()
        .map(|m| (m.device_id.clone(), m.status, m.payload.clone()))
        .collect();
    assert_eq!(
        answered,
        [
            (
                "t3".into(),
                Some(501),
                Some(json!({"error": "not implemented"}))
            ),
            ("t4".into(), Some(500), Some(json!({"error": "disk full"}))),
        ]
    );
    assert_eq!(outcome.error_codes["DeviceNotOnline"], 1);
    assert_eq!(
        (outcome.failed_left_out, outcome.method_failed_left_out),
        (0, 0)
    );
    assert_eq!(outcome.failure_rate(true), 0.6);
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["counts"]["methodFailed"], 2);
    assert_eq!(json["methodFailed"][0]["deviceId"], "t3");
}

#[tokio::test]
async fn an_outcome_counts_every_device_across_pages_and_details_only_a_few() {
    let devices = ids("d", 41);
    let (hub, client) = hub_with(&devices).await;
    for device in &devices[..7] {
        hub.set_device_offline(device);
    }
    for device in &devices[7..12] {
        hub.set_method_response(device, 404, json!({}));
    }
    let job = DirectMethodJob::new("wide", "*", "m");
    client.schedule_direct_method(job).await.unwrap();
    client.wait_for_job("wide", quick_wait()).await.unwrap();
    let before = hub.requests().len();
    let outcome = client
        .job_outcome("wide", OutcomeOptions::default().with_max_details(3))
        .await
        .unwrap();
    let pages = hub.requests().len() - before;
    assert_eq!(pages, 21, "41 rows in pages of 2, each read once");
    assert_eq!(outcome.devices, 41);
    let counts = &outcome.counts;
    assert_eq!(
        (counts.succeeded, counts.failed, counts.method_failed),
        (29, 7, 5)
    );
    assert_eq!((outcome.failed.len(), outcome.failed_left_out), (3, 4));
    assert_eq!(
        (outcome.method_failed.len(), outcome.method_failed_left_out),
        (3, 2)
    );
    let before = hub.requests().len();
    let counts_only = client
        .job_outcome(
            "wide",
            OutcomeOptions::default()
                .with_max_details(0)
                .with_page_size(1),
        )
        .await
        .unwrap();
    assert_eq!(
        hub.requests().len() - before,
        41,
        "pages of the size asked for"
    );
    assert!(counts_only.failed.is_empty() && counts_only.method_failed.is_empty());
    assert_eq!(counts_only.counts, outcome.counts);
}

#[tokio::test]
async fn an_outcome_of_an_unknown_job_is_empty_and_of_a_bad_id_sends_nothing() {
    let (hub, client) = hub_with(&[]).await;
    let outcome = client
        .job_outcome("nobody", OutcomeOptions::default())
        .await
        .unwrap();
    assert_eq!((outcome.job_id.as_str(), outcome.devices), ("nobody", 0));
    assert_eq!(outcome.counts, Default::default());
    let before = hub.requests().len();
    let error = client
        .job_outcome("no'quote", OutcomeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), &iothub_jobs::ErrorKind::InvalidJobId);
    assert_eq!(hub.requests().len(), before);
}

#[tokio::test]
async fn the_failures_run_again_with_the_originals_method_payload_and_timeouts() {
    let (hub, client) = pinged().await;
    let again = client
        .rerun_failures("ping", RerunOptions::default())
        .await
        .unwrap();
    let ids: Vec<_> = again
        .iter()
        .map(|job| job.job_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["ping-rerun-1"]);
    let original = hub.job("ping").unwrap();
    let rerun = hub.job("ping-rerun-1").unwrap();
    assert_eq!(rerun["queryCondition"], "deviceId IN ['t2']");
    assert_eq!(rerun["type"], "scheduleDeviceMethod");
    assert_eq!(
        rerun["cloudToDeviceMethod"],
        original["cloudToDeviceMethod"]
    );
    assert_eq!(rerun["cloudToDeviceMethod"]["connectTimeoutInSeconds"], 7);
    assert_eq!(rerun["maxExecutionTimeInSeconds"], 600);

    let with_methods = client
        .rerun_failures(
            "ping",
            RerunOptions::default()
                .with_method_failures(true)
                .with_job_id_prefix("ping-again"),
        )
        .await
        .unwrap();
    assert_eq!(with_methods.len(), 1);
    assert_eq!(
        hub.job("ping-again-1").unwrap()["queryCondition"],
        "deviceId IN ['t2', 't3', 't4']"
    );
    client
        .wait_for_job("ping-again-1", quick_wait())
        .await
        .unwrap();
    let outcome = client
        .job_outcome("ping-again-1", OutcomeOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.devices, 3, "only the failures ran again");
}

#[tokio::test]
async fn a_twin_update_runs_again_with_its_patch_and_many_failures_split_into_jobs() {
    // Long ids, so that 600 of them pass the size limit of one condition.
    let devices: Vec<String> = (0..600)
        .map(|n| format!("{n:03}-{}", "x".repeat(60)))
        .collect();
    let (hub, client) = hub_with(&devices).await;
    let patch =
        json!({"etag": "*", "tags": {"ring": "b"}, "properties": {"desired": {"fw": "2.4"}}});
    // A job the service reports failed: every one of its rows reads `failed`.
    hub.insert_job_json(json!({
        "jobId": "fw", "type": "scheduleUpdateTwin", "status": "failed",
        "queryCondition": "*", "updateTwin": patch,
        "createdTime": "2026-12-01T10:00:00Z", "startTime": "2026-12-01T10:00:00Z",
    }));
    let again = client
        .rerun_failures("fw", RerunOptions::default())
        .await
        .unwrap();
    assert_eq!(again.len(), 6, "600 ids of 64 bytes make six conditions");
    let mut reached = Vec::new();
    for (n, job) in again.iter().enumerate() {
        let id = format!("fw-rerun-{}", n + 1);
        assert_eq!(job.job_id.as_deref(), Some(id.as_str()));
        let sent = hub.job(&id).unwrap();
        assert_eq!(sent["updateTwin"]["tags"], patch["tags"]);
        assert_eq!(sent["updateTwin"]["properties"], patch["properties"]);
        let condition = sent["queryCondition"].as_str().unwrap();
        assert!(condition.len() <= iothub_jobs::Condition::MAX_BYTES);
        client.wait_for_job(&id, quick_wait()).await.unwrap();
        let outcome = client
            .job_outcome(&id, OutcomeOptions::default().with_max_details(0))
            .await
            .unwrap();
        reached.push(outcome.counts.succeeded);
    }
    assert_eq!(reached.iter().sum::<u64>(), 600, "each device once");
    assert_eq!(hub.twin(&devices[599]).unwrap()["tags"]["ring"], "b");
}

#[tokio::test]
async fn nothing_to_run_again_schedules_nothing_and_bad_input_sends_nothing() {
    let (hub, client) = hub_with(&ids("ok", 2)).await;
    let job = TwinUpdateJob::new("fine", "*").with_tags(support::object(json!({"a": 1})));
    client.schedule_twin_update(job).await.unwrap();
    client.wait_for_job("fine", quick_wait()).await.unwrap();
    let none = client
        .rerun_failures("fine", RerunOptions::default().with_method_failures(true))
        .await
        .unwrap();
    assert!(none.is_empty());
    let before = hub.requests().len();
    for (job_id, options, named) in [
        ("bad id", RerunOptions::default(), "invalid job id"),
        (
            "fine",
            RerunOptions::default().with_job_id_prefix("x".repeat(63)),
            "shorter prefix",
        ),
    ] {
        let error = client.rerun_failures(job_id, options).await.unwrap_err();
        assert!(error.to_string().contains(named), "{error}");
    }
    assert_eq!(hub.requests().len(), before, "nothing was sent");
    let error = client
        .rerun_failures("missing", RerunOptions::default())
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
}

/// A hub that runs one job at a time, each for `run_time`, where job `m` failed on 150 devices
/// of 64-byte ids (two conditions' worth), and a client without retries of its own, so that
/// only a slot wait sends a refused create again.
async fn m_failed_on_150_devices(run_time: Duration) -> (LocalHub, JobsClient) {
    let devices: Vec<String> = (0..150)
        .map(|n| format!("{n:03}-{}", "y".repeat(60)))
        .collect();
    let hub = LocalHub::builder()
        .max_active_jobs(1)
        .job_run_time(run_time)
        .start()
        .await
        .unwrap();
    hub.add_devices(&devices).unwrap();
    for device in &devices {
        hub.set_device_offline(device);
    }
    let options = hub
        .client_options()
        .with_retry(iothub_jobs::RetryOptions::disabled());
    let client =
        JobsClient::from_connection_string_with_options(&hub.connection_string(), options).unwrap();
    client
        .schedule_direct_method(DirectMethodJob::new("m", "*", "m"))
        .await
        .unwrap();
    client.wait_for_job("m", quick_wait()).await.unwrap();
    (hub, client)
}

#[tokio::test]
async fn re_run_jobs_wait_for_each_other_on_a_hub_that_runs_one_at_a_time() {
    let (hub, client) = m_failed_on_150_devices(Duration::from_millis(400)).await;
    let slot_wait = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_timeout(Duration::from_secs(20));
    let again = client
        .rerun_failures("m", RerunOptions::default().with_slot_wait(slot_wait))
        .await
        .unwrap();
    assert_eq!(again.len(), 2, "150 ids of 64 bytes make two conditions");
    let refused = hub
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == "/jobs/v2/m-rerun-2")
        .count();
    assert!(
        refused >= 2,
        "the second waited for the first: {refused} creates"
    );
}

#[tokio::test]
async fn a_re_run_that_failed_part_way_completes_when_called_again() {
    let (hub, client) = m_failed_on_150_devices(Duration::from_millis(300)).await;
    // No slot wait: the second job is refused while the first runs.
    let error = client
        .rerun_failures("m", RerunOptions::default())
        .await
        .unwrap_err();
    assert!(error.is_job_limit_reached(), "{error}");
    assert!(hub.job("m-rerun-1").is_some() && hub.job("m-rerun-2").is_none());
    client
        .wait_for_job("m-rerun-1", quick_wait())
        .await
        .unwrap();

    let again = client
        .rerun_failures("m", RerunOptions::default())
        .await
        .unwrap();
    let ids: Vec<_> = again
        .iter()
        .filter_map(|job| job.job_id.as_deref())
        .collect();
    assert_eq!(
        ids,
        ["m-rerun-1", "m-rerun-2"],
        "the first adopted, the second created"
    );
    let named: usize = ["m-rerun-1", "m-rerun-2"]
        .iter()
        .map(|id| {
            hub.job(id).unwrap()["queryCondition"]
                .as_str()
                .unwrap()
                .matches('\'')
                .count()
                / 2
        })
        .sum();
    assert_eq!(named, 150, "every failed device, once");
    let creates = hub
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == "/jobs/v2/m-rerun-1")
        .count();
    assert_eq!(
        creates, 2,
        "created once, refused 409 once, then read and adopted"
    );
}

#[tokio::test]
async fn a_re_run_never_adopts_other_work_under_its_ids() {
    let (hub, client) = hub_with(&ids("t", 2)).await;
    hub.set_device_offline("t2");
    client
        .schedule_direct_method(DirectMethodJob::new("ping", "*", "ping"))
        .await
        .unwrap();
    client.wait_for_job("ping", quick_wait()).await.unwrap();
    let other = DirectMethodJob::new("ping-rerun-1", "deviceId IN ['t2']", "reboot");
    client.schedule_direct_method(other).await.unwrap();
    let error = client
        .rerun_failures("ping", RerunOptions::default())
        .await
        .unwrap_err();
    assert!(error.is_conflicting_job(), "{error}");
    let conflict = error.detail::<iothub_jobs::ConflictingJob>().unwrap();
    assert_eq!(conflict.differences, ["cloudToDeviceMethod.methodName"]);
}
