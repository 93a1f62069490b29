//! Which devices a scheduled job reaches and how each fares: the hub's rows per device, and
//! the job's statistics counted from them. A job reaches the registered devices its condition
//! selects when it is created (the service reads it when the job starts: a device added
//! between the two is not reached here).
//!
//! Devices answer direct methods with `200` and `{}` unless a test says otherwise
//! ([`LocalHub::set_method_response`](crate::LocalHub::set_method_response),
//! [`LocalHub::set_device_offline`](crate::LocalHub::set_device_offline)).

use std::{collections::BTreeMap, sync::Arc};

use serde::Serialize;
use serde_json::{Value, json};

use crate::query::Filter;
use crate::state::registry::Twins;

/// How a device answers a direct method.
#[derive(Clone, Debug)]
pub(crate) enum Device {
    /// It answers with this status and payload.
    Answers { status: u16, payload: Value },
    /// It never connects: the method times out.
    Offline,
}

impl Default for Device {
    fn default() -> Self {
        Self::Answers {
            status: 200,
            payload: json!({}),
        }
    }
}

/// How the devices a test configured answer, by id; the others answer [`Device::default`].
pub(crate) type Devices = BTreeMap<String, Device>;

/// The registered devices `filter` selects, sorted by id: looked up by id when it names its
/// devices (`deviceId IN [...]`), else every twin evaluated.
pub(crate) fn targets(filter: &Filter, twins: &Twins) -> Vec<String> {
    match filter.device_ids() {
        Some(ids) => {
            let mut ids: Vec<String> = ids
                .into_iter()
                .filter(|id| twins.contains_key(*id))
                .map(str::to_owned)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        }
        None => twins
            .iter()
            .filter(|(_, twin)| filter.matches(*twin))
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

/// Which devices a scheduled job reaches and how they fared: the one source its device rows
/// and its statistics are both read from, so the two cannot disagree.
#[derive(Clone, Default)]
pub(crate) struct Fleet {
    /// The devices its condition selects, sorted by id.
    targets: Arc<[String]>,
    /// How devices answered, as they stood when the job finished; `None` until then, and
    /// kept afterwards, so a device configured later cannot rewrite a finished job.
    answers: Option<Arc<Devices>>,
}

impl Fleet {
    /// The devices `filter` selects among `twins` now.
    pub(crate) fn of(filter: &Filter, twins: &Twins) -> Self {
        Self::new(targets(filter, twins))
    }

    /// A job's fleet over `targets`, sorted by id.
    pub(crate) fn new(targets: Vec<String>) -> Self {
        Self {
            targets: targets.into(),
            answers: None,
        }
    }

    pub(crate) fn targets(&self) -> &[String] {
        &self.targets
    }

    /// The targets, shared rather than copied.
    pub(crate) fn shared_targets(&self) -> Arc<[String]> {
        self.targets.clone()
    }

    /// Keeps how `devices` answer now, for a job that has just finished (once).
    pub(crate) fn settle(&mut self, devices: &Arc<Devices>) {
        self.answers.get_or_insert_with(|| devices.clone());
    }
}

/// What a job's rows are read from, taken out of the job table so that rows are made (and
/// counted, and paged) without holding its lock: cheap to take whatever the job's size.
#[derive(Clone)]
pub(crate) struct JobRows {
    job_id: String,
    job_type: Value,
    created: Value,
    start: Value,
    end: Value,
    status: String,
    is_method: bool,
    fleet: Fleet,
}

impl JobRows {
    pub(crate) fn of(job: &Value, fleet: &Fleet) -> Self {
        Self {
            job_id: job["jobId"].as_str().unwrap_or_default().to_owned(),
            job_type: job["type"].clone(),
            created: job["createdTime"].clone(),
            start: job["startTime"].clone(),
            end: job["endTime"].clone(),
            status: job["status"].as_str().unwrap_or_default().to_owned(),
            is_method: job["type"] == "scheduleDeviceMethod",
            fleet: fleet.clone(),
        }
    }

    pub(crate) fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The row status of a device that answers `answer`, in this job as it stands.
    fn status_for(&self, answer: &Device) -> &'static str {
        match self.status.as_str() {
            "scheduled" => "scheduled",
            "running" => "running",
            "cancelled" => "canceled",
            "failed" => "failed",
            "completed" if self.is_method && matches!(answer, Device::Offline) => "failed",
            "completed" => "completed",
            _ => "pending",
        }
    }

    /// How `device_id` answered, as the job saw it.
    fn answer(&self, device_id: &str) -> Option<&Device> {
        self.fleet.answers.as_ref()?.get(device_id)
    }

    /// The job's statistics, counted from the same source as its rows: every device answers
    /// as the default one does, but for those a test configured.
    pub(crate) fn statistics(&self) -> Value {
        let default = self.status_for(&Device::default());
        let mut counts = BTreeMap::from([(default, self.fleet.targets.len())]);
        let configured = self.fleet.answers.iter().flat_map(|answers| answers.iter());
        for (device_id, answer) in configured {
            if self.fleet.targets.binary_search(device_id).is_ok() {
                *counts.entry(default).or_default() -= 1;
                *counts.entry(self.status_for(answer)).or_default() += 1;
            }
        }
        let count = |status: &str| counts.get(status).copied().unwrap_or_default();
        json!({
            "deviceCount": self.fleet.targets.len(),
            "failedCount": count("failed"),
            "succeededCount": count("completed"),
            "runningCount": count("running"),
            "pendingCount": count("pending") + count("scheduled"),
        })
    }

    /// The job's rows for the devices after `after` (every device, for `None`), in device-id
    /// order: each made when it is read, as JSON or a value.
    pub(crate) fn rows_after(&self, after: Option<&str>) -> impl Iterator<Item = Row<'_>> {
        let first = after.map_or(0, |after| {
            self.fleet
                .targets
                .partition_point(|id| id.as_str() <= after)
        });
        self.fleet.targets[first..].iter().map(|device_id| Row {
            rows: self,
            device_id,
        })
    }
}

