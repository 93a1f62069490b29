//! Fault injection: the client against a loopback server (real sockets, raw HTTP) that
//! misbehaves in the ways networks and services do. Each scenario checks the outcome, the
//! number of requests the server saw, and how long the call took; one test runs them all at
//! TRACE and checks that no key, token or signature reached the logs.

use std::{
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use iothub_jobs::{
    Error, ErrorKind, JobResponse, JobsClient, JobsClientOptions, RetryOptions, WaitEnd,
    WaitOptions,
    auth::{AuthorizationFuture, Credential},
    models::JobStatus,
};
use iothub_local_hub::LocalHub;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::support::HubClient as _;
use crate::{secret_forms, support};

const KEY: &str = "c2VjcmV0LWtleS1mb3ItZmF1bHQtdGVzdHM=";
const HOST: &str = "faulty.azure-devices.net";
const JOB: &str = r#"{"jobId":"j","status":"cancelled","type":"scheduleUpdateTwin"}"#;
const TRACKING: &str =
    "Tracking ID:0123456789abcdef0123456789abcdef-G:5-TimeStamp:11/26/2026 05:28:52";

/// What the server does with request number `n` (from 1).
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    /// A complete HTTP response, then close.
    Raw(&'static str),
    /// `200` with these extra header lines (each ending in `\r\n`) and this JSON body.
    Json(&'static str, &'static str),
    /// Answers in the service's words.
    Ok,
    Unavailable,
    NotFound,
    /// Close with a TCP reset before answering.
    Reset,
    /// Accept, read the request, never answer.
    Stall,
    /// Promise 500 bytes, send 20, close.
    Truncated,
    /// Promise 500 bytes, send 20, then never send more.
    HalfThenStall,
    /// Promise 100 MB and stream spaces until the client goes away.
    Huge,
    /// 100 MB of spaces, chunked: no length announced.
    HugeChunked,
    /// `307` to the other server.
    RedirectElsewhere,
    /// An empty query page with a continuation token never given before.
    EmptyPageWithFreshToken,
}

fn text(answer: Answer) -> String {
    match answer {
        Answer::Raw(raw) => raw.to_owned(),
        Answer::Json(headers, body) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
        Answer::Ok => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JOB}",
            JOB.len()
        ),
        Answer::Unavailable => error(503, "ServiceUnavailable", "The service is busy"),
        Answer::NotFound => error(404, "JobNotFound", "Job with id 'j' not found"),
        _ => unreachable!("not a plain answer"),
    }
}

/// An error in the service's classic shape.
fn error(status: u16, code: &str, message: &str) -> String {
    let body =
        format!(r#"{{"Message":"ErrorCode:{code};{message}","ExceptionMessage":"{TRACKING}"}}"#);
    format!(
        "HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\niothub-errorcode: {code}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What a server saw.
#[derive(Default)]
pub(crate) struct Seen {
    requests: usize,
    /// The first line of each request (`POST /jobs/v2/j/cancel?… HTTP/1.1`, `CONNECT …`).
    pub(crate) request_lines: Vec<String>,
    /// Answers of 100 MB that were written in full: the client read on, or buffers took it.
    huge_bodies_written: usize,
    authorizations: Vec<String>,
}

/// A loopback server answering request `n` with `answers(n)`.
pub(crate) async fn serve(answers: fn(usize) -> Answer, elsewhere: u16) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move { answer(stream, answers, elsewhere, record).await });
        }
    });
    (port, seen)
}

