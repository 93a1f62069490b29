//! Exports the hub's device identities to a blob container, shows the job's progress on
//! stderr while waiting, and prints the finished job as JSON on stdout.
//!
//! ```text
//! cargo run --example export_devices -- [CONTAINER_URI]
//! ```
//!
//! With `IOTHUB_CONNECTION_STRING` set, exports from that hub to CONTAINER_URI (or
//! `IOTHUB_EXPORT_CONTAINER_URI`): a container URI with a SAS token (`…?sv=…&sig=…`)
//! authenticates key-based, one without it with the hub's system-assigned identity. Without a
//! connection string, exports from the embedded local hub, which needs no real storage. The
//! devices' keys are left out of the export, and the container's SAS out of everything printed.

mod support;

use std::process::ExitCode;

use futures_util::StreamExt as _;
use iothub_jobs::{ExportJob, StorageAuthentication, WaitOptions};

/// Where the local hub "exports" to: it reads and writes no storage.
const DEMO_CONTAINER: &str = "https://demo.blob.core.windows.net/devices?sv=2024-08-04&sr=c&sp=rwl&sig=ZGVtby1zaWduYXR1cmU%3D";

#[tokio::main]
async fn main() -> ExitCode {
    support::run(async {
        let (client, local_hub) = support::client_from_env().await?;
        let container = match (
            std::env::args().nth(1),
            std::env::var("IOTHUB_EXPORT_CONTAINER_URI"),
            &local_hub,
        ) {
            (Some(uri), _, _) | (None, Ok(uri), _) => uri,
            (None, Err(_), Some(_)) => DEMO_CONTAINER.to_owned(),
            (None, Err(_), None) => {
                return Err(
                    "usage: export_devices CONTAINER_URI (or IOTHUB_EXPORT_CONTAINER_URI)".into(),
                );
            }
        };
        let authentication = if container.contains("sig=") {
            StorageAuthentication::KeyBased
        } else {
            StorageAuthentication::SystemAssignedIdentity
        };
        let job = client
            .export_devices(ExportJob::new(container, authentication))
            .await?;
        let job_id = job.job_id.clone().ok_or("the service gave the job no id")?;
        eprintln!("export {job_id} started");
        let wait = WaitOptions::default().with_timeout(std::time::Duration::from_secs(30 * 60));
        let mut states = std::pin::pin!(client.watch_import_export_job(&job_id, wait));
        let mut last = None;
        while let Some(state) = states.next().await {
            let job = state?;
            eprintln!(
                "export {job_id}: {} {}%",
                job.status.as_ref().map_or("unknown", |s| s.as_str()),
                job.progress.unwrap_or(0)
            );
            last = Some(job);
        }
        let job = last.ok_or("the wait saw no state")?;
        let mut printed = serde_json::to_value(&job)?;
        // The JSON carries the container URIs as sent, SAS included: print them redacted.
        for (field, uri) in [
            ("outputBlobContainerUri", &job.output_blob_container_uri),
            ("inputBlobContainerUri", &job.input_blob_container_uri),
        ] {
            if let Some(uri) = uri {
                printed[field] = serde_json::Value::String(uri.to_string());
            }
        }
        Ok(serde_json::to_string_pretty(&printed)?)
    })
    .await
}
