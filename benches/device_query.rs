//! The local hub's device queries over many twins, and the client's twin stream over many rows:
//! `cargo bench -p iothub-jobs-tests --bench device_query`.
//!
//! One hub, set up as `local_hub` serves (no request log) but with pages of up to `PAGE` twins,
//! is given `TWINS` twins of the service's shape (tags `ring`, `site` and `model`, a reported
//! firmware version and a few reported numbers).
//!
//! Reported:
//! - the hub's memory per 100,000 twins: the process's resident memory before and after
//!   `add_twins` (the hub is in-process);
//! - `count_devices` over every twin, for a few conditions, each `REPEATS` times: latency
//!   percentiles and the twins the hub evaluates per second (at the median);
//! - the client's twin stream over every twin (`query_twins`, every device, pages of `PAGE`):
//!   the rows read per second, and the resident memory at every `SAMPLE_EVERY` rows, with the
//!   growth from the first sample (after `SAMPLE_EVERY` rows of warm-up) to the highest. The
//!   stream holds at most a page, so that growth stays near zero whatever the rows; the twins
//!   the hub holds are in the baseline, which is taken after they are added.
//!
//! Every count and the stream's row count are checked: a benchmark that reads wrong data fails.

mod measure;
#[allow(dead_code)] // the bench builds clients only
#[path = "../tests/it/support.rs"]
mod support;

use std::{
    pin::pin,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use iothub_jobs::{Condition, DeviceQuery, Field, Queried};
use iothub_local_hub::LocalHub;
use serde_json::{Value, json};
use support::HubClient as _;

const TWINS: usize = 100_000;
const REPEATS: usize = 50;
const PAGE: usize = 1000;
const SAMPLE_EVERY: usize = 10_000;

const SITES: [&str; 8] = [
    "ams-1", "ams-2", "dub-1", "fra-1", "lon-1", "par-1", "sea-1", "syd-1",
];
const FIRMWARE: [&str; 5] = ["2.2.9", "2.3.1", "2.3.4", "2.4.0", "2.5.2"];

fn device_id(n: usize) -> String {
    format!("sensor-{n:06}")
}

/// One device in twenty is in the canary ring, four in twenty early, the rest broad.
fn ring(n: usize) -> &'static str {
    match n % 20 {
        0 => "canary",
        1..=4 => "early",
        _ => "broad",
    }
}

fn site(n: usize) -> &'static str {
    SITES[n % SITES.len()]
}

fn firmware(n: usize) -> &'static str {
    FIRMWARE[(n / SITES.len()) % FIRMWARE.len()]
}

/// Device `n`'s twin, as a fleet's twin looks: a few tags, a few reported properties.
fn twin(n: usize) -> Value {
    json!({
        "deviceId": device_id(n),
        "tags": {"ring": ring(n), "site": site(n), "model": "th-200"},
        "properties": {"reported": {
            "firmware": {"version": firmware(n)},
            "temperature": 18.0 + (n % 100) as f64 / 10.0,
            "battery": n % 101,
            "rssi": -40 - (n % 50) as i64,
            "uptimeSeconds": n * 37,
        }},
    })
}

