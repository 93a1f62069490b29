//! Cancels a scheduled job and prints the job, as the service returned it, as JSON.
//!
//! ```text
//! cargo run --example cancel_job -- [JOB_ID]
//! ```
//!
//! With `IOTHUB_CONNECTION_STRING` set, cancels JOB_ID on that hub (`IOTHUB_ENDPOINT`, if set,
//! overrides the base URL, e.g. `http://127.0.0.1:8080`). Without it, starts the embedded local
//! hub, schedules a demo job there and cancels it over real HTTP with a SAS token. Logs go to
//! stderr; set `RUST_LOG=iothub_jobs=debug` to see each call.

mod support;

use std::process::ExitCode;

const DEMO_JOB_ID: &str = "demo-firmware-rollout";

#[tokio::main]
async fn main() -> ExitCode {
    support::run(async {
        let (client, local_hub) = support::client_from_env().await?;
        let job_id = match (std::env::args().nth(1), &local_hub) {
            (Some(job_id), _) => job_id,
            (None, Some(_)) => DEMO_JOB_ID.to_owned(),
            (None, None) => {
                return Err(
                    "usage: cancel_job JOB_ID (required with IOTHUB_CONNECTION_STRING)".into(),
                );
            }
        };
        if let Some(hub) = &local_hub {
            hub.schedule_job(&job_id);
        }
        let job = client.cancel_job(&job_id).await?;
        Ok(serde_json::to_string_pretty(&job)?)
    })
    .await
}
