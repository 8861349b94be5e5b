//! `process.scheduler` and `process.ioPriority`: parsed (and checked by
//! `validate`) once, applied in the container's process before its
//! capabilities are dropped (a real-time policy needs CAP_SYS_NICE), as runc
//! applies them.

use crate::error::{Context, Error, Result};
use cella_spec::Process;
use cella_sys::process::SchedAttr;

const POLICIES: [(&str, u32); 7] = [
    ("SCHED_OTHER", 0),
    ("SCHED_FIFO", 1),
    ("SCHED_RR", 2),
    ("SCHED_BATCH", 3),
    ("SCHED_ISO", 4),
    ("SCHED_IDLE", 5),
    ("SCHED_DEADLINE", 6),
];

const FLAGS: [(&str, u64); 7] = [
    ("SCHED_FLAG_RESET_ON_FORK", 0x01),
    ("SCHED_FLAG_RECLAIM", 0x02),
    ("SCHED_FLAG_DL_OVERRUN", 0x04),
    ("SCHED_FLAG_KEEP_POLICY", 0x08),
    ("SCHED_FLAG_KEEP_PARAMS", 0x10),
    ("SCHED_FLAG_UTIL_CLAMP_MIN", 0x20),
    ("SCHED_FLAG_UTIL_CLAMP_MAX", 0x40),
];

const IO_CLASSES: [(&str, u32); 3] = [("IOPRIO_CLASS_RT", 1), ("IOPRIO_CLASS_BE", 2), ("IOPRIO_CLASS_IDLE", 3)];

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// sched_setattr's attributes for `process.scheduler`, if it has one.
pub fn sched_attr(p: &Process) -> Result<Option<SchedAttr>> {
    let Some(s) = &p.scheduler else {
        return Ok(None);
    };
    let policy = lookup(&POLICIES, &s.policy)
        .ok_or_else(|| Error::Config(format!("process.scheduler.policy {:?} is not a Linux policy", s.policy)))?;
    let mut flags = 0;
    for f in &s.flags {
        flags |=
            lookup(&FLAGS, f).ok_or_else(|| Error::Config(format!("process.scheduler.flags: unknown flag {f:?}")))?;
    }
    if !(-20..=19).contains(&s.nice) {
        return Err(Error::Config(format!(
            "process.scheduler.nice {} is outside -20..19",
            s.nice
        )));
    }
    let deadline = policy == 6;
    if !deadline && (s.runtime != 0 || s.deadline != 0 || s.period != 0) {
        return Err(Error::Config(
            "process.scheduler: runtime, deadline and period are for SCHED_DEADLINE only".into(),
        ));
    }
    Ok(Some(SchedAttr {
        policy,
        flags,
        nice: s.nice,
        priority: u32::try_from(s.priority)
            .map_err(|_| Error::Config(format!("process.scheduler.priority {} is negative", s.priority)))?,
        runtime: s.runtime,
        deadline: s.deadline,
        period: s.period,
        ..SchedAttr::default()
    }))
}

/// ioprio_set's class and level for `process.ioPriority`, if it has one.
pub fn io_priority(p: &Process) -> Result<Option<(u32, u32)>> {
    let Some(io) = &p.io_priority else {
        return Ok(None);
    };
    let class = lookup(&IO_CLASSES, &io.class)
        .ok_or_else(|| Error::Config(format!("process.ioPriority.class {:?} is not an I/O class", io.class)))?;
    if !(0..=7).contains(&io.priority) {
        return Err(Error::Config(format!(
            "process.ioPriority.priority {} is outside 0..7",
            io.priority
        )));
    }
    Ok(Some((class, io.priority as u32)))
}

/// Applies both to this process (it passes them on to what it execs).
pub fn apply(p: &Process) -> Result<()> {
    if let Some(attr) = sched_attr(p)? {
        cella_sys::process::sched_setattr(&attr).op(|| format!("sched_setattr {:?}", p.scheduler))?;
    }
    if let Some((class, level)) = io_priority(p)? {
        cella_sys::process::ioprio_set(class, level).op(|| format!("ioprio_set {:?}", p.io_priority))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_and_io_priority_parse_as_the_spec_names_them() {
        let mut p = Process::default();
        assert!(sched_attr(&p).unwrap().is_none() && io_priority(&p).unwrap().is_none());
        p.scheduler = Some(cella_spec::Scheduler {
            policy: "SCHED_BATCH".into(),
            nice: 5,
            flags: vec!["SCHED_FLAG_RESET_ON_FORK".into()],
            ..Default::default()
        });
        let a = sched_attr(&p).unwrap().unwrap();
        assert_eq!((a.policy, a.nice, a.flags), (3, 5, 1));
        p.io_priority = Some(cella_spec::IoPriority {
            class: "IOPRIO_CLASS_IDLE".into(),
            priority: 7,
        });
        assert_eq!(io_priority(&p).unwrap(), Some((3, 7)));
        for bad in [("SCHED_NOPE", 0, 0), ("SCHED_OTHER", 40, 0), ("SCHED_FIFO", 0, 5)] {
            p.scheduler = Some(cella_spec::Scheduler {
                policy: bad.0.into(),
                nice: bad.1,
                runtime: bad.2,
                ..Default::default()
            });
            assert!(sched_attr(&p).is_err(), "{bad:?}");
        }
    }
}
