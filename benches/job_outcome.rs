//! `JobsClient::job_outcome` over a million device rows, against a plain parse of the same pages:
//! `cargo bench -p iothub-jobs-tests --bench job_outcome`.
//!
//! So that the client alone is measured, an in-process loopback server (axum) answers
//! `POST /devices/query` itself (the local hub's own serving is bench `million`'s), making each
//! page's rows on the fly from the continuation token (the next row's index): neither side ever
//! holds the rows. The job is a direct method over `ROWS` devices `device-0000000`…: one in
//! 1,000 `failed` (`DeviceNotOnline`), one in 500 `completed` with method status 500 or 501 and a
//! small payload, the rest `completed` with 200 and `{"ok": true}`. Pages hold what `x-ms-max-item-count` asks,
//! at most `PAGE` rows; the job id carries the row count (`bench-outcome-<rows>`).
//!
//! Reported, each the median of `ROUNDS` rounds:
//! - `job_outcome` over the `ROWS` rows, pages of `PAGE`: wall time and rows/s;
//! - the floor: the same pages from the same server through a plain `reqwest::Client`, each body
//!   parsed by `serde_json::from_slice::<Vec<Value>>` and its rows counted; and the ratio of the
//!   two rates;
//! - for context, without the network: one page parsed in memory as `Vec<Value>`, as `Vec<Value>`
//!   then each row read as a `DeviceJob` (the work `job_outcome` does per row), and as
//!   `Vec<DeviceJob>` directly; and the server making pages, which both loopback runs include;
//! - memory: VmRSS sampled every `SAMPLE_EVERY` on a thread of its own during `job_outcome` over
//!   `SMALL` rows and over `ROWS` rows; each run's growth is its highest sample less the VmRSS
//!   before it. The outcome keeps bounded details, so the growth of the `ROWS` run may exceed the
//!   `SMALL` run's by `MAX_EXTRA_GROWTH_KIB` at most, in every round.
//!
//! Every outcome is checked against the rows the server made (counts exact, details bounded at
//! `OutcomeOptions::DEFAULT_MAX_DETAILS`, in order, the rest counted as left out), and the plain
//! parse's row count too, and that both read `ROWS / PAGE` pages: a benchmark that reads wrong
//! data fails.

mod measure;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    hint::black_box,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse as _, Response},
};
use iothub_jobs::{
    API_VERSION, JobOutcome, JobsClient, JobsClientOptions, OutcomeOptions, models::DeviceJob,
};
use serde::Deserialize as _;
use serde_json::{Value, json};

const ROWS: usize = 1_000_000;
const SMALL: usize = 100_000;
const PAGE: usize = 1000;
const ROUNDS: usize = 3;
/// Pages parsed per in-memory measurement.
const PARSE_PAGES: usize = 300;
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
const MAX_EXTRA_GROWTH_KIB: u64 = 16 * 1024;

const KEY: &str = "cGVyZm9ybWFuY2UtYmVuY2htYXJrLWtleS0wMDAwMDA=";
const JOB_PREFIX: &str = "bench-outcome-";
const QUERY_PREFIX: &str = "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '";
const OFFLINE: &str = "Timed out waiting for the device to connect";
const CONTINUATION: &str = "x-ms-continuation";
const MAX_ITEMS: &str = "x-ms-max-item-count";

// The rows.

/// What became of device `n`.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Succeeded,
    /// `completed`, the method answering this status.
    MethodFailed(u16),
    Failed,
}

/// One device in 1,000 failed, one in 500 answered 500 or 501 (never the same devices).
fn kind(n: usize) -> Kind {
    match (n % 1000, n % 500) {
        (999, _) => Kind::Failed,
        (250, _) => Kind::MethodFailed(500),
        (_, 250) => Kind::MethodFailed(501),
        _ => Kind::Succeeded,
    }
}

fn device_id(n: usize) -> String {
    format!("device-{n:07}")
}

fn method_payload(status: u16) -> Value {
    match status {
        500 => json!({"error": "firmware busy", "retryAfterSeconds": 30}),
        _ => json!({"error": "method not implemented"}),
    }
}

