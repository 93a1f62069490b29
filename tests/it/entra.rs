//! Entra ID credentials: bearer tokens from an `azure_core` `TokenCredential`, cached.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use crate::support::HubClient as _;
use azure_core::{
    credentials::{AccessToken, TokenCredential, TokenRequestOptions},
    time::{Duration, OffsetDateTime},
};
use iothub_jobs::{JobsClient, auth::EntraCredential};
use iothub_local_hub::LocalHub;

/// Hands out numbered tokens, each valid for `lifetime`, and remembers the scopes asked for.
#[derive(Debug)]
struct CountingTokens {
    issued: AtomicUsize,
    lifetime: Duration,
    scopes: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenCredential for CountingTokens {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| s.to_string()));
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken::new(
            format!("entra-token-{n}"),
            OffsetDateTime::now_utc() + self.lifetime,
        ))
    }
}

fn tokens(lifetime: Duration) -> Arc<CountingTokens> {
    Arc::new(CountingTokens {
        issued: AtomicUsize::new(0),
        lifetime,
        scopes: Default::default(),
    })
}

async fn send_twice(hub: &LocalHub, credential: EntraCredential) -> Vec<String> {
    let client =
        JobsClient::new(hub.host_name(), Arc::new(credential), hub.client_options()).unwrap();
    for _ in 0..2 {
        // The local hub accepts SAS only, so these are refused; the header is what is checked.
        let error = client.cancel_job("j").await.unwrap_err();
        assert!(error.is_unauthorized());
        assert!(!format!("{error} {error:?} {client:?}").contains("entra-token"));
    }
    hub.requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn bearer_tokens_are_cached_while_valid() {
    let hub = LocalHub::start().await.unwrap();
    let source = tokens(Duration::hours(1));
    let sent = send_twice(&hub, EntraCredential::new(source.clone())).await;
    // The refreshed token is reused by the next call; each 401 drops it.
    assert_eq!(
        sent,
        [
            "Bearer entra-token-1",
            "Bearer entra-token-2",
            "Bearer entra-token-2",
            "Bearer entra-token-3"
        ]
    );
    assert_eq!(source.issued.load(Ordering::SeqCst), 3);
    assert!(
        source
            .scopes
            .lock()
            .unwrap()
            .iter()
            .all(|s| s == EntraCredential::DEFAULT_SCOPE)
    );
}

#[tokio::test]
async fn tokens_close_to_expiry_are_refreshed_and_scopes_configurable() {
    let hub = LocalHub::start().await.unwrap();
    let source = tokens(Duration::minutes(2));
    let credential =
        EntraCredential::new(source.clone()).with_scope("https://iothubs.azure.us/.default");
    let sent = send_twice(&hub, credential).await;
    // Valid for less than the refresh margin: never reused.
    assert_eq!(
        sent,
        [
            "Bearer entra-token-1",
            "Bearer entra-token-2",
            "Bearer entra-token-3",
            "Bearer entra-token-4"
        ]
    );
    assert_eq!(
        source.scopes.lock().unwrap()[0],
        "https://iothubs.azure.us/.default"
    );
}
