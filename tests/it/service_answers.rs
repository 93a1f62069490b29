//! The service's real answers, in the shapes the live service sends and the official SDKs'
//! tests record, served over loopback and read through the public client: both error
//! envelopes, an error wrapped in another, a code the service answers under two statuses, and
//! date-times the model cannot read.

use futures::StreamExt as _;
use iothub_jobs::{DeviceJobQuery, Error, NotFound, Queried, models::JobStatus};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::faults::client;

/// The tracking id the service gave in both shapes below, and the time it appends to it.
const TRACKING_ID: &str = "b4d3ac2ee1e74d2e8b6b1d8a1c4d5ccb-G:10";
const STAMPED: &str = "b4d3ac2ee1e74d2e8b6b1d8a1c4d5ccb-G:10-TimeStamp:05/21/2020 20:14:49";

/// A loopback server that answers every request with `status`, `headers` (lines ending in
/// `\r\n`) and `body`; its port.
pub(crate) async fn answering(status: u16, headers: &str, body: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let response = format!(
        "HTTP/1.1 {status} Answer\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // The head is enough: every request here has an empty or small body.
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

async fn error_from(status: u16, headers: &str, body: &str) -> Error {
    let port = answering(status, headers, body).await;
    client(port).get_job("j").await.unwrap_err()
}

#[tokio::test]
async fn a_numeric_code_alone_is_named_and_advised_by_its_name() {
    let body = format!(
        r#"{{"errorCode":404001,"trackingId":"{STAMPED}","message":"Device not found","timestampUtc":"2020-05-21T20:14:49.1234567Z"}}"#
    );
    let error = error_from(404, "", &body).await;
    assert_eq!(error.code(), Some("DeviceNotFound"));
    let service = error.service_error().unwrap();
    assert_eq!(service.numeric_code, Some(404001));
    assert_eq!(service.message.as_deref(), Some("Device not found"));
    let shown = error.to_string();
    assert!(
        shown.contains("check the device id") && !shown.contains("with_endpoint"),
        "{shown}"
    );
    assert_eq!(
        error.not_found(),
        Some(NotFound::Device),
        "a missing device, not a missing job"
    );
}

#[tokio::test]
async fn a_name_given_beside_a_number_is_kept() {
    // The number names another code: the name given wins.
    let body = r#"{"errorCode":404001,"trackingId":"t","message":"Job not found"}"#;
    let error = error_from(404, "iothub-errorcode: JobNotFound\r\n", body).await;
    assert_eq!(error.code(), Some("JobNotFound"));
    assert!(error.is_not_found());
    // A number the list does not hold keeps no name, and the status's advice applies.
    let error = error_from(404, "", r#"{"errorCode":404999,"message":"m"}"#).await;
    assert_eq!(error.code(), None);
    assert!(error.to_string().contains("with_endpoint"), "{error}");
}

#[tokio::test]
async fn a_wrapped_error_reads_as_its_innermost_sentence() {
    let sentence = "Missing or invalid etag for job type ScheduleUpdateTwin. ScheduleUpdateTwin job type requires etag to be set to '*'";
    let body = format!(
        r#"{{"Message":"ErrorCode:ArgumentInvalid;Error: BadRequest {{\"Message\":\"ErrorCode:ArgumentInvalid;{sentence}\",\"ExceptionMessage\":\"Tracking ID:{STAMPED}\"}}","ExceptionMessage":"Tracking ID:00000000000000000000000000000000-G:1-TimeStamp:05/21/2020 20:14:49"}}"#
    );
    let error = error_from(400, "iothub-errorcode: ArgumentInvalid\r\n", &body).await;
    let service = error.service_error().unwrap();
    assert_eq!(service.message.as_deref(), Some(sentence));
    assert_eq!(service.code.as_deref(), Some("ArgumentInvalid"));
    assert_eq!(service.tracking_id.as_deref(), Some(TRACKING_ID));
    let shown = error.to_string();
    assert!(
        !shown.contains("\\\"") && !shown.contains("BadRequest {"),
        "{shown}"
    );
    assert_eq!(service.raw_body(), body, "the raw body stays available");
}

#[tokio::test]
async fn advice_follows_the_code_whichever_status_it_comes_with() {
    for status in [400, 403] {
        let body = format!(
            r#"{{"Message":"ErrorCode:BlobContainerValidationError;Unauthorized to read the container","ExceptionMessage":"Tracking ID:{STAMPED}"}}"#
        );
        let port = answering(status, "", &body).await;
        let error = client(port).get_import_export_job("x").await.unwrap_err();
        let shown = error.to_string();
        assert!(
            shown.contains("storage container") && !shown.contains("lacks the permission"),
            "{status}: {shown}"
        );
    }
    // With no code, the status decides.
    let error = error_from(403, "", "").await;
    assert!(
        error.to_string().contains("lacks the permission"),
        "{error}"
    );
}

#[tokio::test]
async fn tracking_ids_read_the_same_from_every_shape() {
    let classic = format!(
        r#"{{"Message":"ErrorCode:JobNotFound;Job not found","ExceptionMessage":"Tracking ID:{STAMPED}"}}"#
    );
    let structured = format!(r#"{{"errorCode":404002,"trackingId":"{STAMPED}","message":"m"}}"#);
    let as_string = serde_json::to_string(&structured).unwrap();
    let in_message = format!(r#"{{"Message":{as_string},"ExceptionMessage":""}}"#);
    for body in [classic, structured, in_message] {
        let error = error_from(404, "", &body).await;
        assert_eq!(
            error.service_error().unwrap().tracking_id.as_deref(),
            Some(TRACKING_ID),
            "{body}"
        );
        assert!(error.is_not_found(), "{body}");
    }
}

#[tokio::test]
async fn an_unreadable_date_time_keeps_the_cancelled_job() {
    let body = r#"{"jobId":"j","type":"scheduleUpdateTwin","status":"cancelled",
        "createdTime":"InvalidDateString","startTime":"05/21/2020 20:14:49",
        "endTime":"2020-05-21T20:14:49Z",
        "updateTwin":{"deviceId":"d","etag":"*","lastActivityTime":"yesterday","statusUpdateTime":"0001-01-01T00:00:00"}}"#;
    let port = answering(200, "", body).await;
    let job = client(port).cancel_job("j").await.unwrap();
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    let created = job.created_time.unwrap();
    assert_eq!(created.unreadable(), Some("InvalidDateString"));
    assert_eq!(created.as_datetime(), None);
    assert_eq!(created.to_string(), "InvalidDateString");
    assert_eq!(
        job.start_time.unwrap().unreadable(),
        Some("05/21/2020 20:14:49")
    );
    assert!(job.end_time.unwrap().as_datetime().is_some());
    let twin = job.update_twin.unwrap();
    assert_eq!(
        twin.last_activity_time.unwrap().unreadable(),
        Some("yesterday")
    );
    assert!(twin.status_update_time.unwrap().as_datetime().is_some());
    assert_eq!(
        serde_json::to_value(&created).unwrap(),
        "InvalidDateString",
        "written back as it came"
    );
}

#[tokio::test]
async fn an_unreadable_date_time_keeps_the_import_export_job() {
    let body = r#"{"jobId":"x","type":"export","status":"completed","startTimeUtc":"InvalidDateString","endTimeUtc":"Thu, 21 May 2020 20:14:49 GMT","outputBlobContainerUri":"https://a.blob.core.windows.net/c"}"#;
    let port = answering(200, "", body).await;
    let job = client(port).get_import_export_job("x").await.unwrap();
    assert_eq!(
        job.start_time_utc.unwrap().unreadable(),
        Some("InvalidDateString")
    );
    assert_eq!(
        job.end_time_utc.unwrap().unreadable(),
        Some("Thu, 21 May 2020 20:14:49 GMT")
    );
}

#[tokio::test]
async fn an_unreadable_date_time_keeps_the_device_row() {
    let body = r#"[{"deviceId":"d1","jobId":"j","jobType":"scheduleUpdateTwin","status":"completed",
        "createdDateTimeUtc":"InvalidDateString","startTimeUtc":"2020-05-21T20:14:49Z",
        "endTimeUtc":"21/05/2020","lastUpdatedDateTimeUtc":"never"}]"#;
    let port = answering(200, "", body).await;
    let rows: Vec<_> = client(port)
        .query_device_jobs("j", DeviceJobQuery::default())
        .collect()
        .await;
    let [Ok(Queried::Item(row))] = rows.as_slice() else {
        panic!("one device row: {rows:?}");
    };
    let unreadable = |t: &Option<iothub_jobs::models::Timestamp>| {
        t.as_ref().and_then(|t| t.unreadable().map(str::to_owned))
    };
    assert_eq!(
        unreadable(&row.created_date_time_utc).as_deref(),
        Some("InvalidDateString")
    );
    assert_eq!(unreadable(&row.start_time_utc), None);
    assert_eq!(unreadable(&row.end_time_utc).as_deref(), Some("21/05/2020"));
    assert_eq!(
        unreadable(&row.last_updated_date_time_utc).as_deref(),
        Some("never")
    );
}
