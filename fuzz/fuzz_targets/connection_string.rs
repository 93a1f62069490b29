//! Any text given as a connection string: parsed or refused, never a panic, and a refusal
//! never repeats the key.
#![no_main]

use iothub_jobs::auth::ConnectionString;

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Err(error) = ConnectionString::parse(text) {
        let shown = format!("{error} {error:?}");
        for part in text.split(';') {
            // Keys look like base64; shorter or other text may match the messages' own words.
            if let Some((name, key)) = part.split_once('=')
                && name.trim().eq_ignore_ascii_case("SharedAccessKey")
                && key.trim().len() >= 16
                && key.trim().bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            {
                assert!(!shown.contains(key.trim()), "the error repeats the key: {shown}");
            }
        }
    }
});
