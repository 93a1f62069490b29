//! Per-device results of scheduled jobs on the local hub, served through `POST /devices/query`
//! (the rows themselves are `rows`'). The queries it understands, and nothing else:
//! `SELECT * FROM devices.jobs`, optionally `WHERE` conditions
//! `devices.jobs.<jobId|deviceId|status|jobType> = '<text>'` joined by `AND`.

use std::{ops::Bound, sync::Arc};

use axum::{extract::State, http::HeaderMap, response::Response};
use serde_json::Value;

use super::{
    answers::{Paging, argument_invalid, continuation, page, query_too_long},
    rows::{JobRows, Token, tokens},
    rules,
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
    if let Some(text) = text
        .as_deref()
        .filter(|text| text.len() > rules::MAX_QUERY_BYTES)
    {
        return query_too_long(text);
    }
    let Some(conditions) = text.as_deref().and_then(device_job_query) else {
        return argument_invalid(
            "The local hub answers only SELECT * FROM devices.jobs [WHERE devices.jobs.<jobId|deviceId|status|jobType> = '...' [AND ...]]",
        );
    };
    let paging = Paging::read(&headers, hub.limits.max_page_size);
    let wanted_job = conditions
        .iter()
        .find(|(field, _)| field == "jobId")
        .map(|(_, id)| id.as_str());
    // Under the lock only what the rows are read from (a few fields per job); the rows
    // themselves are made, filtered and paged after it is released.
    let sources: Vec<JobRows> = {
        let first = paging.after(0).map_or(Bound::Unbounded, Bound::Included);
        hub.jobs_now()
            .range::<str, _>((first, Bound::Unbounded))
            .filter(|(id, _)| wanted_job.is_none_or(|wanted| wanted == id.as_str()))
            .map(|(_, job)| job.rows())
            .collect()
    };
    let rows = sources
        .iter()
        .flat_map(|source| {
            let after = paging
                .after(1)
                .filter(|_| paging.after(0) == Some(source.job_id()));
            source
                .rows_after(after)
                .map(move |(device_id, row)| (source.job_id(), device_id, row))
        })
        .filter(|(_, _, row)| {
            conditions
                .iter()
                .all(|(field, wanted)| row[field.as_str()].as_str() == Some(wanted.as_str()))
        })
        .map(|(job_id, device_id, row)| (continuation(&[job_id, device_id]), row));
    page(rows, paging.size, "DeviceJob")
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
