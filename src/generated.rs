//! The client progenitor generates from `spec/` at build time, with the settings in
//! `spec/codegen.rs`. Private: the hand-written layer wraps it and re-exports the model types.

include!(concat!(env!("OUT_DIR"), "/generated.rs"));

/// The generated client's inner state (progenitor's "inner type"): what the hooks add to
/// every request, the same for all of them. Declared here, beside the code that holds it, so
/// that the generated code imports nothing of `hooks`, which implements its hooks.
#[derive(Clone, Debug)]
pub(crate) struct HookSettings {
    pub user_agent: reqwest::header::HeaderValue,
    pub max_response_bytes: usize,
}
