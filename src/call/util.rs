//! Small helpers: ids, deadlines, bounded text and locks.

use std::{
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::{Duration, Instant},
};

/// A random UUID, for request and tracking ids: unique, not secret, so a fast
/// non-cryptographic source spares a syscall per call.
pub(crate) fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
}

/// `text`, or its first `max_chars` characters and `…` when it is longer: what a message
/// repeats of text from elsewhere is bounded.
pub(crate) fn bounded(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

/// `limit` after `start`, capped at a century: a longer limit (`Duration::MAX` for "no limit")
/// would overflow `Instant` and panic.
pub(crate) fn deadline(start: Instant, limit: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    start + limit.min(CENTURY)
}

/// Reads `lock`, even if a thread panicked while holding it: every value guarded in this
/// crate (a token cache) stays usable after any single update.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `lock`, as [`read`] does.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_keeps_short_text_and_cuts_long_text_at_a_character() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "abc…");
        assert_eq!(bounded("ééé", 2), "éé…");
        assert_eq!(bounded("", 0), "");
        assert_eq!(bounded("a", 0), "…");
    }

    #[test]
    fn a_deadline_is_its_limit_away_capped_at_a_century() {
        let start = Instant::now();
        let years = |n: u64| Duration::from_secs(n * 365 * 24 * 60 * 60);
        assert_eq!(
            deadline(start, Duration::from_secs(5)),
            start + Duration::from_secs(5)
        );
        assert_eq!(deadline(start, years(50)), start + years(50));
        assert_eq!(deadline(start, years(100)), start + years(100));
        assert_eq!(deadline(start, years(101)), start + years(100));
        assert_eq!(
            deadline(start, Duration::MAX),
            start + years(100),
            "no overflow"
        );
    }
}
