//! Nothing secret reaches the logs, at any level, on success or failure.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use iothub_jobs::{JobsClient, simulator::LocalHub};
use tracing_subscriber::fmt::MakeWriter;

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn trace_logs_carry_no_key_token_or_signature() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j");
    let client = hub.client().unwrap();
    client.cancel_job("j").await.unwrap();
    let wrong = format!(
        "{};SharedAccessKey=d3Jvbmcta2V5",
        hub.connection_string()
            .split(";SharedAccessKey=")
            .next()
            .unwrap()
    );
    let wrong =
        JobsClient::from_connection_string_with_options(&wrong, hub.client_options()).unwrap();
    wrong.cancel_job("j").await.unwrap_err();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("iothub_jobs"), "the call was traced:\n{logs}");
    let key = hub.policy_key();
    let tokens: Vec<String> = hub
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    let signatures = tokens.iter().map(|t| {
        t.split("sig=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned()
    });
    for secret in [key, "d3Jvbmcta2V5".to_owned()]
        .into_iter()
        .chain(signatures)
    {
        assert!(
            !logs.contains(&secret),
            "{secret} appears in the logs:\n{logs}"
        );
    }
    assert!(!logs.contains("sig="), "{logs}");
}
