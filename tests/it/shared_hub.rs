//! The local hub as a server other processes share: what it keeps of its traffic, how it
//! treats slow, silent and surplus connections, every refusal in the service's shape, the
//! service's query size limit and device-id rules, and statistics that follow the rows.

use std::time::Duration;

use iothub_jobs::JobQuery;
use iothub_local_hub::LocalHub;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support;
use crate::support::HubClient as _;

/// Every bounded wait on the hub in this file: far longer than any answer takes.
const PATIENCE: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, work)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {PATIENCE:?}"))
}

#[tokio::test]
async fn the_request_log_keeps_the_latest_requests_within_its_bounds() {
    let hub = LocalHub::builder()
        .request_log(5, 1 << 20)
        .start()
        .await
        .unwrap();
    for n in 0..20 {
        support::send(&hub, Method::GET, &format!("/jobs/v2/job-{n}"), None).await;
    }
    let paths: Vec<_> = hub.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/jobs/v2/job-15",
            "/jobs/v2/job-16",
            "/jobs/v2/job-17",
            "/jobs/v2/job-18",
            "/jobs/v2/job-19"
        ]
    );

    // Bodies count against the byte bound: three of 6 kB fill 10 kB one at a time.
    let hub = LocalHub::builder()
        .request_log(100, 10_000)
        .start()
        .await
        .unwrap();
    for n in 0..3 {
        let body = json!({"query": format!("{n}{}", "x".repeat(6_000))});
        support::send(&hub, Method::POST, "/devices/query", Some(body)).await;
    }
    let kept = hub.requests();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].body.starts_with(b"{\"query\":\"2x"), "{kept:?}");

    // Unauthenticated floods are bounded too: a megabyte body each, 20 of them.
    let hub = LocalHub::builder()
        .request_log(1_000, 3 << 20)
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let status = client
            .post(support::hub_url(&hub, "/devices/query"))
            .body(vec![b'x'; 1 << 20])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    let held: usize = hub.requests().iter().map(|r| r.body.len()).sum();
    assert!(held <= 3 << 20, "{held} bytes kept");
    assert_eq!(hub.requests().len(), 2, "two whole requests fit in 3 MiB");

    let hub = LocalHub::builder().request_log(0, 0).start().await.unwrap();
    support::send(&hub, Method::GET, "/jobs/v2/j", None).await;
    assert!(hub.requests().is_empty());
}

