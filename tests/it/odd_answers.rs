//! Odd answers a proxy, a gateway or a broken service may send, served over loopback: items
//! that are not objects, another job's answer during a wait, a next-page token that cannot be
//! sent back, and an unbounded failure reason. Each is data or a typed error, never a lost page
//! or a wait that settles on the wrong job.

use futures::StreamExt as _;
use iothub_jobs::{DeviceJobQuery, ErrorKind, JobQuery, Queried, WaitOptions};

use crate::{faults::client, service_answers::answering};

fn quick() -> WaitOptions {
    WaitOptions::default()
        .with_poll_interval(std::time::Duration::from_millis(10))
        .with_timeout(std::time::Duration::from_secs(5))
}

#[tokio::test]
async fn items_that_are_not_objects_arrive_as_unrecognized_beside_the_jobs() {
    let port = answering(
        200,
        "",
        r#"[{"jobId":"a","status":"completed"}, 5, null, [1], {"jobId":"b","status":"failed"}]"#,
    )
    .await;
    let items: Vec<_> = client(port).query_jobs(JobQuery::default()).collect().await;
    let kinds: Vec<String> = items
        .iter()
        .map(|item| match item {
            Ok(Queried::Item(job)) => job.job_id.clone().unwrap_or_default(),
            Ok(Queried::Unrecognized(raw)) => format!("raw {raw}"),
            Ok(other) => format!("{other:?}"),
            Err(error) => format!("error {error}"),
        })
        .collect();
    assert_eq!(kinds, ["a", "raw 5", "raw null", "raw [1]", "b"]);
}

#[tokio::test]
async fn device_rows_that_are_not_objects_arrive_as_unrecognized_beside_the_rows() {
    let port = answering(
        200,
        "x-ms-item-type: DeviceJob\r\n",
        r#"[{"deviceId":"d1","status":"completed"}, [1], null, {"deviceId":"d2","status":"failed"}]"#,
    )
    .await;
    let rows: Vec<_> = client(port)
        .query_device_jobs("j", DeviceJobQuery::default())
        .collect()
        .await;
    let kinds: Vec<String> = rows
        .iter()
        .map(|row| match row {
            Ok(Queried::Item(row)) => row.device_id.clone().unwrap_or_default(),
            Ok(Queried::Unrecognized(raw)) => format!("raw {raw}"),
            Ok(other) => format!("{other:?}"),
            Err(error) => format!("error {error}"),
        })
        .collect();
    assert_eq!(kinds, ["d1", "raw [1]", "raw null", "d2"]);
}

#[tokio::test]
async fn a_next_page_token_that_cannot_be_sent_back_ends_the_listing_with_an_error() {
    let port = answering(
        200,
        "x-ms-continuation: caf\u{e9}-page-2\r\n",
        r#"[{"jobId":"a"}]"#,
    )
    .await;
    let items: Vec<_> = client(port).query_jobs(JobQuery::default()).collect().await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(matches!(items[0], Ok(Queried::Item(_))), "{items:?}");
    let error = items[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidResponse, "{error}");
    assert!(error.to_string().contains("continuation token"), "{error}");
}

#[tokio::test]
async fn a_wait_never_settles_on_another_jobs_answer() {
    let port = answering(200, "", r#"{"jobId":"someone-else","status":"completed"}"#).await;
    let client = client(port);
    let scheduled = client.wait_for_job("mine", quick()).await.unwrap_err();
    let import_export = client
        .wait_for_import_export_job("mine", quick())
        .await
        .unwrap_err();
    let port = answering(200, "", r#"{"jobId":"someone-else","status":"cancelled"}"#).await;
    let cancelled = crate::faults::client(port)
        .cancel_job_and_wait("mine", quick())
        .await
        .unwrap_err();
    for error in [scheduled, import_export, cancelled] {
        assert_eq!(error.kind(), &ErrorKind::InvalidResponse, "{error}");
        let shown = error.to_string();
        assert!(
            shown.contains("\"mine\"") && shown.contains("\"someone-else\""),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn a_huge_failure_reason_or_service_message_is_bounded_in_the_error() {
    let reason = "x".repeat(100_000);
    let body = format!(r#"{{"jobId":"j","status":"failed","failureReason":"{reason}"}}"#);
    let port = answering(200, "", &body).await;
    let error = client(port).wait_for_job("j", quick()).await.unwrap_err();
    let shown = error.to_string();
    assert!(shown.len() < 2_000, "{} characters", shown.len());
    assert!(shown.contains("xxx…"), "{}", &shown[..200]);
    let failure = error
        .detail::<iothub_jobs::WaitFailure<iothub_jobs::JobResponse>>()
        .unwrap();
    assert_eq!(
        failure.job.as_ref().unwrap().failure_reason.as_deref(),
        Some(reason.as_str()),
        "the job keeps all of it"
    );

    let body =
        format!(r#"{{"Message":"ErrorCode:ArgumentInvalid;{reason}","ExceptionMessage":""}}"#);
    let port = answering(400, "", &body).await;
    let error = client(port).get_job("j").await.unwrap_err();
    assert!(error.to_string().len() < 2_000);
    assert_eq!(
        error.service_error().unwrap().message.as_deref(),
        Some(reason.as_str())
    );
}
