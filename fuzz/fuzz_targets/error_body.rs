//! Any error body: read, never a panic. The first byte picks the status and whether an
//! `iothub-errorcode` header came with it, so the seeds stay plain bodies after it.
#![no_main]

use iothub_jobs::ServiceError;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let status = [400, 401, 404, 411, 429, 500, 503][usize::from(selector) % 7];
    let header = (selector & 0x80 != 0).then_some("JobNotFound");
    let error = ServiceError::parse(status, header, body);
    assert_eq!(error.status, status);
});
