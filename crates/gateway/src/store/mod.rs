//! In-memory stores: bounded, O(1) by id, indexed for the list filters.

pub mod bulk;
pub mod commands;
pub mod devices;
pub mod downloads;
pub mod files;
pub mod paging;
pub mod record;
pub mod software_updates;

pub use bulk::{BulkResponse, BulkStore};
pub use commands::{CommandFilter, CommandStore};
pub use devices::{DeviceFilter, DeviceStore};
pub use downloads::DownloadTokens;
pub use files::FileStore;
pub use paging::Page;
pub use record::{CommandRecord, FinishOutcome, StatusChange};
pub use software_updates::SoftwareUpdateStore;

/// Locks a mutex, recovering the data if a previous holder panicked (state stays usable:
/// every critical section leaves it consistent before anything can panic).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Read-locks an `RwLock`, recovering from poisoning.
pub(crate) fn read<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write-locks an `RwLock`, recovering from poisoning.
pub(crate) fn write<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
