//! CPU time of the process and of the calling thread (`getrusage`), and the thread's timer
//! slack, for the generator's health report.

use std::time::Duration;

fn usage(who: libc::c_int) -> Option<Duration> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` through a pointer to memory of that exact type
    // and size, which lives until the call returns; we read it only on success.
    #[allow(unsafe_code)]
    let ru = unsafe {
        if libc::getrusage(who, ru.as_mut_ptr()) != 0 {
            return None;
        }
        ru.assume_init()
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Some(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// User + system CPU time of the whole process so far.
pub fn process_cpu() -> Option<Duration> {
    usage(libc::RUSAGE_SELF)
}

/// User + system CPU time of the calling thread so far (Linux; `None` elsewhere).
pub fn thread_cpu() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        usage(libc::RUSAGE_THREAD)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Sets the calling thread's timer slack to 1 ns (Linux), so that a sleep ends when asked
/// instead of up to 50 µs later.
pub fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and touches no memory.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = thread_cpu().unwrap_or_default();
        let mut x = 0u64;
        let spin_until = std::time::Instant::now() + Duration::from_millis(30);
        while std::time::Instant::now() < spin_until {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let after = thread_cpu().unwrap_or_default();
        assert!(after > before, "{before:?} -> {after:?}");
        assert!(process_cpu().unwrap_or_default() >= after - before);
    }
}
