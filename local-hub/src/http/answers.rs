//! How the hub answers in the service's words: its error shape, and its pages.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};

use crate::state::rules;
use crate::util;

/// `404 JobNotFound` for the job `id`.
pub(crate) fn not_found(id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "JobNotFound",
        &format!("Job with id '{id}' not found"),
    )
}

/// `412 PreconditionFailed`, as the service refuses a query over its size limit.
pub(crate) fn query_too_long(query: &str) -> Response {
    service_error(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        &format!(
            "The query is {} bytes, over the limit of {} bytes",
            query.len(),
            rules::MAX_QUERY_BYTES
        ),
    )
}

/// `400 ArgumentInvalid`, saying `message`.
pub(crate) fn argument_invalid(message: &str) -> Response {
    service_error(StatusCode::BAD_REQUEST, "ArgumentInvalid", message)
}

/// Where a client stands in a listing, from its request: how many items it wants (its
/// `x-ms-max-item-count`, at most the hub's own limit) and the key of the last item it has
/// (from `x-ms-continuation`, as [`page`] wrote it).
pub(crate) struct Paging {
    pub size: usize,
    after: Vec<String>,
}

impl Paging {
    pub(crate) fn read(headers: &HeaderMap, max_page_size: usize) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let size = header("x-ms-max-item-count")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|size| *size > 0)
            .map_or(max_page_size, |size| size.min(max_page_size));
        let after = header("x-ms-continuation")
            .filter(|token| !token.is_empty())
            .map(|token| {
                token
                    .split('/')
                    .map(|part| percent_decode_str(part).decode_utf8_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        Self { size, after }
    }

    /// Part `index` of the last key the client has; `None` on the first page.
    pub(crate) fn after(&self, index: usize) -> Option<&str> {
        self.after.get(index).map(String::as_str)
    }
}

/// What a token part must not hold as it is: what a header value cannot (controls, and
/// non-ASCII, always encoded), the parts' separator and the escape itself.
const ESCAPED_IN_TOKENS: &AsciiSet = &CONTROLS.add(b' ').add(b'/').add(b'%');

/// A key as a continuation token: its parts percent-encoded where needed (so any text is a
/// valid header value, and reads back as it was) and joined by `/`.
pub(crate) fn continuation(parts: &[&str]) -> String {
    let encoded: Vec<String> = parts
        .iter()
        .map(|part| utf8_percent_encode(part, ESCAPED_IN_TOKENS).to_string())
        .collect();
    encoded.join("/")
}

/// An item of a page, written into the page's JSON array: a value, or what writes its JSON
/// straight from where the hub holds it (a twin, a job's row), with no value made on the way.
pub(crate) trait PageItem {
    fn write_json(&self, out: &mut Vec<u8>);
}

impl PageItem for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Writing to a `Vec` cannot fail, and a value always serializes.
        let _ = serde_json::to_writer(out, self);
    }
}

/// An item's key, made into a continuation token only for the last item of a page.
pub(crate) trait PageKey {
    fn token(self) -> String;
}

impl PageKey for String {
    fn token(self) -> String {
        self
    }
}

/// One page as the service pages queries: the first `size` of `items` (each with its key, which
/// makes a token as [`continuation`] writes it, already in order and after where the client
/// stands) as a JSON array, the next page's token in `x-ms-continuation` when more follow, and
/// the items' type in `x-ms-item-type`. Only what the page needs is drawn from `items`.
pub(crate) fn page<K: PageKey, I: PageItem>(
    mut items: impl Iterator<Item = (K, I)>,
    size: usize,
    item_type: &'static str,
) -> Response {
    let mut body = Vec::with_capacity(64 * size.min(1000));
    body.push(b'[');
    let mut last = None;
    for (key, item) in items.by_ref().take(size) {
        if last.is_some() {
            body.push(b',');
        }
        item.write_json(&mut body);
        last = Some(key);
    }
    body.push(b']');
    let more = items.next().is_some();
    let mut response = (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-ms-item-type", HeaderValue::from_static(item_type));
    if more && let Some(token) = last.and_then(|key| HeaderValue::from_str(&key.token()).ok()) {
        headers.insert("x-ms-continuation", token);
    }
    response
}

/// An error as the service writes it: the classic body and the `iothub-errorcode` header.
pub(crate) fn service_error(status: StatusCode, code: &str, message: &str) -> Response {
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