/// One device's row of a job, made when it is read.
pub(crate) struct Row<'a> {
    rows: &'a JobRows,
    pub device_id: &'a str,
}

impl Row<'_> {
    /// The row as a value: for conditions on it.
    pub(crate) fn to_value(&self) -> Value {
        // The row always serializes.
        self.shaped(|row| serde_json::to_value(row).unwrap_or_default())
    }

    /// The row's JSON, written straight from the job's fields, without a value made for each
    /// row: a job's rows are paged by the hundred thousand.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        // Writing to a `Vec` cannot fail, and the row always serializes.
        self.shaped(|row| {
            let _ = serde_json::to_writer(out, row);
        });
    }

    /// `use_row` given the row as the service writes it: the one place its shape is made.
    fn shaped<T>(&self, use_row: impl FnOnce(&RowOut<'_>) -> T) -> T {
        let rows = self.rows;
        let default = Device::default();
        let answer = rows.answer(self.device_id).unwrap_or(&default);
        let status = rows.status_for(answer);
        let started = matches!(rows.status.as_str(), "running" | "completed" | "failed");
        let completed = rows.status == "completed";
        let last_updated = if completed {
            &rows.end
        } else if started {
            &rows.start
        } else {
            &rows.created
        };
        let (error, outcome) = match (completed, rows.is_method, answer) {
            (false, _, _) => (None, None),
            (true, true, Device::Offline) => (Some(OFFLINE), None),
            (true, true, Device::Answers { status, payload }) => (
                None,
                Some(OutcomeOut {
                    device_method_response: Some(MethodResponseOut {
                        payload,
                        status: *status,
                    }),
                }),
            ),
            (true, false, _) => (
                None,
                Some(OutcomeOut {
                    device_method_response: None,
                }),
            ),
        };
        let row = RowOut {
            created: &rows.created,
            device_id: self.device_id,
            end: completed.then_some(&rows.end),
            error,
            job_id: &rows.job_id,
            job_type: &rows.job_type,
            last_updated,
            outcome,
            start: started.then_some(&rows.start),
            status,
        };
        use_row(&row)
    }
}

