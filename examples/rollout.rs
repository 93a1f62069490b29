//! Rolls a firmware version out ring by ring through desired properties — canary first, then
//! wider rings — and gates each ring on its devices reporting the version back, halting where
//! devices reject it. Prints each event (the convergence progress among them) on stderr and the
//! report as JSON on stdout.
//!
//! ```text
//! cargo run --example rollout -- [VERSION RING...]
//! ```
//!
//! With `IOTHUB_CONNECTION_STRING` set, sends `properties.desired.firmware.version = VERSION` to
//! the devices tagged `ring = RING`, one wave per RING in order. Without it, on the embedded
//! local hub: version `2.4.1` over a generated fleet of 50 devices in the rings `canary` (1
//! device), `early` (9) and `broad` (40), where two devices of the early ring reject the update;
//! the canary converges, the gate halts at the early ring naming the two, and the broad ring is
//! never touched.

mod support;

use std::{process::ExitCode, time::Duration};

use futures_util::StreamExt as _;
use iothub_jobs::{
    ConvergenceEnd, ConvergenceWait, Field, HaltReason, Rollout, RolloutEvent, RolloutGate,
    TwinUpdateJob, WaitOptions,
};
use iothub_local_hub::{DeviceBehaviour, LocalHub};
use serde_json::json;

/// The embedded hub's fleet: 50 devices in the generated rings.
const FLEET: usize = 50;
/// The embedded hub's devices of the early ring that reject the update.
const REJECTING: [&str; 2] = ["device-0000004", "device-0000007"];

#[tokio::main]
async fn main() -> ExitCode {
    support::run(async {
        let local_hub = LocalHub::builder()
            .job_run_time(Duration::from_secs(1))
            .generated_fleet(FLEET);
        let (client, hub) = support::client_from_env_or(local_hub).await?;
        let mut args = std::env::args().skip(1);
        let (version, rings): (String, Vec<String>) = match (args.next(), &hub) {
            (Some(version), _) => (version, args.collect()),
            (None, Some(hub)) => {
                for device in REJECTING {
                    hub.set_device_behaviour(device, DeviceBehaviour::Rejects);
                }
                let rings = LocalHub::GENERATED_RINGS.map(|(ring, _)| ring.to_owned());
                ("2.4.1".to_owned(), rings.to_vec())
            }
            (None, None) => return Err("usage: rollout VERSION RING...".into()),
        };
        if rings.is_empty() {
            return Err("name at least one ring".into());
        }
        let job_id = format!("firmware-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
        let patch = json!({"firmware": {"version": version}});
        let job = TwinUpdateJob::new(job_id, Field::tag("ring").is_defined())
            .with_desired_properties(patch.as_object().cloned().unwrap_or_default());
        // A twin update of desired properties waits, after each ring's job, for its devices to
        // report them back; a device that acknowledges the version with another status than 200
        // (Microsoft's convention) has failed. The local hub's devices answer within seconds, so
        // its polls are quick; a real fleet's take minutes (ConvergenceWait's defaults).
        let mut gate = RolloutGate::default();
        if hub.is_some() {
            let polls = WaitOptions::default()
                .with_poll_interval(Duration::from_millis(250))
                .with_max_poll_interval(Duration::from_secs(1))
                .with_timeout(Duration::from_secs(60));
            gate = gate.with_convergence_wait(ConvergenceWait::default().with_wait(polls));
        }
        let mut rollout = Rollout::twin_update(job)
            .with_gate(gate)
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
                RolloutEvent::WaveOutcome { wave, report, .. } => eprintln!(
                    "wave {} ({}): {} cloud twins written, {} failed",
                    wave + 1,
                    report.name,
                    report.outcome.counts.succeeded,
                    report.outcome.counts.failed,
                ),
                RolloutEvent::Converging { wave, counts } => eprintln!(
                    "wave {}: {} of {} devices applied {version}, {} rejected it, {} pending",
                    wave + 1,
                    counts.converged,
                    counts.targeted,
                    counts.failed,
                    counts.pending
                ),
                RolloutEvent::Converged { wave, report, .. } => eprintln!(
                    "wave {}: {} ({} of {} applied)",
                    wave + 1,
                    match report.end {
                        ConvergenceEnd::Converged => "converged",
                        ConvergenceEnd::TooManyFailed => "devices rejected it",
                        _ => "timed out waiting for devices",
                    },
                    report.counts.converged,
                    report.counts.targeted
                ),
                RolloutEvent::Halted(report) | RolloutEvent::Finished(report) => {
                    match &report.halted {
                        Some(halt) => {
                            let why = match &halt.reason {
                                HaltReason::NotConverged {
                                    failed_sample,
                                    counts,
                                    ..
                                } if !failed_sample.is_empty() => format!(
                                    "{} device(s) reported failure to apply it: {}",
                                    counts.failed,
                                    failed_sample.join(", ")
                                ),
                                HaltReason::NotConverged {
                                    pending_sample,
                                    counts,
                                    ..
                                } => format!(
                                    "{} device(s) did not report it back in time: {}",
                                    counts.pending,
                                    pending_sample.join(", ")
                                ),
                                other => format!("{other:?}"),
                            };
                            eprintln!("halted after wave {} ({}): {why}", halt.wave + 1, halt.name);
                        }
                        None => eprintln!("finished: every ring applied {version}"),
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
