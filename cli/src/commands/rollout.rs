//! `iothub-jobs rollout PLAN`: a rollout from a plan file — a dry run that counts each wave's
//! devices, or the run itself, resumable at a wave, that Ctrl-C stops cleanly.

use std::{cell::Cell, pin::pin};

use futures_util::StreamExt as _;
use iothub_jobs::{ConvergenceEnd, HaltReason, RolloutEvent, RolloutHalt, RolloutReport};
use serde::Serialize;

use super::{Context, until_interrupted};
use crate::{
    args::RolloutArgs,
    exit::{Failure, Outcome},
    plan::Plan,
};

/// A wave as a dry run finds it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlannedWave {
    /// Counted from 1, as `--start-at` takes it.
    wave: usize,
    name: String,
    job_id: String,
    condition: String,
    devices: u64,
}

pub async fn run(context: &Context, args: RolloutArgs) -> Outcome {
    let plan = Plan::read(&args.plan)?;
    let first = args
        .start_at
        .as_deref()
        .map(|given| plan.wave_index(given))
        .transpose()?
        .unwrap_or(0);
    let rollout = plan.rollout()?.starting_at(first);
    if args.dry_run {
        return dry_run(context, &plan, first).await;
    }
    let resume = |wave: usize| {
        format!(
            "iothub-jobs rollout {} --start-at {}",
            args.plan.display(),
            plan.waves[wave].name
        )
    };
    let bar = context.progress.bar(plan.waves.len() as u64, "starting");
    bar.set_position(first as u64);
    // The wave under way: what Ctrl-C names.
    let current = Cell::new(first);
    let ran = until_interrupted(
        async {
            let mut events = pin!(context.client.run_rollout(rollout));
            while let Some(event) = events.next().await {
                match event? {
                    RolloutEvent::WaveScheduled { wave, name, .. } => {
                        current.set(wave);
                        // The waves before it are done.
                        bar.set_position(wave as u64);
                        bar.set_message(format!("wave {} ({name}): its job runs", wave + 1));
                    }
                    RolloutEvent::WaveOutcome { wave, report, .. } => bar.set_message(format!(
                        "wave {} ({}): {} of {} devices succeeded",
                        wave + 1,
                        report.name,
                        report.outcome.counts.succeeded,
                        report.outcome.devices
                    )),
                    RolloutEvent::Converging { wave, counts } => bar.set_message(format!(
                        "wave {}: {} of {} devices applied it, {} failed, {} pending",
                        wave + 1,
                        counts.converged,
                        counts.targeted,
                        counts.failed,
                        counts.pending
                    )),
                    RolloutEvent::Halted(report) | RolloutEvent::Finished(report) => {
                        return Ok(report);
                    }
                    // Job states and kinds of event a later SDK adds.
                    _ => {}
                }
            }
            Err(Failure::Other(
                "the rollout ended without a report".to_owned(),
            ))
        },
        || {
            format!(
                "the rollout stopped during wave {} ({}); its job {} runs on. Resume with: {}",
                current.get() + 1,
                plan.waves[current.get()].name,
                plan.wave_job_id(current.get()),
                resume(current.get())
            )
        },
    )
    .await;
    bar.finish_and_clear();
    let report: RolloutReport = ran?;
    context.output.document(&report)?;
    match &report.halted {
        None => Ok(()),
        Some(halt) => Err(Failure::NotDone(halted(halt, &plan, &resume))),
    }
}

/// What stderr says of a halt, and how to go on.
fn halted(halt: &RolloutHalt, plan: &Plan, resume: &dyn Fn(usize) -> String) -> String {
    let reason = reason(&halt.reason);
    let mut text = format!(
        "the rollout halted after wave {} ({}): {reason}. Once that is dealt with, judge the \
         wave again with: {}",
        halt.wave + 1,
        halt.name,
        resume(halt.wave)
    );
    if halt.wave + 1 < plan.waves.len() {
        text.push_str(&format!(", or go on with: {}", resume(halt.wave + 1)));
    }
    text
}

/// Why the gate halted, in words, naming the devices it can.
fn reason(reason: &HaltReason) -> String {
    let named = |sample: &[String]| match sample {
        [] => String::new(),
        ids => format!(": {}", ids.join(", ")),
    };
    match reason {
        HaltReason::EmptyWave => "the wave reached no device".to_owned(),
        HaltReason::TooFewDevices {
            devices,
            min_devices,
            ..
        } => format!("the wave reached {devices} device(s), fewer than min-devices {min_devices}"),
        HaltReason::FailureRate {
            failed,
            devices,
            max_rate,
            ..
        } => format!(
            "{failed} of {devices} devices failed, more than max-failure-rate {max_rate} allows"
        ),
        HaltReason::ErrorCode {
            code,
            devices,
            device_id,
            ..
        } => format!(
            "{devices} device(s) failed with {code}{}",
            device_id
                .as_deref()
                .map(|id| format!(" ({id} among them)"))
                .unwrap_or_default()
        ),
        HaltReason::NotConverged {
            end: ConvergenceEnd::TooManyFailed,
            counts,
            failed_sample,
            ..
        } => format!(
            "{} of {} devices reported failure to apply it{}",
            counts.failed,
            counts.targeted,
            named(failed_sample)
        ),
        HaltReason::NotConverged {
            counts,
            pending_sample,
            ..
        } => format!(
            "{} of {} devices did not apply it in time{}",
            counts.pending,
            counts.targeted,
            named(pending_sample)
        ),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Each wave from `first` on, with its job id, its condition and how many devices it selects
/// now; nothing is created.
async fn dry_run(context: &Context, plan: &Plan, first: usize) -> Outcome {
    let mut waves = Vec::new();
    for at in first..plan.waves.len() {
        let condition = plan.wave_condition(at);
        let text = condition.text()?.to_owned();
        waves.push(PlannedWave {
            wave: at + 1,
            name: plan.waves[at].name.clone(),
            job_id: plan.wave_job_id(at),
            condition: text,
            devices: context.client.count_devices(condition).await?,
        });
    }
    context
        .output
        .document(&serde_json::json!({"waves": waves}))
}
