//! Microsoft Entra ID bearer tokens from an `azure_core` `TokenCredential`.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use azure_core::{credentials::TokenCredential, time::OffsetDateTime};
use tokio::sync::Mutex;

use super::{Authorization, AuthorizationFuture, Credential};
use crate::Error;

/// Refresh a cached token this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Entra ID (Azure AD) tokens from any `azure_core::credentials::TokenCredential`, such as
/// `azure_identity::DeveloperToolsCredential` or a managed identity. Tokens are cached and
/// fetched again five minutes before they expire; concurrent callers share one fetch.
pub struct EntraCredential {
    inner: Arc<dyn TokenCredential>,
    scope: String,
    cache: Mutex<Option<CachedToken>>,
    /// Bumped by every [`invalidate`](Credential::invalidate): a cached token fetched in an
    /// earlier generation is not used again. A counter rather than clearing the cache, so that
    /// invalidating never waits for, or gives up on, the lock another caller holds.
    generation: AtomicU64,
}

struct CachedToken {
    value: Authorization,
    expires_on: OffsetDateTime,
    generation: u64,
}

impl EntraCredential {
    /// The IoT Hub scope in the public cloud. Sovereign clouds use their own (see
    /// [`with_scope`](Self::with_scope)).
    pub const DEFAULT_SCOPE: &str = "https://iothubs.azure.net/.default";

    /// Uses `credential` with the public-cloud scope [`Self::DEFAULT_SCOPE`].
    pub fn new(credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            inner: credential,
            scope: Self::DEFAULT_SCOPE.to_owned(),
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Asks for tokens for `scope` instead, e.g. `https://iothubs.azure.us/.default`.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    async fn current(&self) -> Result<Authorization, Error> {
        let mut cache = self.cache.lock().await;
        // Read after the lock: an invalidation while this caller waited counts.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(cached) = cache.as_ref()
            && cached.generation == generation
            && OffsetDateTime::now_utc() + REFRESH_MARGIN < cached.expires_on
        {
            return Ok(cached.value.clone());
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
        *cache = Some(CachedToken {
            value: value.clone(),
            expires_on: token.expires_on,
            generation,
        });
        Ok(value)
    }
}

impl Credential for EntraCredential {
    fn authorization(&self) -> AuthorizationFuture<'_> {
        AuthorizationFuture::new(self.current())
    }

    fn invalidate(&self) -> bool {
        self.generation.fetch_add(1, Ordering::AcqRel);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use azure_core::credentials::{AccessToken, TokenRequestOptions};

    use super::*;

    /// Hands out `token-1`, `token-2`, … each valid for an hour.
    #[derive(Debug, Default)]
    struct Numbered(AtomicUsize);

    #[async_trait::async_trait]
    impl TokenCredential for Numbered {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AccessToken::new(
                format!("token-{n}"),
                OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
            ))
        }
    }

    async fn header(credential: &EntraCredential) -> String {
        let value = credential.authorization().await.unwrap();
        value.header_value().to_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn invalidate_drops_the_token_even_while_another_caller_holds_the_cache() {
        let credential = EntraCredential::new(Arc::new(Numbered::default()));
        assert_eq!(header(&credential).await, "Bearer token-1");
        {
            // Another call reading the cached token at the moment the 401 arrives.
            let _reader = credential.cache.lock().await;
            assert!(credential.invalidate());
        }
        assert_eq!(
            header(&credential).await,
            "Bearer token-2",
            "the rejected token is not sent again"
        );
        assert_eq!(
            header(&credential).await,
            "Bearer token-2",
            "the fresh one is cached"
        );
    }
}
