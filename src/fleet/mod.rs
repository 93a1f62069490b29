//! The fleet features, compound operations over the areas: a job's outcome per device, re-runs
//! of the failures, rollouts in waves, adopting a job only when it is the same work, and how far
//! devices have converged on what they were sent.

pub(crate) mod adopt;
pub(crate) mod convergence;
pub(crate) mod outcome;
pub(crate) mod rerun;
pub(crate) mod rollout;
