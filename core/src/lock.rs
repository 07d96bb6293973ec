//! Locking a std mutex whatever a panicking holder left behind, for the short, never-awaited
//! locks whose data is valid at every step (maps of routes, lists of lines, counters).

use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::PoisonError;

/// Locks `mutex`, recovering from poisoning: a panic elsewhere leaves the data consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
