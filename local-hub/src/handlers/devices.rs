//! The hub's query, `POST /devices/query`: twins (`SELECT * | COUNT() AS <name> | <fields>
//! FROM devices [WHERE …] [GROUP BY <paths>]`) answered here, device-job rows (`FROM devices.jobs`) by
//! `device_jobs`; every query parsed by `query`, and anything outside its subset refused
//! `400 ArgumentInvalid` in the service's shape.

use std::{collections::BTreeMap, ops::ControlFlow, sync::Arc};

use axum::{extract::State, http::HeaderMap, response::Response};
use serde_json::{Map, Value, json};

use crate::handlers::device_jobs;
use crate::http::answers::{
    PageItem, Paging, argument_invalid, continuation, page, query_too_long,
};
use crate::query::{self, Collection, Filter, Select};
use crate::state::HubState;
use crate::state::compact::Compact;
use crate::state::rules;

pub(crate) async fn query(
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
        return device_jobs::rows(&hub, &query.filter, &paging).await;
    }
    // Twin updates whose jobs have ended are written before twins are read, and the twins are
    // read a slice at a time: a query over many twins holds no other request up.
    let after = paging.after(0);
    let filter = &query.filter;
    match &query.select {
        Select::Count { alias } => {
            let count = hub
                .read_twins(
                    after,
                    || 0_usize,
                    |count, _, twin| {
                        if filter.matches(twin) {
                            *count += 1;
                        }
                        ControlFlow::Continue(())
                    },
                )
                .await;
            let row = (String::new(), json!({ alias.as_str(): count }));
            page(std::iter::once(row), 1, "Raw")
        }
        Select::All => {
            let rows = first_rows(&hub, after, filter, paging.size, Compact::clone).await;
            page(rows.into_iter(), paging.size, "Twin")
        }
        Select::Fields(fields) => {
            let project = |twin: &Compact| {
                let row: Map<String, Value> = fields
                    .iter()
                    .filter_map(|(path, name)| Some((name.clone(), twin.value(path)?)))
                    .collect();
                Value::Object(row)
            };
            let rows = first_rows(&hub, after, filter, paging.size, project).await;
            page(rows.into_iter(), paging.size, "Raw")
        }
        Select::Grouped { fields, count, by } => {
            let groups = hub
                .read_twins(None, BTreeMap::new, |groups, _, twin| {
                    if filter.matches(twin) {
                        let values: Vec<Option<Value>> =
                            by.iter().map(|path| twin.value(path)).collect();
                        groups
                            .entry(group_key(&values))
                            .or_insert((values, 0_u64))
                            .1 += 1;
                    }
                    ControlFlow::Continue(())
                })
                .await;
            let row = |values: &[Option<Value>], devices: u64| {
                let mut row: Map<String, Value> = fields
                    .iter()
                    .filter_map(|(path, name)| {
                        let at = by.iter().position(|grouped| grouped == path)?;
                        Some((name.clone(), values[at].clone()?))
                    })
                    .collect();
                if let Some(alias) = count {
                    row.insert(alias.clone(), json!(devices));
                }
                Value::Object(row)
            };
            let after = after.map(str::to_owned);
            let rows = groups
                .into_iter()
                .filter(|(key, _)| after.as_deref().is_none_or(|after| key.as_str() > after))
                .map(|(key, (values, devices))| (continuation(&[&key]), row(&values, devices)));
            page(rows, paging.size, "Raw")
        }
    }
}

/// A twin, written as JSON straight from where the hub holds it.
impl PageItem for Compact {
    fn write_json(&self, out: &mut Vec<u8>) {
        Compact::write_json(self, out);
    }
}

/// A group's key: its values' JSON, an undefined one apart from `null`, in one text that orders
/// the groups and pages them.
fn group_key(values: &[Option<Value>]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|value| {
            value
                .as_ref()
                .map_or_else(|| "~".to_owned(), Value::to_string)
        })
        .collect();
    parts.join("\u{1f}")
}

/// The first `size` rows, and one more when there is one (so the page knows whether more
/// follow), of the twins after `after` that `filter` selects, each made by `row` and keyed by
/// its continuation.
async fn first_rows<T>(
    hub: &HubState,
    after: Option<&str>,
    filter: &Filter,
    size: usize,
    row: impl Fn(&Compact) -> T,
) -> Vec<(String, T)> {
    hub.read_twins(after, Vec::new, |rows, id, twin| {
        if filter.matches(twin) {
            rows.push((continuation(&[id]), row(twin)));
        }
        if rows.len() > size {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
}
