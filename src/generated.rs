//! The client progenitor generates from `spec/` at build time, with the settings in
//! `spec/codegen.rs`. Private: the hand-written layer wraps it and re-exports the model types.

include!(concat!(env!("OUT_DIR"), "/generated.rs"));
