//! What every request carries, added to the generated client through progenitor's hooks.
//!
//! The generated code builds each request; [`ClientHooks::pre`] then adds the per-client and
//! per-call headers. Per-call values (the credential's header, the request id) are resolved by
//! the hand-written layer *before* the call, so their errors stay typed, and reach the hook
//! through a task-local [`CallContext`].

use progenitor_client::{ClientHooks, OperationInfo};
use reqwest::{
    Method,
    header::{AUTHORIZATION, CONTENT_LENGTH, HeaderName, HeaderValue, USER_AGENT},
};

use crate::{auth::Authorization, generated::Client};

/// The request id header the service echoes back and logs.
pub(crate) const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");

/// The generated client's inner state: the headers that are the same on every request.
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub user_agent: HeaderValue,
}

/// The headers that change with every call.
pub(crate) struct CallContext {
    pub authorization: Authorization,
    pub request_id: HeaderValue,
}

tokio::task_local! {
    pub(crate) static CALL: CallContext;
}

impl ClientHooks<Pipeline> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let needs_length =
            request.body().is_none() && matches!(*request.method(), Method::POST | Method::PUT);
        let headers = request.headers_mut();
        CALL.try_with(|call| {
            headers.insert(AUTHORIZATION, call.authorization.header_value().clone());
            headers.insert(CLIENT_REQUEST_ID, call.request_id.clone());
        })
        .map_err(|_| {
            progenitor_client::Error::Custom(format!(
                "{} was called outside a JobsClient call",
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
}
