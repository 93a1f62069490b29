//! Sees which devices a condition selects before a job runs — how many, and which — then
//! schedules a twin update on them, waits for it, and reads a changed twin back through the
//! device query. Prints one JSON object on stdout.
//!
//! ```text
//! cargo run --example preview_targets -- [CONDITION [--apply]]
//! ```
//!
//! Without `IOTHUB_CONNECTION_STRING`, on the embedded local hub with six devices in two rings,
//! for the canary devices whose reported firmware is older than 2.4.0 (built with `Field`).
//! With it, previews CONDITION (an IoT Hub `WHERE` clause, checked before it is sent) and
//! schedules the update (desired `firmware.version` 2.4.0) only with `--apply`.

mod support;

use std::{process::ExitCode, time::Duration};

use futures_util::StreamExt as _;
use iothub_jobs::{Condition, DeviceQuery, Field, Queried, TwinUpdateJob, WaitOptions};
use iothub_local_hub::LocalHub;
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    support::run(async {
        let local_hub = LocalHub::builder().job_run_time(Duration::from_secs(1));
        let (client, hub) = support::client_from_env_or(local_hub).await?;
        let mut args = std::env::args().skip(1);
        let (condition, apply) = match (args.next(), &hub) {
            (Some(text), _) => (Condition::parse(&text)?, args.any(|arg| arg == "--apply")),
            (None, Some(hub)) => {
                hub.add_twins(fleet())?;
                let canary = Field::tag("ring").eq("canary");
                let outdated = Field::reported("firmware.version").lt("2.4.0");
                (canary.and(outdated), true)
            }
            (None, None) => return Err("usage: preview_targets CONDITION [--apply]".into()),
        };
        let count = client.count_devices(condition.clone()).await?;
        let mut devices = Vec::new();
        let mut ids = std::pin::pin!(client.query_device_ids(condition.clone()));
        while let Some(id) = ids.next().await {
            if let Queried::Item(id) = id? {
                devices.push(id);
            }
        }
        eprintln!("{count} device(s) match {}", condition.text()?);
        let mut report =
            json!({"condition": condition.text()?, "count": count, "devices": devices});
        if !apply || devices.is_empty() {
            return Ok(serde_json::to_string_pretty(&report)?);
        }

        let job_id = format!("firmware-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
        let desired = json!({"firmware": {"version": "2.4.0"}});
        let job = TwinUpdateJob::new(&job_id, condition.clone())
            .with_desired_properties(desired.as_object().cloned().unwrap_or_default());
        client.schedule_twin_update(job).await?;
        eprintln!("job {job_id} scheduled; waiting");
        let done = client.wait_for_job(&job_id, WaitOptions::default()).await?;
        report["job"] =
            json!({"id": job_id, "status": done.status, "statistics": done.device_job_statistics});

        // The first device, read back: its desired firmware is what the job set.
        let changed = Field::device_id()
            .eq(devices[0].as_str())
            .and(Field::desired("firmware.version").eq("2.4.0"));
        let mut twins = std::pin::pin!(client.query_twins(DeviceQuery::new(changed)));
        if let Some(twin) = twins.next().await {
            report["changed_twin"] = match twin? {
                Queried::Item(twin) => serde_json::to_value(&twin)?,
                Queried::Unrecognized(raw) => raw,
                other => json!(format!("{other:?}")),
            };
        }
        Ok(serde_json::to_string_pretty(&report)?)
    })
    .await
}

/// Six devices: two rings at two sites, reporting firmware versions.
fn fleet() -> Vec<serde_json::Value> {
    [
        ("sensor-01", "canary", "berlin", "2.3.0"),
        ("sensor-02", "canary", "paris", "2.4.1"),
        ("sensor-03", "canary", "paris", "2.2.7"),
        ("sensor-04", "wide", "berlin", "2.3.0"),
        ("sensor-05", "wide", "paris", "2.3.0"),
        ("sensor-06", "wide", "berlin", "2.4.1"),
    ]
    .into_iter()
    .map(|(id, ring, site, firmware)| {
        json!({
            "deviceId": id,
            "tags": {"ring": ring, "site": site},
            "properties": {"reported": {"firmware": {"version": firmware}}},
        })
    })
    .collect()
}
