//! `iothub-jobs job …`: scheduled jobs, as `az iot hub job` has them, and each device's
//! outcome, rows and re-run beyond it.

use std::{pin::pin, time::Duration};

use futures_util::StreamExt as _;
use iothub_jobs::{
    DeviceJobQuery, DirectMethodJob, JobQuery, JobResponse, OutcomeOptions, RerunOptions,
    TwinUpdateJob, WaitOptions,
    models::{DeviceJobStatus, JobStatus, JobType},
};
use serde_json::{Map, Value};

use super::{Context, ended_wait, json_or_file, object, queried, until_interrupted, wait_options};
use crate::{
    args::{self, CreateArgs, JobCommand},
    exit::{Failure, Outcome},
};

/// The fields of a `--twin-patch` a twin update takes: `az iot hub job`'s shape.
const TWIN_PATCH_FIELDS: &str = "tags, properties.desired (and etag, which is ignored)";

pub async fn run(context: &Context, command: JobCommand) -> Outcome {
    let client = &context.client;
    match command {
        JobCommand::Create(args) => create(context, *args).await,
        JobCommand::Show(job) => context.output.document(&client.get_job(job.get()).await?),
        JobCommand::List {
            job_type,
            job_status,
            top,
        } => {
            let mut query = JobQuery::default();
            if let Some(job_type) = job_type {
                query = query.with_type(match job_type {
                    args::JobType::ScheduleUpdateTwin => JobType::ScheduleUpdateTwin,
                    args::JobType::ScheduleDeviceMethod => JobType::ScheduleDeviceMethod,
                });
            }
            if let Some(status) = job_status {
                query = query.with_status(job_status_of(status));
            }
            let mut listing = context.output.listing();
            let mut jobs = pin!(client.query_jobs(query).take(top.unwrap_or(usize::MAX)));
            while let Some(job) = jobs.next().await {
                listing.item(&queried(job?))?;
            }
            listing.end()
        }
        JobCommand::Cancel { job, wait, polling } => {
            let id = job.get();
            if !wait {
                return context.output.document(&client.cancel_job(id).await?);
            }
            let options = wait_options(&polling)?;
            let spinner = context.progress.spinner(format!("cancelling job {id}"));
            let cancelled = until_interrupted(
                async { Ok(client.cancel_job_and_wait(id, options).await) },
                || {
                    format!(
                        "job {id} may still be cancelled: see it with `iothub-jobs job show {id}`"
                    )
                },
            )
            .await;
            spinner.finish_and_clear();
            ended_wait(context, cancelled?, to_json)
        }
        JobCommand::Outcome { job, max_details } => {
            let options = OutcomeOptions::default().with_max_details(max_details);
            context
                .output
                .document(&client.job_outcome(job.get(), options).await?)
        }
        JobCommand::Devices {
            job,
            failed_only,
            top,
        } => {
            let mut query = DeviceJobQuery::default();
            if failed_only {
                query = query.with_status(DeviceJobStatus::Failed);
            }
            let mut listing = context.output.listing();
            let mut rows = pin!(
                client
                    .query_device_jobs(job.get(), query)
                    .take(top.unwrap_or(usize::MAX))
            );
            while let Some(row) = rows.next().await {
                listing.item(&queried(row?))?;
            }
            listing.end()
        }
        JobCommand::Rerun {
            job,
            method_failures,
            job_id_prefix,
        } => {
            let mut options = RerunOptions::default().with_method_failures(method_failures);
            if let Some(prefix) = job_id_prefix {
                options = options.with_job_id_prefix(prefix);
            }
            context
                .output
                .document(&client.rerun_failures(job.get(), options).await?)
        }
    }
}

fn job_status_of(status: args::JobStatus) -> JobStatus {
    match status {
        args::JobStatus::Queued => JobStatus::Queued,
        args::JobStatus::Scheduled => JobStatus::Scheduled,
        args::JobStatus::Running => JobStatus::Running,
        args::JobStatus::Cancelled => JobStatus::Cancelled,
        args::JobStatus::Completed => JobStatus::Completed,
        args::JobStatus::Failed => JobStatus::Failed,
    }
}

