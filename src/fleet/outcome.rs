//! A scheduled job's outcome: every device's row read once and counted by what became of the
//! device — a direct method that answered outside 2xx counted apart from the succeeded ones,
//! though the service calls both `completed` — with details kept for a bounded number of
//! devices, so memory stays flat whatever the fleet's size.

use std::collections::BTreeMap;

use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::Value;

use crate::{
    DeviceJobQuery, Error, JobsClient, Queried, QueriedDeviceJob,
    models::{DeviceJob, DeviceJobStatus, DeviceJobType},
};

impl JobsClient {
    /// What became of each device job `job_id` reached: every row of
    /// [`query_device_jobs`](Self::query_device_jobs) read once, counted by status, with the
    /// devices that failed (error code and description) and those whose direct method
    /// answered outside `200`–`299` (status and payload) — which the service reports as
    /// `completed`, and its statistics as succeeded — listed apart.
    ///
    /// Every device is counted; details are kept for at most
    /// [`OutcomeOptions::with_max_details`] devices of each list, and the outcome says how many
    /// were left out, so memory stays flat however many devices the job reached. A failed page
    /// request ends it with that error.
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// let outcome = client.job_outcome("nightly-reboot", Default::default()).await?;
    /// println!("{} of {} devices succeeded", outcome.counts.succeeded, outcome.devices);
    /// for device in &outcome.method_failed {
    ///     println!("{} answered {:?}", device.device_id, device.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn job_outcome(
        &self,
        job_id: &str,
        options: OutcomeOptions,
    ) -> Result<JobOutcome, Error> {
        let mut tally = JobOutcome {
            job_id: job_id.to_owned(),
            ..JobOutcome::default()
        };
        let mut rows = std::pin::pin!(self.query_device_jobs(job_id, options.rows()));
        while let Some(row) = rows.next().await {
            tally.add(row?, options.max_details);
        }
        Ok(tally)
    }
}

/// How [`JobsClient::job_outcome`] reads a job's rows. Start from `OutcomeOptions::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeOptions {
    max_details: usize,
    page_size: Option<u32>,
}

impl Default for OutcomeOptions {
    fn default() -> Self {
        Self {
            max_details: Self::DEFAULT_MAX_DETAILS,
            page_size: None,
        }
    }
}

impl OutcomeOptions {
    /// How many devices each list of an outcome details unless configured otherwise: enough to
    /// read, bounded whatever the fleet.
    pub const DEFAULT_MAX_DETAILS: usize = 100;

    /// The most devices [`JobOutcome::failed`] and [`JobOutcome::method_failed`] each list
    /// (default [`Self::DEFAULT_MAX_DETAILS`]); the others are counted, and the outcome says how
    /// many were left out. `0` keeps counts only.
    pub fn with_max_details(mut self, devices: usize) -> Self {
        self.max_details = devices;
        self
    }

    /// How many rows to ask for per page (the service may answer with fewer).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    fn rows(&self) -> DeviceJobQuery {
        match self.page_size {
            Some(size) => DeviceJobQuery::default().with_page_size(size),
            None => DeviceJobQuery::default(),
        }
    }
}

/// What became of every device a scheduled job reached ([`JobsClient::job_outcome`]).
/// Serializes to JSON for reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JobOutcome {
    /// The job.
    pub job_id: String,
    /// The devices counted: every row that reads as a device's.
    pub devices: u64,
    /// How many devices are in each state.
    pub counts: DeviceCounts,
    /// The devices whose row reads `failed`, with the error the service gave; at most
    /// [`OutcomeOptions::with_max_details`] of them, in the order read.
    pub failed: Vec<FailedDevice>,
    /// How many failed devices [`failed`](Self::failed) leaves out.
    pub failed_left_out: u64,
    /// The devices whose direct method answered outside `200`–`299` (or gave no status),
    /// which the service reports as `completed`; at most
    /// [`OutcomeOptions::with_max_details`] of them.
    pub method_failed: Vec<MethodFailure>,
    /// How many such devices [`method_failed`](Self::method_failed) leaves out.
    pub method_failed_left_out: u64,
    /// How many failed devices gave each error code (`DeviceNotOnline`, …; `""` for none),
    /// for [`JobOutcome::MAX_ERROR_CODES`] codes at most.
    pub error_codes: BTreeMap<String, u64>,
    /// How many failed devices gave a code past the first [`JobOutcome::MAX_ERROR_CODES`].
    pub error_codes_left_out: u64,
    /// Rows of a shape that is not a device's (no device id, or another JSON shape): not
    /// counted as devices.
    pub unrecognized_rows: u64,
}

