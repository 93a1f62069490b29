//! The local hub's HTTP side: the front end (recording, 411, api-version, auth), the routes,
//! and the service's error answers. The jobs themselves are in `scheduled` and `import_export`.

use std::{sync::Arc, time::UNIX_EPOCH};

use aws_lc_rs::hmac;
use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use percent_encoding::percent_decode_str;

use super::{
    answers::service_error,
    device_jobs, import_export, scheduled,
    state::{HubState, RecordedRequest},
};
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

pub(super) fn router(state: Arc<HubState>) -> Router {
    Router::new()
        .route("/jobs/v2/query", get(scheduled::query_jobs))
        .route(
            "/jobs/v2/{id}",
            get(scheduled::get_job).put(scheduled::create_job),
        )
        .route("/jobs/v2/{id}/cancel", post(scheduled::cancel_job))
        .route("/devices/query", post(device_jobs::query))
        .route("/jobs/create", post(import_export::create))
        .route("/jobs", get(import_export::list))
        .route(
            "/jobs/{id}",
            get(import_export::get).delete(import_export::cancel),
        )
        .fallback(|| async {
            service_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The requested resource does not exist",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), front_end))
        .with_state(state)
}

/// What every request meets: the checks before a route, and a log line at INFO with the
/// method, path and status (never a header or the query, which may hold a token).
async fn front_end(State(hub): State<Arc<HubState>>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = checked(hub, request, next).await;
    tracing::info!(%method, path, status = response.status().as_u16(), "local hub answered");
    response
}

/// Recording, the front end's length check, the api-version check and authentication, then
/// the route.
async fn checked(hub: Arc<HubState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return service_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MessageTooLarge",
            "The request body is too large",
        );
    };
    util::lock(&hub.requests).push(RecordedRequest {
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
    next.run(Request::from_parts(parts, Body::from(body))).await
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
