//! The file descriptors the public listener may count on: each open connection holds one, and
//! the usual soft limit (1,024) is far below `CAISSE_MAX_CONNECTIONS`' default. At start the soft
//! `RLIMIT_NOFILE` is raised to the hard one (a process may do so without privileges), and a
//! connection cap the limit cannot hold is lowered to what it can, with a warning: past it,
//! `accept` would fail, and so would opening a database connection or a file.

/// Descriptors kept for everything but connections: the database pool, SQLite's files, SMTP,
/// Redis, Stripe, the metrics listener, logs.
pub const RESERVED: u64 = 256;

/// Raises the soft limit to the hard one; returns the soft limit now in force (`None` where it
/// cannot be read).
#[cfg(unix)]
pub fn raise_to_hard() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    // An unlimited hard limit is not a value the kernel takes for the soft one (fs.nr_open caps
    // it): a million is what most systems allow.
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        1 << 20
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = target;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_to_hard() -> Option<u64> {
    None
}

/// The connections a soft limit of `soft` descriptors holds, given the configured cap: the cap,
/// or less when the limit cannot hold it (never under 16).
pub fn connections_within(configured: usize, soft: Option<u64>) -> usize {
    match soft {
        Some(soft) => configured.min(soft.saturating_sub(RESERVED).max(16) as usize),
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_limit() {
        assert_eq!(connections_within(10_000, Some(1_024)), 768);
        assert_eq!(connections_within(10_000, Some(1_048_576)), 10_000);
        assert_eq!(connections_within(100, Some(100)), 16);
        assert_eq!(connections_within(500, None), 500);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let soft = raise_to_hard().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reads into the struct given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, soft);
        assert!(limit.rlim_max == libc::RLIM_INFINITY || limit.rlim_cur == limit.rlim_max);
    }
}
