//! Microsoft Entra ID bearer tokens from an `azure_core` `TokenCredential`.

use std::{fmt, sync::Arc, time::Duration};

use azure_core::{credentials::TokenCredential, time::OffsetDateTime};
use tokio::sync::Mutex;

use super::{Authorization, AuthorizationFuture, Credential};
use crate::Error;

/// The IoT Hub scope in the public cloud. Sovereign clouds use their own (see
/// [`EntraCredential::with_scope`]).
pub const DEFAULT_ENTRA_SCOPE: &str = "https://iothubs.azure.net/.default";

/// Refresh a cached token this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Entra ID (Azure AD) tokens from any `azure_core::credentials::TokenCredential`, such as
/// `azure_identity::DeveloperToolsCredential` or a managed identity. Tokens are cached and
/// fetched again five minutes before they expire; concurrent callers share one fetch.
pub struct EntraCredential {
    inner: Arc<dyn TokenCredential>,
    scope: String,
    cache: Mutex<Option<(Authorization, OffsetDateTime)>>,
}

impl EntraCredential {
    /// Uses `credential` with the public-cloud scope [`DEFAULT_ENTRA_SCOPE`].
    pub fn new(credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            inner: credential,
            scope: DEFAULT_ENTRA_SCOPE.to_owned(),
            cache: Mutex::new(None),
        }
    }

    /// Asks for tokens for `scope` instead, e.g. `https://iothubs.azure.us/.default`.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    async fn current(&self) -> Result<Authorization, Error> {
        let mut cache = self.cache.lock().await;
        if let Some((value, expires_on)) = cache.as_ref()
            && OffsetDateTime::now_utc() + REFRESH_MARGIN < *expires_on
        {
            return Ok(value.clone());
        }
        let token = self
            .inner
            .get_token(&[&self.scope], None)
            .await
            .map_err(|e| {
                Error::credential(
                    format!("could not get an Entra ID token for scope {}", self.scope),
                    Some(Box::new(e)),
                )
            })?;
        let value = Authorization::new(&format!("Bearer {}", token.token.secret()))?;
        *cache = Some((value.clone(), token.expires_on));
        Ok(value)
    }
}

impl Credential for EntraCredential {
    fn authorization(&self) -> AuthorizationFuture<'_> {
        AuthorizationFuture::new(self.current())
    }

    fn invalidate(&self) -> bool {
        // A caller holding the lock is fetching a new token, which replaces the cached one
        // anyway; otherwise drop the cached one now.
        if let Ok(mut cache) = self.cache.try_lock() {
            *cache = None;
        }
        true
    }
}

impl fmt::Debug for EntraCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraCredential")
            .field("credential", &self.inner)
            .field("scope", &self.scope)
            .finish()
    }
}
