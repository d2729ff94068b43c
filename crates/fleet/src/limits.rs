//! Raising the open-file limit: every simulated device owns a UDP socket.

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
    fn soft_limit_reaches_hard_limit() {
        let limit = raise_open_file_limit().unwrap();
        assert!(limit.soft > 0);
        assert_eq!(limit.soft, limit.hard);
    }
}
