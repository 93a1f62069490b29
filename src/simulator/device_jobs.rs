//! Per-device results of scheduled jobs on the local hub, served through `POST /devices/query`
//! (the rows themselves are `rows`'). The queries it understands, and nothing else:
//! `SELECT * FROM devices.jobs`, optionally `WHERE` conditions
//! `devices.jobs.<jobId|deviceId|status|jobType> = '<text>'` joined by `AND`.

use std::sync::Arc;

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    answers::{argument_invalid, page},
    rows::{Token, rows, tokens},
    state::HubState,
};

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
    page(hub.limits.max_page_size, &headers, rows, "DeviceJob").into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

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
