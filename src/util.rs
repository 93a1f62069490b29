//! Two small helpers the client and the local hub share.

#[cfg(feature = "simulator")]
use std::sync::{Mutex, MutexGuard};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A random UUID, for request and tracking ids: unique, not secret, so a fast
/// non-cryptographic source spares a syscall per call.
pub(crate) fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
}

/// Locks `mutex`, even if a thread panicked while holding it: every value guarded in this
/// crate (a cache, a job table, a clock) stays usable after any single update.
#[cfg(feature = "simulator")]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads `lock`, as [`lock`] does for a `Mutex`.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `lock`, as [`lock`] does for a `Mutex`.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
