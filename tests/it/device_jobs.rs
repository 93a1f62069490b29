//! Per-device job results against the local hub, over real HTTP: which devices failed, and why.

use std::{pin::pin, time::Duration};

use crate::support::HubClient as _;
use futures::StreamExt as _;
use iothub_jobs::{
    DeviceJobQuery, DirectMethodJob, ErrorKind, JobsClient, Queried, WaitOptions,
    models::{DeviceJob, DeviceJobStatus, DeviceJobType, JobStatus},
};
use iothub_local_hub::LocalHub;
use serde_json::json;

async fn rows(client: &JobsClient, job_id: &str, filter: DeviceJobQuery) -> Vec<DeviceJob> {
    pin!(client.query_device_jobs(job_id, filter))
        .map(|row| match row.unwrap() {
            Queried::Item(row) => row,
            other => panic!("not a device job: {other:?}"),
        })
        .collect()
        .await
}

/// The status and payload a row's device answered its direct method with.
fn method_answer(row: &DeviceJob) -> (Option<i32>, Option<serde_json::Value>) {
    let answer = row
        .outcome
        .as_ref()
        .unwrap()
        .device_method_response
        .as_ref()
        .unwrap();
    (answer.status, answer.payload.clone())
}

/// A hub where a direct-method job on five devices runs in 100 ms: `d2` never connects and
/// `d4` answers 500.
async fn ran_a_method_job() -> (LocalHub, JobsClient) {
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    hub.add_devices(["d1", "d2", "d3", "d4", "d5"]).unwrap();
    hub.set_device_offline("d2");
    hub.set_method_response("d4", 500, json!({"error": "disk full"}));
    let client = hub.client().unwrap();
    let job = DirectMethodJob::new(
        "reboot",
        "deviceId IN ['d1', 'd2', 'd3', 'd4', 'd5']",
        "reboot",
    )
    .with_payload(json!({"delay": 0}));
    client.schedule_direct_method(job).await.unwrap();
    let wait = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_timeout(Duration::from_secs(10));
    let done = client.wait_for_job("reboot", wait).await.unwrap();
    let counts = done.device_job_statistics.unwrap();
    assert_eq!(
        (
            counts.device_count,
            counts.succeeded_count,
            counts.failed_count
        ),
        (Some(5), Some(4), Some(1))
    );
    (hub, client)
}

#[tokio::test]
async fn each_device_has_its_row_with_its_outcome_across_pages() {
    let (hub, client) = ran_a_method_job().await;
    let before = hub.requests().len();
    let all = rows(&client, "reboot", DeviceJobQuery::default()).await;
    assert_eq!(
        all.iter()
            .map(|r| r.device_id.clone().unwrap())
            .collect::<Vec<_>>(),
        ["d1", "d2", "d3", "d4", "d5"]
    );
    assert_eq!(hub.requests().len() - before, 2, "five rows, three a page");
    let sent = &hub.requests()[before];
    let query: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        query["query"],
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'reboot'"
    );
    assert_eq!(
        hub.requests()[before + 1].header("x-ms-continuation"),
        Some("reboot/d3")
    );

    let d1 = &all[0];
    assert_eq!(
        (d1.job_id.as_deref(), d1.job_type.clone(), d1.status.clone()),
        (
            Some("reboot"),
            Some(DeviceJobType::ScheduleDeviceMethod),
            Some(DeviceJobStatus::Completed)
        )
    );
    assert_eq!(method_answer(d1), (Some(200), Some(json!({}))));
    for time in [
        &d1.created_date_time_utc,
        &d1.start_time_utc,
        &d1.end_time_utc,
        &d1.last_updated_date_time_utc,
    ] {
        assert!(time.is_some());
    }
    let d2 = &all[1];
    assert_eq!(d2.status, Some(DeviceJobStatus::Failed));
    let error = d2.error.as_ref().unwrap();
    assert_eq!(error.code.as_deref(), Some("DeviceNotOnline"));
    assert!(error.description.is_some());
    assert_eq!(
        method_answer(&all[3]),
        (Some(500), Some(json!({"error": "disk full"})))
    );
}

