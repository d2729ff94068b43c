//! The open-file budget: raising `RLIMIT_NOFILE`, counting the descriptors in use, and
//! checking at start that the fleet's sockets fit (one per endpoint in the per-device mode,
//! a few in the multiplexed mode).

use crate::FleetError;

/// The most file descriptors a multiplexed fleet may need, whatever its size (its shared
/// sockets and headroom for the runtime).
pub const FD_BUDGET: usize = 256;

/// Descriptors kept free beyond the fleet's sockets (runtime, logs, the runner's files).
pub const FD_HEADROOM: usize = 32;

/// File descriptors this process has open now (`/proc/self/fd`), or `None` where that is
/// not readable.
pub fn open_descriptors() -> Option<usize> {
    // One entry is the directory handle read_dir itself holds.
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count().saturating_sub(1))
}

/// Checks that `sockets` more descriptors fit under the soft open-file limit (raised to the
/// hard limit first) with [`FD_HEADROOM`] to spare, and, in the multiplexed mode, within
/// [`FD_BUDGET`]. The error says how many are needed and free, and what to do.
pub fn check_socket_budget(sockets: usize, multiplexed: bool) -> Result<(), FleetError> {
    let (mode, hint) = if multiplexed {
        (
            "multiplexed",
            "lower multiplexed_sockets or raise the limit (ulimit -n)",
        )
    } else {
        (
            "one socket per endpoint",
            "use socket_mode = \"multiplexed\" (loopback servers) or raise the limit (ulimit -n)",
        )
    };
    let limit = raise_open_file_limit().map(|l| l.soft).unwrap_or(u64::MAX);
    let open = open_descriptors().unwrap_or(0);
    let available = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(open);
    let needed = sockets.saturating_add(FD_HEADROOM);
    let over_budget = multiplexed && needed > FD_BUDGET;
    if needed > available || over_budget {
        return Err(FleetError::FileBudget {
            needed,
            available: if over_budget {
                available.min(FD_BUDGET)
            } else {
                available
            },
            limit,
            open,
            mode,
            hint,
        });
    }
    Ok(())
}

/// The open-file limits after an attempt to raise the soft limit to the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// The soft limit in force (what the process may open).
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit and returns the limits in force.
/// Failure to raise is not an error: binding sockets will report it precisely.
pub fn raise_open_file_limit() -> std::io::Result<FileLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    get(&mut limit)?;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if set(&raised).is_ok() {
            limit = raised;
        }
    }
    Ok(FileLimit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

#[allow(unsafe_code)]
fn get(limit: &mut libc::rlimit) -> std::io::Result<()> {
    // SAFETY: getrlimit writes one `rlimit` through a pointer to a live, exclusively
    // borrowed value of that exact type.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, limit) };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[allow(unsafe_code)]
fn set(limit: &libc::rlimit) -> std::io::Result<()> {
    // SAFETY: setrlimit only reads one `rlimit` through a pointer to a live value of that
    // exact type.
    let status = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_check_names_what_is_missing() {
        assert!(check_socket_budget(4, true).is_ok());
        let error = check_socket_budget(FD_BUDGET, true).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("multiplexed") && text.contains("file descriptors"),
            "{text}"
        );
        let error = check_socket_budget(usize::MAX / 2, false).unwrap_err();
        assert!(error.to_string().contains("socket_mode"), "{error}");
        assert!(open_descriptors().is_some_and(|n| n >= 3));
    }

    #[test]
    fn soft_limit_reaches_hard_limit() {
        let limit = raise_open_file_limit().unwrap();
        assert!(limit.soft > 0);
        assert_eq!(limit.soft, limit.hard);
    }
}
