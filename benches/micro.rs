//! Micro-benchmarks of what every call pays: `cargo bench -p iothub-jobs-tests --bench micro`.

use std::{
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
};

use criterion::{Criterion, criterion_group, criterion_main};
use iothub_jobs::{
    JobResponse, ServiceError,
    auth::{ConnectionString, Credential, SasKeyCredential},
};

const CONNECTION_STRING: &str = "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=cGVyZm9ybWFuY2UtYmVuY2htYXJrLWtleS0wMDAwMDA=";
const JOB: &[u8] = br#"{"jobId":"nightly-firmware-rollout","queryCondition":"tags.environment = 'prod'","createdTime":"2026-11-26T05:28:52.4513321Z","startTime":"2026-11-27T01:00:00Z","endTime":"0001-01-01T00:00:00","maxExecutionTimeInSeconds":3600,"type":"scheduleUpdateTwin","updateTwin":{"etag":"*","tags":{"maintenance":{"window":"night"}},"properties":{"desired":{"firmware":{"version":"2.4.1"}}}},"status":"cancelled","deviceJobStatistics":{"deviceCount":1200,"failedCount":0,"succeededCount":0,"runningCount":0,"pendingCount":1200}}"#;
const CLASSIC_ERROR: &[u8] = br#"{"Message":"ErrorCode:JobNotFound;Job with id 'nightly' not found","ExceptionMessage":"Tracking ID:0123456789abcdef0123456789abcdef-G:3-TimeStamp:11/26/2026 05:28:52"}"#;
const NESTED_ERROR: &[u8] = br#"{"Message":"ErrorCode:ServerError;Error: 429 {\"Message\":\"ErrorCode:ThrottlingBacklogTimeout;slow down\",\"ExceptionMessage\":\"Tracking ID:feedfacefeedfacefeedfacefeedface-G:7-TimeStamp:11/26/2026 05:28:52\"}","ExceptionMessage":""}"#;

/// The value of a future that is ready at once, as the SAS credential's are.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("SAS credentials answer at once"),
    }
}

fn benches(c: &mut Criterion) {
    let credential =
        SasKeyCredential::new("myhub.azure-devices.net", "iothubowner", "cGVyZm9ybWFuY2U=")
            .unwrap();
    c.bench_function("sas_signing", |b| {
        b.iter(|| {
            credential.invalidate();
            black_box(now(credential.authorization()).unwrap())
        })
    });
    now(credential.authorization()).unwrap();
    c.bench_function("token_cache_hit", |b| {
        b.iter(|| black_box(now(credential.authorization()).unwrap()))
    });
    c.bench_function("connection_string_parse", |b| {
        b.iter(|| black_box(ConnectionString::parse(black_box(CONNECTION_STRING)).unwrap()))
    });
    c.bench_function("job_response_decode", |b| {
        b.iter(|| black_box(serde_json::from_slice::<JobResponse>(black_box(JOB)).unwrap()))
    });
    c.bench_function("error_body_parse_classic", |b| {
        b.iter(|| {
            black_box(ServiceError::parse(
                404,
                Some("JobNotFound"),
                black_box(CLASSIC_ERROR),
            ))
        })
    });
    c.bench_function("error_body_parse_nested", |b| {
        b.iter(|| black_box(ServiceError::parse(429, None, black_box(NESTED_ERROR))))
    });
}

criterion_group!(micro, benches);
criterion_main!(micro);