#[tokio::test]
async fn the_failed_devices_alone_and_an_unknown_job_has_no_rows() {
    let (hub, client) = ran_a_method_job().await;
    let failed = rows(
        &client,
        "reboot",
        DeviceJobQuery::default()
            .with_status(DeviceJobStatus::Failed)
            .with_page_size(10),
    )
    .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].device_id.as_deref(), Some("d2"));
    let sent = hub.requests().last().unwrap().clone();
    assert_eq!(sent.header("x-ms-max-item-count"), Some("10"));
    let query: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        query["query"],
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'reboot' AND devices.jobs.status = 'failed'"
    );
    assert!(
        rows(&client, "nothing-here", DeviceJobQuery::default())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn rows_move_with_the_job() {
    let (hub, start) = crate::support::hub_on_a_held_clock().await;
    hub.add_devices(["only"]).unwrap();
    let client = hub.client().unwrap();
    let job = iothub_jobs::TwinUpdateJob::new("tags", "deviceId = 'only'")
        .with_tags(crate::support::object(json!({"site": {"name": "b"}})))
        .with_start_time(start);
    client.schedule_twin_update(job).await.unwrap();
    let status = |rows: Vec<DeviceJob>| rows[0].status.clone().unwrap();
    assert_eq!(
        status(rows(&client, "tags", DeviceJobQuery::default()).await),
        DeviceJobStatus::Scheduled
    );
    hub.advance_time(Duration::from_secs(11));
    assert_eq!(
        status(rows(&client, "tags", DeviceJobQuery::default()).await),
        DeviceJobStatus::Running
    );
    hub.advance_time(Duration::from_secs(60));
    let done = rows(&client, "tags", DeviceJobQuery::default()).await;
    assert_eq!(done[0].status, Some(DeviceJobStatus::Completed));
    assert_eq!(done[0].job_type, Some(DeviceJobType::ScheduleUpdateTwin));
    assert_eq!(
        client.get_job("tags").await.unwrap().status,
        Some(JobStatus::Completed)
    );
}

/// The query text is built from checked parts only: nothing is sent for a job id or status
/// that could change it.
#[tokio::test]
async fn nothing_can_be_injected_through_the_job_id_or_status() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    for job_id in [
        "x' OR 1=1 --",
        "a'b",
        "j\" OR \"1\"=\"1",
        "a b",
        "",
        "query",
    ] {
        let items: Vec<_> = pin!(client.query_device_jobs(job_id, DeviceJobQuery::default()))
            .collect()
            .await;
        assert_eq!(items.len(), 1, "{job_id}");
        assert_eq!(
            items[0].as_ref().unwrap_err().kind(),
            &ErrorKind::InvalidJobId,
            "{job_id}"
        );
    }
    for status in ["failed' OR 'a'='a", "fa iled", ""] {
        let filter = DeviceJobQuery::default().with_status(DeviceJobStatus::from(status));
        let items: Vec<_> = pin!(client.query_device_jobs("j", filter)).collect().await;
        assert_eq!(items.len(), 1, "{status}");
        let error = items[0].as_ref().unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidJobRequest, "{status}");
        assert!(error.to_string().contains("status filter"), "{error}");
    }
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());
}

/// A row the model cannot read is passed on as data, and the rows after it still come.
#[tokio::test]
async fn a_row_of_another_shape_does_not_end_the_stream() {
    let (port, _) = crate::faults::serve(
        |_| {
            crate::faults::Answer::Json(
                "x-ms-item-type: DeviceJob\r\n",
                r#"[{"deviceId":"a","status":"completed","outcome":{"deviceMethodResponse":{"status":200,"payload":"executed reboot"}}},
                    {"deviceId":"b","startTimeUtc":42},
                    {"deviceId":"c","status":"abandoned","jobType":"someNewKind","createdDateTimeUtc":"2016-09-29T18:18:56.7787107Z","startTimeUtc":"2016-09-29T18:18:52.7418462","outcome":{"deviceMethodResponse":null}}]"#,
            )
        },
        0,
    )
    .await;
    let client = crate::faults::client(port);
    let items: Vec<_> = pin!(client.query_device_jobs("j", DeviceJobQuery::default()))
        .collect()
        .await;
    assert_eq!(items.len(), 3);
    let Queried::Item(a) = items[0].as_ref().unwrap() else {
        panic!("{items:?}")
    };
    assert_eq!(
        method_answer(a).1,
        Some(json!("executed reboot")),
        "a payload is any JSON"
    );
    assert!(
        matches!(items[1].as_ref().unwrap(), Queried::Unrecognized(raw) if raw["deviceId"] == "b")
    );
    let Queried::Item(c) = items[2].as_ref().unwrap() else {
        panic!("{items:?}")
    };
    assert_eq!(
        c.status,
        Some(DeviceJobStatus::UnknownValue("abandoned".into()))
    );
    assert!(
        c.start_time_utc.is_some(),
        "an offset-less time reads as UTC"
    );
}
