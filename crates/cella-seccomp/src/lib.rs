//! OCI seccomp profiles compiled to kernel filters with libseccomp.
//!
//! Follows runc's reading of the spec: unknown syscall names are skipped with
//! a warning, rules whose action equals the default are dropped, several
//! conditions on one argument index mean "any of" (one rule each), on
//! different indexes "all of" (one rule). The filter never sets
//! no_new_privs by itself: the runtime does that when the config asks.

use cella_spec::seccomp::{Seccomp, SyscallArg};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext, ScmpSyscall};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("linux.seccomp: {0}")]
    Invalid(String),
    #[error("linux.seccomp: libseccomp {op}: {err}")]
    Lib { op: String, err: String },
}

pub type Result<T> = std::result::Result<T, Error>;

fn lib(op: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> Error {
    let op = op.into();
    move |e| Error::Lib { op, err: e.to_string() }
}

/// The actions, operators, architectures and flags this build handles (for `features`).
pub const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];
pub const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
pub const ARCHES: [&str; 22] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SHEB",
];
/// Filter flags: WAIT_KILLABLE_RECV needs libseccomp 2.6, newer than Debian 12's.
pub const FLAGS: [&str; 2] = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];

fn action(name: &str, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_ERRNO" => {
            let e = errno.unwrap_or(libc_eperm());
            if e > u32::from(u16::MAX) {
                return Err(Error::Invalid(format!("errnoRet {e} is out of range")));
            }
            ScmpAction::Errno(e as i32)
        }
        "SCMP_ACT_TRACE" => {
            let e = errno.unwrap_or(libc_eperm());
            ScmpAction::Trace(u16::try_from(e).map_err(|_| Error::Invalid(format!("errnoRet {e} is out of range")))?)
        }
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_NOTIFY" => ScmpAction::Notify,
        other => return Err(Error::Invalid(format!("unknown action {other:?}"))),
    })
}

const fn libc_eperm() -> u32 {
    1
}

fn compare(a: &SyscallArg) -> Result<ScmpArgCompare> {
    if a.index > 5 {
        return Err(Error::Invalid(format!(
            "argument index {} (a syscall has 6 arguments)",
            a.index
        )));
    }
    let op = match a.op.as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        // OCI: value is the mask, valueTwo the value to compare with.
        "SCMP_CMP_MASKED_EQ" => {
            return Ok(ScmpArgCompare::new(
                a.index,
                ScmpCompareOp::MaskedEqual(a.value),
                a.value_two.unwrap_or(0),
            ))
        }
        other => return Err(Error::Invalid(format!("unknown operator {other:?}"))),
    };
    Ok(ScmpArgCompare::new(a.index, op, a.value))
}

/// A compiled-but-not-loaded filter, and what the caller should know about it.
pub struct Filter {
    ctx: ScmpFilterContext,
    /// Syscall names this libseccomp does not know (skipped, as runc does).
    pub unknown_syscalls: Vec<String>,
    /// The profile uses SCMP_ACT_NOTIFY: after `load`, send `notify_fd()`.
    pub notifies: bool,
}

/// Builds the filter from a profile.
pub fn compile(p: &Seccomp) -> Result<Filter> {
    let default = action(&p.default_action, p.default_errno_ret)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(lib("create the filter"))?;
    // The runtime sets no_new_privs itself when process.noNewPrivileges asks.
    ctx.set_ctl_nnp(false)
        .map_err(lib("clear the no_new_privs attribute"))?;
    for a in &p.architectures {
        let arch = ScmpArch::from_str(a).map_err(|_| Error::Invalid(format!("unknown architecture {a:?}")))?;
        if arch != ScmpArch::native() {
            ctx.add_arch(arch).map_err(lib(format!("add architecture {a}")))?;
        }
    }
    for f in &p.flags {
        match f.as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => ctx.set_filter_attr(ScmpFilterAttr::CtlLog, 1).map(drop),
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => ctx.set_filter_attr(ScmpFilterAttr::CtlSsb, 1).map(drop),
            "SECCOMP_FILTER_FLAG_TSYNC" => Ok(()),
            other => return Err(Error::Invalid(format!("flag {other:?} is not supported by this build"))),
        }
        .map_err(lib(format!("set flag {f}")))?;
    }
    let mut unknown = Vec::new();
    let mut notifies = matches!(default, ScmpAction::Notify);
    if notifies {
        return Err(Error::Invalid("SCMP_ACT_NOTIFY cannot be the default action".into()));
    }
    for rule in &p.syscalls {
        let act = action(&rule.action, rule.errno_ret)?;
        if act == default {
            continue;
        }
        notifies |= act == ScmpAction::Notify;
        let conds: Vec<ScmpArgCompare> = rule.args.iter().map(compare).collect::<Result<_>>()?;
        let mut indexes: Vec<u32> = rule.args.iter().map(|a| a.index).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in &rule.names {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                if !unknown.contains(name) {
                    unknown.push(name.clone());
                }
                continue;
            };
            let res = if conds.is_empty() {
                ctx.add_rule(act, sc).map(drop)
            } else if repeated {
                conds
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, sc, std::slice::from_ref(c)).map(drop))
            } else {
                ctx.add_rule_conditional(act, sc, &conds).map(drop)
            };
            res.map_err(lib(format!("add rule for {name} ({})", rule.action)))?;
        }
    }
    if notifies && p.listener_path.as_deref().is_none_or(str::is_empty) {
        return Err(Error::Invalid("SCMP_ACT_NOTIFY needs listenerPath".into()));
    }
    Ok(Filter {
        ctx,
        unknown_syscalls: unknown,
        notifies,
    })
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("unknown_syscalls", &self.unknown_syscalls)
            .field("notifies", &self.notifies)
            .finish()
    }
}

