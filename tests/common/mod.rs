//! Helpers the contract tests share: spec/ as data, validators built from it, and SAS tokens
//! minted independently of the crate's own signing code.
#![allow(dead_code)] // each test file uses a different part

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// spec/ as shipped in the crate.
pub fn spec() -> Value {
    serde_json::from_str(iothub_jobs::spec::OPENAPI_JSON).expect("spec/ is JSON")
}

/// A JSON Schema validator for `#/components/schemas/<name>` of spec/, formats checked.
pub fn validator_for(name: &str) -> jsonschema::Validator {
    let spec = spec();
    let root =
        json!({ "$ref": format!("#/components/schemas/{name}"), "components": spec["components"] });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&root)
        .expect("spec/'s schemas are valid JSON Schema")
}

/// Every violation of `validator` by `instance`, one per line; empty when valid.
pub fn violations(validator: &jsonschema::Validator, instance: &Value) -> String {
    violations_except_enums(validator, instance, false)
}

/// As [`violations`], optionally leaving out values outside an `enum`: the models keep values
/// the spec does not list yet, by design.
pub fn violations_except_enums(
    validator: &jsonschema::Validator,
    instance: &Value,
    skip_enums: bool,
) -> String {
    validator
        .iter_errors(instance)
        .filter(|e| {
            !(skip_enums
                && matches!(
                    e.kind(),
                    jsonschema::error::ValidationErrorKind::Enum { .. }
                ))
        })
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `SharedAccessSignature sr=<host>&sig=…&se=<expiry>&skn=<key_name>`, signed with `key_base64`
/// by the recipe in Microsoft's documentation, not by the crate.
pub fn mint_token(host: &str, key_name: &str, key_base64: &str, expiry: u64) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_base64)
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{host}\n{expiry}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig = sig
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("SharedAccessSignature sr={host}&sig={sig}&se={expiry}&skn={key_name}")
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