/// What a device that never connected reads in its row.
const OFFLINE: ErrorOut = ErrorOut {
    code: "DeviceNotOnline",
    description: "Timed out waiting for the device to connect",
};

/// A row as the service writes it, its fields in the order of their names, as a value's are.
#[derive(Serialize)]
struct RowOut<'a> {
    #[serde(rename = "createdDateTimeUtc")]
    created: &'a Value,
    #[serde(rename = "deviceId")]
    device_id: &'a str,
    #[serde(rename = "endTimeUtc", skip_serializing_if = "Option::is_none")]
    end: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut>,
    #[serde(rename = "jobId")]
    job_id: &'a str,
    #[serde(rename = "jobType")]
    job_type: &'a Value,
    #[serde(rename = "lastUpdatedDateTimeUtc")]
    last_updated: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<OutcomeOut<'a>>,
    #[serde(rename = "startTimeUtc", skip_serializing_if = "Option::is_none")]
    start: Option<&'a Value>,
    status: &'static str,
}

#[derive(Serialize)]
struct ErrorOut {
    code: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct OutcomeOut<'a> {
    #[serde(rename = "deviceMethodResponse")]
    device_method_response: Option<MethodResponseOut<'a>>,
}

#[derive(Serialize)]
struct MethodResponseOut<'a> {
    payload: &'a Value,
    status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{query, state::registry};

    /// A hub's twins: each id a device with tag `n` its position.
    fn twins(ids: &[&str]) -> Twins {
        ids.iter()
            .enumerate()
            .map(|(n, id)| {
                let (id, twin) = registry::twin(json!({"deviceId": id, "tags": {"n": n}})).unwrap();
                (id, crate::state::compact::Compact::new(&twin))
            })
            .collect()
    }

    fn fleet(condition: &str) -> Fleet {
        let devices = twins(&["a", "b", "c", "d", "solo", "x", "it's", "b-2"]);
        Fleet::of(&query::condition(condition).unwrap(), &devices)
    }

    fn targets_of(condition: &str, ids: &[&str]) -> Vec<String> {
        targets(&query::condition(condition).unwrap(), &twins(ids))
    }

    const STATES: [(&str, &str); 6] = [
        ("scheduled", "scheduled"),
        ("queued", "pending"),
        ("running", "running"),
        ("cancelled", "canceled"),
        ("failed", "failed"),
        ("completed", "completed"),
    ];

    fn job(job_type: &str, status: &str) -> Value {
        json!({"jobId": "j", "type": job_type, "status": status,
            "queryCondition": "deviceId IN ['a', 'b', 'c', 'd']"})
    }

    #[test]
    fn each_device_row_follows_its_jobs_state() {
        for (job_status, row_status) in STATES {
            let job = job("scheduleUpdateTwin", job_status);
            let rows = JobRows::of(&job, &fleet(job["queryCondition"].as_str().unwrap()));
            let statuses: Vec<Value> = rows
                .rows_after(None)
                .map(|row| row.to_value()["status"].clone())
                .collect();
            assert_eq!(statuses, [row_status; 4], "{job_status}");
        }
    }

    #[test]
    fn statistics_count_the_rows_in_every_state() {
        let devices = Arc::new(Devices::from([
            ("b".to_owned(), Device::Offline),
            (
                "c".to_owned(),
                Device::Answers {
                    status: 500,
                    payload: json!({}),
                },
            ),
            // Configured but not targeted: counted nowhere.
            ("z".to_owned(), Device::Offline),
        ]));
        for job_type in ["scheduleDeviceMethod", "scheduleUpdateTwin"] {
            for (status, _) in STATES {
                let job = job(job_type, status);
                let mut settled = fleet(job["queryCondition"].as_str().unwrap());
                settled.settle(&devices);
                let rows = JobRows::of(&job, &settled);
                let mut counted = json!({"deviceCount": 0, "failedCount": 0, "succeededCount": 0,
                    "runningCount": 0, "pendingCount": 0});
                for row in rows.rows_after(None).map(|row| row.to_value()) {
                    let field = match row["status"].as_str().unwrap() {
                        "failed" => "failedCount",
                        "completed" => "succeededCount",
                        "running" => "runningCount",
                        "pending" | "scheduled" => "pendingCount",
                        _ => "deviceCount",
                    };
                    let add = |counted: &mut Value, field: &str| {
                        counted[field] = json!(counted[field].as_u64().unwrap() + 1);
                    };
                    add(&mut counted, "deviceCount");
                    if field != "deviceCount" {
                        add(&mut counted, field);
                    }
                }
                assert_eq!(rows.statistics(), counted, "{job_type} {status}");
            }
        }
        let done = job("scheduleDeviceMethod", "completed");
        let mut settled = fleet(done["queryCondition"].as_str().unwrap());
        settled.settle(&devices);
        assert_eq!(JobRows::of(&done, &settled).statistics()["failedCount"], 1);
    }

    #[test]
    fn a_rows_json_writes_its_fields_in_the_order_of_their_names() {
        let devices = Arc::new(Devices::from([
            ("b".to_owned(), Device::Offline),
            (
                "c".to_owned(),
                Device::Answers {
                    status: 500,
                    payload: json!({"error": "flash", "n": [1, 2.5]}),
                },
            ),
        ]));
        for job_type in ["scheduleDeviceMethod", "scheduleUpdateTwin"] {
            for (status, _) in STATES {
                let mut job = job(job_type, status);
                job["createdTime"] = json!("2026-12-01T00:00:00Z");
                job["startTime"] = json!("2026-12-01T01:00:00Z");
                job["endTime"] = json!("2026-12-01T01:01:00Z");
                let mut settled = fleet(job["queryCondition"].as_str().unwrap());
                settled.settle(&devices);
                let rows = JobRows::of(&job, &settled);
                for row in rows.rows_after(None) {
                    let mut written = Vec::new();
                    row.write_json(&mut written);
                    assert_eq!(
                        String::from_utf8(written).unwrap(),
                        row.to_value().to_string(),
                        "{job_type} {status} {}",
                        row.device_id
                    );
                }
            }
        }
    }

    #[test]
    fn rows_page_from_any_device_in_order() {
        let job = job("scheduleUpdateTwin", "running");
        let rows = JobRows::of(&job, &fleet("deviceId IN ['d', 'b', 'a', 'c']"));
        let after = |after| {
            rows.rows_after(after)
                .map(|row| row.device_id.to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(after(None), ["a", "b", "c", "d"]);
        assert_eq!(after(Some("b")), ["c", "d"]);
        assert_eq!(after(Some("bb")), ["c", "d"]);
        assert_eq!(after(Some("d")), Vec::<String>::new());
    }

    #[test]
    fn a_job_reaches_the_registered_devices_its_condition_selects() {
        let ids = ["a", "b-2", "c", "it's"];
        assert_eq!(
            targets_of("deviceId IN ['b-2', 'a', 'ghost']", &ids),
            ["a", "b-2"]
        );
        assert_eq!(targets_of("DEVICEID in [\"c\"]", &ids), ["c"]);
        assert_eq!(
            targets_of("deviceId IN ['c', 'c']", &ids),
            ["c"],
            "one device, named twice"
        );
        assert_eq!(targets_of("deviceId = 'it\\'s'", &ids), ["it's"]);
        assert_eq!(targets_of("*", &ids), ["a", "b-2", "c", "it's"]);
        assert_eq!(targets_of("tags.n >= 2", &ids), ["c", "it's"]);
        assert_eq!(
            targets_of("tags.n = 1 OR deviceId = 'a'", &ids),
            ["a", "b-2"]
        );
        assert!(targets_of("tags.site = 'b'", &ids).is_empty());
        assert!(
            targets_of("deviceId IN ['a']", &[]).is_empty(),
            "no such device"
        );
    }
}
