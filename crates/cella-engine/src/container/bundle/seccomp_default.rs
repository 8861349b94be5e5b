//! The default seccomp profile: everything is allowed except what docker's
//! default profile keeps from a container without extra capabilities
//! (kernel keyrings, kexec, modules, mounts, namespaces, clock setting,
//! reboot, swap, BPF, perf, handle-based opens). It is written as a deny
//! list (EPERM) rather than docker's allow list: the same calls fail, and
//! new harmless syscalls keep working.

use cella_spec::seccomp::{Seccomp, SyscallArg, SyscallRule};

const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "syslog",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
const NAMESPACE_FLAGS: [u64; 7] = [
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];

pub fn profile() -> Seccomp {
    let mut syscalls = vec![SyscallRule {
        names: DENIED.iter().map(|s| s.to_string()).collect(),
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(libc::EPERM as u32),
        args: Vec::new(),
    }];
    // clone with any namespace flag: one rule per flag (rules are any-of).
    for flag in NAMESPACE_FLAGS {
        syscalls.push(SyscallRule {
            names: vec!["clone".into()],
            action: "SCMP_ACT_ERRNO".into(),
            errno_ret: Some(libc::EPERM as u32),
            args: vec![SyscallArg {
                index: 0,
                value: flag,
                value_two: Some(flag),
                op: "SCMP_CMP_MASKED_EQ".into(),
            }],
        });
    }
    // clone3's flags are in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
    syscalls.push(SyscallRule {
        names: vec!["clone3".into()],
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(libc::ENOSYS as u32),
        args: Vec::new(),
    });
    Seccomp {
        default_action: "SCMP_ACT_ALLOW".into(),
        syscalls,
        ..Seccomp::default()
    }
}