/// How many devices of a job are in each state. `succeeded + method_failed` is what the
/// service counts as `completed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeviceCounts {
    /// Done: the twin updated, or the direct method answered `200`–`299`.
    pub succeeded: u64,
    /// `completed`, but the direct method answered outside `200`–`299`, or gave no status.
    pub method_failed: u64,
    /// `failed`: the service gave up on the device (offline, timed out, …).
    pub failed: u64,
    /// `running`.
    pub running: u64,
    /// `pending`: waiting for the job to reach it.
    pub pending: u64,
    /// `scheduled`: the job has not started.
    pub scheduled: u64,
    /// `canceled`.
    pub canceled: u64,
    /// A status this crate does not know, or none.
    pub other: u64,
}

/// A device whose row reads `failed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FailedDevice {
    /// The device.
    pub device_id: String,
    /// The service's error code, such as `DeviceNotOnline`.
    pub code: Option<String>,
    /// What the service says went wrong.
    pub description: Option<String>,
}

/// A device whose direct method answered outside `200`–`299`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MethodFailure {
    /// The device.
    pub device_id: String,
    /// The status the method answered with; `None` when the row has none.
    pub status: Option<i32>,
    /// The payload it answered with.
    pub payload: Option<Value>,
}

/// What became of one device, read from its row.
pub(crate) enum DeviceResult<'a> {
    Succeeded,
    MethodFailed {
        status: Option<i32>,
        payload: Option<&'a Value>,
    },
    Failed {
        code: Option<&'a str>,
        description: Option<&'a str>,
    },
    Running,
    Pending,
    Scheduled,
    Canceled,
    Other,
}

impl<'a> DeviceResult<'a> {
    /// What `row` says became of its device. A `completed` row is a success when its method
    /// answered `200`–`299`, or when it was no method at all (a twin update): a method row
    /// without a status is not known to have succeeded.
    pub(crate) fn of(row: &'a DeviceJob) -> Self {
        let Some(status) = &row.status else {
            return Self::Other;
        };
        match status {
            DeviceJobStatus::Completed => {
                let answer = row
                    .outcome
                    .as_ref()
                    .and_then(|outcome| outcome.device_method_response.as_ref());
                let method_status = answer.and_then(|answer| answer.status);
                let is_method = method_status.is_some()
                    || row.job_type == Some(DeviceJobType::ScheduleDeviceMethod);
                match method_status {
                    Some(200..=299) => Self::Succeeded,
                    _ if !is_method => Self::Succeeded,
                    status => Self::MethodFailed {
                        status,
                        payload: answer.and_then(|answer| answer.payload.as_ref()),
                    },
                }
            }
            DeviceJobStatus::Failed => Self::Failed {
                code: row.error.as_ref().and_then(|error| error.code.as_deref()),
                description: row
                    .error
                    .as_ref()
                    .and_then(|error| error.description.as_deref()),
            },
            DeviceJobStatus::Running => Self::Running,
            DeviceJobStatus::Pending => Self::Pending,
            DeviceJobStatus::Scheduled => Self::Scheduled,
            DeviceJobStatus::Canceled => Self::Canceled,
            _ => Self::Other,
        }
    }
}

impl JobOutcome {
    /// The most distinct error codes [`error_codes`](Self::error_codes) counts: a service
    /// could send a new one per device.
    pub const MAX_ERROR_CODES: usize = 64;

