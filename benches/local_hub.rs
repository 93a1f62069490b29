//! The local hub under load, as a CI server shared by many clients meets it:
//! `cargo bench -p iothub-jobs-tests --bench local_hub`.
//!
//! One hub, set up as `local_hub` serves (no request log), holds `LARGE_JOBS` running jobs,
//! each over the largest condition it takes (the service's 8,192-byte limit, filled with the
//! shortest device ids: about 1,600 devices), and one small job. `IDLE` connections that never
//! send anything are held open throughout. `CLIENTS` clients, each with its own connection
//! pool as separate CI processes would have, then run `ROUNDS` rounds at once: read the small
//! job, list every row of one large job (page by page), list every job.
//!
//! Reported: latency percentiles per kind of call, the rows served per second, and the
//! process's resident memory before and after, with its peak (the clients' memory included:
//! the hub is in-process).
//!
//! Then, beside work that grows with the twins: a second hub holds `CROWD` twins, on a clock
//! the benchmark moves. `READERS` clients read a small job every `READ_EVERY` (and, during the
//! counts, create a small job over one device after each read) while (a) a twin-update job over every
//! twin completes, and (b) `COUNTERS` clients run `COUNTS` `COUNT()` queries each over every
//! twin. Reported: the latency percentiles of those unrelated requests during each, and how
//! long the large work took.

mod measure;
#[allow(dead_code)] // the bench builds clients only
#[path = "../tests/it/support.rs"]
mod support;

