//! The hub's query, `POST /devices/query`: twins (`SELECT * | COUNT() AS <name> | <fields>
//! FROM devices [WHERE …]`) answered here, device-job rows (`FROM devices.jobs`) by
//! `device_jobs`; every query parsed by `query`, and anything outside its subset refused
//! `400 ArgumentInvalid` in the service's shape.

use std::{ops::Bound, sync::Arc};

use axum::{extract::State, http::HeaderMap, response::Response};
use serde_json::{Map, Value, json};

use super::{
    answers::{Paging, argument_invalid, continuation, page, query_too_long},
    device_jobs,
    query::{self, Collection, Select},
    rules,
    state::HubState,
};
use crate::util;

pub(super) async fn query(
    State(hub): State<Arc<HubState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body = serde_json::from_slice::<Value>(&body).unwrap_or_default();
    let Some(text) = body["query"].as_str() else {
        return argument_invalid("The request body must be {\"query\": \"SELECT ...\"}");
    };
    if text.len() > rules::MAX_QUERY_BYTES {
        return query_too_long(text);
    }
    let query = match query::query(text) {
        Ok(query) => query,
        Err(refused) => return argument_invalid(&format!("Invalid query: {}", refused.0)),
    };
    let paging = Paging::read(&headers, hub.limits.max_page_size);
    if query.from == Collection::DeviceJobs {
        return device_jobs::rows(&hub, &query.filter, &paging);
    }
    // Twin updates whose jobs have ended are applied before twins are read.
    drop(hub.jobs_now());
    let twins = util::lock(&hub.twins);
    let after = paging.after(0).map_or(Bound::Unbounded, Bound::Excluded);
    let selected = twins
        .range::<str, _>((after, Bound::Unbounded))
        .filter(|(_, twin)| query.filter.matches(twin));
    match &query.select {
        Select::Count { alias } => {
            let count = selected.count();
            let row = (String::new(), json!({ alias.as_str(): count }));
            page(std::iter::once(row), 1, "Raw")
        }
        Select::All => page(
            selected.map(|(id, twin)| (continuation(&[id]), twin.clone())),
            paging.size,
            "Twin",
        ),
        Select::Fields(fields) => {
            let project = |twin: &Value| {
                let row: Map<String, Value> = fields
                    .iter()
                    .filter_map(|(path, name)| Some((name.clone(), path.get(twin)?.clone())))
                    .collect();
                Value::Object(row)
            };
            page(
                selected.map(|(id, twin)| (continuation(&[id]), project(twin))),
                paging.size,
                "Raw",
            )
        }
    }
}
