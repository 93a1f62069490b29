//! The API description this crate was generated from, for contract tests of your own.
//!
//! ```
//! let spec: serde_json::Value = serde_json::from_str(iothub_jobs::spec::OPENAPI_JSON).unwrap();
//! assert_eq!(spec["info"]["version"], iothub_jobs::API_VERSION);
//! assert!(spec["paths"]["/jobs/v2/{id}/cancel"]["post"].is_object());
//! ```

/// `spec/iothub-jobs.openapi.json`: the OpenAPI 3.0.3 document (as imported from Microsoft's
/// Swagger 2.0 description, with the deviations its `spec/README.md` lists).
pub const OPENAPI_JSON: &str = include_str!("../spec/iothub-jobs.openapi.json");
