//! Runs a direct method on a few devices as a job, waits for it, and prints its outcome as JSON
//! on stdout: how many devices succeeded, which failed and why, and which answered the method
//! outside 2xx — counted apart from the succeeded, though the service calls them `completed`.
//!
//! ```text
//! cargo run --example device_results -- [METHOD DEVICE_ID...]
//! ```
//!
//! With `IOTHUB_CONNECTION_STRING` set, calls METHOD on the devices named, now. Without it, on
//! the embedded local hub, calls `ping` on four thermostats, of which `thermostat-3` is offline
//! and `thermostat-4` answers `501`.

mod support;

use std::{process::ExitCode, time::Duration};

use iothub_jobs::{Condition, DirectMethodJob, OutcomeOptions, WaitOptions};
use iothub_local_hub::LocalHub;

#[tokio::main]
async fn main() -> ExitCode {
    support::run(async {
        let local_hub = LocalHub::builder().job_run_time(Duration::from_secs(2));
        let (client, hub) = support::client_from_env_or(local_hub).await?;
        let mut args = std::env::args().skip(1);
        let (method, devices): (String, Vec<String>) = match (args.next(), &hub) {
            (Some(method), _) => (method, args.collect()),
            (None, Some(hub)) => {
                hub.add_devices((1..=4).map(|n| format!("thermostat-{n}")))?;
                hub.set_device_offline("thermostat-3");
                hub.set_method_response(
                    "thermostat-4",
                    501,
                    serde_json::json!({"error": "ping is not implemented"}),
                );
                let devices = (1..=4).map(|n| format!("thermostat-{n}")).collect();
                ("ping".to_owned(), devices)
            }
            (None, None) => return Err("usage: device_results METHOD DEVICE_ID...".into()),
        };
        if devices.is_empty() {
            return Err("name at least one device".into());
        }
        // Checked against the device-id rule, and split if the list is past the size limit.
        let [condition] =
            <[_; 1]>::try_from(Condition::device_ids(&devices)?).map_err(|split| {
                format!(
                    "{} devices need {} jobs; name fewer",
                    devices.len(),
                    split.len()
                )
            })?;
        let job_id = format!("results-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
        let job = DirectMethodJob::new(&job_id, condition, method)
            .with_response_timeout(Duration::from_secs(30));
        client.schedule_direct_method(job).await?;
        eprintln!(
            "job {job_id} scheduled on {} device(s); waiting",
            devices.len()
        );
        let done = client.wait_for_job(&job_id, WaitOptions::default()).await?;
        let outcome = client
            .job_outcome(&job_id, OutcomeOptions::default())
            .await?;
        let counts = &outcome.counts;
        eprintln!(
            "job {job_id} completed: {} succeeded, {} failed, {} answered outside 2xx (the \
             service counts {} succeeded)",
            counts.succeeded,
            counts.failed,
            counts.method_failed,
            done.device_job_statistics
                .and_then(|statistics| statistics.succeeded_count)
                .unwrap_or(0)
        );
        for device in &outcome.method_failed {
            let status = device.status.map_or("no status".into(), |s| s.to_string());
            eprintln!("  {} answered {status}", device.device_id);
        }
        Ok(serde_json::to_string_pretty(&outcome)?)
    })
    .await
}