async fn create(context: &Context, args: CreateArgs) -> Outcome {
    let client = &context.client;
    // Everything is read and checked before anything is sent.
    let start_time = args
        .start_time
        .as_deref()
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|time| time.to_utc())
                .map_err(|e| {
                    Failure::Input(format!(
                        "--start-time {text:?} is not an RFC 3339 time like 2026-12-24T02:00:00Z: {e}"
                    ))
                })
        })
        .transpose()?;
    let wait = args.wait.then(|| wait_options(&args.polling)).transpose()?;
    let id = args.job_id.clone();
    let created = match args.job_type {
        args::JobType::ScheduleUpdateTwin => {
            if args.method_name.is_some() || args.method_payload.is_some() {
                return Err(Failure::Input(
                    "--method-name and --method-payload are for --job-type scheduleDeviceMethod"
                        .to_owned(),
                ));
            }
            let Some(patch) = &args.twin_patch else {
                return Err(Failure::Input(format!(
                    "--job-type scheduleUpdateTwin needs --twin-patch ({TWIN_PATCH_FIELDS})"
                )));
            };
            let (tags, desired) = twin_patch(json_or_file("--twin-patch", patch)?)?;
            let mut job = TwinUpdateJob::new(&id, args.query_condition.as_str());
            if let Some(tags) = tags {
                job = job.with_tags(tags);
            }
            if let Some(desired) = desired {
                job = job.with_desired_properties(desired);
            }
            if let Some(start) = start_time {
                job = job.with_start_time(start);
            }
            if let Some(ttl) = args.ttl {
                job = job.with_max_execution_time(Duration::from_secs(ttl));
            }
            client.schedule_twin_update(job).await?
        }
        args::JobType::ScheduleDeviceMethod => {
            if args.twin_patch.is_some() {
                return Err(Failure::Input(
                    "--twin-patch is for --job-type scheduleUpdateTwin".to_owned(),
                ));
            }
            let Some(method) = &args.method_name else {
                return Err(Failure::Input(
                    "--job-type scheduleDeviceMethod needs --method-name".to_owned(),
                ));
            };
            let mut job = DirectMethodJob::new(&id, args.query_condition.as_str(), method);
            if let Some(payload) = &args.method_payload {
                job = job.with_payload(json_or_file("--method-payload", payload)?);
            }
            if let Some(seconds) = args.method_response_timeout {
                job = job.with_response_timeout(Duration::from_secs(seconds));
            }
            if let Some(seconds) = args.method_connect_timeout {
                job = job.with_connect_timeout(Duration::from_secs(seconds));
            }
            if let Some(start) = start_time {
                job = job.with_start_time(start);
            }
            if let Some(ttl) = args.ttl {
                job = job.with_max_execution_time(Duration::from_secs(ttl));
            }
            client.schedule_direct_method(job).await?
        }
    };
    match wait {
        None => context.output.document(&created),
        Some(options) => {
            let waited = watch(context, &id, options).await?;
            ended_wait(context, waited, to_json)
        }
    }
}

/// The tags and desired properties of a `--twin-patch`.
#[allow(clippy::type_complexity)]
fn twin_patch(
    patch: Value,
) -> Result<(Option<Map<String, Value>>, Option<Map<String, Value>>), Failure> {
    let mut patch = object("--twin-patch", patch)?;
    let tags = patch
        .remove("tags")
        .map(|tags| object("--twin-patch's tags", tags))
        .transpose()?;
    let desired = match patch.remove("properties") {
        None => None,
        Some(properties) => {
            let mut properties = object("--twin-patch's properties", properties)?;
            let desired = properties
                .remove("desired")
                .map(|desired| object("--twin-patch's properties.desired", desired))
                .transpose()?;
            if let Some(other) = properties.keys().next() {
                return Err(Failure::Input(format!(
                    "--twin-patch: properties.{other} cannot be set by a job; it takes {TWIN_PATCH_FIELDS}"
                )));
            }
            desired
        }
    };
    patch.remove("etag");
    if let Some(other) = patch.keys().next() {
        return Err(Failure::Input(format!(
            "--twin-patch: {other:?} cannot be set by a job; it takes {TWIN_PATCH_FIELDS}"
        )));
    }
    Ok((tags, desired))
}

/// Waits for job `id` to complete, a spinner showing each state; Ctrl-C stops the wait (the
/// job runs on).
async fn watch(
    context: &Context,
    id: &str,
    options: WaitOptions,
) -> Result<Result<JobResponse, iothub_jobs::Error>, Failure> {
    let spinner = context.progress.spinner(format!("job {id}: waiting"));
    let waited = until_interrupted(
        async {
            let mut states = pin!(context.client.watch_job(id, options));
            let mut last = None;
            while let Some(state) = states.next().await {
                match state {
                    Ok(job) => {
                        spinner.set_message(format!("job {id}: {}", state_line(&job)));
                        last = Some(job);
                    }
                    Err(error) => return Ok(Err(error)),
                }
            }
            // The stream's last item is the completed job or the error that ended it.
            last.map(Ok)
                .ok_or_else(|| Failure::Other(format!("the wait for job {id} saw no state")))
        },
        || format!("job {id} runs on: see it with `iothub-jobs job show {id}`"),
    )
    .await;
    spinner.finish_and_clear();
    waited
}

/// A job's status and device counts, for a progress line.
fn state_line(job: &JobResponse) -> String {
    let status = job
        .status
        .as_ref()
        .map_or("unknown".to_owned(), ToString::to_string);
    match &job.device_job_statistics {
        Some(counts) => format!(
            "{status}, {} of {} devices done ({} failed)",
            counts.succeeded_count.unwrap_or(0) + counts.failed_count.unwrap_or(0),
            counts.device_count.unwrap_or(0),
            counts.failed_count.unwrap_or(0)
        ),
        None => status,
    }
}

/// A job as printed: as the SDK serializes it.
fn to_json(job: &JobResponse) -> Value {
    serde_json::to_value(job).unwrap_or_default()
}
