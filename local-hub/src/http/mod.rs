//! The local hub's HTTP side: the front end (recording, 411, api-version, auth), the routes,
//! and the service's error answers (`answers`). What each operation does is in
//! `crate::handlers`.

pub(crate) mod answers;

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use aws_lc_rs::hmac;
use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use futures_util::FutureExt as _;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use percent_encoding::percent_decode_str;
use tokio::{
    net::TcpListener,
    sync::{Semaphore, oneshot},
    task::JoinSet,
};

use crate::handlers::devices;
use crate::handlers::import_export;
use crate::handlers::scheduled;
use crate::http::answers::service_error;
use crate::state::{HubState, Limits, RecordedRequest};
use crate::util;

/// The api-versions of the jobs API the hub answers; others get `400 InvalidProtocolVersion`.
const SUPPORTED_API_VERSIONS: &[&str] = &[
    "2019-06-30",
    "2019-07-01-preview",
    "2020-03-01",
    "2020-03-13",
    "2020-05-31-preview",
    "2020-09-30",
    "2021-04-12",
    "2024-03-31",
];

/// Requests larger than this are refused: the jobs API takes small JSON bodies.
const MAX_BODY: usize = 1 << 20;

pub(crate) fn router(state: Arc<HubState>) -> Router {
    Router::new()
        .route("/jobs/v2/query", get(scheduled::query_jobs))
        .route(
            "/jobs/v2/{id}",
            get(scheduled::get_job).put(scheduled::create_job),
        )
        .route("/jobs/v2/{id}/cancel", post(scheduled::cancel_job))
        .route("/devices/query", post(devices::query))
        .route("/jobs/create", post(import_export::create))
        .route("/jobs", get(import_export::list))
        .route(
            "/jobs/{id}",
            get(import_export::get).delete(import_export::cancel),
        )
        .layer(middleware::from_fn_with_state(state.clone(), front_end))
        .with_state(state)
}

/// Serves `app` on `listener` until `stopped` fires: HTTP/1.1, at most `max_connections`
/// at once (more wait in the listener's queue), each closed when its client sends no
/// complete request head within `client_timeout` — a slow or silent client, or a kept-alive
/// connection left idle. Stopping drops every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    stopped: oneshot::Receiver<()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.client_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    tokio::pin!(stopped);
    loop {
        let slot = tokio::select! {
            _ = &mut stopped => return,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { return };
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(%error, "the local hub could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        connections.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a local hub connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// What every request meets: the checks before a route, and a log line at INFO with the
/// method, path and status (never a header or the query, which may hold a token).
async fn front_end(State(hub): State<Arc<HubState>>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = checked(hub, request, next).await;
    tracing::info!(%method, path, status = response.status().as_u16(), "local hub answered");
    response
}

/// Reading the body (bounded in size and time), recording, the front end's length check, the
/// api-version check and authentication, then the route; a refusal a route or the router
/// writes in another shape is put in the service's.
async fn checked(hub: Arc<HubState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = match tokio::time::timeout(hub.limits.client_timeout, to_bytes(body, MAX_BODY)).await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return service_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "MessageTooLarge",
                "The request body is too large",
            );
        }
        Err(_) => return closing(request_timeout()),
    };
    record(&hub, &parts, &body);
    let has_length = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    if parts.method == Method::POST && !has_length {
        return length_required();
    }
    let api_version = parts
        .uri
        .query()
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(name, _)| name == "api-version")
        .map(|(_, value)| value.into_owned());
    match api_version {
        Some(version) if SUPPORTED_API_VERSIONS.contains(&version.as_str()) => {}
        Some(version) => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "InvalidProtocolVersion",
                &format!("Invalid api-version '{version}'"),
            );
        }
        None => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "InvalidProtocolVersion",
                "The api-version query parameter is required",
            );
        }
    }
    if let Err(reason) = authorize(&hub, &parts.headers, parts.uri.path()) {
        return service_error(StatusCode::UNAUTHORIZED, "IotHubUnauthorizedAccess", reason);
    }
    let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
    let response = answered(next.run(Request::from_parts(parts, Body::from(body)))).await;
    in_service_shape(&method, &path, response).await
}

/// What `handler` answers, or `500` in the service's shape if it panics — never a connection
/// closed without an answer. The state stays usable: its locks recover from a panic
/// (`util::lock`), and no request leaves work that another must finish.
async fn answered(handler: impl Future<Output = Response>) -> Response {
    AssertUnwindSafe(handler)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            service_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServerError",
                "The local hub failed on this request; other requests are not affected. Please report it with the request",
            )
        })
}

