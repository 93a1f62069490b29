//! The hub's own rules, written from the service's documentation rather than taken from the
//! client: a wrong rule in the client must not be mirrored by the test double meant to catch
//! it. Jobs are kept as JSON, so the rules read the text the service writes.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// The longest job id the service takes.
const MAX_JOB_ID_BYTES: usize = 64;

/// Whether the service takes `id` as a scheduled job's id: 1 to 64 characters, each an ASCII
/// letter, an ASCII digit or a hyphen.
pub(crate) fn is_job_id(id: &str) -> bool {
    (1..=MAX_JOB_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-'))
}

/// The longest query the service runs, in bytes (about 8,200 by its support's account,
/// csharp#1680): longer ones, or job conditions, are refused `412 PreconditionFailed`.
pub(crate) const MAX_QUERY_BYTES: usize = 8_192;

/// The longest device id the service takes.
const MAX_DEVICE_ID_BYTES: usize = 128;

/// Whether `id` can name a device: 1 to 128 characters, each an ASCII letter or digit or one
/// of `- : . + % _ # * ? ! ( ) , = @ ; $ '` (the device identity's documented rule).
pub(crate) fn is_device_id(id: &str) -> bool {
    (1..=MAX_DEVICE_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-:.+%_#*?!(),=@;$'".contains(&b))
}

/// A job that waits for its start time or its turn: the only states the service cancels.
pub(crate) fn is_waiting(status: &str) -> bool {
    ["scheduled", "queued", "enqueued"].contains(&status)
}

/// A job that ran or runs: too late to cancel.
pub(crate) fn has_started(status: &str) -> bool {
    ["running", "completed", "failed"].contains(&status)
}

/// Whether `job` counts against the hub's active-job limit: waiting or running.
pub(crate) fn is_active(job: &Value) -> bool {
    job["status"]
        .as_str()
        .is_some_and(|status| is_waiting(status) || status == "running")
}

/// How long the service keeps a job, of either kind, after it finished: 30 days. Then it is
/// gone, as if it had never been.
pub(crate) const JOB_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// When the retention of scheduled job `job` counts from: for a completed, failed or
/// cancelled job, its `endTime`, else (a job cancelled before it started has none) its
/// `createdTime`, but never before `held_since`, when the hub came to hold it — so a finished
/// job a test inserts with old times is kept for the retention from its insertion. `None`
/// for a job that has not finished.
pub(crate) fn retained_from(job: &Value, held_since: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let finished = job["status"]
        .as_str()
        .is_some_and(|status| ["completed", "failed", "cancelled"].contains(&status));
    if !finished {
        return None;
    }
    let recorded = ["endTime", "createdTime"]
        .iter()
        .find_map(|field| job[*field].as_str().and_then(date_time));
    Some(recorded.map_or(held_since, |at| at.max(held_since)))
}

/// A request's date-time: ISO 8601, with an offset or without one (then UTC, as SDKs that
/// send `datetime.utcnow().isoformat()` mean it).
pub(crate) fn date_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|time| time.and_utc())
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_follow_the_documented_rule() {
        for id in ["a", "Z", "7", "-", "job-2024-Z9", &"x".repeat(64)] {
            assert!(is_job_id(id), "{id}");
        }
        for id in [
            "",
            &"x".repeat(65),
            "a/b",
            "a_b",
            "a.b",
            "a b",
            "é",
            "a?x",
            "query%2F",
        ] {
            assert!(!is_job_id(id), "{id}");
        }
    }

    #[test]
    fn device_ids_follow_the_documented_rule() {
        for id in ["a", "Z9", "-:.+%_#*?!(),=@;$'", &"d".repeat(128)] {
            assert!(is_device_id(id), "{id}");
        }
        for id in [
            "",
            &"d".repeat(129),
            "é",
            "a b",
            "a/b",
            "a\"b",
            "a[b]",
            "a&b",
            "a\\b",
        ] {
            assert!(!is_device_id(id), "{id}");
        }
    }

    #[test]
    fn date_times_with_or_without_an_offset() {
        let noon = "2026-12-02T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        for text in [
            "2026-12-02T12:00:00Z",
            "2026-12-02T13:00:00+01:00",
            "2026-12-02T12:00:00",
            "2026-12-02T12:00:00.000",
        ] {
            assert_eq!(date_time(text), Some(noon), "{text}");
        }
        assert_eq!(date_time("tomorrow"), None);
    }

    #[test]
    fn retention_counts_from_the_end_else_the_creation_never_before_the_hub_held_it() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let held = at("2026-01-01T00:00:00Z");
        let job = |status: &str, times: Value| {
            let mut job = times;
            job["status"] = status.into();
            job
        };
        let ended = serde_json::json!({
            "createdTime": "2026-02-01T00:00:00Z",
            "endTime": "2026-03-01T00:00:00Z",
        });
        let created = serde_json::json!({"createdTime": "2026-02-01T00:00:00.000Z"});
        let old = serde_json::json!({
            "createdTime": "2020-05-21T20:00:00Z",
            "endTime": "2020-05-21T20:14:49Z",
        });
        for (job, from) in [
            (
                job("completed", ended.clone()),
                Some(at("2026-03-01T00:00:00Z")),
            ),
            (
                job("failed", ended.clone()),
                Some(at("2026-03-01T00:00:00Z")),
            ),
            (
                job("cancelled", created.clone()),
                Some(at("2026-02-01T00:00:00Z")),
            ),
            (job("completed", old), Some(held)),
            (
                job("cancelled", serde_json::json!({"endTime": "later"})),
                Some(held),
            ),
            (job("cancelled", serde_json::json!({})), Some(held)),
            (job("scheduled", ended.clone()), None),
            (job("running", ended.clone()), None),
            (job("queued", created), None),
            (job("cancelling", ended), None),
        ] {
            assert_eq!(retained_from(&job, held), from, "{job}");
        }
    }

    #[test]
    fn states_sort_into_waiting_started_and_neither() {
        for status in ["scheduled", "queued", "enqueued"] {
            assert!(is_waiting(status) && !has_started(status), "{status}");
        }
        for status in ["running", "completed", "failed"] {
            assert!(!is_waiting(status) && has_started(status), "{status}");
        }
        for status in ["cancelled", "cancelling", "unknown"] {
            assert!(!is_waiting(status) && !has_started(status), "{status}");
        }
    }
}
