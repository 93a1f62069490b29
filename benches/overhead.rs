//! What the SDK adds to a call, against the floor: `cargo bench -p iothub-jobs-tests --bench overhead`.
//!
//! An in-process loopback HTTP server (axum on hyper) answers every request with a realistic
//! JobResponse. Interleaved in one run:
//! - **sdk**: `JobsClient::cancel_job` built from a connection string, default settings;
//! - **raw**: reqwest by hand: the same URL and pre-computed headers, decoding into the same
//!   `JobResponse` — the floor.
//! - **shaped** (throughput only): `raw` plus the steps the generated `cancel_job` takes
//!   (spec/generated.rs), to tell what progenitor's request path costs from what our layer
//!   adds around it.
//!
//! Reported: sequential latency (p50, p99), throughput with 64 calls in flight, the process's
//! memory over 100,000 sequential SDK calls and 100,000 at 64 in flight, then the two ratios
//! as the last lines. Ratios, not absolute times, are comparable between runs.

#[allow(dead_code)] // the bench mints tokens only
#[path = "../tests/it/support.rs"]
mod common;
mod measure;

use std::{sync::Arc, time::Instant};

use iothub_jobs::{API_VERSION, JobResponse, JobsClient, JobsClientOptions};
use reqwest::header::{HeaderMap, HeaderValue};

const SEQUENTIAL_PAIRS: usize = 6_000;
const IN_FLIGHT: usize = 64;
const CALLS_PER_ROUND: usize = 12_800;
const ROUNDS: usize = 5;
const MEMORY_CALLS: usize = 100_000;
const KEY: &str = "cGVyZm9ybWFuY2UtYmVuY2htYXJrLWtleS0wMDAwMDA=";
const JOB_ID: &str = "nightly-firmware-rollout";

/// A job as the service returns it: scheduled twin update with statistics.
const JOB: &str = r#"{"jobId":"nightly-firmware-rollout","queryCondition":"tags.environment = 'prod' AND properties.reported.fw < '2.4'","createdTime":"2026-11-26T05:28:52.4513321Z","startTime":"2026-11-27T01:00:00Z","endTime":"0001-01-01T00:00:00","maxExecutionTimeInSeconds":3600,"type":"scheduleUpdateTwin","updateTwin":{"deviceId":null,"etag":"*","tags":{"maintenance":{"window":"night","owner":"ops"}},"properties":{"desired":{"firmware":{"version":"2.4.1","url":"https://example.com/fw/2.4.1.bin"}}}},"status":"cancelled","statusMessage":"","deviceJobStatistics":{"deviceCount":1200,"failedCount":0,"succeededCount":0,"runningCount":0,"pendingCount":1200}}"#;

async fn serve() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app =
        axum::Router::new().fallback(|| async { ([("content-type", "application/json")], JOB) });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// The hand-written floor: one reqwest client, headers computed once.
struct Raw {
    http: reqwest::Client,
    base_url: String,
    url: String,
    headers: HeaderMap,
}

impl Raw {
    /// The headers the SDK sends, computed once; the SAS token minted by hand from the same key.
    fn new(port: u16, host: &str) -> Self {
        let token = minted_token(host);
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&token).unwrap());
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.insert("content-length", HeaderValue::from_static("0"));
        headers.insert(
            "user-agent",
            HeaderValue::from_static(concat!(
                "iothub-jobs/",
                env!("CARGO_PKG_VERSION"),
                " (Rust)"
            )),
        );
        headers.insert(
            "x-ms-client-request-id",
            HeaderValue::from_static("2b7d6f0e-8a8e-4a43-9d4f-0d6f3c1e6a11"),
        );
        let base_url = format!("http://127.0.0.1:{port}");
        Self {
            http: reqwest::Client::new(),
            url: format!("{base_url}/jobs/v2/{JOB_ID}/cancel?api-version={API_VERSION}"),
            base_url,
            headers,
        }
    }

    async fn cancel(&self) -> JobResponse {
        let response = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    /// `cancel` with what the generated `cancel_job` does besides: the URL formatted around an
    /// escaped path segment, `api-version` added through `.query()`, progenitor's `api-version`
    /// header added (and removed again by our hook), and the response's headers copied into its
    /// `ResponseValue`.
    #[expect(
        clippy::unnecessary_to_owned,
        reason = "the generated code copies the id before escaping it, and this mirrors it"
    )]
    async fn cancel_shaped(&self) -> JobResponse {
        let url = format!(
            "{}/jobs/v2/{}/cancel",
            self.base_url,
            progenitor_client::encode_path(&JOB_ID.to_string())
        );
        let mut version_header = HeaderMap::with_capacity(1);
        version_header.append("api-version", HeaderValue::from_static(API_VERSION));
        let mut request = self
            .http
            .post(url)
            .query(&progenitor_client::QueryParam::new(
                "api-version",
                &API_VERSION,
            ))
            .headers(version_header)
            .headers(self.headers.clone())
            .build()
            .unwrap();
        request.headers_mut().remove("api-version");
        let response = self.http.execute(request).await.unwrap();
        let headers = response.headers().clone();
        let job = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        drop(headers);
        job
    }
}

fn minted_token(host: &str) -> String {
    common::mint_token(host, "iothubowner", KEY, common::unix_now() + 3600)
}