async fn answer(
    mut stream: TcpStream,
    answers: fn(usize) -> Answer,
    elsewhere: u16,
    seen: Arc<Mutex<Seen>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.requests += 1;
        let authorization = head.lines().find_map(|l| {
            l.strip_prefix("authorization: ")
                .or_else(|| l.strip_prefix("Authorization: "))
        });
        seen.authorizations
            .push(authorization.unwrap_or_default().to_owned());
        seen.request_lines
            .push(head.lines().next().unwrap_or_default().to_owned());
        seen.requests
    };
    match answers(n) {
        Answer::EmptyPageWithFreshToken => {
            let page = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-ms-continuation: token-{n}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]"
            );
            let _ = stream.write_all(page.as_bytes()).await;
        }
        Answer::Reset => {
            stream.set_zero_linger().unwrap();
            drop(stream);
        }
        Answer::Stall => tokio::time::sleep(Duration::from_secs(60)).await,
        Answer::Truncated => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"jobId\":\"j\",\"stat").await;
        }
        Answer::HalfThenStall => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"jobId\":\"j\",\"stat").await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Answer::Huge | Answer::HugeChunked => {
            let chunked = matches!(answers(n), Answer::HugeChunked);
            let head: &[u8] = if chunked {
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 104857600\r\n\r\n"
            };
            let _ = stream.write_all(head).await;
            let mut chunk = vec![b' '; 64 * 1024];
            if chunked {
                chunk = [b"10000\r\n".as_slice(), &chunk, b"\r\n"].concat();
            }
            for _ in 0..1600 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            seen.lock().unwrap().huge_bodies_written += 1;
        }
        Answer::RedirectElsewhere => {
            let redirect = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{elsewhere}/jobs/v2/j/cancel?api-version=2021-04-12\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(redirect.as_bytes()).await;
        }
        plain => {
            let _ = stream.write_all(text(plain).as_bytes()).await;
        }
    }
}

/// What a scenario observed.
struct Observed {
    outcome: Result<JobResponse, Error>,
    requests: usize,
    huge_bodies_written: usize,
    elapsed: Duration,
    authorizations: Vec<String>,
    elsewhere_requests: usize,
}

fn connection_string() -> String {
    format!("HostName={HOST};SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}")
}

/// A client of the fault server on `port`: quick retries, short timeouts.
pub(crate) fn client(port: u16) -> JobsClient {
    let options = JobsClientOptions::default()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_request_timeout(Duration::from_millis(700))
        .with_max_response_bytes(1024 * 1024)
        .with_retry(
            RetryOptions::default()
                .with_max_attempts(3)
                .with_initial_delay(Duration::from_millis(20))
                .with_total_timeout(Duration::from_secs(15)),
        );
    JobsClient::from_connection_string_with_options(&connection_string(), options).unwrap()
}

async fn run(answers: fn(usize) -> Answer) -> Observed {
    let (elsewhere, elsewhere_seen) = serve(|_| Answer::Ok, 0).await;
    let (port, seen) = serve(answers, elsewhere).await;
    let started = Instant::now();
    let outcome = client(port).cancel_job("j").await;
    let elapsed = started.elapsed();
    let seen = seen.lock().unwrap();
    Observed {
        outcome,
        requests: seen.requests,
        huge_bodies_written: seen.huge_bodies_written,
        elapsed,
        authorizations: seen.authorizations.clone(),
        elsewhere_requests: elsewhere_seen.lock().unwrap().requests,
    }
}

fn failure(observed: &Observed) -> &Error {
    observed.outcome.as_ref().expect_err("the call should fail")
}

/// Three attempts of 700 ms each, all ended by the per-attempt timeout.
fn every_attempt_timed_out(observed: &Observed) {
    let error = failure(observed);
    assert_eq!(error.kind(), &ErrorKind::Transport, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(observed.requests, 3);
    assert!(
        observed.elapsed >= Duration::from_millis(2100)
            && observed.elapsed < Duration::from_secs(4),
        "{:?}",
        observed.elapsed
    );
}

macro_rules! scenarios {
    ($($name:ident: $answers:expr => |$observed:ident| $check:block)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let $observed = run($answers).await;
                $check
            }
        )*

        /// Every scenario, for the test that runs them all under a capturing subscriber.
        async fn run_all() {
            $(
                let $observed = run($answers).await;
                $check
            )*
        }
    };
}