/// What the hub sends back on `stream` until it closes the connection.
async fn until_closed(mut stream: TcpStream) -> String {
    let mut answer = Vec::new();
    within(
        "the hub closing the connection",
        stream.read_to_end(&mut answer),
    )
    .await
    .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn hub_with_client_timeout(timeout: Duration) -> LocalHub {
    LocalHub::builder()
        .client_timeout(timeout)
        .start()
        .await
        .unwrap()
}

async fn connect(hub: &LocalHub) -> TcpStream {
    TcpStream::connect(hub.endpoint().trim_start_matches("http://"))
        .await
        .unwrap()
}

#[tokio::test]
async fn silent_slow_and_idle_clients_are_disconnected() {
    let hub = hub_with_client_timeout(Duration::from_millis(300)).await;

    // A connection that never sends anything.
    assert_eq!(until_closed(connect(&hub).await).await, "");

    // A request head that stops halfway.
    let mut stream = connect(&hub).await;
    stream
        .write_all(b"GET /jobs/v2/j?api-version=2021-04-12 HTTP/1.1\r\nHo")
        .await
        .unwrap();
    assert_eq!(until_closed(stream).await, "");

    // A body that stops after one byte of ten: answered 408 in the service's shape, then closed.
    let mut stream = connect(&hub).await;
    let head = format!(
        "PUT /jobs/v2/j?api-version=2021-04-12 HTTP/1.1\r\nhost: x\r\nauthorization: {}\r\ncontent-length: 10\r\n\r\n{{",
        support::hub_token(&hub)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("iothub-errorcode: RequestTimedOut"),
        "{answer}"
    );
    assert!(answer.contains("ErrorCode:RequestTimedOut;"), "{answer}");

    // A kept-alive connection left idle after a complete exchange.
    let mut stream = connect(&hub).await;
    let request = format!(
        "GET /jobs/v2/j?api-version=2021-04-12 HTTP/1.1\r\nhost: x\r\nauthorization: {}\r\n\r\n",
        support::hub_token(&hub)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = until_closed(stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 404"),
        "answered, then closed: {answer}"
    );
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_one() {
    let hub = LocalHub::builder()
        .max_connections(2)
        .start()
        .await
        .unwrap();
    hub.schedule_job("j");
    let first = connect(&hub).await;
    let second = connect(&hub).await;
    let waiting = tokio::spawn({
        let client = hub.client().unwrap();
        async move { client.get_job("j").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "served past the limit");
    drop(first);
    let job = within("the waiting request", waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.job_id.as_deref(), Some("j"));
    drop(second);
}

#[tokio::test]
async fn every_refusal_has_the_services_shape() {
    let hub = LocalHub::start().await.unwrap();
    let shape = |what: &str, status: u16, code: Option<String>, body: &Value, want: (u16, &str)| {
        assert_eq!(
            (status, code.as_deref()),
            (want.0, Some(want.1)),
            "{what}: {body}"
        );
        let message = body["Message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("ErrorCode:{};", want.1)),
            "{what}: {body}"
        );
        assert!(
            body["ExceptionMessage"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Tracking ID:"),
            "{what}: {body}"
        );
    };
    for (method, path) in [
        (Method::PUT, "/jobs/v2/query"),
        (Method::DELETE, "/jobs/v2/x"),
        (Method::GET, "/jobs/create"),
        (Method::PATCH, "/devices/query"),
    ] {
        let what = format!("{method} {path}");
        let (status, code, body) = support::send(&hub, method, path, None).await;
        shape(&what, status, code, &body, (405, "GenericMethodNotAllowed"));
    }
    let refused = reqwest::Client::new()
        .delete(support::hub_url(&hub, "/jobs/v2/x"))
        .header("authorization", support::hub_token(&hub))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["allow"], "GET,HEAD,PUT");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("DELETE is not allowed on /jobs/v2/x"),
        "{body}"
    );

    for (method, path) in [
        (Method::GET, "/jobs/v2/%FF"),
        (Method::PUT, "/jobs/v2/%FF"),
        (Method::POST, "/jobs/v2/%FF/cancel"),
        (Method::GET, "/jobs/%FF"),
        (Method::DELETE, "/jobs/%FF"),
    ] {
        let what = format!("{method} {path}");
        let (status, code, body) = support::send(&hub, method, path, None).await;
        shape(&what, status, code, &body, (400, "ArgumentInvalid"));
    }
    let (status, code, body) = support::send(&hub, Method::GET, "/no/such/route", None).await;
    shape("an unknown route", status, code, &body, (404, "NotFound"));
}

/// How many devices `devices(…)` names to fill most of the service's query size limit.
const MANY: usize = 900;

/// A condition naming `count` devices `d00000`, `d00001`, …
/// A condition naming `count` devices, which `hub` then has.
fn devices(hub: &LocalHub, count: usize) -> String {
    let ids: Vec<String> = (0..count).map(|n| format!("d{n:05}")).collect();
    hub.add_devices(&ids).unwrap();
    let quoted: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    format!("deviceId IN [{}]", quoted.join(","))
}

fn twin_job(condition: &str) -> Value {
    json!({"type": "scheduleUpdateTwin", "queryCondition": condition,
        "startTime": "2020-01-01T00:00:00Z", "updateTwin": {"etag": "*", "tags": {"a": 1}}})
}

#[tokio::test]
async fn queries_over_the_services_size_limit_are_refused_412() {
    let hub = LocalHub::start().await.unwrap();
    // 8,192 bytes: the largest condition the hub takes.
    let largest = devices(&hub, MANY);
    assert!(largest.len() < 8_192);
    let largest = format!("{largest}{}", " ".repeat(8_192 - largest.len()));
    assert_eq!(largest.len(), 8_192);
    let (status, _, job) =
        support::send(&hub, Method::PUT, "/jobs/v2/big", Some(twin_job(&largest))).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["deviceJobStatistics"]["deviceCount"], MANY);

    let over = format!("{largest} ");
    let (status, code, body) =
        support::send(&hub, Method::PUT, "/jobs/v2/bigger", Some(twin_job(&over))).await;
    assert_eq!(
        (status, code.as_deref()),
        (412, Some("PreconditionFailed")),
        "{body}"
    );
    assert!(
        body["Message"].as_str().unwrap().contains("8193 bytes"),
        "{body}"
    );
    assert!(hub.job("bigger").is_none());

    let query = format!(
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'big'{}",
        " ".repeat(8_200)
    );
    let (status, code, _) = support::send(
        &hub,
        Method::POST,
        "/devices/query",
        Some(json!({"query": query})),
    )
    .await;
    assert_eq!((status, code.as_deref()), (412, Some("PreconditionFailed")));
}

/// Every row of the device-job query `query`, page by page, by hand, with the tokens the hub
/// handed out; bounded, so a token that restarts the listing fails the test.
async fn all_rows(hub: &LocalHub, query: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut rows = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1_000 {
        let mut request = client
            .post(support::hub_url(hub, "/devices/query"))
            .header("authorization", support::hub_token(hub))
            .header("x-ms-max-item-count", "100")
            .json(&json!({"query": query}));
        if let Some(token) = &token {
            request = request.header("x-ms-continuation", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        token = response
            .headers()
            .get("x-ms-continuation")
            .map(|v| v.to_str().unwrap().to_owned());
        let page: Vec<Value> = response.json().await.unwrap();
        rows.extend(page);
        if token.is_none() {
            return rows;
        }
    }
    panic!("the listing did not end");
}

#[tokio::test]
async fn rows_page_through_a_large_job_once_each_in_order() {
    let hub = LocalHub::builder()
        .max_page_size(100)
        .start()
        .await
        .unwrap();
    let condition = devices(&hub, MANY);
    for id in ["a-job", "b-job"] {
        let (status, _, _) = support::send(
            &hub,
            Method::PUT,
            &format!("/jobs/v2/{id}"),
            Some(twin_job(&condition)),
        )
        .await;
        assert_eq!(status, 200);
    }
    let rows = all_rows(&hub, "SELECT * FROM devices.jobs").await;
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["jobId"].as_str().unwrap().into(),
                r["deviceId"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for job in ["a-job", "b-job"] {
        for n in 0..MANY {
            expected.push((job.to_owned(), format!("d{n:05}")));
        }
    }
    assert_eq!(keys, expected);
    let one_job = all_rows(
        &hub,
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'b-job'",
    )
    .await;
    assert_eq!(one_job.len(), MANY);
    assert!(one_job.iter().all(|r| r["jobId"] == "b-job"));
}

#[tokio::test]
async fn device_ids_follow_iot_hubs_rules_and_tokens_read_back() {
    let hub = LocalHub::builder().max_page_size(1).start().await.unwrap();
    // Twice the same device, one id outside the character set, and ids with every special
    // character the rule allows.
    let condition =
        r#"deviceId IN ['c', 'c', 'é', 'a b', 'a%2F', 'b#?', 'x:y=z@w;$!', 'p(q),r*s+t_u.v-']"#;
    let valid = ["c", "a%2F", "b#?", "x:y=z@w;$!", "p(q),r*s+t_u.v-"];
    hub.add_devices(valid).unwrap();
    for invalid in ["é", "a b"] {
        assert!(hub.add_devices([invalid]).is_err(), "{invalid}");
    }
    let (status, _, job) =
        support::send(&hub, Method::PUT, "/jobs/v2/ids", Some(twin_job(condition))).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["deviceJobStatistics"]["deviceCount"], 5, "{job}");
    let rows = all_rows(&hub, "SELECT * FROM devices.jobs").await;
    let ids: Vec<_> = rows
        .iter()
        .map(|r| r["deviceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a%2F", "b#?", "c", "p(q),r*s+t_u.v-", "x:y=z@w;$!"]);

    // Job ids the hub was given as they are, outside the rule: their tokens read back too.
    for id in ["é-1", "é-2", "é 3/x"] {
        hub.insert_job_json(
            json!({"jobId": id, "type": "scheduleUpdateTwin", "status": "completed"}),
        );
    }
    let client = hub.client().unwrap();
    let listed = within("listing the jobs", async {
        let mut ids = Vec::new();
        let mut jobs = std::pin::pin!(client.query_jobs(JobQuery::default()));
        while let Some(job) = futures::StreamExt::next(&mut jobs).await {
            let iothub_jobs::Queried::Item(job) = job.unwrap() else {
                panic!("a job the client does not read");
            };
            ids.push(job.job_id.unwrap());
        }
        ids
    })
    .await;
    assert_eq!(listed, ["ids", "é 3/x", "é-1", "é-2"]);
}

#[tokio::test]
async fn statistics_follow_the_rows_after_a_cancel_and_after_devices_change() {
    let (hub, start) = support::hub_on_a_held_clock().await;
    hub.add_devices(["d1", "d2"]).unwrap();
    let method = json!({"type": "scheduleDeviceMethod", "queryCondition": "deviceId IN ['d1', 'd2']",
        "startTime": start.to_rfc3339(), "cloudToDeviceMethod": {"methodName": "reboot"}});
    let rows_of =
        |id: &str| format!("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{id}'");
    let statuses = |rows: &[Value]| {
        rows.iter()
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    support::send(&hub, Method::PUT, "/jobs/v2/stopped", Some(method.clone())).await;
    let (_, _, cancelled) =
        support::send(&hub, Method::POST, "/jobs/v2/stopped/cancel", None).await;
    assert_eq!(
        statuses(&all_rows(&hub, &rows_of("stopped")).await),
        ["canceled", "canceled"]
    );
    assert_eq!(
        cancelled["deviceJobStatistics"],
        json!({"deviceCount": 2, "failedCount": 0, "succeededCount": 0, "runningCount": 0, "pendingCount": 0})
    );

    // Finished and read, then a device goes offline: the finished job keeps its answers.
    support::send(&hub, Method::PUT, "/jobs/v2/seen", Some(method.clone())).await;
    hub.advance_time(Duration::from_secs(120));
    let (_, _, seen) = support::send(&hub, Method::GET, "/jobs/v2/seen", None).await;
    assert_eq!(seen["status"], "completed");
    // Finished on the clock (its start and run time are past) but not yet read when the
    // device goes offline: the same.
    support::send(&hub, Method::PUT, "/jobs/v2/unseen", Some(method.clone())).await;
    hub.set_device_offline("d1");
    let succeeded = json!({"deviceCount": 2, "failedCount": 0, "succeededCount": 2, "runningCount": 0, "pendingCount": 0});
    for id in ["seen", "unseen"] {
        let (_, _, job) = support::send(&hub, Method::GET, &format!("/jobs/v2/{id}"), None).await;
        assert_eq!(job["deviceJobStatistics"], succeeded, "{id}");
        assert_eq!(
            statuses(&all_rows(&hub, &rows_of(id)).await),
            ["completed", "completed"],
            "{id}"
        );
    }

    // A job that finishes after the change sees it, in its rows and its statistics alike.
    support::send(&hub, Method::PUT, "/jobs/v2/later", Some(method.clone())).await;
    hub.advance_time(Duration::from_secs(120));
    let (_, _, later) = support::send(&hub, Method::GET, "/jobs/v2/later", None).await;
    assert_eq!(
        later["deviceJobStatistics"],
        json!({"deviceCount": 2, "failedCount": 1, "succeededCount": 1, "runningCount": 0, "pendingCount": 0})
    );
    assert_eq!(
        statuses(&all_rows(&hub, &rows_of("later")).await),
        ["failed", "completed"]
    );
}

/// A twin at the largest version there is, reached by a twin-update job: the job completes,
/// the counters stay at their ceiling instead of overflowing, and every request after it —
/// the job, another job, a device query, the embedded API — gets its proper answer.
#[tokio::test]
async fn a_twin_at_the_largest_version_leaves_the_hub_answering() {
    let (hub, start) = support::hub_on_a_held_clock().await;
    hub.add_twins([json!({"deviceId": "worn", "version": i64::MAX,
        "properties": {"desired": {"$version": i64::MAX}}})])
        .unwrap();
    hub.add_devices(["fresh"]).unwrap();
    let job = json!({"type": "scheduleUpdateTwin", "queryCondition": "*",
        "startTime": start.to_rfc3339(),
        "updateTwin": {"etag": "*", "tags": {"a": 1}, "properties": {"desired": {"b": 2}}}});
    let (status, _, _) = support::send(&hub, Method::PUT, "/jobs/v2/bump", Some(job)).await;
    assert_eq!(status, 200);
    hub.advance_time(Duration::from_secs(120));
    let query = json!({"query": "SELECT COUNT() AS n FROM devices WHERE tags.a = 1"});
    for _ in 0..3 {
        let (status, _, job) = support::send(&hub, Method::GET, "/jobs/v2/bump", None).await;
        assert_eq!((status, job["status"].as_str()), (200, Some("completed")));
        let (status, code, _) = support::send(&hub, Method::GET, "/jobs/v2/other", None).await;
        assert_eq!((status, code.as_deref()), (404, Some("JobNotFound")));
        let (status, _, counted) =
            support::send(&hub, Method::POST, "/devices/query", Some(query.clone())).await;
        assert_eq!((status, counted), (200, json!([{"n": 2}])));
    }
    let worn = hub.twin("worn").unwrap();
    assert_eq!(worn["version"], i64::MAX, "{worn}");
    assert_eq!(
        worn["properties"]["desired"]["$version"],
        i64::MAX,
        "{worn}"
    );
    assert_eq!(worn["properties"]["desired"]["b"], 2, "{worn}");
    let fresh = hub.twin("fresh").unwrap();
    assert_eq!(
        (
            &fresh["version"],
            &fresh["properties"]["desired"]["$version"],
            &fresh["properties"]["reported"]["lastDesiredVersion"],
        ),
        (&json!(3), &json!(2), &json!(2)),
        "written by the update, then by the device's report"
    );
}

/// Twins enough that the work over all of them takes far longer than a request beside it.
const CROWD: usize = 60_000;

/// `request`'s answer, which must be `200`.
async fn answered(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Work that grows with the twins — a twin-update job over all of them completing, a count
/// over all of them — answers right while other requests are served beside it, the large job
/// reading `completed` only once every twin is written. That neither holds the hub's locks for
/// more than a slice of twins is the unit test of `registry::write_slice` and, in figures, the
/// `local_hub` benchmark's (how long a request beside them waits: a time, so not a test's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_over_many_twins_answers_right_beside_other_requests() {
    let (hub, start) = support::hub_on_a_held_clock().await;
    let ids: Vec<String> = (0..CROWD).map(|n| format!("d{n:06}")).collect();
    hub.add_devices(&ids).unwrap();
    let job = |condition: &str, start: chrono::DateTime<chrono::Utc>| {
        json!({"type": "scheduleUpdateTwin", "queryCondition": condition,
            "startTime": start.to_rfc3339(), "updateTwin": {"etag": "*", "tags": {"ring": "b"}}})
    };
    let earlier = start - chrono::Duration::minutes(5);
    for (id, condition, start) in [
        ("everyone", "*", start),
        ("one", "deviceId = 'd000001'", earlier),
    ] {
        let path = format!("/jobs/v2/{id}");
        let (status, _, _) =
            support::send(&hub, Method::PUT, &path, Some(job(condition, start))).await;
        assert_eq!(status, 200);
    }
    let (_, _, one) = support::send(&hub, Method::GET, "/jobs/v2/one", None).await;
    assert_eq!(
        one["status"], "completed",
        "the small job has finished before"
    );
    hub.advance_time(Duration::from_secs(120));

    // The large job completes (its own read waits for every twin to be written) while an
    // unrelated job is read.
    let client = reqwest::Client::new();
    let request = |method: Method, path: &str| {
        client
            .request(method, support::hub_url(&hub, path))
            .header("authorization", support::hub_token(&hub))
    };
    let completing = tokio::spawn(answered(request(Method::GET, "/jobs/v2/everyone")));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let beside = answered(request(Method::GET, "/jobs/v2/one")).await;
    let everyone = within("the large job completing", completing)
        .await
        .unwrap();
    assert_eq!(everyone["status"], "completed", "{everyone}");
    assert_eq!(beside["status"], "completed", "{beside}");
    let everyone = hub.twin(&ids[CROWD - 1]).unwrap();
    assert_eq!(everyone["tags"]["ring"], "b", "{everyone}");

    // A count over every twin while a job over one device is created.
    let count = json!({"query": "SELECT COUNT() AS n FROM devices WHERE tags.ring = 'b'"});
    let counting = tokio::spawn(answered(
        request(Method::POST, "/devices/query").json(&count),
    ));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let small = job("deviceId = 'd000002'", start + chrono::Duration::hours(1));
    let created = answered(request(Method::PUT, "/jobs/v2/small").json(&small)).await;
    let counted = within("the count", counting).await.unwrap();
    assert_eq!(counted, json!([{"n": CROWD}]));
    assert_eq!(created["jobId"], "small", "{created}");
}