use std::{
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use futures::StreamExt as _;
use iothub_jobs::{
    Condition, DeviceJobQuery, Field, JobQuery, JobsClient, Queried, TwinUpdateJob,
    models::JobStatus,
};
use iothub_local_hub::LocalHub;
use serde_json::json;
use support::HubClient as _;

const CLIENTS: usize = 64;
const ROUNDS: usize = 20;
const LARGE_JOBS: usize = 10;
const IDLE: usize = 200;
/// The twins of the hub beside whose work requests are timed.
const CROWD: usize = 300_000;
/// The clients timing unrelated requests beside the large work.
const READERS: usize = 4;
/// The clients counting every twin, and how many counts each runs.
const COUNTERS: usize = 2;
const COUNTS: usize = 10;
/// How often each of those clients reads, as a client polling a job does: so that the reads
/// made during the large work weigh in the percentiles as they would in a client's day.
const READ_EVERY: Duration = Duration::from_millis(5);
/// The condition naming the most devices the client sends in one condition: ids `0`, `1`, …
/// in base 36.
fn largest_condition() -> (String, usize) {
    let mut condition = String::from("deviceId IN [");
    let mut devices = 0;
    loop {
        let id = base36(devices);
        let item = if devices == 0 {
            format!("'{id}'")
        } else {
            format!(",'{id}'")
        };
        if condition.len() + item.len() + 1 > Condition::MAX_BYTES {
            condition.push(']');
            return (condition, devices);
        }
        condition.push_str(&item);
        devices += 1;
    }
}

fn base36(mut n: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut text = Vec::new();
    loop {
        text.push(DIGITS[n % 36]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    text.reverse();
    String::from_utf8(text).unwrap_or_default()
}

#[derive(Default)]
struct Times {
    get: Vec<Duration>,
    rows: Vec<Duration>,
    listing: Vec<Duration>,
    rows_read: usize,
}

async fn one_client(client: JobsClient, first_job: usize) -> Times {
    let mut times = Times::default();
    for round in 0..ROUNDS {
        let started = Instant::now();
        client.get_job("small").await.unwrap();
        times.get.push(started.elapsed());

        let large = format!("large-{}", (first_job + round) % LARGE_JOBS);
        let started = Instant::now();
        let mut rows = pin!(client.query_device_jobs(&large, DeviceJobQuery::default()));
        while let Some(row) = rows.next().await {
            assert!(matches!(row.unwrap(), Queried::Item(_)));
            times.rows_read += 1;
        }
        times.rows.push(started.elapsed());

        let started = Instant::now();
        let jobs = pin!(client.query_jobs(JobQuery::default())).count().await;
        assert_eq!(jobs, LARGE_JOBS + 1);
        times.listing.push(started.elapsed());
    }
    times
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |p: f64| measure::micros(measure::percentile(&times, p)) / 1000.0;
    println!(
        "{what:<34} {:>6}  p50 {:8.2}  p90 {:8.2}  p99 {:8.2}  max {:8.2}",
        times.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0)
    );
}

#[tokio::main]
async fn main() {
    let hub = LocalHub::builder()
        .request_log(0, 0)
        .max_active_jobs(LARGE_JOBS + 1)
        .max_page_size(100)
        .job_run_time(Duration::from_secs(24 * 3600))
        .start()
        .await
        .unwrap();
    let setup = hub.client().unwrap();
    let (condition, devices) = largest_condition();
    hub.add_devices((0..devices).map(base36).chain(["one".to_owned()]))
        .unwrap();
    let tags = json!({"ring": "load"}).as_object().unwrap().clone();
    for n in 0..LARGE_JOBS {
        let job =
            TwinUpdateJob::new(format!("large-{n}"), condition.clone()).with_tags(tags.clone());
        setup.schedule_twin_update(job).await.unwrap();
    }
    let small = TwinUpdateJob::new("small", "deviceId = 'one'").with_tags(tags);
    setup.schedule_twin_update(small).await.unwrap();
    let address = hub.endpoint().trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let (before, _) = measure::memory_kib();
    println!(
        "{LARGE_JOBS} running jobs of {devices} devices each ({} bytes of condition), {IDLE} idle connections, {CLIENTS} clients x {ROUNDS} rounds",
        condition.len()
    );

    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(one_client(hub.client().unwrap(), n)))
        .collect();
    let mut all = Times::default();
    for client in clients {
        let times = client.await.unwrap();
        all.get.extend(times.get);
        all.rows.extend(times.rows);
        all.listing.extend(times.listing);
        all.rows_read += times.rows_read;
    }
    let elapsed = started.elapsed();
    let (after, peak) = measure::memory_kib();
    drop(idle);

    println!("{:<34} {:>6}  (milliseconds)", "call", "count");
    report("get_job (small job)", all.get);
    report(&format!("every row of a job ({devices} rows)"), all.rows);
    report("every job (query_jobs)", all.listing);
    println!(
        "rows served: {} in {:.1} s ({:.0} rows/s)",
        all.rows_read,
        elapsed.as_secs_f64(),
        all.rows_read as f64 / elapsed.as_secs_f64()
    );
    println!(
        "resident memory: {:.1} MiB before, {:.1} MiB after, peak {:.1} MiB",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    drop(hub);
    beside_large_work().await;
}

/// What `READERS` clients timed while the large work ran: reads of job `small`, and (when
/// `create` is set) creates of a job over one device after each read.
#[derive(Default)]
struct Beside {
    reads: Vec<Duration>,
    creates: Vec<Duration>,
}

/// `READERS` clients reading job `small` (and creating small jobs, when `create`) until `stop`.
fn readers(
    hub: &LocalHub,
    stop: &Arc<AtomicBool>,
    create: bool,
) -> Vec<tokio::task::JoinHandle<Beside>> {
    (0..READERS)
        .map(|reader| {
            let (client, stop) = (hub.client().unwrap(), stop.clone());
            tokio::spawn(async move {
                let mut times = Beside::default();
                let mut created = 0;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    client.get_job("small").await.unwrap();
                    times.reads.push(started.elapsed());
                    if create {
                        let job = TwinUpdateJob::new(
                            format!("one-{reader}-{created}"),
                            Field::device_id().eq("d0000001"),
                        )
                        .with_tags(json!({"x": 1}).as_object().unwrap().clone())
                        .with_start_time(chrono::Utc::now() + chrono::Duration::hours(1));
                        let started = Instant::now();
                        client.schedule_twin_update(job).await.unwrap();
                        times.creates.push(started.elapsed());
                        created += 1;
                    }
                    tokio::time::sleep(READ_EVERY).await;
                }
                times
            })
        })
        .collect()
}

async fn stopped(stop: &AtomicBool, readers: Vec<tokio::task::JoinHandle<Beside>>) -> Beside {
    stop.store(true, Ordering::Relaxed);
    let mut all = Beside::default();
    for reader in readers {
        let times = reader.await.unwrap();
        all.reads.extend(times.reads);
        all.creates.extend(times.creates);
    }
    all
}

/// Unrelated requests timed while a twin-update job over `CROWD` twins completes, and while
/// counts over them run.
async fn beside_large_work() {
    let hub = LocalHub::builder()
        .request_log(0, 0)
        .max_active_jobs(100_000)
        .job_run_time(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let now = SystemTime::now();
    hub.set_time(now);
    let start = chrono::DateTime::<chrono::Utc>::from(now) + chrono::Duration::seconds(10);
    let ids: Vec<String> = (0..CROWD).map(|n| format!("d{n:07}")).collect();
    hub.add_devices(&ids).unwrap();
    let client = hub.client().unwrap();
    let tags = json!({"ring": "b"}).as_object().unwrap().clone();
    // The small job has finished before: what is timed is reading it, never waiting for it.
    let earlier = start - chrono::Duration::minutes(5);
    for (id, condition, start) in [
        ("everyone", Condition::every_device(), start),
        ("small", Field::device_id().eq("d0000000"), earlier),
    ] {
        let job = TwinUpdateJob::new(id, condition)
            .with_tags(tags.clone())
            .with_start_time(start);
        client.schedule_twin_update(job).await.unwrap();
    }
    let small = client.get_job("small").await.unwrap();
    assert_eq!(small.status, Some(JobStatus::Completed));
    println!(
        "{CROWD} twins; {READERS} clients read a small job beside the large work (milliseconds)"
    );

    // (a) The large job completes once the clock passes its end; the first request to read it
    // after that sees it completed only when every twin is written.
    let stop = Arc::new(AtomicBool::new(false));
    let reading = readers(&hub, &stop, false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    hub.advance_time(Duration::from_secs(120));
    let started = Instant::now();
    let job = client.get_job("everyone").await.unwrap();
    let completion = started.elapsed();
    assert_eq!(job.status, Some(JobStatus::Completed));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let during = stopped(&stop, reading).await;
    report(
        &format!("get_job beside a {CROWD}-twin update"),
        during.reads,
    );
    println!(
        "  the update's completion, read by its job: {:.0} ms",
        completion.as_secs_f64() * 1000.0
    );
    assert_eq!(hub.twin(&ids[CROWD - 1]).unwrap()["tags"]["ring"], "b");

    // (b) Counts over every twin.
    let stop = Arc::new(AtomicBool::new(false));
    let reading = readers(&hub, &stop, true);
    let counters: Vec<_> = (0..COUNTERS)
        .map(|_| {
            let client = hub.client().unwrap();
            tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..COUNTS {
                    let started = Instant::now();
                    let counted = client
                        .count_devices(Field::tag("ring").eq("b"))
                        .await
                        .unwrap();
                    times.push(started.elapsed());
                    assert_eq!(counted, CROWD as u64);
                }
                times
            })
        })
        .collect();
    let mut counts = Vec::new();
    for counter in counters {
        counts.extend(counter.await.unwrap());
    }
    let during = stopped(&stop, reading).await;
    report(&format!("get_job beside COUNT() x {CROWD}"), during.reads);
    report("create (one device) beside COUNT()", during.creates);
    report(&format!("COUNT() over {CROWD} twins"), counts);
}