scenarios! {
    unavailable_then_ok_succeeds_on_the_second_attempt: |n| if n == 1 { Answer::Unavailable } else { Answer::Ok } => |o| {
        assert!(o.outcome.is_ok(), "{:?}", o.outcome);
        assert_eq!(o.requests, 2);
        assert!(o.elapsed < Duration::from_secs(2), "{:?}", o.elapsed);
    }
    throttled_with_retry_after_waits_as_told: |n| if n == 1 {
        Answer::Raw("HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\niothub-errorcode: ThrottlingException\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    } else {
        Answer::Ok
    } => |o| {
        assert!(o.outcome.is_ok(), "{:?}", o.outcome);
        assert_eq!(o.requests, 2);
        assert!(o.elapsed >= Duration::from_secs(2) && o.elapsed < Duration::from_secs(4), "{:?}", o.elapsed);
    }
    always_unavailable_gives_up_after_the_configured_attempts: |_| Answer::Unavailable => |o| {
        let error = failure(&o);
        assert_eq!((error.status(), error.code(), error.attempts()), (Some(503), Some("ServiceUnavailable"), 3));
        assert!(error.is_transient());
        assert_eq!(o.requests, 3);
        assert!(o.elapsed < Duration::from_secs(2), "{:?}", o.elapsed);
    }
    a_reset_connection_is_retried: |n| if n == 1 { Answer::Reset } else { Answer::Ok } => |o| {
        assert!(o.outcome.is_ok(), "{:?}", o.outcome);
        assert_eq!(o.requests, 2);
    }
    always_reset_is_a_transport_error: |_| Answer::Reset => |o| {
        let error = failure(&o);
        assert_eq!(error.kind(), &ErrorKind::Transport, "{error}");
        assert_eq!(o.requests, 3);
    }
    a_stalled_server_times_out_each_attempt: |_| Answer::Stall => |o| {
        every_attempt_timed_out(&o);
    }
    a_truncated_body_is_retried_then_reported: |_| Answer::Truncated => |o| {
        let error = failure(&o);
        assert_eq!(error.kind(), &ErrorKind::Transport, "{error}");
        assert_eq!(o.requests, 3);
    }
    half_a_body_then_silence_times_out: |_| Answer::HalfThenStall => |o| {
        every_attempt_timed_out(&o);
    }
    malformed_json_is_an_invalid_response_and_not_retried: |_| Answer::Raw(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\nconnection: close\r\n\r\n{\"jobId\": 7,"
    ) => |o| {
        let error = failure(&o);
        assert_eq!(error.kind(), &ErrorKind::InvalidResponse, "{error}");
        assert_eq!(o.requests, 1);
    }
    an_html_411_is_reported_with_its_text: |_| Answer::Raw(
        "HTTP/1.1 411 Length Required\r\ncontent-type: text/html\r\ncontent-length: 52\r\nconnection: close\r\n\r\n<html><body><h2>Length Required</h2></body></html>\r\n"
    ) => |o| {
        let error = failure(&o);
        assert_eq!(error.status(), Some(411));
        assert!(error.to_string().contains("Length Required"), "{error}");
        assert_eq!(o.requests, 1);
    }
    a_100_mb_body_is_refused_without_reading_it: |_| Answer::Huge => |o| {
        let error = failure(&o);
        assert_eq!(error.kind(), &ErrorKind::ResponseTooLarge, "{error}");
        assert_eq!(o.requests, 1);
        assert_eq!(o.huge_bodies_written, 0, "the client hung up before the end");
    }
    a_100_mb_chunked_body_is_refused_without_reading_it: |_| Answer::HugeChunked => |o| {
        let error = failure(&o);
        assert_eq!(error.kind(), &ErrorKind::ResponseTooLarge, "{error}");
        assert_eq!(o.requests, 1);
        assert_eq!(o.huge_bodies_written, 0, "the client hung up before the end");
    }
    a_redirect_is_not_followed_and_the_token_stays_home: |_| Answer::RedirectElsewhere => |o| {
        let error = failure(&o);
        assert_eq!(error.kind(), &ErrorKind::InvalidResponse, "{error}");
        assert_eq!((o.requests, o.elsewhere_requests), (1, 0));
    }
    a_401_is_retried_once: |n| if n == 1 {
        Answer::Raw("HTTP/1.1 401 Unauthorized\r\niothub-errorcode: IotHubUnauthorizedAccess\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    } else {
        Answer::Ok
    } => |o| {
        assert!(o.outcome.is_ok(), "{:?}", o.outcome);
        assert_eq!(o.requests, 2);
        assert_eq!(o.authorizations.len(), 2);
        assert!(o.authorizations.iter().all(|a| a.starts_with("SharedAccessSignature ")));
    }
    a_401_twice_is_reported: |_| Answer::Raw(
        "HTTP/1.1 401 Unauthorized\r\niothub-errorcode: IotHubUnauthorizedAccess\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    ) => |o| {
        let error = failure(&o);
        assert!(error.is_unauthorized());
        assert_eq!(o.requests, 2);
    }
    a_retry_after_past_the_total_timeout_is_reported_at_once: |_| Answer::Raw(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 18446744073709551615\r\niothub-errorcode: ServiceUnavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    ) => |o| {
        let error = failure(&o);
        assert_eq!((error.status(), error.attempts()), (Some(503), 1));
        assert!(o.elapsed < Duration::from_secs(2), "{:?}", o.elapsed);
    }
    other_client_errors_are_never_retried: |_| Answer::NotFound => |o| {
        let error = failure(&o);
        assert_eq!(error.code(), Some("JobNotFound"));
        assert!(error.is_not_found() && !error.is_transient());
        assert_eq!(o.requests, 1);
    }
}

/// Every fault scenario, then the local hub answering a good and a wrong key, at TRACE: no
/// key, token or signature reaches the logs, on success or failure.
#[test]
fn nothing_secret_reaches_the_logs_at_trace() {
    let wrong_key = "d3Jvbmcta2V5";
    let mut hub_key = String::new();
    let mut tokens = Vec::new();
    let logs = support::trace_logs(async {
        run_all().await;
        let hub = LocalHub::start().await.unwrap();
        hub.schedule_job("j");
        hub.client().unwrap().cancel_job("j").await.unwrap();
        support::client_with_key(&hub, wrong_key)
            .cancel_job("j")
            .await
            .unwrap_err();
        hub_key = hub.policy_key();
        tokens = hub
            .requests()
            .iter()
            .filter_map(|r| r.header("authorization").map(str::to_owned))
            .collect();
    });
    assert!(logs.contains("retrying"), "the retries were logged");
    assert!(
        logs.contains("iothub_jobs"),
        "the calls were traced:\n{logs}"
    );
    let signatures = tokens.iter().map(|token| {
        token
            .split("sig=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
    });
    for secret in [KEY, &hub_key, wrong_key, "SharedAccessSignature", "sig="]
        .into_iter()
        .chain(signatures)
    {
        secret_forms::assert_hidden(&logs, secret);
    }
}

/// Runs the example against `endpoint`.
fn run_example(endpoint: String) -> std::process::Output {
    Command::new(support::example("cancel_job"))
        .arg("j")
        .env("IOTHUB_CONNECTION_STRING", connection_string())
        .env("IOTHUB_ENDPOINT", endpoint)
        .output()
        .unwrap()
}

/// The example, pointed at a hub that faults: exit 0 after a retry, or exit 1 with the error
/// code and tracking id on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_survives_a_transient_fault_and_reports_a_final_one() {
    let (port, _) = serve(
        |n| {
            if n == 1 {
                Answer::Unavailable
            } else {
                Answer::Ok
            }
        },
        0,
    )
    .await;
    let output =
        tokio::task::spawn_blocking(move || run_example(format!("http://127.0.0.1:{port}")))
            .await
            .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"status\": \"cancelled\""));

    let (port, _) = serve(|_| Answer::NotFound, 0).await;
    let output =
        tokio::task::spawn_blocking(move || run_example(format!("http://127.0.0.1:{port}")))
            .await
            .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("JobNotFound") && stderr.contains("0123456789abcdef0123456789abcdef-G:5"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_never_prints_the_password_in_an_endpoint() {
    let output = tokio::task::spawn_blocking(|| {
        run_example("http://admin:S3cretP4ss@127.0.0.1:9".to_owned())
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("user info"), "{stderr}");
    assert!(!stderr.contains("S3cretP4ss"), "{stderr}");
}

/// A credential whose token never comes (a token service that hangs).
#[derive(Debug)]
struct NeverAnswers;

impl Credential for NeverAnswers {
    fn authorization(&self) -> AuthorizationFuture<'_> {
        AuthorizationFuture::new(std::future::pending())
    }
}

#[tokio::test]
async fn a_credential_that_hangs_is_bounded_by_the_attempt_timeout() {
    let (port, seen) = serve(|_| Answer::Ok, 0).await;
    let options = JobsClientOptions::default()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_request_timeout(Duration::from_millis(300))
        .with_retry(RetryOptions::default().with_max_attempts(2));
    let client = JobsClient::new(HOST, Arc::new(NeverAnswers), options).unwrap();
    let started = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(10), client.cancel_job("j"))
        .await
        .expect("the call must not wait for the credential forever")
        .unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Transport, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(error.attempts(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        seen.lock().unwrap().requests,
        0,
        "no request without a token"
    );
}

#[tokio::test]
async fn duration_max_limits_mean_no_limit() {
    let (port, _) = serve(|_| Answer::Ok, 0).await;
    let options = JobsClientOptions::default()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_request_timeout(Duration::MAX)
        .with_sas_token_lifetime(Duration::MAX)
        .with_retry(RetryOptions::default().with_total_timeout(Duration::MAX));
    let client =
        JobsClient::from_connection_string_with_options(&connection_string(), options).unwrap();
    let wait = WaitOptions::default()
        .with_timeout(Duration::MAX)
        .with_max_poll_interval(Duration::MAX);
    // Bounded here, so that a wait that would never end fails the test instead of hanging it.
    let job = tokio::time::timeout(
        Duration::from_secs(10),
        client.cancel_job_and_wait("j", wait),
    )
    .await
    .expect("a job that answers cancelled ends the wait at once")
    .unwrap();
    assert_eq!(job.status, Some(JobStatus::Cancelled));
}

/// A job that stays `scheduled` whatever is asked of it.
const SCHEDULED: Answer = Answer::Json(
    "",
    r#"{"jobId":"j","status":"scheduled","type":"scheduleUpdateTwin"}"#,
);

/// Every item of `client.query_jobs`, or a failed test if the stream has not ended in 10 s.
async fn query_all(client: &JobsClient) -> Vec<Result<iothub_jobs::QueriedJob, Error>> {
    use futures::StreamExt as _;
    let stream = std::pin::pin!(client.query_jobs(iothub_jobs::JobQuery::default()));
    tokio::time::timeout(Duration::from_secs(10), stream.collect())
        .await
        .expect("the query stream must end")
}

#[tokio::test]
async fn a_repeated_continuation_token_ends_the_query_with_an_error() {
    let (port, seen) = serve(|_| Answer::Json("x-ms-continuation: again\r\n", "[]"), 0).await;
    let items = query_all(&client(port)).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidResponse, "{error}");
    assert!(error.to_string().contains("continuation token"), "{error}");
    assert_eq!(seen.lock().unwrap().requests, 2);
}

#[tokio::test]
async fn one_item_a_page_under_a_repeated_token_does_not_stream_forever() {
    let (port, seen) = serve(
        |_| Answer::Json("x-ms-continuation: again\r\n", r#"[{"jobId":"j"}]"#),
        0,
    )
    .await;
    let items = query_all(&client(port)).await;
    assert_eq!(
        items.len(),
        3,
        "two pages' items, then the error: {items:?}"
    );
    assert!(items[..2].iter().all(Result::is_ok));
    assert_eq!(
        items[2].as_ref().unwrap_err().kind(),
        &ErrorKind::InvalidResponse
    );
    assert_eq!(seen.lock().unwrap().requests, 2);
}

#[tokio::test]
async fn a_run_of_empty_pages_ends_the_query_with_an_error() {
    let (port, seen) = serve(|_| Answer::EmptyPageWithFreshToken, 0).await;
    let items = query_all(&client(port)).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidResponse, "{error}");
    assert!(error.to_string().contains("empty pages"), "{error}");
    let requests = seen.lock().unwrap().requests;
    assert!((2..=100).contains(&requests), "{requests} requests");
}

#[tokio::test]
async fn a_zero_poll_interval_still_ends_at_the_wait_timeout() {
    let (port, seen) = serve(|_| SCHEDULED, 0).await;
    let client = client(port);
    for wait in [
        WaitOptions::default().with_poll_interval(Duration::ZERO),
        WaitOptions::default().with_max_poll_interval(Duration::ZERO),
        WaitOptions::default()
            .with_poll_interval(Duration::ZERO)
            .with_max_poll_interval(Duration::ZERO),
    ] {
        let started = Instant::now();
        let error = tokio::time::timeout(
            Duration::from_secs(10),
            client.cancel_job_and_wait("j", wait.with_timeout(Duration::from_secs(1))),
        )
        .await
        .expect("the wait must end at its timeout")
        .unwrap_err();
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
    }
    let requests = seen.lock().unwrap().requests;
    assert!(
        requests < 1000,
        "{requests} polls in 3 s: the pause has a floor"
    );
}

#[tokio::test]
async fn the_wait_timeout_bounds_a_poll_that_stalls() {
    let (port, seen) = serve(|n| if n == 1 { SCHEDULED } else { Answer::Stall }, 0).await;
    let options = JobsClientOptions::default()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_request_timeout(Duration::from_secs(2));
    let client =
        JobsClient::from_connection_string_with_options(&connection_string(), options).unwrap();
    let wait = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(50))
        .with_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        client.cancel_job_and_wait("j", wait),
    )
    .await
    .expect("the wait must end")
    .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(
        support::scheduled_wait(&error).0,
        WaitEnd::TimedOut,
        "{error}"
    );
    assert_eq!(
        support::scheduled_wait(&error).1.unwrap().status,
        Some(JobStatus::Scheduled),
        "the last state seen"
    );
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );
    assert_eq!(
        seen.lock().unwrap().requests,
        2,
        "the cancel, then one poll that stalled"
    );
}

