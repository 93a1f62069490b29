//! Which devices a scheduled job reaches and how each fares: the hub's rows per device, and
//! the job's statistics counted from them. What the local hub understands of a query
//! condition, and nothing else:
//! - a job's devices: `deviceId IN ['a', 'b']` or `deviceId = 'a'` (any other condition
//!   targets no device);
//! - the query language's tokens, which `device_jobs` also reads queries with.
//!
//! Devices answer direct methods with `200` and `{}` unless a test says otherwise
//! ([`LocalHub::set_method_response`](super::LocalHub::set_method_response),
//! [`LocalHub::set_device_offline`](super::LocalHub::set_device_offline)).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// How a device answers a direct method.
#[derive(Clone, Debug)]
pub(super) enum Device {
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

/// The devices a query condition selects, as far as the hub understands it.
pub(super) fn targets(condition: &str) -> Vec<String> {
    let tokens = tokens(condition).unwrap_or_default();
    match tokens.as_slice() {
        [Token::Word(field), Token::Equals, Token::Text(id)] if is_device_id(field) => {
            vec![id.clone()]
        }
        [
            Token::Word(field),
            Token::Word(keyword),
            Token::Open,
            list @ ..,
            Token::Close,
        ] if is_device_id(field) && keyword.eq_ignore_ascii_case("IN") => list
            .iter()
            .filter_map(|token| match token {
                Token::Text(id) => Some(id.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn is_device_id(field: &str) -> bool {
    field.eq_ignore_ascii_case("deviceId")
}

/// The device-job statistics of `job` as the hub moves it, from its devices' answers.
pub(super) fn statistics(job: &Value, devices: &BTreeMap<String, Device>) -> Value {
    let rows: Vec<Value> = rows(job, devices);
    let count = |status: &str| rows.iter().filter(|row| row["status"] == status).count();
    json!({
        "deviceCount": rows.len(),
        "failedCount": count("failed"),
        "succeededCount": count("completed"),
        "runningCount": count("running"),
        "pendingCount": count("pending") + count("scheduled"),
    })
}

/// One row per device `job` targets, as the service writes them.
pub(super) fn rows(job: &Value, devices: &BTreeMap<String, Device>) -> Vec<Value> {
    let condition = job["queryCondition"].as_str().unwrap_or_default();
    let job_status = job["status"].as_str().unwrap_or_default();
    let is_method = job["type"] == "scheduleDeviceMethod";
    let started = matches!(job_status, "running" | "completed" | "failed");
    targets(condition)
        .into_iter()
        .map(|device_id| {
            let device = devices.get(&device_id).cloned().unwrap_or_default();
            let mut row = json!({
                "deviceId": device_id,
                "jobId": job["jobId"],
                "jobType": job["type"],
                "createdDateTimeUtc": job["createdTime"],
                "lastUpdatedDateTimeUtc": job["createdTime"],
            });
            if started {
                row["startTimeUtc"] = job["startTime"].clone();
                row["lastUpdatedDateTimeUtc"] = job["startTime"].clone();
            }
            let status = match job_status {
                "scheduled" => "scheduled",
                "running" => "running",
                "cancelled" => "canceled",
                "failed" => "failed",
                "completed" => {
                    row["endTimeUtc"] = job["endTime"].clone();
                    row["lastUpdatedDateTimeUtc"] = job["endTime"].clone();
                    match (is_method, device) {
                        (true, Device::Offline) => {
                            row["error"] = json!({
                                "code": "DeviceNotOnline",
                                "description": "Timed out waiting for the device to connect",
                            });
                            "failed"
                        }
                        (true, Device::Answers { status, payload }) => {
                            row["outcome"] = json!({"deviceMethodResponse": {"status": status, "payload": payload}});
                            "completed"
                        }
                        (false, _) => {
                            row["outcome"] = json!({"deviceMethodResponse": null});
                            "completed"
                        }
                    }
                }
                _ => "pending",
            };
            row["status"] = json!(status);
            row
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Token {
    Word(String),
    Text(String),
    Equals,
    Open,
    Close,
}

/// The query language's tokens: words, `'…'` or `"…"` strings (with `\` escapes), `=`, `[`,
/// `]` and `,` (skipped); `None` for anything else.
pub(super) fn tokens(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() || c == ',' => {}
            '=' => tokens.push(Token::Equals),
            '[' => tokens.push(Token::Open),
            ']' => tokens.push(Token::Close),
            '\'' | '"' => {
                let mut value = String::new();
                loop {
                    match chars.next()? {
                        '\\' => value.push(chars.next()?),
                        end if end == c => break,
                        other => value.push(other),
                    }
                }
                tokens.push(Token::Text(value));
            }
            c if c.is_alphanumeric() || "*._-$".contains(c) => {
                let mut word = c.to_string();
                while let Some(&next) = chars.peek() {
                    if !(next.is_alphanumeric() || "*._-$".contains(next)) {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_row_follows_its_jobs_state() {
        let devices = BTreeMap::new();
        for (job_status, row_status) in [
            ("scheduled", "scheduled"),
            ("queued", "pending"),
            ("running", "running"),
            ("cancelled", "canceled"),
            ("failed", "failed"),
            ("completed", "completed"),
        ] {
            let job = json!({"jobId": "j", "type": "scheduleUpdateTwin", "status": job_status,
                "queryCondition": "deviceId IN ['a', 'b']"});
            let statuses: Vec<Value> = rows(&job, &devices)
                .into_iter()
                .map(|row| row["status"].clone())
                .collect();
            assert_eq!(statuses, [row_status, row_status], "{job_status}");
        }
    }

    #[test]
    fn understands_the_conditions_it_documents() {
        assert_eq!(targets("deviceId IN ['a', 'b-2']"), ["a", "b-2"]);
        assert_eq!(targets("DEVICEID in [\"x\"]"), ["x"]);
        assert_eq!(targets("deviceId = 'solo'"), ["solo"]);
        for other in [
            "tags.site = 'b'",
            "deviceId IN ['a'",
            "deviceId > 'a'",
            "status IN ['a']",
            "deviceId NOT ['a']",
            "",
            "deviceId IN ['it\\'s']x",
        ] {
            assert!(targets(other).is_empty(), "{other}");
        }
        assert_eq!(targets("deviceId IN ['it\\'s']"), ["it's"]);
    }
}
