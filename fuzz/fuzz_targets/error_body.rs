//! Any error body: read, never a panic. The first byte picks the status and whether an
//! `iothub-errorcode` header came with it, so the seeds stay plain bodies after it.
#![no_main]

use iothub_jobs::ServiceError;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let status = [400, 401, 404, 411, 429, 500, 503][usize::from(selector) % 7];
    let header = (selector & 0x80 != 0).then_some("JobNotFound");
    let error = ServiceError::parse(status, header, body);
    if serde_json::from_slice::<serde_json::Value>(body).is_err() {
        // Not JSON (an HTML page from the front end): a bounded piece of its text, and the
        // header's code, if any.
        assert!(error.message.as_ref().is_none_or(|m| m.chars().count() <= 500));
        assert_eq!(error.code.as_deref(), header);
        assert!(error.numeric_code.is_none() && error.tracking_id.is_none());
    }
    // Whatever the body, a code the service named is never lost for the header's.
    if header.is_some() {
        assert!(error.code.is_some());
    }
});