/// Set in the child process of the proxy test, whose environment names a proxy.
const PROXY_CHILD: &str = "IOTHUB_JOBS_TEST_PROXY_CHILD";

/// With every proxy variable pointing at a stand-in proxy, a loopback endpoint is reached
/// directly (the token never reaches the proxy) while an `https` endpoint still goes through
/// the proxy. The environment is process-wide, so the client runs in a child process: this
/// test binary again, running only this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_endpoint_never_goes_through_an_environment_proxy() {
    if std::env::var_os(PROXY_CHILD).is_some() {
        return proxy_child().await;
    }
    let (proxy, seen) = serve(|_| Answer::Ok, 0).await;
    // Test names leave out the crate's name, which `module_path!` starts with.
    let name = "a_loopback_endpoint_never_goes_through_an_environment_proxy";
    let test = match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    };
    let proxy_url = format!("http://127.0.0.1:{proxy}");
    let mut child = Command::new(std::env::current_exe().unwrap());
    child.args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"]);
    for name in ["NO_PROXY", "no_proxy"] {
        child.env_remove(name);
    }
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        child.env(name, &proxy_url);
    }
    child.env(PROXY_CHILD, "1");
    let output = tokio::task::spawn_blocking(move || child.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.request_lines,
        ["CONNECT hub.example.test:443 HTTP/1.1"],
        "the proxy saw only the https endpoint's tunnel"
    );
    assert!(
        seen.authorizations.iter().all(String::is_empty),
        "no token reached the proxy"
    );
}

