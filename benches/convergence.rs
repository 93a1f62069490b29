//! What convergence costs: one poll over a large fleet on the local hub, and the queries a
//! rollout spends. `cargo bench -p iothub-jobs-tests --bench convergence`.
//!
//! Reported:
//! - one convergence poll (`JobsClient::convergence`: targeted, converged and failed counts, three
//!   count queries) over every one of `TWINS` generated twins, after a twin update their devices
//!   applied (but for a seeded 1 % that reject it), `REPEATS` times: latency percentiles and the
//!   twins evaluated per second at the median, for the patch reported back and for Microsoft's
//!   acknowledgement convention;
//! - a three-wave twin-update rollout over a generated fleet of `ROLLOUT_DEVICES`, gated on the
//!   patch being reported back (the default): the device queries it sent, per wave and in all,
//!   read from the hub's request log — what it spends of the service's query budget (20 a minute
//!   per unit on S1 and S2).
//!
//! Every count is checked: a benchmark that reads wrong data fails.

mod measure;
#[allow(dead_code)] // the bench builds clients only
#[path = "../tests/it/support.rs"]
mod support;

use std::time::{Duration, Instant, SystemTime};

use iothub_jobs::{
    Convergence, ConvergenceWait, Field, Rollout, RolloutGate, TwinUpdateJob, WaitOptions,
};
use iothub_local_hub::{DeviceBehaviour, DeviceMix, LocalHub};
use serde_json::json;
use support::HubClient as _;

const TWINS: usize = 100_000;
const REPEATS: usize = 20;
const REJECTING_SHARE: f64 = 0.01;
const SEED: u64 = 1;
const ROLLOUT_DEVICES: usize = 1_000;
/// The most items a page of the rollout's hub holds: the service's largest page.
const PAGE: usize = 1_000;

fn mix() -> DeviceMix {
    DeviceMix::seeded(SEED)
        .with_share(DeviceBehaviour::Rejects, REJECTING_SHARE)
        .expect("a share from 0 to 1")
}

fn firmware() -> serde_json::Map<String, serde_json::Value> {
    support::object(json!({"firmware": {"version": "2.0.0"}}))
}

#[tokio::main]
async fn main() {
    one_poll().await;
    println!();
    a_rollouts_queries().await;
}

async fn one_poll() {
    let hub = LocalHub::builder()
        .request_log(0, 0)
        .generated_fleet(TWINS)
        .device_mix(mix())
        .start()
        .await
        .unwrap();
    hub.set_time(SystemTime::now());
    let client = hub.client().unwrap();
    let rejecting = (1..=TWINS)
        .filter(|n| mix().behaviour_of(&format!("device-{n:07}")) == DeviceBehaviour::Rejects)
        .count() as u64;
    client
        .schedule_twin_update(TwinUpdateJob::new("fw", "*").with_desired_properties(firmware()))
        .await
        .unwrap();
    // Past the job's end and the devices' delay: every twin is written, every device answered.
    hub.advance_time(Duration::from_secs(3600));
    let started = Instant::now();
    let _ = hub.twin("device-0000001");
    let settled = started.elapsed();
    let (resident, _) = measure::memory_kib();
    println!(
        "convergence over {TWINS} generated twins in the local hub (in-process, {:.0} MiB resident); the update written and answered in {:.2} s",
        resident as f64 / 1024.0,
        settled.as_secs_f64()
    );
    println!(
        "  one poll = three count queries (targeted, converged, failed), {REPEATS} polls each; milliseconds; twins/s = twins evaluated per second at p50 (3 x {TWINS} a poll)"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "convergence", "failed", "p50 ms", "p99 ms", "max ms", "twins/s"
    );
    for (what, convergence) in [
        (
            "the patch reported back",
            Convergence::reported_back(&firmware()),
        ),
        ("acknowledged (Microsoft)", Convergence::acknowledged()),
    ] {
        let mut times = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            let started = Instant::now();
            let counts = client.convergence("*", &convergence).await.unwrap();
            times.push(started.elapsed());
            assert_eq!(
                (counts.targeted, counts.converged, counts.failed),
                (TWINS as u64, TWINS as u64 - rejecting, rejecting),
                "{what}"
            );
        }
        times.sort();
        let ms = |p: f64| measure::micros(measure::percentile(&times, p)) / 1000.0;
        let p50 = measure::percentile(&times, 0.5).as_secs_f64();
        println!(
            "{what:<28} {rejecting:>9} {:>9.1} {:>9.1} {:>9.1} {:>12.0}",
            ms(0.5),
            ms(0.99),
            ms(1.0),
            3.0 * TWINS as f64 / p50
        );
    }
}

