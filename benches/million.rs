//! A million devices: the local hub's binary holding a fleet of `DEVICES` twins of the
//! service's shape (about 1 KB each: tags for rings, site and model, a few reported properties)
//! and the client working over them. `cargo bench -p iothub-jobs-tests --bench million` (a few
//! minutes; it writes a fleet file of about 1 GB under target/).
//!
//! Reported, each beside its bound from issue 35 and, where there was one, the figure before
//! twins were held compactly (JSON values: 1,141 MiB per 100,000 twins; a count over 300,000 in
//! 0.2–0.56 s; a job's rows served at about 80,000 a second):
//! - loading the fleet file (`iothub-local-hub --devices`): the seconds until the hub prints
//!   its connection string, and the hub process's resident memory then (`VmRSS`, the hub alone:
//!   it is a process of its own here);
//! - `SELECT COUNT()` with a tag condition, and a `GROUP BY` of one reported property, over
//!   every twin: latency percentiles; beside each, an unrelated `get_job` read every
//!   `READ_EVERY`: its p99;
//! - a twin-update job over every device: how long until it reads `completed`, and until its
//!   devices applied it (counted by Microsoft's convention), with the unrelated reads' p99 beside
//!   it; then its device rows read page by page (`query_device_jobs`): rows per second;
//! - the client's twin stream (`query_twins`) over every twin: its rate, and this process's
//!   memory, which stays flat;
//! - on a second hub, a generated fleet of a million devices (`--generate-fleet`): a rollout
//!   with convergence over its three rings (the default gate of a twin update that sets desired
//!   properties): its time, and the hub's peak memory (`VmHWM`).
//!
//! Every count is checked: a benchmark that reads wrong data fails.

mod measure;
#[allow(dead_code)] // the bench starts hubs and builds clients only
#[path = "../tests/it/support.rs"]
mod support;

use std::{
    io::Write as _,
    pin::pin,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use iothub_jobs::{
    Convergence, ConvergenceWait, DeviceJobQuery, Field, JobsClient, JobsClientOptions, Queried,
    Rollout, RolloutGate, TwinUpdateJob, WaitOptions,
};
use serde_json::json;

const DEVICES: usize = 1_000_000;
/// How the hubs run: the service's largest pages, jobs of five seconds, devices answering two
/// seconds after their twins are written.
const HUB: [&str; 6] = [
    "--max-page-size",
    "1000",
    "--job-run-time",
    "5",
    "--apply-delay",
    "2",
];
const COUNTS: usize = 20;
const GROUPINGS: usize = 5;
/// How often the unrelated reader reads a job, as a client polling one does.
const READ_EVERY: Duration = Duration::from_millis(10);
/// The most rows a page holds: the service's largest page.
const PAGE: u32 = 1_000;
const SITES: [&str; 8] = [
    "ams-1", "ams-2", "dub-1", "fra-1", "lon-1", "par-1", "sea-1", "syd-1",
];
const FIRMWARE: [&str; 5] = ["2.2.9", "2.3.1", "2.3.4", "2.4.0", "2.5.2"];

/// One device in fifty is in the canary ring, nine in fifty early, the rest broad.
fn ring(n: usize) -> &'static str {
    match n % 50 {
        0 => "canary",
        1..=9 => "early",
        _ => "broad",
    }
}

/// Device `n`'s twin: about 1 KB as the hub serves it, the fields it always writes filled in.
fn twin(n: usize) -> serde_json::Value {
    json!({
        "deviceId": format!("sensor-{n:07}"),
        "tags": {"ring": ring(n), "site": SITES[n % SITES.len()], "model": "th-200",
            "owner": {"team": "fleet-ops", "costCenter": format!("cc-{}", n % 97)}},
        "properties": {"reported": {
            "firmware": {"version": FIRMWARE[(n / SITES.len()) % FIRMWARE.len()], "channel": "stable"},
            "temperature": 18.0 + (n % 100) as f64 / 10.0,
            "battery": n % 101,
            "rssi": -40 - (n % 50) as i64,
            "uptimeSeconds": n * 37,
            "lastReboot": "2026-11-30T04:12:55.301Z",
        }},
        "connectionState": "Connected",
    })
}

