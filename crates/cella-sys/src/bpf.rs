//! bpf(2) for cgroup device programs: load one and attach it to a cgroup v2 directory.

use crate::check;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program (instructions as 8-byte words).
/// Loads without a verifier log; only when that fails is it loaded again with
/// one, so that the error can say why.
pub fn load_cgroup_device_program(insns: &[u64]) -> io::Result<OwnedFd> {
    match prog_load(insns, None) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let mut log = vec![0u8; 1 << 20];
            let again = prog_load(insns, Some(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&log[..end]);
            let last: Vec<&str> = text.lines().rev().take(3).collect();
            match again {
                Ok(fd) => Ok(fd),
                Err(_) => Err(io::Error::new(e.kind(), format!("{e}; verifier: {}", last.join(" / ")))),
            }
        }
    }
}

fn prog_load(insns: &[u64], log: Option<&mut [u8]>) -> io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"cella_device");
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: `attr` points at the instructions, license and log buffer, all
    // alive for the call; the size passed is the struct's.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    // SAFETY: a new descriptor returned by the kernel.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches a device program to a cgroup v2 directory (BPF_F_ALLOW_MULTI).
pub fn attach_cgroup_device_program(cgroup_dir: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let attr = ProgAttach {
        target_fd: cgroup_dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    // SAFETY: `attr` is valid for the call; fds are borrowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    })
    .map(drop)
}