async fn a_rollouts_queries() {
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_millis(200))
        .apply_delay(Duration::from_millis(600))
        .max_page_size(PAGE)
        .generated_fleet(ROLLOUT_DEVICES)
        .start()
        .await
        .unwrap();
    let client = hub.client().unwrap();
    let polls = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(250))
        .with_max_poll_interval(Duration::from_millis(250))
        .with_timeout(Duration::from_secs(60));
    let job = TwinUpdateJob::new("fw", "*").with_desired_properties(firmware());
    let mut rollout = Rollout::twin_update(job)
        .with_gate(
            RolloutGate::default()
                .with_convergence_wait(ConvergenceWait::default().with_wait(polls)),
        )
        .with_job_wait(WaitOptions::default().with_timeout(Duration::from_secs(60)));
    for (ring, _) in LocalHub::GENERATED_RINGS {
        rollout = rollout.wave(ring, Field::tag("ring").eq(ring));
    }
    let before = hub.requests().len();
    let started = Instant::now();
    let report = client.rollout(rollout).await.unwrap();
    let elapsed = started.elapsed();
    assert!(report.halted.is_none(), "{:?}", report.halted);
    let requests = hub.requests().split_off(before);
    let queries = requests
        .iter()
        .filter(|request| request.path == "/devices/query")
        .count();
    println!(
        "a three-wave twin-update rollout over {ROLLOUT_DEVICES} generated devices (devices answer 600 ms after the cloud twin is written; polls 250 ms apart), gated on the patch reported back: {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "{:<10} {:>8} {:>7} {:>8} {:>15} {:>14} {:>8}",
        "wave", "devices", "polls", "counts", "sample queries", "outcome pages", "queries"
    );
    let mut counted = 0;
    for wave in &report.waves {
        let convergence = wave.convergence.as_ref().expect("every wave converged");
        let spent = wave_queries(&requests, &wave.name, &wave.outcome.job_id);
        let total = spent.counts + spent.samples + spent.outcome_pages;
        counted += total;
        println!(
            "{:<10} {:>8} {:>7} {:>8} {:>15} {:>14} {:>8}",
            wave.name,
            convergence.counts.targeted,
            spent.counts / 3,
            spent.counts,
            spent.samples,
            spent.outcome_pages,
            total
        );
    }
    assert_eq!(counted, queries, "every query is a wave's");
    println!(
        "in all: {queries} device queries, {} requests; with ConvergenceWait's defaults (polls from 15 s, up to 60 s), a wave whose devices answer within a minute spends 3 queries a poll, at most 12 a minute",
        requests.len()
    );
}

/// The device queries one wave spent.
struct Spent {
    /// Count queries of its convergence polls, three a poll.
    counts: usize,
    /// Queries for the ids of its pending and failed devices, once the wait ended.
    samples: usize,
    /// Pages of its job's device rows (`devices.jobs`), read for its outcome.
    outcome_pages: usize,
}

/// What wave `name`, whose job is `job_id`, spent: its device queries are those whose condition
/// names its ring or its job.
fn wave_queries(requests: &[iothub_local_hub::RecordedRequest], name: &str, job_id: &str) -> Spent {
    let ring = format!("tags.ring = '{name}'");
    let job = format!("jobId = '{job_id}'");
    let mut spent = Spent {
        counts: 0,
        samples: 0,
        outcome_pages: 0,
    };
    for request in requests
        .iter()
        .filter(|request| request.path == "/devices/query")
    {
        let body = String::from_utf8_lossy(&request.body);
        if body.contains(&job) {
            spent.outcome_pages += 1;
        } else if body.contains(&ring) && body.contains("COUNT()") {
            spent.counts += 1;
        } else if body.contains(&ring) {
            spent.samples += 1;
        }
    }
    spent
}