/// The fleet file, written once per run into target/.
fn fleet_file() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(format!("million-fleet-{DEVICES}.json"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(b"[").unwrap();
    for n in 0..DEVICES {
        if n > 0 {
            out.write_all(b",\n").unwrap();
        }
        serde_json::to_writer(&mut out, &twin(n)).unwrap();
    }
    out.write_all(b"]").unwrap();
    out.flush().unwrap();
    path
}

/// `VmRSS` and `VmHWM` of process `pid`, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let (resident, peak) = measure::memory_kib_of(&pid.to_string());
    (resident as f64 / 1024.0, peak as f64 / 1024.0)
}

/// Reads job `id` every [`READ_EVERY`] until stopped; the latencies.
fn reader(
    client: JobsClient,
    id: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut times = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            client.get_job(id).await.unwrap();
            times.push(started.elapsed());
            tokio::time::sleep(READ_EVERY).await;
        }
        times
    })
}

/// Runs `work` with an unrelated reader beside it; what it returned, and the reads' p99 and
/// max in milliseconds.
async fn beside<T>(client: &JobsClient, work: impl Future<Output = T>) -> (T, f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let reads = reader(client.clone(), "unrelated", stop.clone());
    let done = work.await;
    stop.store(true, Ordering::Relaxed);
    let mut times = reads.await.unwrap();
    times.sort();
    let ms = |p: f64| measure::micros(measure::percentile(&times, p)) / 1000.0;
    (done, ms(0.99), ms(1.0))
}

fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |p: f64| measure::micros(measure::percentile(&times, p)) / 1000.0;
    (ms(0.5), ms(1.0))
}

/// Job `job`'s rows, page by page, as raw HTTP: how many, and the seconds they took. Each page
/// is read whole and its rows counted by their `deviceId`s, not parsed: what the hub serves.
async fn raw_rows(connection_string: &str, endpoint: &str, job: &str) -> (usize, f64) {
    let part = |name: &str| {
        connection_string
            .split(';')
            .find_map(|part| part.strip_prefix(name))
            .unwrap()
            .to_owned()
    };
    let token = support::mint_token(
        &part("HostName="),
        &part("SharedAccessKeyName="),
        &part("SharedAccessKey="),
        support::unix_now() + 3600,
    );
    let http = reqwest::Client::new();
    let url = format!(
        "{endpoint}/devices/query?api-version={}",
        iothub_jobs::API_VERSION
    );
    let body =
        json!({"query": format!("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{job}'")});
    let started = Instant::now();
    let (mut rows, mut continuation) = (0, None::<String>);
    loop {
        let mut request = http
            .post(&url)
            .header("authorization", &token)
            .header("x-ms-max-item-count", PAGE.to_string())
            .json(&body);
        if let Some(token) = &continuation {
            request = request.header("x-ms-continuation", token);
        }
        let response = request.send().await.unwrap();
        continuation = response
            .headers()
            .get("x-ms-continuation")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let page = response.bytes().await.unwrap();
        rows += page.windows(10).filter(|w| w == b"\"deviceId\"").count();
        if continuation.is_none() {
            return (rows, started.elapsed().as_secs_f64());
        }
    }
}

