//! Capabilities: capget/capset, the bounding set and the ambient set.

use crate::check_int;
use std::io;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const VERSION_3: u32 = 0x2008_0522;

/// The three per-thread capability sets as 64-bit masks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

pub fn capget() -> io::Result<CapSets> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: header and a two-element data array, as capget v3 expects.
    check_int(unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) as libc::c_int })?;
    let join = |lo: u32, hi: u32| (lo as u64) | ((hi as u64) << 32);
    Ok(CapSets {
        effective: join(d[0].effective, d[1].effective),
        permitted: join(d[0].permitted, d[1].permitted),
        inheritable: join(d[0].inheritable, d[1].inheritable),
    })
}

pub fn capset(s: CapSets) -> io::Result<()> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let d = [
        Data {
            effective: s.effective as u32,
            permitted: s.permitted as u32,
            inheritable: s.inheritable as u32,
        },
        Data {
            effective: (s.effective >> 32) as u32,
            permitted: (s.permitted >> 32) as u32,
            inheritable: (s.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and a two-element data array, as capset v3 expects.
    check_int(unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) as libc::c_int }).map(drop)
}

/// Whether the running kernel knows capability number `cap`.
pub fn kernel_knows(cap: u32) -> bool {
    cap <= last_cap()
}

/// The highest capability number the running kernel knows, found once per
/// process: a start asks about every capability of every set several times,
/// and one prctl each made a hundred calls of it.
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        // Known capabilities are 0..=last: bisect for the boundary
        // (CAP_CHOWN, 0, always exists; 63 is the most a mask holds).
        let (mut known, mut unknown) = (0u32, 64u32);
        while unknown - known > 1 {
            let mid = (known + unknown) / 2;
            if bounding_read(mid) {
                known = mid;
            } else {
                unknown = mid;
            }
        }
        known
    })
}

fn bounding_read(cap: u32) -> bool {
    // SAFETY: integer arguments; EINVAL for unknown caps.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) >= 0 }
}

/// Removes `cap` from the bounding set.
pub fn bounding_drop(cap: u32) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// Raises `cap` in the ambient set (it must be permitted and inheritable).
pub fn ambient_raise(cap: u32) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            cap as libc::c_ulong,
            0,
            0,
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_capability_is_the_kernels() {
        let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        let last: u32 = text.trim().parse().unwrap();
        assert_eq!(super::last_cap(), last);
        assert!(super::kernel_knows(last));
        assert!(!super::kernel_knows(last + 1));
    }
}