fn job_id(rows: usize) -> String {
    format!("{JOB_PREFIX}{rows}")
}

/// Device `n`'s row, as the service writes it (local-hub/src/state/rows.rs), each device ending at
/// its own time.
fn write_row(out: &mut String, job_id: &str, n: usize) {
    let (minute, second, fraction) = ((n / 60) % 60, n % 60, (n * 7919) % 10_000_000);
    let end = format!("2026-11-27T01:{minute:02}:{second:02}.{fraction:07}Z");
    let (status, answer) = match kind(n) {
        Kind::Succeeded => (
            "completed",
            r#""outcome":{"deviceMethodResponse":{"status":200,"payload":{"ok":true}}}"#.to_owned(),
        ),
        Kind::MethodFailed(code) => (
            "completed",
            format!(
                r#""outcome":{{"deviceMethodResponse":{{"status":{code},"payload":{}}}}}"#,
                method_payload(code)
            ),
        ),
        Kind::Failed => (
            "failed",
            format!(r#""error":{{"code":"DeviceNotOnline","description":"{OFFLINE}"}}"#),
        ),
    };
    write!(
        out,
        r#"{{"deviceId":"{}","jobId":"{job_id}","jobType":"scheduleDeviceMethod","status":"{status}","createdDateTimeUtc":"2026-11-26T05:28:52.4513321Z","startTimeUtc":"2026-11-27T01:00:00Z","endTimeUtc":"{end}","lastUpdatedDateTimeUtc":"{end}",{answer}}}"#,
        device_id(n)
    )
    .unwrap();
}

/// The rows `first..end` of `job_id` as one page: a JSON array.
fn page(job_id: &str, first: usize, end: usize) -> String {
    let mut out = String::with_capacity((end - first) * 400 + 2);
    out.push('[');
    for n in first..end {
        if n > first {
            out.push(',');
        }
        write_row(&mut out, job_id, n);
    }
    out.push(']');
    out
}

// The server.

/// The pages served since [`pages_served`] was last called.
static PAGES: AtomicUsize = AtomicUsize::new(0);

/// How many pages the server answered since the last call: a run must read the rows in pages
/// of `PAGE`, or it would measure other pages than the others do.
fn pages_served() -> usize {
    PAGES.swap(0, Ordering::Relaxed)
}

fn refuse(why: String) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

/// A page of the job the query names: the rows from the token's index (`0` without one), as
/// many as asked for up to `PAGE`, and the next row's index as the token unless it is the last.
async fn query(headers: HeaderMap, body: Bytes) -> Response {
    PAGES.fetch_add(1, Ordering::Relaxed);
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| body["query"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let job = text
        .strip_prefix(QUERY_PREFIX)
        .and_then(|rest| rest.strip_suffix('\''));
    let Some((job, rows)) =
        job.and_then(|job| Some((job, job.strip_prefix(JOB_PREFIX)?.parse::<usize>().ok()?)))
    else {
        return refuse(format!("not a query of this bench's jobs: {text:?}"));
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let size = header(MAX_ITEMS)
        .and_then(|size| size.parse::<usize>().ok())
        .unwrap_or(PAGE)
        .clamp(1, PAGE);
    let first = match header(CONTINUATION).map(str::parse::<usize>) {
        None => 0,
        Some(Ok(first)) if first < rows => first,
        Some(_) => return refuse("not a token of this server's".to_owned()),
    };
    let end = (first + size).min(rows);
    let mut response =
        ([(CONTENT_TYPE, "application/json")], page(job, first, end)).into_response();
    if end < rows {
        response
            .headers_mut()
            .insert(CONTINUATION, HeaderValue::from(end));
    }
    response
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/devices/query", axum::routing::post(query));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

// What is measured.

/// The outcome of the job over `rows` rows, unchecked.
async fn outcome(client: &JobsClient, rows: usize) -> JobOutcome {
    let options = OutcomeOptions::default().with_page_size(PAGE as u32);
    client.job_outcome(&job_id(rows), options).await.unwrap()
}

/// Exact counts, and details for the first `DEFAULT_MAX_DETAILS` devices of each list in the
/// order read, the rest counted as left out.
fn check(outcome: &JobOutcome, rows: usize) {
    let max = OutcomeOptions::DEFAULT_MAX_DETAILS;
    let failed: Vec<usize> = (0..rows).filter(|&n| kind(n) == Kind::Failed).collect();
    let method_failed: Vec<usize> = (0..rows)
        .filter(|&n| matches!(kind(n), Kind::MethodFailed(_)))
        .collect();
    let all = (failed.len() + method_failed.len()) as u64;
    assert_eq!(outcome.job_id, job_id(rows));
    assert_eq!(outcome.devices, rows as u64, "devices");
    assert_eq!(outcome.unrecognized_rows, 0, "unrecognized rows");
    let counts = &outcome.counts;
    assert_eq!(counts.failed, failed.len() as u64, "failed");
    assert_eq!(
        counts.method_failed,
        method_failed.len() as u64,
        "method failed"
    );
    assert_eq!(counts.succeeded, rows as u64 - all, "succeeded");
    let others = [
        counts.running,
        counts.pending,
        counts.scheduled,
        counts.canceled,
        counts.other,
    ];
    assert_eq!(
        others, [0; 5],
        "running, pending, scheduled, canceled, other"
    );

    assert_eq!(outcome.failed.len(), failed.len().min(max));
    assert_eq!(
        outcome.failed_left_out,
        failed.len().saturating_sub(max) as u64
    );
    for (device, &n) in outcome.failed.iter().zip(&failed) {
        assert_eq!(device.device_id, device_id(n));
        assert_eq!(device.code.as_deref(), Some("DeviceNotOnline"));
        assert_eq!(device.description.as_deref(), Some(OFFLINE));
    }
    assert_eq!(outcome.method_failed.len(), method_failed.len().min(max));
    let left_out = method_failed.len().saturating_sub(max) as u64;
    assert_eq!(outcome.method_failed_left_out, left_out);
    for (device, &n) in outcome.method_failed.iter().zip(&method_failed) {
        let Kind::MethodFailed(status) = kind(n) else {
            unreachable!()
        };
        assert_eq!(device.device_id, device_id(n));
        assert_eq!(device.status, Some(i32::from(status)));
        assert_eq!(device.payload, Some(method_payload(status)));
    }
    let codes = BTreeMap::from([("DeviceNotOnline".to_owned(), failed.len() as u64)]);
    assert_eq!(outcome.error_codes, codes);
    assert_eq!(outcome.error_codes_left_out, 0);
}

/// The floor: the same pages through a plain reqwest client, each parsed as JSON values and its
/// rows counted.
async fn plain_parse(http: &reqwest::Client, url: &str, rows: usize) -> usize {
    let query = format!("{QUERY_PREFIX}{}'", job_id(rows));
    let body = Bytes::from(serde_json::to_vec(&json!({ "query": query })).unwrap());
    let mut token: Option<String> = None;
    let mut counted = 0;
    loop {
        let mut request = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(MAX_ITEMS, PAGE)
            .body(body.clone());
        if let Some(token) = &token {
            request = request.header(CONTINUATION, token);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let next = response
            .headers()
            .get(CONTINUATION)
            .map(|token| token.to_str().unwrap().to_owned());
        let page = response.bytes().await.unwrap();
        counted += serde_json::from_slice::<Vec<Value>>(&page).unwrap().len();
        match next {
            Some(next) => token = Some(next),
            None => return counted,
        }
    }
}

/// The highest VmRSS sampled while a run goes on, on a thread of its own so that a busy runtime
/// cannot delay the samples.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<u64>,
}

impl Sampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            let mut highest = 0;
            loop {
                highest = highest.max(measure::memory_kib().0);
                if stopped.load(Ordering::Relaxed) {
                    return highest;
                }
                thread::sleep(SAMPLE_EVERY);
            }
        });
        Self { stop, thread }
    }

    fn highest(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// One `job_outcome` run, its time and memory.
struct Run {
    elapsed: Duration,
    before: u64,
    highest: u64,
    after: u64,
}

impl Run {
    fn growth(&self) -> u64 {
        self.highest.saturating_sub(self.before)
    }
}

async fn sampled_outcome(client: &JobsClient, rows: usize) -> Run {
    let (before, _) = measure::memory_kib();
    let sampler = Sampler::start();
    let started = Instant::now();
    let outcome = outcome(client, rows).await;
    let elapsed = started.elapsed();
    let highest = sampler.highest();
    // Checked outside the time measured.
    check(&outcome, rows);
    assert_eq!(pages_served(), rows / PAGE, "job_outcome's pages");
    drop(outcome);
    Run {
        elapsed,
        before,
        highest,
        after: measure::memory_kib().0,
    }
}

/// Rows per second of `parse` over `PARSE_PAGES` pages, each the same `page`: the median of
/// `ROUNDS` runs.
fn in_memory(page: &[u8], parse: impl Fn(&[u8]) -> usize) -> f64 {
    let runs = (0..ROUNDS).map(|_| {
        let started = Instant::now();
        let rows: usize = (0..PARSE_PAGES).map(|_| parse(black_box(page))).sum();
        assert_eq!(rows, PARSE_PAGES * PAGE);
        rate(rows, started.elapsed())
    });
    median(runs.collect())
}

fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let bench_started = Instant::now();
    let addr = serve().await;
    let connection_string = format!(
        "HostName=bench.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"
    );
    let options = JobsClientOptions::default().with_endpoint(format!("http://{addr}"));
    let client =
        JobsClient::from_connection_string_with_options(&connection_string, options).unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/devices/query?api-version={API_VERSION}");

    // The rows are as the top of this file says.
    let count = |of: fn(Kind) -> bool| (0..ROWS).filter(|&n| of(kind(n))).count();
    assert_eq!(count(|k| k == Kind::Succeeded), 997_000);
    assert_eq!(count(|k| matches!(k, Kind::MethodFailed(_))), 2000);
    assert_eq!(count(|k| k == Kind::Failed), 1000);

    println!(
        "job_outcome over {ROWS} device rows from a loopback server that makes them per page ({PAGE} rows a page)"
    );
    println!("  {ROUNDS} rounds, medians; rows/s = rows read per second, wall time");
    println!(
        "  job_outcome: JobsClient::job_outcome, checked; plain parse: reqwest + serde_json::from_slice::<Vec<Value>> of the same pages"
    );
    println!(
        "  memory: VmRSS every {} ms during job_outcome over {SMALL} rows and over {ROWS} rows",
        SAMPLE_EVERY.as_millis()
    );
    println!();

    // Warm-up: connections, the allocator's arenas, the SAS token.
    check(&outcome(&client, SMALL).await, SMALL);
    assert_eq!(plain_parse(&http, &url, SMALL).await, SMALL);
    pages_served();

    let mut small_runs = Vec::new();
    let mut large_runs = Vec::new();
    let mut plain_times = Vec::new();
    for round in 1..=ROUNDS {
        let small = sampled_outcome(&client, SMALL).await;
        let large = sampled_outcome(&client, ROWS).await;
        let started = Instant::now();
        let counted = plain_parse(&http, &url, ROWS).await;
        let plain = started.elapsed();
        assert_eq!(counted, ROWS, "the plain parse's rows");
        assert_eq!(pages_served(), ROWS / PAGE, "the plain parse's pages");
        println!(
            "round {round}: job_outcome {:.2} s ({:.0} rows/s), plain parse {:.2} s ({:.0} rows/s); growth {:.1} MiB ({SMALL} rows), {:.1} MiB ({ROWS} rows)",
            large.elapsed.as_secs_f64(),
            rate(ROWS, large.elapsed),
            plain.as_secs_f64(),
            rate(ROWS, plain),
            mib(small.growth()),
            mib(large.growth()),
        );
        small_runs.push(small);
        large_runs.push(large);
        plain_times.push(plain);
    }
    println!();

    // Without the network, for context.
    let one_page = page(&job_id(ROWS), 0, PAGE).into_bytes();
    let values = in_memory(&one_page, |page| {
        serde_json::from_slice::<Vec<Value>>(page).unwrap().len()
    });
    let values_then_rows = in_memory(&one_page, |page| {
        let rows = serde_json::from_slice::<Vec<Value>>(page).unwrap();
        for row in &rows {
            black_box(DeviceJob::deserialize(row).unwrap());
        }
        rows.len()
    });
    let typed = in_memory(&one_page, |page| {
        serde_json::from_slice::<Vec<DeviceJob>>(page)
            .unwrap()
            .len()
    });
    let job = job_id(ROWS);
    let making = in_memory(b"", |_| {
        black_box(page(&job, 0, PAGE));
        PAGE
    });

    let median_time = |mut times: Vec<Duration>| {
        times.sort();
        measure::percentile(&times, 0.5)
    };
    let outcome_time = median_time(large_runs.iter().map(|r| r.elapsed).collect());
    let plain_time = median_time(plain_times);
    let (outcome_rate, plain_rate) = (rate(ROWS, outcome_time), rate(ROWS, plain_time));
    println!(
        "{:<58} {:>12} {:>12}",
        "over loopback (medians)", "rows/s", "µs a page"
    );
    let per_page = |time: Duration| measure::micros(time) / (ROWS / PAGE) as f64;
    println!(
        "{:<58} {outcome_rate:>12.0} {:>12.0}",
        "job_outcome",
        per_page(outcome_time)
    );
    println!(
        "{:<58} {plain_rate:>12.0} {:>12.0}",
        "plain parse (reqwest + Vec<Value>)",
        per_page(plain_time)
    );
    println!("{:<58} {values:>12.0}", "in memory: one page as Vec<Value>");
    println!(
        "{:<58} {values_then_rows:>12.0}",
        "in memory: Vec<Value>, then each row as a DeviceJob"
    );
    println!(
        "{:<58} {typed:>12.0}",
        "in memory: one page as Vec<DeviceJob>"
    );
    println!(
        "{:<58} {making:>12.0}",
        format!(
            "server: making pages ({} bytes a row)",
            one_page.len() / PAGE
        )
    );
    println!();

    println!(
        "memory (VmRSS, medians): before the run / highest during it / after it, growth = highest - before"
    );
    for (rows, runs) in [(SMALL, &small_runs), (ROWS, &large_runs)] {
        let median_of = |field: fn(&Run) -> u64| median(runs.iter().map(field).collect());
        println!(
            "  {rows:>7} rows: {:.1} / {:.1} / {:.1} MiB, growth {:.1} MiB",
            mib(median_of(|r| r.before)),
            mib(median_of(|r| r.highest)),
            mib(median_of(|r| r.after)),
            mib(median_of(Run::growth)),
        );
    }
    let extra: Vec<i64> = small_runs
        .iter()
        .zip(&large_runs)
        .map(|(small, large)| large.growth() as i64 - small.growth() as i64)
        .collect();
    let worst = extra.iter().copied().max().unwrap();
    println!(
        "  growth of {ROWS} rows over {SMALL}: {:.1} MiB median, {:.1} MiB at most (limit {:.0} MiB); peak VmHWM {:.1} MiB",
        median(extra.clone()) as f64 / 1024.0,
        worst as f64 / 1024.0,
        mib(MAX_EXTRA_GROWTH_KIB),
        mib(measure::memory_kib().1)
    );
    assert!(
        worst < MAX_EXTRA_GROWTH_KIB as i64,
        "job_outcome's memory grows with the rows: {worst} KiB more over {ROWS} rows than over {SMALL}"
    );
    println!();
    println!(
        "job_outcome: {outcome_rate:.0} rows/s, {:.2}× the plain parse ({plain_rate:.0} rows/s); bench ran {:.1} s",
        outcome_rate / plain_rate,
        bench_started.elapsed().as_secs_f64()
    );
}