/// The conditions counted, each with how many of the twins it selects.
fn conditions() -> Vec<(&'static str, Condition, u64)> {
    let expected = |selects: fn(usize) -> bool| (0..TWINS).filter(|&n| selects(n)).count() as u64;
    vec![
        ("every device", Condition::every_device(), TWINS as u64),
        (
            "tag ring = 'canary'",
            Field::tag("ring").eq("canary"),
            expected(|n| ring(n) == "canary"),
        ),
        (
            "firmware < '2.4' AND site = 'fra-1'",
            Field::reported("firmware.version")
                .lt("2.4")
                .and(Field::tag("site").eq("fra-1")),
            expected(|n| firmware(n) < "2.4" && site(n) == "fra-1"),
        ),
    ]
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main]
async fn main() {
    let hub = LocalHub::builder()
        .request_log(0, 0)
        .max_page_size(PAGE)
        .start()
        .await
        .unwrap();
    let client = hub.client().unwrap();

    println!("device queries over {TWINS} twins in the local hub (in-process)");
    println!("  hub memory: resident memory (VmRSS) added by add_twins, per 100,000 twins");
    println!(
        "  count_devices: one request per count, {REPEATS} times per condition; milliseconds; twins/s = twins evaluated per second at p50"
    );
    println!(
        "  twin stream: query_twins over every device, pages of {PAGE}; VmRSS every {SAMPLE_EVERY} rows (the hub's twins included)"
    );
    println!();

    // The hub's memory per 100,000 twins.
    let (before, _) = measure::memory_kib();
    let started = Instant::now();
    let added = hub.add_twins((0..TWINS).map(twin)).unwrap();
    let adding = started.elapsed();
    let (after, _) = measure::memory_kib();
    assert_eq!(added, TWINS);
    let one = hub.twin(&device_id(0)).unwrap().to_string();
    let per_100k = mib(after.saturating_sub(before)) * 100_000.0 / TWINS as f64;
    println!(
        "hub memory: {:.1} MiB before, {:.1} MiB after: {per_100k:.1} MiB per 100,000 twins ({:.0} bytes a twin; a twin is {} bytes of JSON); added in {:.2} s",
        mib(before),
        mib(after),
        after.saturating_sub(before) as f64 * 1024.0 / TWINS as f64,
        one.len(),
        adding.as_secs_f64()
    );
    println!();

    // Counting.
    println!(
        "{:<38} {:>7} {:>9} {:>9} {:>9} {:>12}",
        "count_devices", "count", "p50 ms", "p99 ms", "max ms", "twins/s"
    );
    for (what, condition, expected) in conditions() {
        assert_eq!(
            client.count_devices(condition.clone()).await.unwrap(),
            expected,
            "{what}"
        );
        let mut times = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            let started = Instant::now();
            let count = client.count_devices(condition.clone()).await.unwrap();
            times.push(started.elapsed());
            assert_eq!(count, expected, "{what}");
        }
        times.sort();
        let ms = |p: f64| measure::micros(measure::percentile(&times, p)) / 1000.0;
        let p50 = measure::percentile(&times, 0.5).as_secs_f64();
        println!(
            "{what:<38} {expected:>7} {:>9.2} {:>9.2} {:>9.2} {:>12.0}",
            ms(0.5),
            ms(0.99),
            ms(1.0),
            TWINS as f64 / p50
        );
    }
    println!();

    // The client's twin stream.
    let (baseline, _) = measure::memory_kib();
    let mut samples: Vec<(usize, u64)> = Vec::new();
    let mut rows = 0;
    let started = Instant::now();
    let query = DeviceQuery::new(Condition::every_device()).with_page_size(PAGE as u32);
    let mut twins = pin!(client.query_twins(query));
    while let Some(row) = twins.next().await {
        assert!(matches!(row.unwrap(), Queried::Item(_)));
        rows += 1;
        if rows % SAMPLE_EVERY == 0 {
            samples.push((rows, measure::memory_kib().0));
        }
    }
    let elapsed: Duration = started.elapsed();
    assert_eq!(rows, TWINS, "the twin stream's rows");
    let (_, peak) = measure::memory_kib();
    println!(
        "twin stream: {rows} rows in {:.2} s ({:.0} rows/s)",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64()
    );
    println!("  VmRSS before the stream: {:.1} MiB", mib(baseline));
    for (rows, kib) in &samples {
        println!("  after {rows:>7} rows:      {:.1} MiB", mib(*kib));
    }
    let first = samples[0].1;
    let highest = samples.iter().map(|&(_, kib)| kib).max().unwrap_or(first);
    println!(
        "  growth after warm-up ({SAMPLE_EVERY} rows): {:.1} MiB (highest {:.1} - first {:.1}); peak VmHWM {:.1} MiB",
        mib(highest.saturating_sub(first)),
        mib(highest),
        mib(first),
        mib(peak)
    );
}
