//! Per-device results of scheduled jobs on the local hub: one row for each device a job
//! targets, moving with the job's state, served through `POST /devices/query`.
//!
//! What it understands, and nothing else:
//! - a job's devices: a query condition of the form `deviceId IN ['a', 'b']` or
//!   `deviceId = 'a'` (any other condition targets no device);
//! - queries: `SELECT * FROM devices.jobs`, optionally `WHERE` conditions
//!   `devices.jobs.<jobId|deviceId|status|jobType> = '<text>'` joined by `AND`.
//!
//! Devices answer direct methods with `200` and `{}` unless a test says otherwise
//! ([`LocalHub::set_method_response`](super::LocalHub::set_method_response),
//! [`LocalHub::set_device_offline`](super::LocalHub::set_device_offline)).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::server::{HubState, argument_invalid, page};

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
fn rows(job: &Value, devices: &BTreeMap<String, Device>) -> Vec<Value> {
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

/// `POST /devices/query`, for the device-job queries the hub understands: the rows, paged
/// like every query of the service, with `x-ms-item-type: DeviceJob`.
pub(super) async fn query(
    State(hub): State<Arc<HubState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| body["query"].as_str().map(str::to_owned));
    let Some(conditions) = text.as_deref().and_then(device_job_query) else {
        return argument_invalid(
            "The local hub answers only SELECT * FROM devices.jobs [WHERE devices.jobs.<jobId|deviceId|status|jobType> = '...' [AND ...]]",
        );
    };
    let jobs = hub.jobs_now();
    let devices = crate::util::lock(&hub.devices);
    let rows: Vec<(String, Value)> = jobs
        .values()
        .flat_map(|job| rows(job, &devices))
        .filter(|row| {
            conditions
                .iter()
                .all(|(field, wanted)| row[field.as_str()].as_str() == Some(wanted.as_str()))
        })
        .map(|row| {
            let key = format!(
                "{}/{}",
                row["jobId"].as_str().unwrap_or_default(),
                row["deviceId"].as_str().unwrap_or_default()
            );
            (key, row)
        })
        .collect();
    page(&hub, &headers, rows, "DeviceJob").into_response()
}

/// The `(field, value)` conditions of `SELECT * FROM devices.jobs [WHERE …]`, if that is the
/// query.
fn device_job_query(query: &str) -> Option<Vec<(String, String)>> {
    let tokens = tokens(query)?;
    let keyword =
        |token: &Token, word: &str| matches!(token, Token::Word(w) if w.eq_ignore_ascii_case(word));
    let [select, star, from, source, rest @ ..] = tokens.as_slice() else {
        return None;
    };
    if !(keyword(select, "SELECT")
        && keyword(star, "*")
        && keyword(from, "FROM")
        && keyword(source, "devices.jobs"))
    {
        return None;
    }
    let mut conditions = Vec::new();
    let mut rest = rest;
    let mut joiner = "WHERE";
    while let [
        word,
        Token::Word(field),
        Token::Equals,
        Token::Text(value),
        tail @ ..,
    ] = rest
    {
        if !keyword(word, joiner) {
            return None;
        }
        let field = field.strip_prefix("devices.jobs.")?;
        if !["jobId", "deviceId", "status", "jobType"].contains(&field) {
            return None;
        }
        conditions.push((field.to_owned(), value.clone()));
        (rest, joiner) = (tail, "AND");
    }
    rest.is_empty().then_some(conditions)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Equals,
    Open,
    Close,
}

/// The query language's tokens: words, `'…'` or `"…"` strings (with `\` escapes), `=`, `[`,
/// `]` and `,` (skipped); `None` for anything else.
fn tokens(text: &str) -> Option<Vec<Token>> {
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

    #[test]
    fn reads_device_job_queries_and_nothing_else() {
        assert_eq!(device_job_query("SELECT * FROM devices.jobs"), Some(vec![]));
        assert_eq!(
            device_job_query(
                "select * from devices.jobs where devices.jobs.jobId = 'j1' and devices.jobs.status = 'failed'"
            ),
            Some(vec![
                ("jobId".into(), "j1".into()),
                ("status".into(), "failed".into())
            ])
        );
        for other in [
            "SELECT * FROM devices",
            "SELECT deviceId FROM devices.jobs",
            "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'j' OR 1 = 1",
            "SELECT * FROM devices.jobs AND devices.jobs.jobId = 'j'",
            "SELECT * FROM devices.jobs WHERE devices.jobs.secret = 'j'",
            "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'unterminated",
        ] {
            assert_eq!(device_job_query(other), None, "{other}");
        }
    }
}