/// Resident memory after each quarter of `MEMORY_CALLS` SDK calls, `in_flight` at a time.
async fn memory_profile(sdk: &JobsClient, in_flight: usize) -> Vec<u64> {
    let mut samples = Vec::new();
    for _ in 0..4 {
        let workers: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = sdk.clone();
                tokio::spawn(async move {
                    for _ in 0..MEMORY_CALLS / 4 / in_flight {
                        client.cancel_job(JOB_ID).await.unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        samples.push(measure::memory_kib().0);
    }
    samples
}

/// The calls measured, side by side.
struct Calls {
    sdk: JobsClient,
    raw: Raw,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sdk,
    Raw,
    Shaped,
}

impl Calls {
    async fn call(&self, kind: Kind) {
        match kind {
            Kind::Sdk => drop(self.sdk.cancel_job(JOB_ID).await.unwrap()),
            Kind::Raw => drop(self.raw.cancel().await),
            Kind::Shaped => drop(self.raw.cancel_shaped().await),
        }
    }
}

/// Calls per second of `kind`, `IN_FLIGHT` at a time.
async fn throughput(calls: &Arc<Calls>, kind: Kind) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let calls = calls.clone();
            tokio::spawn(async move {
                for _ in 0..CALLS_PER_ROUND / IN_FLIGHT {
                    calls.call(kind).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    CALLS_PER_ROUND as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let port = serve().await;
        let connection_string =
            format!("HostName=bench.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}");
        let options = JobsClientOptions::default().with_endpoint(format!("http://127.0.0.1:{port}"));
        let sdk = JobsClient::from_connection_string_with_options(&connection_string, options).unwrap();
        let raw = Raw::new(port, sdk.host_name());
        assert_eq!(sdk.cancel_job(JOB_ID).await.unwrap(), raw.cancel().await);
        assert_eq!(raw.cancel_shaped().await, raw.cancel().await);
        let calls = Arc::new(Calls { sdk: sdk.clone(), raw });
        let raw = &calls.raw;

        // `OVERHEAD_PROFILE=sdk|raw|shaped`: only that kind of call, `IN_FLIGHT` at a time, for
        // a profiler (`perf record`, `valgrind --tool=callgrind`) to compare.
        if let Ok(name) = std::env::var("OVERHEAD_PROFILE") {
            let kind = match name.as_str() {
                "sdk" => Kind::Sdk,
                "shaped" => Kind::Shaped,
                _ => Kind::Raw,
            };
            for _ in 0..ROUNDS {
                println!("{kind:?}: {:.0} calls/s", throughput(&calls, kind).await);
            }
            return;
        }

        // Warm-up: connections, token cache, allocator.
        for _ in 0..500 {
            sdk.cancel_job(JOB_ID).await.unwrap();
            raw.cancel().await;
        }

        let (mut sdk_times, mut raw_times) = (Vec::new(), Vec::new());
        for pair in 0..SEQUENTIAL_PAIRS {
            // Alternate which goes first, so neither always follows the other.
            for first_sdk in [pair % 2 == 0, pair % 2 != 0] {
                let started = Instant::now();
                if first_sdk {
                    sdk.cancel_job(JOB_ID).await.unwrap();
                    sdk_times.push(started.elapsed());
                } else {
                    raw.cancel().await;
                    raw_times.push(started.elapsed());
                }
            }
        }
        sdk_times.sort();
        raw_times.sort();

        let (mut sdk_rates, mut raw_rates, mut shaped_rates) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            sdk_rates.push(throughput(&calls, Kind::Sdk).await);
            raw_rates.push(throughput(&calls, Kind::Raw).await);
            shaped_rates.push(throughput(&calls, Kind::Shaped).await);
        }
        let median = |rates: &mut Vec<f64>| {
            rates.sort_by(f64::total_cmp);
            rates[rates.len() / 2]
        };
        let (sdk_rate, raw_rate) = (median(&mut sdk_rates), median(&mut raw_rates));
        let shaped_rate = median(&mut shaped_rates);

        let sequential_memory = memory_profile(&sdk, 1).await;
        let parallel_memory = memory_profile(&sdk, IN_FLIGHT).await;
        let (_, peak) = measure::memory_kib();

        let (sdk_p50, raw_p50) = (measure::percentile(&sdk_times, 0.5), measure::percentile(&raw_times, 0.5));
        println!("sequential latency over {SEQUENTIAL_PAIRS} interleaved pairs (µs):");
        println!("  sdk  p50 {:8.1}  p99 {:8.1}", measure::micros(sdk_p50), measure::micros(measure::percentile(&sdk_times, 0.99)));
        println!("  raw  p50 {:8.1}  p99 {:8.1}", measure::micros(raw_p50), measure::micros(measure::percentile(&raw_times, 0.99)));
        println!("throughput, {IN_FLIGHT} in flight, median of {ROUNDS} alternating rounds of {CALLS_PER_ROUND} calls (calls/s):");
        println!("  sdk {sdk_rate:10.0}   rounds {sdk_rates:.0?}");
        println!("  raw {raw_rate:10.0}   rounds {raw_rates:.0?}");
        println!("  shaped {shaped_rate:7.0}   rounds {shaped_rates:.0?}");
        println!(
            "memory (RSS in KiB after each {} of {MEMORY_CALLS} SDK calls; peak {peak}):",
            MEMORY_CALLS / 4
        );
        println!("  sequential     {sequential_memory:?}");
        println!("  {IN_FLIGHT} in flight    {parallel_memory:?}");
        println!(
            "throughput shaped/raw ratio (progenitor's request path): {:.2}",
            shaped_rate / raw_rate
        );
        println!(
            "throughput sdk/shaped ratio (what our layer adds): {:.2}",
            sdk_rate / shaped_rate
        );
        println!("latency sdk/raw p50 ratio: {:.2}", measure::micros(sdk_p50) / measure::micros(raw_p50));
        println!("throughput sdk/raw ratio: {:.2}", sdk_rate / raw_rate);
    });
}
