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

mod measure;

use std::{
    pin::pin,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use iothub_jobs::{
    Condition, DeviceJobQuery, JobQuery, JobsClient, Queried, TwinUpdateJob, simulator::LocalHub,
};
use serde_json::json;

const CLIENTS: usize = 64;
const ROUNDS: usize = 20;
const LARGE_JOBS: usize = 10;
const IDLE: usize = 200;
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
}
