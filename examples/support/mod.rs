//! What the examples share: logging, choosing the hub, and how they end.

use std::process::ExitCode;

use iothub_jobs::{JobsClient, JobsClientOptions};
use iothub_local_hub::{LocalHub, LocalHubBuilder};
use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt as _,
    util::SubscriberInitExt as _,
};

/// A client for the hub in `IOTHUB_CONNECTION_STRING` (with `IOTHUB_ENDPOINT`, if set, as the
/// base URL), or else for a freshly started local hub, which is returned too: dropping it
/// stops it.
#[allow(dead_code)] // each example uses one of the two
pub async fn client_from_env() -> Result<(JobsClient, Option<LocalHub>), Box<dyn std::error::Error>>
{
    client_from_env_or(LocalHub::builder()).await
}

/// As [`client_from_env`], with `local_hub` as the local hub's settings.
pub async fn client_from_env_or(
    local_hub: LocalHubBuilder,
) -> Result<(JobsClient, Option<LocalHub>), Box<dyn std::error::Error>> {
    match std::env::var("IOTHUB_CONNECTION_STRING") {
        Ok(connection_string) => {
            let mut options = JobsClientOptions::default();
            if let Ok(endpoint) = std::env::var("IOTHUB_ENDPOINT") {
                options = options.with_endpoint(endpoint);
            }
            Ok((
                JobsClient::from_connection_string_with_options(&connection_string, options)?,
                None,
            ))
        }
        Err(_) => {
            let hub = local_hub.start().await?;
            eprintln!(
                "IOTHUB_CONNECTION_STRING is not set: using the local hub at {}",
                hub.endpoint()
            );
            let options = JobsClientOptions::default().with_endpoint(hub.endpoint());
            let client =
                JobsClient::from_connection_string_with_options(&hub.connection_string(), options)?;
            Ok((client, Some(hub)))
        }
    }
}

/// Logs to stderr as `RUST_LOG` says, runs `example`, prints its JSON on stdout, or the error
/// on stderr with exit code 1.
pub async fn run<F>(example: F) -> ExitCode
where
    F: Future<Output = Result<String, Box<dyn std::error::Error>>>,
{
    // `Targets` reads `RUST_LOG`'s `target=level,…` form without a regex engine to build.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::ERROR));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    match example.await {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
