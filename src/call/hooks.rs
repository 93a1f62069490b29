//! What the generated client does around each request it builds: our [`ClientHooks`] impl
//! adds the headers ([`ClientHooks::pre`]) and caps the response body ([`ClientHooks::exec`]).
//!
//! The headers that change with every attempt (the credential's, the request id) are resolved
//! by the call path and reach the hook through a task-local [`CallContext`], set for the
//! generated future's first poll only ([`with_context`]).

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use progenitor_client::{ClientHooks, ClientInfo, Error as GeneratedError, OperationInfo};
use reqwest::{
    Method,
    header::{AUTHORIZATION, CONTENT_LENGTH, HeaderName, HeaderValue, USER_AGENT},
};

use crate::{
    auth::Authorization,
    generated::{Client, HookSettings},
};

/// The request id header the service echoes back and logs.
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");

/// The headers that change with every attempt.
pub(crate) struct CallContext {
    pub authorization: Authorization,
    pub request_id: HeaderValue,
}

tokio::task_local! {
    static CALL: CallContext;
}

impl ClientHooks<HookSettings> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), GeneratedError<E>> {
        let needs_length =
            request.body().is_none() && matches!(*request.method(), Method::POST | Method::PUT);
        let headers = request.headers_mut();
        CALL.try_with(|call| {
            headers.insert(AUTHORIZATION, call.authorization.header_value().clone());
            headers.insert(CLIENT_REQUEST_ID, call.request_id.clone());
        })
        .map_err(|_| {
            GeneratedError::Custom(format!(
                "{} was called without a call context",
                info.operation_id
            ))
        })?;
        headers.insert(USER_AGENT, self.inner.user_agent.clone());
        // The service's front end answers 411 to a POST without a length, and reqwest sends
        // none for an empty body.
        if needs_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        // progenitor also sends `info.version` as an `api-version` header; the service reads
        // the query parameter only, and the wire should carry exactly what spec/ declares.
        headers.remove("api-version");
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let response = self.client().execute(request).await?;
        Ok(capped(response, self.inner.max_response_bytes))
    }
}

/// `response` with a body that fails, instead of growing, past `limit` bytes.
fn capped(response: reqwest::Response, limit: usize) -> reqwest::Response {
    // A declared length within the cap is enforced by hyper already: skip the re-wrapping,
    // which costs a URL parse and a boxed body on every call.
    if response
        .content_length()
        .is_some_and(|length| length <= limit as u64)
    {
        return response;
    }
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let body = reqwest::Body::wrap(http_body_util::Limited::new(body, limit));
    reqwest::Response::from(http::Response::from_parts(parts, body))
}

/// `future`, a generated operation, with `context` visible to its hooks.
pub(crate) fn with_context<F: Future>(context: CallContext, future: F) -> FirstPollScoped<F> {
    FirstPollScoped {
        context: Some(context),
        future,
    }
}

pin_project_lite::pin_project! {
    /// A generated operation with its [`CallContext`] set for its first poll only.
    ///
    /// The generated code calls [`ClientHooks::pre`] before its first await, so the context is
    /// needed in that poll alone; a task-local scope around the whole future would swap it in and
    /// out on every poll. (A generated operation that awaited before `pre` would fail every call
    /// with "called without a call context", which every test would show.)
    pub(crate) struct FirstPollScoped<F> {
        context: Option<CallContext>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for FirstPollScoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        match this.context.take() {
            Some(context) => CALL.sync_scope(context, || future.poll(cx)),
            None => future.poll(cx),
        }
    }
}
