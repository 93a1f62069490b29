//! Schedules a twin-update job an hour ahead, lists the scheduled jobs, cancels the new one,
//! waits until it reads `cancelled`, and prints it as JSON.
//!
//! ```text
//! cargo run --example schedule_and_cancel -- [JOB_ID]
//! ```
//!
//! With `IOTHUB_CONNECTION_STRING` set, works on that hub (`IOTHUB_ENDPOINT` overrides the base
//! URL); without it, on the embedded local hub. The job targets devices tagged
//! `tags.environment = 'demo'`, so on a real hub it touches nothing else.

mod support;

use std::{pin::pin, process::ExitCode};

use futures_util::StreamExt as _;
use iothub_jobs::{JobQuery, Queried, TwinUpdateJob, WaitOptions, models::JobStatus};

#[tokio::main]
async fn main() -> ExitCode {
    support::run(async {
        let job_id = std::env::args()
            .nth(1)
            .unwrap_or_else(|| format!("demo-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")));
        // Kept until the end: dropping it stops the local hub.
        let (client, _local_hub) = support::client_from_env().await?;

        let desired = serde_json::json!({"maintenance": {"window": "tonight"}});
        let job = TwinUpdateJob::new(&job_id, "tags.environment = 'demo'")
            .with_desired_properties(desired.as_object().cloned().unwrap_or_default())
            .with_start_time(chrono::Utc::now() + chrono::Duration::hours(1))
            .with_max_execution_time(std::time::Duration::from_secs(3600));
        let created = client.schedule_twin_update(job).await?;
        eprintln!("scheduled {job_id}: {:?}", created.status);

        let mut scheduled =
            pin!(client.query_jobs(JobQuery::default().with_status(JobStatus::Scheduled)));
        while let Some(item) = scheduled.next().await {
            if let Queried::Item(job) = item? {
                eprintln!("  scheduled: {}", job.job_id.as_deref().unwrap_or("?"));
            }
        }

        let cancelled = client
            .cancel_job_and_wait(&job_id, WaitOptions::default())
            .await?;
        Ok(serde_json::to_string_pretty(&cancelled)?)
    })
    .await
}