    /// The share of devices that did not succeed, `0.0`–`1.0`: those that failed, and with
    /// `count_method_failures` those whose method answered outside 2xx. `0.0` for no devices.
    pub fn failure_rate(&self, count_method_failures: bool) -> f64 {
        if self.devices == 0 {
            return 0.0;
        }
        self.not_succeeded(count_method_failures) as f64 / self.devices as f64
    }

    /// The devices that did not succeed: those that failed, and with `count_method_failures`
    /// those whose method answered outside 2xx.
    pub(crate) fn not_succeeded(&self, count_method_failures: bool) -> u64 {
        let method_failed = if count_method_failures {
            self.counts.method_failed
        } else {
            0
        };
        self.counts.failed + method_failed
    }

    /// Counts `row`, keeping its details while fewer than `max_details` are kept.
    fn add(&mut self, row: QueriedDeviceJob, max_details: usize) {
        let row = match row {
            Queried::Item(row) if row.device_id.is_some() => row,
            _ => {
                self.unrecognized_rows += 1;
                return;
            }
        };
        self.devices += 1;
        let device_id = || row.device_id.clone().unwrap_or_default();
        let counts = &mut self.counts;
        match DeviceResult::of(&row) {
            DeviceResult::Succeeded => counts.succeeded += 1,
            DeviceResult::MethodFailed { status, payload } => {
                counts.method_failed += 1;
                let details = (&mut self.method_failed, &mut self.method_failed_left_out);
                keep_within(details, max_details, || MethodFailure {
                    device_id: device_id(),
                    status,
                    payload: payload.cloned(),
                });
            }
            DeviceResult::Failed { code, description } => {
                counts.failed += 1;
                let code_text = code.unwrap_or_default();
                let room = self.error_codes.len() < Self::MAX_ERROR_CODES;
                match self.error_codes.get_mut(code_text) {
                    Some(devices) => *devices += 1,
                    None if room => {
                        self.error_codes.insert(code_text.to_owned(), 1);
                    }
                    None => self.error_codes_left_out += 1,
                }
                let details = (&mut self.failed, &mut self.failed_left_out);
                keep_within(details, max_details, || FailedDevice {
                    device_id: device_id(),
                    code: code.map(str::to_owned),
                    description: description.map(str::to_owned),
                });
            }
            DeviceResult::Running => counts.running += 1,
            DeviceResult::Pending => counts.pending += 1,
            DeviceResult::Scheduled => counts.scheduled += 1,
            DeviceResult::Canceled => counts.canceled += 1,
            DeviceResult::Other => counts.other += 1,
        }
    }
}