#[tokio::main]
async fn main() {
    // Built now, so that the load below is timed alone.
    support::local_hub_binary();
    let started = Instant::now();
    let file = fleet_file();
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "a million devices: {DEVICES} twins, fleet file {:.0} MiB written in {:.1} s",
        size as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let (mut hub, connection_string, endpoint) = {
        let file = file.to_str().unwrap().to_owned();
        let args = [&["--devices", &file][..], &HUB].concat();
        support::started_local_hub(&args, Stdio::null())
    };
    let loaded = started.elapsed();
    let pid = hub.id();
    let (resident, _) = memory_mib(pid);
    println!(
        "load: {:.1} s (bound 30 s); hub resident {resident:.0} MiB (bound 2048 MiB; before, about 11,400 MiB)",
        loaded.as_secs_f64()
    );

    let options = JobsClientOptions::default().with_endpoint(&endpoint);
    let client =
        JobsClient::from_connection_string_with_options(&connection_string, options).unwrap();
    client
        .schedule_twin_update(
            TwinUpdateJob::new("unrelated", "deviceId = 'sensor-0000001'")
                .with_tags(support::object(json!({"probe": 1})))
                .with_start_time(chrono::Utc::now() + chrono::Duration::hours(1)),
        )
        .await
        .unwrap();

    // Counting and grouping.
    let canaries = (0..DEVICES).filter(|n| ring(*n) == "canary").count() as u64;
    let (counts, p99, max) = beside(&client, async {
        let mut times = Vec::new();
        for _ in 0..COUNTS {
            let started = Instant::now();
            let counted = client
                .count_devices(Field::tag("ring").eq("canary"))
                .await
                .unwrap();
            times.push(started.elapsed());
            assert_eq!(counted, canaries);
        }
        times
    })
    .await;
    let (p50, worst) = percentiles(counts);
    println!(
        "a twin as served: {} bytes of JSON",
        pin!(client.query_twins(iothub_jobs::DeviceQuery::new("deviceId = 'sensor-0000001'")))
            .next()
            .await
            .map(|twin| serde_json::to_string(&twin.unwrap().item().unwrap())
                .unwrap()
                .len())
            .unwrap_or(0)
    );
    println!(
        "COUNT() of tags.ring = 'canary' ({canaries}): p50 {p50:.0} ms (bound 300; before, 200-560 ms over 300,000), max {worst:.0} ms; unrelated get_job beside it p99 {p99:.1} ms (bound 50), max {max:.1}"
    );
    let (groupings, p99, max) = beside(&client, async {
        let mut times = Vec::new();
        for _ in 0..GROUPINGS {
            let started = Instant::now();
            let groups: Vec<_> = client
                .query_distribution([Field::reported("firmware.version")], "*")
                .collect()
                .await;
            times.push(started.elapsed());
            let devices: u64 = groups
                .into_iter()
                .map(|group| match group.unwrap() {
                    Queried::Item(group) => group.devices,
                    other => panic!("{other:?}"),
                })
                .sum();
            assert_eq!(devices, DEVICES as u64);
        }
        times
    })
    .await;
    let (p50, worst) = percentiles(groupings);
    println!(
        "GROUP BY properties.reported.firmware.version: p50 {p50:.0} ms (bound 1000), max {worst:.0} ms; unrelated get_job p99 {p99:.1} ms (bound 50), max {max:.1}"
    );

    // A twin update over every device, and its devices applying it.
    let (resident, _) = memory_mib(pid);
    println!("  hub resident after the queries: {resident:.0} MiB");
    let patch = support::object(json!({"firmware": {"version": "3.0.0"}}));
    let ((completed, applied), p99, max) = beside(&client, async {
        let started = Instant::now();
        client
            .schedule_twin_update(
                TwinUpdateJob::new("everyone", "*").with_desired_properties(patch.clone()),
            )
            .await
            .unwrap();
        let wait = WaitOptions::default().with_timeout(Duration::from_secs(600));
        let job = client.wait_for_job("everyone", wait).await.unwrap();
        let completed = started.elapsed();
        assert_eq!(
            job.device_job_statistics.unwrap().device_count,
            Some(DEVICES as i32)
        );
        let converged = ConvergenceWait::default()
            .with_wait(
                WaitOptions::default()
                    .with_poll_interval(Duration::from_secs(1))
                    .with_max_poll_interval(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(600)),
            )
            .with_sample(0);
        let report = client
            .wait_for_convergence("*", &Convergence::acknowledged(), converged)
            .await
            .unwrap();
        assert_eq!(report.counts.converged, DEVICES as u64);
        (completed, started.elapsed())
    })
    .await;
    println!(
        "twin update of every device: completed in {:.1} s, applied by every device in {:.1} s; unrelated get_job p99 {p99:.1} ms (bound 50), max {max:.1}",
        completed.as_secs_f64(),
        applied.as_secs_f64()
    );
    let (resident, _) = memory_mib(pid);
    println!("  hub resident after the update: {resident:.0} MiB");
    let (read, elapsed) = raw_rows(&connection_string, &endpoint, "everyone").await;
    assert_eq!(read, DEVICES);
    println!(
        "its device rows as the hub serves them (pages of {PAGE}, read but not parsed): {:.0} rows/s (bound 200,000; before, about 80,000)",
        read as f64 / elapsed
    );
    let started = Instant::now();
    let mut rows =
        pin!(client.query_device_jobs("everyone", DeviceJobQuery::default().with_page_size(PAGE)));
    let mut read = 0;
    while let Some(row) = rows.next().await {
        assert!(matches!(row.unwrap(), Queried::Item(_)));
        read += 1;
    }
    assert_eq!(read, DEVICES);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "its device rows through the client (query_device_jobs, each row parsed): {read} in {elapsed:.1} s, {:.0} rows/s",
        read as f64 / elapsed
    );

    // The client's twin stream over every twin: its memory stays flat.
    let (baseline, _) = measure::memory_kib();
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut twins = pin!(client.query_twins(
        iothub_jobs::DeviceQuery::new(iothub_jobs::Condition::every_device()).with_page_size(PAGE)
    ));
    let mut read = 0;
    while let Some(twin) = twins.next().await {
        assert!(matches!(twin.unwrap(), Queried::Item(_)));
        read += 1;
        if read % 100_000 == 0 {
            samples.push(measure::memory_kib().0);
        }
    }
    assert_eq!(read, DEVICES);
    let growth = samples.iter().max().unwrap() - samples[0];
    println!(
        "query_twins over every twin: {:.0} twins/s; this process's resident memory {:.1} MiB before, {:.1} MiB after the first 100,000, growth after that {:.1} MiB (flat)",
        read as f64 / started.elapsed().as_secs_f64(),
        baseline as f64 / 1024.0,
        samples[0] as f64 / 1024.0,
        growth as f64 / 1024.0
    );
    let _ = hub.kill();
    let _ = hub.wait();
    let _ = std::fs::remove_file(file);
    rollout_over_a_generated_fleet().await;
}

