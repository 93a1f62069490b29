//! Waiting for a free job slot, against the local hub at its limits and a server that answers
//! otherwise: a create is sent again only after the two refusals that say the hub did nothing.

use std::time::Duration;

use iothub_jobs::{
    DirectMethodJob, ExportJob, JobsClient, JobsClientOptions, RetryOptions, StorageAuthentication,
    TwinUpdateJob, WaitOptions,
};
use iothub_local_hub::LocalHub;
use serde_json::json;

use crate::support::HubClient as _;
use crate::{faults, support};

/// Pauses of 20 ms, for `timeout`.
fn slot_wait(timeout: Duration) -> WaitOptions {
    WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_max_poll_interval(Duration::from_millis(20))
        .with_timeout(timeout)
}

/// A client of `hub` that waits for slots as `wait` says, without the call path's own retries
/// (so every create the hub sees is one the slot wait sent).
fn client(hub: &LocalHub, wait: Option<WaitOptions>) -> JobsClient {
    let mut options = hub.client_options().with_retry(RetryOptions::disabled());
    if let Some(wait) = wait {
        options = options.with_job_slot_wait(wait);
    }
    JobsClient::from_connection_string_with_options(&hub.connection_string(), options).unwrap()
}

fn twin_job(id: &str) -> TwinUpdateJob {
    TwinUpdateJob::new(id, "deviceId IN ['d1']").with_tags(support::object(json!({"a": 1})))
}

/// How many creates of job `id` the hub received.
fn creates(hub: &LocalHub, id: &str) -> usize {
    let path = format!("/jobs/v2/{id}");
    hub.requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == path)
        .count()
}

/// A hub that runs one job at a time, running `occupant` (on device `d1`), which starts in an
/// hour.
pub(crate) async fn full_hub() -> LocalHub {
    let hub = LocalHub::builder()
        .max_active_jobs(1)
        .start()
        .await
        .unwrap();
    hub.add_devices(["d1"]).unwrap();
    hub.schedule_job("occupant");
    hub
}

#[tokio::test]
async fn a_create_against_a_full_hub_waits_and_succeeds_once_a_slot_frees() {
    let hub = full_hub().await;
    let waiting = client(&hub, Some(slot_wait(Duration::from_secs(20))));
    let canceller = hub.client().unwrap();
    let create = tokio::spawn({
        let waiting = waiting.clone();
        async move { waiting.schedule_twin_update(twin_job("next")).await }
    });
    // Refused at least twice while the slot is taken, then the slot frees.
    for _ in 0..500 {
        if creates(&hub, "next") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(creates(&hub, "next") >= 2, "the create was sent again");
    assert!(
        !create.is_finished(),
        "still waiting while the slot is taken"
    );
    canceller.cancel_job("occupant").await.unwrap();
    let job = tokio::time::timeout(Duration::from_secs(10), create)
        .await
        .expect("the wait ends once the slot frees")
        .unwrap()
        .unwrap();
    assert_eq!(job.job_id.as_deref(), Some("next"));
    assert!(hub.job("next").is_some());
}

#[tokio::test]
async fn a_create_that_waits_past_its_bound_fails_with_the_services_refusal() {
    let hub = full_hub().await;
    let waiting = client(&hub, Some(slot_wait(Duration::from_millis(300))));
    let job = DirectMethodJob::new("late", "deviceId IN ['d1']", "m");
    let error = tokio::time::timeout(Duration::from_secs(10), waiting.schedule_direct_method(job))
        .await
        .expect("the wait is bounded")
        .unwrap_err();
    assert!(error.is_job_limit_reached(), "{error}");
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.code(), Some("ThrottlingMaxActiveJobCountExceeded"));
    assert!(creates(&hub, "late") >= 2, "it waited before giving up");
    assert!(hub.job("late").is_none());
}

#[tokio::test]
async fn by_default_a_create_does_not_wait_for_a_slot() {
    let hub = full_hub().await;
    let error = client(&hub, None)
        .schedule_twin_update(twin_job("now"))
        .await
        .unwrap_err();
    assert!(error.is_job_limit_reached(), "{error}");
    assert_eq!(creates(&hub, "now"), 1);
}

#[test]
fn each_pause_for_a_slot_is_logged() {
    let logs = support::trace_logs(async {
        let hub = full_hub().await;
        // Long enough for a pause however slowly the first refusal comes back under load.
        let waiting = client(&hub, Some(slot_wait(Duration::from_secs(4))));
        let _ = waiting.schedule_twin_update(twin_job("logged")).await;
    });
    let pauses = logs
        .lines()
        .filter(|line| line.contains("waiting for a slot"))
        .count();
    assert!(pauses >= 1, "{logs}");
    assert!(logs.contains("no job slot freed within the wait"), "{logs}");
    assert!(
        logs.contains("ThrottlingMaxActiveJobCountExceeded"),
        "{logs}"
    );
}

#[tokio::test]
async fn an_export_waits_for_the_running_one_to_end() {
    let hub = LocalHub::builder()
        .import_export_run_time(Duration::from_millis(400))
        .start()
        .await
        .unwrap();
    let export = || {
        ExportJob::new(
            "https://account.blob.core.windows.net/devices?sv=2021&sig=c2ln",
            StorageAuthentication::KeyBased,
        )
    };
    let first = hub
        .client()
        .unwrap()
        .export_devices(export())
        .await
        .unwrap();
    let waiting = client(&hub, Some(slot_wait(Duration::from_secs(20))));
    let second = tokio::time::timeout(Duration::from_secs(10), waiting.export_devices(export()))
        .await
        .expect("the wait ends once the first export does")
        .unwrap();
    assert_ne!(second.job_id, first.job_id);
    let creates = hub
        .requests()
        .iter()
        .filter(|r| r.path == "/jobs/create")
        .count();
    assert!(creates >= 3, "refused at least once: {creates} creates");
}

/// After an answer that is not one of the two refusals, the create is not sent again: a `409`
/// (the id is taken), another `403`, a `500` (it may have taken effect).
#[tokio::test]
async fn only_the_two_refusals_make_a_create_wait() {
    let hub = full_hub().await;
    let waiting = client(&hub, Some(slot_wait(Duration::from_secs(5))));
    hub.client().unwrap().cancel_job("occupant").await.unwrap();
    let taken = waiting.schedule_twin_update(twin_job("occupant")).await;
    assert_eq!(taken.unwrap_err().status(), Some(409));
    assert_eq!(creates(&hub, "occupant"), 1);
    let refusals: [fn(usize) -> faults::Answer; 2] = [
        |_| {
            faults::Answer::Raw(
                "HTTP/1.1 403 Forbidden\r\niothub-errorcode: IotHubSuspended\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
        },
        |_| {
            faults::Answer::Raw(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
        },
    ];
    for answers in refusals {
        let (port, seen) = faults::serve(answers, 0).await;
        let options = JobsClientOptions::default()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_retry(RetryOptions::disabled())
            .with_job_slot_wait(slot_wait(Duration::from_secs(5)));
        let waiting =
            JobsClient::from_connection_string_with_options(&hub.connection_string(), options)
                .unwrap();
        let error = waiting
            .schedule_twin_update(twin_job("j"))
            .await
            .unwrap_err();
        assert!(!error.is_job_limit_reached(), "{error}");
        assert_eq!(seen.lock().unwrap().request_lines.len(), 1, "{error}");
    }
}
