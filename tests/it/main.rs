//! The integration tests, as one binary: the client, the local hub, the contracts with spec/,
//! Prism and faults, all over real HTTP on loopback. One module per concern; what they share is
//! in `support`.

mod cancel_job;
mod cli;
mod condition_properties;
mod contract_requests;
mod contract_responses;
mod contract_schema_parity;
mod convergence;
mod device_jobs;
mod devices;
mod devices_answer_back;
#[cfg(feature = "entra")]
mod entra;
mod examples;
mod faults;
mod hub_tiers;
mod import_export;
mod input_properties;
mod job_slots;
mod jobs_api;
mod layers;
mod odd_answers;
mod outcomes;
mod prism;
mod rollouts;
#[path = "../../src/call/secret_forms.rs"]
mod secret_forms;
mod service_answers;
mod shared_hub;
mod simulator_fidelity;
mod support;
mod twin_rules;