/// A rollout with convergence over a generated fleet of a million devices, in its three rings,
/// on a hub of its own: the default gate of a twin update that sets desired properties.
async fn rollout_over_a_generated_fleet() {
    let started = Instant::now();
    let devices = DEVICES.to_string();
    let args = [&["--generate-fleet", &devices][..], &HUB].concat();
    let (mut hub, connection_string, endpoint) = support::started_local_hub(&args, Stdio::null());
    let pid = hub.id();
    println!(
        "a generated fleet of {DEVICES} devices: up in {:.1} s, hub resident {:.0} MiB",
        started.elapsed().as_secs_f64(),
        memory_mib(pid).0
    );
    let options = JobsClientOptions::default().with_endpoint(&endpoint);
    let client =
        JobsClient::from_connection_string_with_options(&connection_string, options).unwrap();
    let started = Instant::now();
    let polls = WaitOptions::default()
        .with_poll_interval(Duration::from_secs(1))
        .with_max_poll_interval(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(900));
    let job = TwinUpdateJob::new("rollout", "*")
        .with_desired_properties(support::object(json!({"firmware": {"version": "3.1.0"}})));
    let mut rollout = Rollout::twin_update(job)
        .with_gate(
            RolloutGate::default()
                .with_convergence_wait(ConvergenceWait::default().with_wait(polls)),
        )
        .with_job_wait(WaitOptions::default().with_timeout(Duration::from_secs(900)));
    for (ring, _) in iothub_local_hub::LocalHub::GENERATED_RINGS {
        rollout = rollout.wave(ring, Field::tag("ring").eq(ring));
    }
    let report = client.rollout(rollout).await.unwrap();
    assert!(report.halted.is_none(), "{:?}", report.halted);
    let converged: u64 = report
        .waves
        .iter()
        .map(|wave| wave.convergence.as_ref().unwrap().counts.converged)
        .sum();
    assert_eq!(converged, DEVICES as u64);
    let (resident, peak) = memory_mib(pid);
    println!(
        "rollout with convergence over canary (2 %), early (18 %) and broad (80 %): {:.1} s; hub resident {resident:.0} MiB, peak {peak:.0} MiB",
        started.elapsed().as_secs_f64()
    );
    let _ = hub.kill();
    let _ = hub.wait();
}
