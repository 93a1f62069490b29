//! Credentials: where the `Authorization` header comes from.
//!
//! - [`SasKeyCredential`]: a shared access policy's name and key (what a service connection
//!   string holds); mints `SharedAccessSignature` tokens and caches each until shortly before
//!   it expires.
//! - [`SasTokenCredential`]: a ready-made `SharedAccessSignature …` string, used as given.
//! - `EntraCredential` (cargo feature `entra`): Microsoft Entra ID bearer tokens from any
//!   `azure_core` `TokenCredential`, cached and refreshed ahead of expiry.
//!
//! [`Credential`] is the seam: implement it to bring tokens from anywhere else.

mod connection_string;
#[cfg(feature = "entra")]
mod entra;
mod sas;

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use reqwest::header::HeaderValue;

pub use connection_string::{ConnectionString, ConnectionStringError};
#[cfg(feature = "entra")]
pub use entra::EntraCredential;
pub use sas::{SasKeyCredential, SasTokenCredential};

use crate::Error;

/// The future a [`Credential`] returns: [`ready`](Self::ready) for a value at hand (a cached
/// token costs no allocation), or [`new`](Self::new) for one that must be fetched.
#[must_use = "futures do nothing unless awaited"]
pub struct AuthorizationFuture<'a>(Pending<'a>);

enum Pending<'a> {
    Ready(Option<Result<Authorization, Error>>),
    Fetching(Pin<Box<dyn Future<Output = Result<Authorization, Error>> + Send + 'a>>),
}

impl<'a> AuthorizationFuture<'a> {
    /// A value that is already known.
    pub fn ready(value: Result<Authorization, Error>) -> Self {
        Self(Pending::Ready(Some(value)))
    }

    /// A value that `future` will produce.
    pub fn new(future: impl Future<Output = Result<Authorization, Error>> + Send + 'a) -> Self {
        Self(Pending::Fetching(Box::pin(future)))
    }
}

impl Future for AuthorizationFuture<'_> {
    type Output = Result<Authorization, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Pending::Ready(value) => Poll::Ready(
                value
                    .take()
                    .expect("an AuthorizationFuture is polled after it finished"),
            ),
            Pending::Fetching(future) => future.as_mut().poll(cx),
        }
    }
}

/// A source of `Authorization` header values. The client asks for one before every request, so
/// implementations cache and renew their tokens themselves.
pub trait Credential: Send + Sync + fmt::Debug {
    /// The `Authorization` header value for the next request. Getting it counts toward the
    /// attempt's timeout (`JobsClientOptions::with_request_timeout`): a token that does not
    /// come in time fails the attempt, which is retried like a timed-out request.
    fn authorization(&self) -> AuthorizationFuture<'_>;

    /// The service refused the last value (`401`): drop any cached token. Returns whether the
    /// next [`authorization`](Self::authorization) can differ, in which case the call is tried
    /// once more. The default, for credentials that cannot renew, returns `false`.
    fn invalidate(&self) -> bool {
        false
    }
}

/// An `Authorization` header value. Its `Debug` output is redacted and it is marked sensitive,
/// so it never reaches logs.
#[derive(Clone)]
pub struct Authorization(HeaderValue);

impl Authorization {
    /// Wraps a complete header value such as `Bearer eyJ…` or `SharedAccessSignature sr=…`.
    /// Fails, without echoing the value, if it is not a valid HTTP header value.
    pub fn new(value: &str) -> Result<Self, Error> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::credential(
                "the Authorization value contains characters not allowed in an HTTP header",
                None,
            )
        })?;
        value.set_sensitive(true);
        Ok(Self(value))
    }

    pub(crate) fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(<redacted>)")
    }
}