async fn proxy_child() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j1");
    let job = hub.client().unwrap().cancel_job("j1").await.unwrap();
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert_eq!(hub.requests().len(), 1, "the local hub itself answered");
    // Proxies still serve https endpoints (the stand-in cannot speak TLS, so this fails).
    let options = JobsClientOptions::default()
        .with_endpoint("https://hub.example.test")
        .with_retry(RetryOptions::disabled());
    let client =
        JobsClient::from_connection_string_with_options(&connection_string(), options).unwrap();
    assert_eq!(
        client.cancel_job("j1").await.unwrap_err().kind(),
        &ErrorKind::Transport
    );
}

/// A cancel refused for another reason than the job's state is the answer: only "too late to
/// cancel" makes `cancel_job_and_wait` read the job instead.
#[tokio::test]
async fn a_cancel_refused_otherwise_than_too_late_ends_the_wait_with_that_error() {
    const REFUSED: &str = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\niothub-errorcode: ArgumentInvalid\r\ncontent-length: 85\r\nconnection: close\r\n\r\n{\"Message\":\"ErrorCode:ArgumentInvalid;The job id is not valid\",\"ExceptionMessage\":\"\"}";
    let (port, seen) = serve(
        |n| {
            if n == 1 {
                Answer::Raw(REFUSED)
            } else {
                Answer::Ok
            }
        },
        0,
    )
    .await;
    let error = client(port)
        .cancel_job_and_wait(
            "j",
            WaitOptions::default().with_timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("ArgumentInvalid"), "{error}");
    assert_eq!(
        seen.lock().unwrap().requests,
        1,
        "the job is not read after such a refusal"
    );
}
