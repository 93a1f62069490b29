//! Rolls a direct method out ring by ring — canary first, then wider rings — halting when a
//! ring's devices fail. Prints each event on stderr and the report (each wave's outcome, and
//! where it halted) as JSON on stdout.
//!
//! ```text
//! cargo run --example rollout -- [METHOD RING...]
//! ```
//!
//! With `IOTHUB_CONNECTION_STRING` set, calls METHOD on the devices tagged `ring = RING`, one
//! wave per RING in order. Without it, on the embedded local hub: `update` over the rings
//! `canary` (2 devices), `early` (3) and `broad` (5), where `early-2` answers `500`; the gate
//! halts after the second ring and the broad ring is never touched.

mod support;

use std::{process::ExitCode, time::Duration};

use futures_util::StreamExt as _;
use iothub_jobs::{
    DirectMethodJob, Field, HaltReason, JobOutcome, Rollout, RolloutEvent, RolloutGate, WaitOptions,
};
use iothub_local_hub::LocalHub;
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    support::run(async {
        let local_hub = LocalHub::builder().job_run_time(Duration::from_secs(1));
        let (client, hub) = support::client_from_env_or(local_hub).await?;
        let mut args = std::env::args().skip(1);
        let (method, rings): (String, Vec<String>) = match (args.next(), &hub) {
            (Some(method), _) => (method, args.collect()),
            (None, Some(hub)) => {
                hub.add_twins(fleet())?;
                hub.set_method_response("early-2", 500, json!({"error": "flash write failed"}));
                let rings = ["canary", "early", "broad"].map(str::to_owned).to_vec();
                ("update".to_owned(), rings)
            }
            (None, None) => return Err("usage: rollout METHOD RING...".into()),
        };
        if rings.is_empty() {
            return Err("name at least one ring".into());
        }
        let job_id = format!("{method}-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
        let job = DirectMethodJob::new(job_id, Field::tag("ring").is_defined(), method)
            .with_payload(json!({"version": "2.4.1"}))
            .with_response_timeout(Duration::from_secs(30));
        let mut rollout = Rollout::direct_method(job)
            // Any failure halts, a method that answered outside 2xx included.
            .with_gate(RolloutGate::default())
            .with_job_wait(WaitOptions::default().with_timeout(Duration::from_secs(600)));
        for ring in &rings {
            rollout = rollout.wave(ring, Field::tag("ring").eq(ring.as_str()));
        }

        let mut events = std::pin::pin!(client.run_rollout(rollout));
        while let Some(event) = events.next().await {
            match event? {
                RolloutEvent::WaveScheduled {
                    wave,
                    name,
                    job,
                    adopted,
                } => eprintln!(
                    "wave {} ({name}): job {} {}",
                    wave + 1,
                    job.job_id.unwrap_or_default(),
                    if adopted {
                        "found from an earlier run of this rollout"
                    } else {
                        "scheduled"
                    }
                ),
                RolloutEvent::JobState { .. } => {}
                RolloutEvent::WaveOutcome { wave, report, .. } => {
                    let counts = &report.outcome.counts;
                    eprintln!(
                        "wave {} ({}): {} succeeded, {} failed, {} answered outside 2xx",
                        wave + 1,
                        report.name,
                        counts.succeeded,
                        counts.failed,
                        counts.method_failed
                    );
                }
                RolloutEvent::Halted(report) | RolloutEvent::Finished(report) => {
                    match (&report.halted, report.waves.last()) {
                        (Some(halt), Some(last)) => {
                            let devices = failing_devices(&last.outcome);
                            let why = match &halt.reason {
                                HaltReason::FailureRate { rate, max_rate, .. } => format!(
                                    "{:.0}% of its devices failed, more than {:.0}%",
                                    rate * 100.0,
                                    max_rate * 100.0
                                ),
                                other => format!("{other:?}"),
                            };
                            eprintln!(
                                "halted after wave {} ({}): {why}: {}",
                                halt.wave + 1,
                                halt.name,
                                devices.join(", ")
                            );
                        }
                        _ => eprintln!("finished: every wave passed"),
                    }
                    return Ok(serde_json::to_string_pretty(&report)?);
                }
                other => eprintln!("{other:?}"),
            }
        }
        Err("the rollout ended without a report".into())
    })
    .await
}

/// The devices of `outcome` that failed, and those that answered outside 2xx, as text.
fn failing_devices(outcome: &JobOutcome) -> Vec<String> {
    let failed = outcome.failed.iter().map(|device| {
        let code = device.code.as_deref().unwrap_or("no error code");
        format!("{} failed ({code})", device.device_id)
    });
    let answered = outcome.method_failed.iter().map(|device| {
        let status = device.status.map_or("no status".into(), |s| s.to_string());
        format!("{} answered {status}", device.device_id)
    });
    failed.chain(answered).collect()
}

/// Ten devices in three rings.
fn fleet() -> Vec<serde_json::Value> {
    [("canary", 2), ("early", 3), ("broad", 5)]
        .into_iter()
        .flat_map(|(ring, devices)| {
            (1..=devices)
                .map(move |n| json!({"deviceId": format!("{ring}-{n}"), "tags": {"ring": ring}}))
        })
        .collect()
}
