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

use std::process::ExitCode;

use iothub_jobs::{JobsClient, JobsClientOptions, simulator::LocalHub};

const DEMO_JOB_ID: &str = "demo-firmware-rollout";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<String, Box<dyn std::error::Error>> {
    let job_id = std::env::args().nth(1);
    // Kept alive until the call is done: dropping it stops the local hub.
    let _local_hub;
    let (client, job_id) = match std::env::var("IOTHUB_CONNECTION_STRING") {
        Ok(connection_string) => {
            let job_id = job_id
                .ok_or("usage: cancel_job JOB_ID (required with IOTHUB_CONNECTION_STRING)")?;
            let mut options = JobsClientOptions::default();
            if let Ok(endpoint) = std::env::var("IOTHUB_ENDPOINT") {
                options = options.with_endpoint(endpoint);
            }
            (
                JobsClient::from_connection_string_with_options(&connection_string, options)?,
                job_id,
            )
        }
        Err(_) => {
            let hub = LocalHub::start().await?;
            let job_id = job_id.unwrap_or_else(|| DEMO_JOB_ID.to_owned());
            hub.schedule_job(&job_id);
            eprintln!(
                "IOTHUB_CONNECTION_STRING is not set: using the local hub at {}",
                hub.endpoint()
            );
            let client = hub.client()?;
            _local_hub = hub;
            (client, job_id)
        }
    };
    let job = client.cancel_job(&job_id).await?;
    Ok(serde_json::to_string_pretty(&job)?)
}
