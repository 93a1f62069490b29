//! Small helpers of the hub's own: locks that outlive a panic, and random ids.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even if a thread panicked while holding it: every value the hub guards (a
/// job table, the twins, a clock, the request log) stays usable after any single update, so
/// that one failed request never takes the hub down for every other client.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A random UUID, for job and tracking ids: unique, not secret.
pub(crate) fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
}
