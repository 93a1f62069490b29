//! `iothub-jobs devices …`: what a condition selects — how many, which, their twins, how they
//! distribute over properties' values — and whether they applied what they were sent.

use std::pin::pin;

use futures_util::StreamExt as _;
use iothub_jobs::{
    Convergence, ConvergenceEnd, ConvergenceEvent, ConvergenceWait, DeviceQuery, Field,
};
use serde_json::json;

use super::{Context, fixed_polls, json_or_file, object, queried, until_interrupted};
use crate::{
    args::{ConvergenceArgs, DevicesCommand},
    exit::{Failure, Outcome},
};

/// The page size device listings ask for: the service's largest, so that a listing of a large
/// fleet spends as few of the hub's queries as it can.
const PAGE: u32 = 1_000;

pub async fn run(context: &Context, command: DevicesCommand) -> Outcome {
    let client = &context.client;
    match command {
        DevicesCommand::Count(selection) => {
            let count = client
                .count_devices(selection.query_condition.as_str())
                .await?;
            context.output.document(&json!({"count": count}))
        }
        DevicesCommand::Ids { selection, top } => {
            let query = DeviceQuery::new(selection.query_condition.as_str()).with_page_size(PAGE);
            let mut listing = context.output.listing();
            let mut ids = pin!(
                client
                    .query_device_ids(query)
                    .take(top.unwrap_or(usize::MAX))
            );
            while let Some(id) = ids.next().await {
                listing.item(&queried(id?))?;
            }
            listing.end()
        }
        DevicesCommand::Twins { selection, top } => {
            let query = DeviceQuery::new(selection.query_condition.as_str()).with_page_size(PAGE);
            let mut listing = context.output.listing();
            let mut twins = pin!(client.query_twins(query).take(top.unwrap_or(usize::MAX)));
            while let Some(twin) = twins.next().await {
                listing.item(&queried(twin?))?;
            }
            listing.end()
        }
        DevicesCommand::Distribution { selection, by } => {
            let fields: Vec<Field> = by.iter().map(|path| field(path)).collect();
            let query = DeviceQuery::new(selection.query_condition.as_str()).with_page_size(PAGE);
            let mut listing = context.output.listing();
            let mut groups = pin!(client.query_distribution(fields, query));
            while let Some(group) = groups.next().await {
                listing.item(&queried(group?))?;
            }
            listing.end()
        }
        DevicesCommand::Convergence(args) => convergence(context, *args).await,
    }
}

/// The field a property's path names: `tags.…`, `properties.desired.…`,
/// `properties.reported.…`, or a twin field of its own (`status`, `deviceId`, …).
fn field(path: &str) -> Field {
    if let Some(tag) = path.strip_prefix("tags.") {
        Field::tag(tag)
    } else if let Some(desired) = path.strip_prefix("properties.desired.") {
        Field::desired(desired)
    } else if let Some(reported) = path.strip_prefix("properties.reported.") {
        Field::reported(reported)
    } else {
        Field::twin(path)
    }
}

async fn convergence(context: &Context, args: ConvergenceArgs) -> Outcome {
    let convergence = match (&args.patch, &args.converged) {
        (Some(patch), _) => {
            let patch = object("--patch", json_or_file("--patch", patch)?)?;
            // A whole twin patch is taken too: its desired properties are what is compared.
            let desired = match patch.get("properties").and_then(|p| p.get("desired")) {
                Some(desired) => object("--patch's properties.desired", desired.clone())?,
                None => patch,
            };
            Convergence::reported_back(&desired)
        }
        (None, Some(converged)) => {
            let own = Convergence::when(converged.as_str());
            match &args.failed {
                Some(failed) => own.with_failure(failed.as_str()),
                None => own,
            }
        }
        (None, None) => Convergence::acknowledged(),
    };
    let condition = args.selection.query_condition.as_str();
    if !args.wait {
        let counts = context.client.convergence(condition, &convergence).await?;
        return context.output.document(&counts);
    }
    let wait = ConvergenceWait::default()
        .with_wait(fixed_polls(args.poll_interval, args.poll_duration)?)
        .with_share(args.share)
        .with_max_failed_share(args.max_failed_share)
        .with_sample(args.sample);
    let spinner = context
        .progress
        .spinner("waiting for the devices to converge");
    let ended = until_interrupted(
        async {
            let mut events = pin!(
                context
                    .client
                    .watch_convergence(condition, &convergence, wait)
            );
            while let Some(event) = events.next().await {
                match event? {
                    ConvergenceEvent::Progress(counts) => spinner.set_message(format!(
                        "{} of {} converged, {} failed, {} pending",
                        counts.converged, counts.targeted, counts.failed, counts.pending
                    )),
                    ConvergenceEvent::Ended(report) => return Ok(report),
                    // A kind of event a later SDK adds: nothing to show of it.
                    _ => {}
                }
            }
            Err(Failure::Other(
                "the wait for convergence ended without a report".to_owned(),
            ))
        },
        || "nothing runs on: a wait for convergence only reads".to_owned(),
    )
    .await;
    spinner.finish_and_clear();
    let report = ended?;
    context.output.document(&report)?;
    match report.end {
        ConvergenceEnd::Converged => Ok(()),
        ConvergenceEnd::TooManyFailed => Err(Failure::NotDone(format!(
            "{} device(s) failed to apply it, more than --max-failed-share allows",
            report.counts.failed
        ))),
        _ => Err(Failure::NotDone(format!(
            "{} of {} devices converged within --poll-duration, fewer than --share asks",
            report.counts.converged, report.counts.targeted
        ))),
    }
}
