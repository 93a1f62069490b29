//! How the hub answers in the service's words: its error shape, and its pages.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::util;

/// `404 JobNotFound` for the job `id`.
pub(super) fn not_found(id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "JobNotFound",
        &format!("Job with id '{id}' not found"),
    )
}

/// `400 ArgumentInvalid`, saying `message`.
pub(super) fn argument_invalid(message: &str) -> Response {
    service_error(StatusCode::BAD_REQUEST, "ArgumentInvalid", message)
}

/// One page of `items` (sorted by their keys) as the service pages queries: a JSON array of
/// at most `x-ms-max-item-count` items (and the hub's own limit), after the key named by
/// `x-ms-continuation`, the next page's token in the same response header, and the items'
/// type in `x-ms-item-type`.
pub(super) fn page(
    max_page_size: usize,
    headers: &HeaderMap,
    mut items: Vec<(String, Value)>,
    item_type: &'static str,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let page_size = header("x-ms-max-item-count")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|size| *size > 0)
        .map_or(max_page_size, |size| size.min(max_page_size));
    let after = header("x-ms-continuation").unwrap_or_default();
    items.sort_by(|(a, _), (b, _)| a.cmp(b));
    let mut selected = items
        .into_iter()
        .filter(|(key, _)| after.is_empty() || key.as_str() > after);
    let page: Vec<(String, Value)> = selected.by_ref().take(page_size).collect();
    let more = selected.next().is_some();
    let next = page.last().map(|(key, _)| key.clone());
    let mut response =
        axum::Json(page.into_iter().map(|(_, item)| item).collect::<Vec<_>>()).into_response();
    let headers = response.headers_mut();
    headers.insert("x-ms-item-type", HeaderValue::from_static(item_type));
    if more && let Some(token) = next.and_then(|key| HeaderValue::from_str(&key).ok()) {
        headers.insert("x-ms-continuation", token);
    }
    response
}

/// An error as the service writes it: the classic body and the `iothub-errorcode` header.
pub(super) fn service_error(status: StatusCode, code: &str, message: &str) -> Response {
    let now = chrono::Utc::now();
    let body = json!({
        "Message": format!("ErrorCode:{code};{message}"),
        "ExceptionMessage": format!(
            "Tracking ID:{}-G:0-TimeStamp:{}",
            util::random_uuid().simple(),
            now.format("%m/%d/%Y %H:%M:%S")
        ),
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(code) = HeaderValue::from_str(code) {
        response.headers_mut().insert("iothub-errorcode", code);
    }
    response
}