/// Keeps the detail `make` makes in `kept` while it holds fewer than `max`; counts it in
/// `left_out` otherwise, without making it.
fn keep_within<T>((kept, left_out): (&mut Vec<T>, &mut u64), max: usize, make: impl FnOnce() -> T) {
    if kept.len() < max {
        kept.push(make());
    } else {
        *left_out += 1;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(json: Value) -> QueriedDeviceJob {
        Queried::read(serde_json::value::to_raw_value(&json).unwrap())
    }

    fn method_row(device: &str, status: Value) -> Value {
        json!({"deviceId": device, "jobType": "scheduleDeviceMethod", "status": "completed",
            "outcome": {"deviceMethodResponse": {"status": status, "payload": {"d": device}}}})
    }

    #[test]
    fn a_method_answering_outside_2xx_is_counted_apart_from_the_succeeded() {
        let mut outcome = JobOutcome::default();
        for status in [200, 204, 299] {
            outcome.add(row(method_row("ok", json!(status))), 10);
        }
        for status in [199, 300, 404, 500, 501] {
            outcome.add(row(method_row(&format!("m{status}"), json!(status))), 10);
        }
        // A method row that carries no status is not known to have succeeded.
        outcome.add(
            row(
                json!({"deviceId": "silent", "jobType": "scheduleDeviceMethod", "status": "completed"}),
            ),
            10,
        );
        // A twin update has no method to answer.
        outcome.add(
            row(
                json!({"deviceId": "twin", "jobType": "scheduleUpdateTwin", "status": "completed",
                "outcome": {"deviceMethodResponse": null}}),
            ),
            10,
        );
        assert_eq!(outcome.counts.succeeded, 4);
        assert_eq!(outcome.counts.method_failed, 6);
        assert_eq!(outcome.devices, 10);
        let statuses: Vec<_> = outcome.method_failed.iter().map(|m| m.status).collect();
        assert_eq!(
            statuses,
            [Some(199), Some(300), Some(404), Some(500), Some(501), None]
        );
        assert_eq!(outcome.method_failed[2].device_id, "m404");
        assert_eq!(
            outcome.method_failed[2].payload,
            Some(json!({"d": "m404"})),
            "the payload travels with its device"
        );
        assert_eq!(outcome.failure_rate(true), 0.6);
        assert_eq!(outcome.failure_rate(false), 0.0);
    }

    #[test]
    fn every_state_is_counted_and_details_stop_at_the_bound() {
        let mut outcome = JobOutcome::default();
        for (n, status) in ["running", "pending", "scheduled", "canceled", "cancelling"]
            .iter()
            .enumerate()
        {
            outcome.add(
                row(json!({"deviceId": format!("d{n}"), "status": status})),
                2,
            );
        }
        outcome.add(row(json!({"deviceId": "no-status"})), 2);
        for n in 0..3 {
            outcome.add(
                row(json!({"deviceId": format!("f{n}"), "status": "failed",
                    "error": {"code": "DeviceNotOnline", "description": "offline"}})),
                2,
            );
        }
        outcome.add(row(json!({"deviceId": "f-bare", "status": "failed"})), 2);
        for n in 0..3 {
            outcome.add(row(method_row(&format!("m{n}"), json!(500))), 2);
        }
        outcome.add(row(json!({"status": "completed"})), 2);
        outcome.add(row(json!([1, 2])), 2);
        let counts = &outcome.counts;
        assert_eq!(
            (
                counts.running,
                counts.pending,
                counts.scheduled,
                counts.canceled
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(counts.other, 2, "an unknown status, and none");
        assert_eq!((counts.failed, counts.method_failed), (4, 3));
        assert_eq!(outcome.devices, 13);
        assert_eq!(outcome.unrecognized_rows, 2, "no device id; not an object");
        assert_eq!(
            outcome.failed,
            [
                FailedDevice {
                    device_id: "f0".into(),
                    code: Some("DeviceNotOnline".into()),
                    description: Some("offline".into()),
                },
                FailedDevice {
                    device_id: "f1".into(),
                    code: Some("DeviceNotOnline".into()),
                    description: Some("offline".into()),
                },
            ]
        );
        assert_eq!(outcome.failed_left_out, 2);
        assert_eq!(outcome.method_failed.len(), 2);
        assert_eq!(outcome.method_failed_left_out, 1);
        assert_eq!(
            outcome.error_codes,
            BTreeMap::from([("".to_owned(), 1), ("DeviceNotOnline".to_owned(), 3)])
        );
        assert_eq!(outcome.failure_rate(false), 4.0 / 13.0);
        assert_eq!(JobOutcome::default().failure_rate(true), 0.0, "no devices");
    }

    #[test]
    fn error_codes_are_counted_for_a_bounded_number_of_codes() {
        let mut outcome = JobOutcome::default();
        for n in 0..JobOutcome::MAX_ERROR_CODES + 2 {
            outcome.add(
                row(json!({"deviceId": "d", "status": "failed", "error": {"code": format!("E{n}")}})),
                0,
            );
        }
        outcome.add(
            row(json!({"deviceId": "d", "status": "failed", "error": {"code": "E0"}})),
            0,
        );
        assert_eq!(outcome.error_codes.len(), JobOutcome::MAX_ERROR_CODES);
        assert_eq!(outcome.error_codes["E0"], 2);
        assert_eq!(outcome.error_codes_left_out, 2);
        assert!(outcome.failed.is_empty() && outcome.failed_left_out == 67);
    }
}
