//! Any text given as a connection string: parsed or refused, never a panic, and a refusal
//! never repeats the key.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    iothub_jobs::fuzzing::connection_string(text);
});
