//! Any body decoded as a JobResponse: refused, or accepted and written back to JSON that
//! decodes to the same model (values kept, unknown enum values included).
#![no_main]

use iothub_jobs::JobResponse;

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    if let Ok(job) = serde_json::from_slice::<JobResponse>(body) {
        let written = serde_json::to_vec(&job).expect("a decoded job serializes");
        let again: JobResponse = serde_json::from_slice(&written).expect("what we write, we read");
        assert_eq!(again, job);
    }
});