/// Adds the request to the hub's log, if it keeps one.
fn record(hub: &HubState, parts: &axum::http::request::Parts, body: &[u8]) {
    let mut log = util::lock(&hub.requests);
    if !log.is_on() {
        return;
    }
    log.record(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    });
}

/// `response`, or — when it refuses in another shape than the service's (axum's own `405`,
/// a path that is not UTF-8) — the same refusal in the service's shape, its text kept. (A
/// `405`'s `Allow` header is added by the router after this.)
async fn in_service_shape(method: &Method, path: &str, response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key("iothub-errorcode")
    {
        return response;
    }
    let text = to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let (code, text) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "GenericMethodNotAllowed",
            format!("{method} is not allowed on {path}; the Allow header says what is"),
        ),
        StatusCode::NOT_FOUND => ("NotFound", "The requested resource does not exist".into()),
        _ if status.is_server_error() => ("ServerError", text.into_owned()),
        _ => ("ArgumentInvalid", text.into_owned()),
    };
    service_error(status, code, &text)
}

/// `408` in the service's shape, for a body that did not arrive in time.
fn request_timeout() -> Response {
    service_error(
        StatusCode::REQUEST_TIMEOUT,
        "RequestTimedOut",
        "The request body did not arrive in time",
    )
}

/// `response`, closing the connection after it.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Checks a `SharedAccessSignature sr=…&sig=…&se=…&skn=…` header against the hub's policy,
/// for a request to `path`: as the service does, the request's target (host name and path)
/// must lie under the token's resource `sr`.
fn authorize(hub: &HubState, headers: &HeaderMap, path: &str) -> Result<(), &'static str> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("Unauthorized: no Authorization header")?;
    let fields = token
        .strip_prefix("SharedAccessSignature ")
        .ok_or("Unauthorized: not a SharedAccessSignature")?;
    let mut sr = None;
    let mut sig = None;
    let mut se = None;
    let mut skn = None;
    for pair in fields.split('&') {
        let (name, value) = pair
            .split_once('=')
            .ok_or("Unauthorized: malformed token")?;
        let slot = match name {
            "sr" => &mut sr,
            "sig" => &mut sig,
            "se" => &mut se,
            "skn" => &mut skn,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err("Unauthorized: a token field appears twice");
        }
    }
    let (Some(sr), Some(sig), Some(se), Some(skn)) = (sr, sig, se, skn) else {
        return Err("Unauthorized: the token lacks sr, sig, se or skn");
    };
    if decode(skn) != hub.policy_name {
        return Err("Unauthorized: unknown shared access policy");
    }
    let resource = decode(sr).to_ascii_lowercase();
    let target = format!("{}{}", hub.resource, decode(path).to_ascii_lowercase());
    let below = target
        .strip_prefix(resource.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || resource.ends_with('/'));
    if resource.is_empty() || !below {
        return Err("Unauthorized: the token is for another resource");
    }
    let expiry: u64 = se.parse().map_err(|_| "Unauthorized: se is not a number")?;
    let now = hub
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if expiry <= now {
        return Err("Unauthorized: the token has expired");
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(decode(sig).as_bytes())
        .map_err(|_| "Unauthorized: sig is not base64")?;
    hmac::verify(
        &hub.signing_key,
        format!("{sr}\n{se}").as_bytes(),
        &signature,
    )
    .map_err(|_| "Unauthorized: the signature does not match")
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The HTML page the service's front end sends when a POST has no length.
fn length_required() -> Response {
    let page = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n\
        <HTML><HEAD><TITLE>Length Required</TITLE></HEAD>\r\n\
        <BODY><h2>Length Required</h2><hr><p>HTTP Error 411. The request must be chunked or have a content length.</p></BODY></HTML>\r\n";
    (
        StatusCode::LENGTH_REQUIRED,
        [(header::CONTENT_TYPE, "text/html; charset=us-ascii")],
        page,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_500_in_the_services_shape() {
        let failing = true;
        let answer = answered(async move {
            assert!(!failing, "a handler's bug");
            StatusCode::OK.into_response()
        })
        .await;
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.headers()["iothub-errorcode"], "ServerError");
        let body = to_bytes(answer.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let message = body["Message"].as_str().unwrap();
        assert!(message.starts_with("ErrorCode:ServerError;"), "{body}");
        let fine = answered(async { StatusCode::ACCEPTED.into_response() }).await;
        assert_eq!(fine.status(), StatusCode::ACCEPTED);
    }
}
