//! Test support, shared by the unit tests and `tests/it` (which includes this file): every form
//! in which a secret could leak into text, so a check cannot pass because the secret was
//! printed in another form than the one searched for.

/// The forms of `secret` worth searching for: as given, percent-decoded and percent-encoded
/// (a signature travels encoded, but is signed raw), and, when it is base64 (keys, signatures),
/// its bytes as `Debug` prints them (`[115, 101, …]`), in hex, and as text when they are text.
pub fn forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut forms = vec![secret.to_owned()];
    let decoded = percent_encoding::percent_decode_str(secret)
        .decode_utf8_lossy()
        .into_owned();
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    for text in [decoded, encoded] {
        if !forms.contains(&text) {
            forms.push(text);
        }
    }
    let base64 = forms
        .iter()
        .find_map(|form| base64::engine::general_purpose::STANDARD.decode(form).ok());
    if let Some(bytes) = base64.filter(|bytes| bytes.len() >= 4) {
        // The first bytes are enough to catch a printed list or hex dump.
        let head = &bytes[..bytes.len().min(8)];
        forms.push(format!("{head:?}").trim_end_matches(']').to_owned());
        forms.push(head.iter().map(|b| format!("{b:02x}")).collect());
        if let Ok(text) = std::str::from_utf8(&bytes) {
            forms.push(text.to_owned());
        }
    }
    forms.retain(|form| form.len() >= 4);
    forms
}

/// Panics, naming the form, if `shown` holds `secret` in any of its [`forms`].
#[track_caller]
pub fn assert_hidden(shown: &str, secret: &str) {
    for form in forms(secret) {
        assert!(
            !shown.contains(&form),
            "a secret appears (as {form:?}) in:\n{shown}"
        );
    }
}

#[test]
fn every_form_is_searched() {
    // "secret-key" in base64, and a percent-encoded signature ending in '='.
    let key = "c2VjcmV0LWtleQ==";
    for leak in [
        "key: c2VjcmV0LWtleQ==",
        "key: [115, 101, 99, 114, 101, 116, 45, 107]",
        "key: 7365637265742d6b",
        "key: secret-key",
        "key: c2VjcmV0LWtleQ%3D%3D",
    ] {
        assert!(
            std::panic::catch_unwind(|| assert_hidden(leak, key)).is_err(),
            "{leak}"
        );
    }
    assert!(std::panic::catch_unwind(|| assert_hidden("sig=abc%2Bdef%3D", "abc+def=")).is_err());
    assert!(std::panic::catch_unwind(|| assert_hidden("sig=abc+def=", "abc%2Bdef%3D")).is_err());
    assert_hidden("key: <redacted>", key);
}