impl Filter {
    /// Installs the filter in the calling thread's process.
    pub fn load(&self) -> Result<()> {
        self.ctx.load().map_err(lib("load the filter into the kernel"))
    }

    /// The user-notification fd (after `load`, when `notifies`).
    pub fn notify_fd(&self) -> Result<i32> {
        self.ctx.get_notify_fd().map_err(lib("get the notify fd"))
    }

    /// Writes the BPF program (for tests and fuzzing: compiles without loading).
    pub fn export(&self, out: impl std::os::fd::AsFd) -> Result<()> {
        self.ctx.export_bpf(out).map_err(lib("export the filter"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cella_spec::seccomp::SyscallRule;

    fn profile(rules: Vec<SyscallRule>) -> Seccomp {
        Seccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            architectures: vec![
                "SCMP_ARCH_X86_64".into(),
                "SCMP_ARCH_X86".into(),
                "SCMP_ARCH_X32".into(),
            ],
            syscalls: rules,
            ..Default::default()
        }
    }

    fn rule(names: &[&str], action: &str) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|s| s.to_string()).collect(),
            action: action.into(),
            ..Default::default()
        }
    }

    #[test]
    fn compiles_and_skips_unknown_names() {
        let f = compile(&profile(vec![rule(&["mkdir", "no_such_syscall"], "SCMP_ACT_ERRNO")])).unwrap();
        assert_eq!(f.unknown_syscalls, ["no_such_syscall"]);
        f.export(std::fs::File::create("/dev/null").unwrap()).unwrap();
    }

    #[test]
    fn rejects_what_runc_rejects() {
        let mut p = profile(vec![]);
        p.default_action = "SCMP_ACT_NOPE".into();
        assert!(compile(&p).is_err());
        let mut r = rule(&["read"], "SCMP_ACT_ERRNO");
        r.args = vec![SyscallArg {
            index: 6,
            value: 0,
            value_two: None,
            op: "SCMP_CMP_EQ".into(),
        }];
        assert!(compile(&profile(vec![r])).unwrap_err().to_string().contains("index"));
        assert!(compile(&profile(vec![rule(&["read"], "SCMP_ACT_NOTIFY")]))
            .unwrap_err()
            .to_string()
            .contains("listenerPath"));
        let mut flags = profile(vec![]);
        flags.flags = vec!["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV".into()];
        assert!(compile(&flags).is_err());
    }

    #[test]
    fn repeated_argument_indexes_mean_any_of() {
        let mut r = rule(&["personality"], "SCMP_ACT_ALLOW");
        r.args = [0u64, 8, 0x20000]
            .iter()
            .map(|&v| SyscallArg {
                index: 0,
                value: v,
                value_two: None,
                op: "SCMP_CMP_EQ".into(),
            })
            .collect();
        let mut p = profile(vec![r]);
        p.default_action = "SCMP_ACT_ERRNO".into();
        compile(&p).unwrap();
    }
}

/// The listener's side of SCMP_ACT_NOTIFY.
pub mod notify {
    use super::{lib, Result};
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};

    /// One intercepted syscall.
    #[derive(Debug, Clone)]
    pub struct Request {
        pub id: u64,
        pub pid: u32,
        pub syscall: String,
        pub args: [u64; 6],
    }

    /// Blocks until the container makes a notified syscall.
    pub fn receive(fd: i32) -> Result<Request> {
        let req = ScmpNotifReq::receive(fd).map_err(lib("receive a notification"))?;
        let syscall = req
            .data
            .syscall
            .get_name_by_arch(req.data.arch)
            .unwrap_or_else(|_| "?".into());
        Ok(Request {
            id: req.id,
            pid: req.pid,
            syscall,
            args: req.data.args,
        })
    }

    /// Answers for the container: `Ok(value)` as the syscall's return, `Err(errno)` as its error.
    pub fn respond(fd: i32, id: u64, result: std::result::Result<i64, i32>) -> Result<()> {
        let resp = match result {
            Ok(v) => ScmpNotifResp::new_val(id, v, ScmpNotifRespFlags::empty()),
            Err(errno) => ScmpNotifResp::new_error(id, -errno.abs(), ScmpNotifRespFlags::empty()),
        };
        resp.respond(fd).map_err(lib("respond to a notification"))
    }
}
