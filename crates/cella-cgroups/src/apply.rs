//! Writing `linux.resources` into a container's cgroup.
//!
//! Each controller goes to the hierarchy that has it: a v1 directory when a v1
//! hierarchy carries the controller, else the v2 tree when the v2 root offers
//! it (on a hybrid machine such as one with hugetlb only in v2). Values are
//! converted to v2's files and units where needed, as runc does. A field that
//! no mounted hierarchy can honour is an error naming the field.

use crate::{io_err, Cgroup, CgroupDir, Error, Result};
use cella_spec::resources::*;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Where a controller lives for this container.
enum Place<'a> {
    V1(&'a Path),
    V2(&'a CgroupDir),
}

/// Which controllers the v2 tree offers at its root (cgroup.controllers).
fn v2_offers(d: &CgroupDir, v2_name: &str) -> bool {
    std::fs::read_to_string(d.mountpoint.join("cgroup.controllers"))
        .map(|s| s.split_whitespace().any(|c| c == v2_name))
        .unwrap_or(false)
}

impl Cgroup {
    fn place(&self, v1_name: &str, v2_name: &str) -> Option<Place<'_>> {
        if let Some(p) = self.v1(v1_name) {
            return Some(Place::V1(p));
        }
        self.v2().filter(|d| v2_offers(d, v2_name)).map(Place::V2)
    }

    fn place_or_err(&self, v1_name: &str, v2_name: &str, field: &str) -> Result<Place<'_>> {
        self.place(v1_name, v2_name).ok_or_else(|| {
            Error::Unsupported(format!(
                "{field}: no cgroup hierarchy on this machine has the {v1_name} controller"
            ))
        })
    }

    /// Applies every resource in `r`. Returns warnings for fields that were
    /// accepted but have no effect here (e.g. deprecated kernel memory).
    /// As in runc, a zero value means "not set" (docker sends zeros).
    pub fn apply(&self, r: &Resources, extra_devices: &[DeviceRule]) -> Result<Vec<String>> {
        let r = &without_zeros(r);
        let mut warnings = Vec::new();
        if let Some(m) = &r.memory {
            self.apply_memory(m, &mut warnings)?;
        }
        if let Some(c) = &r.cpu {
            self.apply_cpu(c)?;
        }
        if let Some(p) = r.pids.as_ref().filter(|p| p.limit != 0) {
            let v = if p.limit > 0 { p.limit.to_string() } else { "max".into() };
            match self.place_or_err("pids", "pids", "linux.resources.pids")? {
                Place::V1(d) => write(d, "pids.max", &v)?,
                Place::V2(d) => {
                    enable(d, "pids")?;
                    write(&d.path, "pids.max", &v)?
                }
            }
        }
        if let Some(b) = &r.block_io {
            self.apply_block_io(b)?;
        }
        for h in &r.hugepage_limits {
            match self.place_or_err("hugetlb", "hugetlb", "linux.resources.hugepageLimits")? {
                Place::V1(d) => write(
                    d,
                    &format!("hugetlb.{}.limit_in_bytes", h.page_size),
                    &h.limit.to_string(),
                )?,
                Place::V2(d) => {
                    enable(d, "hugetlb")?;
                    write(&d.path, &format!("hugetlb.{}.max", h.page_size), &h.limit.to_string())?
                }
            }
        }
        if let Some(n) = &r.network {
            if let Some(id) = n.class_id {
                let d = self.v1("net_cls").ok_or_else(|| {
                    Error::Unsupported("linux.resources.network.classID: the net_cls controller is not mounted".into())
                })?;
                write(d, "net_cls.classid", &id.to_string())?;
            }
            if !n.priorities.is_empty() {
                let d = self.v1("net_prio").ok_or_else(|| {
                    Error::Unsupported(
                        "linux.resources.network.priorities: the net_prio controller is not mounted".into(),
                    )
                })?;
                for p in &n.priorities {
                    write(d, "net_prio.ifpriomap", &format!("{} {}", p.name, p.priority))?;
                }
            }
        }
        if r.rdma.is_some() {
            return Err(Error::Unsupported(
                "linux.resources.rdma is not supported by cella".into(),
            ));
        }
        if !r.devices.is_empty() || !extra_devices.is_empty() {
            self.apply_devices(&r.devices, extra_devices, &mut warnings)?;
        }
        for (key, value) in &r.unified {
            if key.contains('/') || key.starts_with('.') {
                return Err(Error::Unsupported(format!(
                    "linux.resources.unified: invalid file name {key:?}"
                )));
            }
            let d = self.v2().ok_or_else(|| {
                Error::Unsupported(format!(
                    "linux.resources.unified[{key:?}]: no cgroup v2 tree is mounted"
                ))
            })?;
            if let Some((ctrl, _)) = key.split_once('.') {
                if v2_offers(d, ctrl) {
                    enable(d, ctrl)?;
                }
            }
            if !d.path.join(key).exists() {
                return Err(Error::Unsupported(format!(
                    "linux.resources.unified[{key:?}]: {} has no such file",
                    d.path.display()
                )));
            }
            write(&d.path, key, value)?;
        }
        Ok(warnings)
    }

    fn apply_memory(&self, m: &Memory, warnings: &mut Vec<String>) -> Result<()> {
        let place = self.place_or_err("memory", "memory", "linux.resources.memory")?;
        if m.kernel.is_some() {
            warnings.push("linux.resources.memory.kernel is deprecated by the kernel and ignored".into());
        }
        match place {
            Place::V1(d) => {
                if let Some(r) = m.reservation {
                    write(d, "memory.soft_limit_in_bytes", &r.to_string())?;
                }
                let memsw = d.join("memory.memsw.limit_in_bytes");
                if m.swap.is_some() && !memsw.exists() {
                    return Err(Error::Unsupported(
                        "linux.resources.memory.swap: swap accounting is not enabled in this kernel".into(),
                    ));
                }
                match (m.limit, m.swap) {
                    (Some(l), Some(s)) => {
                        // memsw must stay >= limit at every step: order the two writes.
                        if write(d, "memory.limit_in_bytes", &l.to_string()).is_err() {
                            write(d, "memory.memsw.limit_in_bytes", &s.to_string())?;
                            write(d, "memory.limit_in_bytes", &l.to_string())?;
                        } else {
                            write(d, "memory.memsw.limit_in_bytes", &s.to_string())?;
                        }
                    }
                    (Some(l), None) => {
                        if write(d, "memory.limit_in_bytes", &l.to_string()).is_err() && memsw.exists() {
                            // Raising above the old memsw limit: lift memsw with it.
                            write(d, "memory.memsw.limit_in_bytes", &l.to_string())?;
                            write(d, "memory.limit_in_bytes", &l.to_string())?;
                        }
                    }
                    (None, Some(s)) => write(d, "memory.memsw.limit_in_bytes", &s.to_string())?,
                    (None, None) => {}
                }
                if let Some(t) = m.kernel_tcp {
                    write(d, "memory.kmem.tcp.limit_in_bytes", &t.to_string()).map_err(|_| {
                        Error::Unsupported("linux.resources.memory.kernelTCP: not supported by this kernel".into())
                    })?;
                }
                if let Some(s) = m.swappiness {
                    if s > 100 {
                        return Err(Error::Unsupported(format!(
                            "linux.resources.memory.swappiness {s} is above 100"
                        )));
                    }
                    write(d, "memory.swappiness", &s.to_string())?;
                }
                if m.disable_oom_killer == Some(true) {
                    write(d, "memory.oom_control", "1")?;
                }
            }
            Place::V2(d) => {
                enable(d, "memory")?;
                if let Some(r) = m.reservation {
                    write(&d.path, "memory.low", &max_or(r))?;
                }
                if let Some(l) = m.limit {
                    write(&d.path, "memory.max", &max_or(l))?;
                }
                if let Some(s) = m.swap {
                    // OCI's swap is memory+swap; v2 limits swap alone.
                    let v = match (s, m.limit) {
                        (-1, _) => "max".to_string(),
                        (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                        _ => {
                            return Err(Error::Unsupported(
                                "linux.resources.memory.swap needs memory.limit on cgroup v2".into(),
                            ))
                        }
                    };
                    write(&d.path, "memory.swap.max", &v)?;
                }
                if m.swappiness.is_some() {
                    warnings.push("linux.resources.memory.swappiness has no cgroup v2 equivalent; ignored".into());
                }
                if m.disable_oom_killer == Some(true) {
                    warnings
                        .push("linux.resources.memory.disableOOMKiller has no cgroup v2 equivalent; ignored".into());
                }
                if m.kernel_tcp.is_some() {
                    warnings.push("linux.resources.memory.kernelTCP has no cgroup v2 equivalent; ignored".into());
                }
            }
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &Cpu) -> Result<()> {
        let wants_cpu = c.shares.is_some()
            || c.quota.is_some()
            || c.period.is_some()
            || c.burst.is_some()
            || c.realtime_runtime.is_some()
            || c.realtime_period.is_some()
            || c.idle.is_some();
        if wants_cpu {
            match self.place_or_err("cpu", "cpu", "linux.resources.cpu")? {
                Place::V1(d) => {
                    if let Some(s) = c.shares {
                        write(d, "cpu.shares", &s.to_string())?;
                    }
                    if let Some(p) = c.period {
                        write(d, "cpu.cfs_period_us", &p.to_string())?;
                    }
                    if let Some(q) = c.quota {
                        write(d, "cpu.cfs_quota_us", &q.to_string())?;
                    }
                    if let Some(b) = c.burst {
                        write(d, "cpu.cfs_burst_us", &b.to_string()).map_err(|_| {
                            Error::Unsupported("linux.resources.cpu.burst: not supported by this kernel".into())
                        })?;
                    }
                    if let Some(p) = c.realtime_period {
                        write(d, "cpu.rt_period_us", &p.to_string()).map_err(|_| {
                            Error::Unsupported(
                                "linux.resources.cpu.realtimePeriod: not supported by this kernel".into(),
                            )
                        })?;
                    }
                    if let Some(r) = c.realtime_runtime {
                        write(d, "cpu.rt_runtime_us", &r.to_string()).map_err(|_| {
                            Error::Unsupported(
                                "linux.resources.cpu.realtimeRuntime: not supported by this kernel".into(),
                            )
                        })?;
                    }
                    if let Some(i) = c.idle {
                        write_supported(d, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
                    }
                }
                Place::V2(d) => {
                    enable(d, "cpu")?;
                    if let Some(s) = c.shares {
                        write(&d.path, "cpu.weight", &shares_to_weight(s).to_string())?;
                    }
                    if c.quota.is_some() || c.period.is_some() {
                        let q = c
                            .quota
                            .filter(|&q| q > 0)
                            .map(|q| q.to_string())
                            .unwrap_or_else(|| "max".into());
                        write(&d.path, "cpu.max", &format!("{q} {}", c.period.unwrap_or(100_000)))?;
                    }
                    if let Some(b) = c.burst {
                        write(&d.path, "cpu.max.burst", &b.to_string())?;
                    }
                    if let Some(i) = c.idle {
                        write(&d.path, "cpu.idle", &i.to_string())?;
                    }
                    if c.realtime_period.is_some() || c.realtime_runtime.is_some() {
                        return Err(Error::Unsupported(
                            "linux.resources.cpu.realtimePeriod/realtimeRuntime are not available on cgroup v2".into(),
                        ));
                    }
                }
            }
        }
        if c.cpus.is_some() || c.mems.is_some() {
            let dir = match self.place_or_err("cpuset", "cpuset", "linux.resources.cpu.cpus/mems")? {
                Place::V1(d) => d.to_path_buf(),
                Place::V2(d) => {
                    enable(d, "cpuset")?;
                    d.path.clone()
                }
            };
            for (value, file, field) in [(&c.cpus, "cpuset.cpus", "cpus"), (&c.mems, "cpuset.mems", "mems")] {
                if let Some(v) = value {
                    crate::cpuset::parse(v)
                        .map_err(|e| Error::Unsupported(format!("linux.resources.cpu.{field} {v:?}: {e}")))?;
                    write(&dir, file, v)?;
                }
            }
        }
        Ok(())
    }

    fn apply_block_io(&self, b: &BlockIo) -> Result<()> {
        match self.place_or_err("blkio", "io", "linux.resources.blockIO")? {
            Place::V1(d) => {
                if let Some(w) = b.weight {
                    write_supported(d, "blkio.weight", &w.to_string(), "linux.resources.blockIO.weight")?;
                }
                if let Some(w) = b.leaf_weight {
                    write_supported(
                        d,
                        "blkio.leaf_weight",
                        &w.to_string(),
                        "linux.resources.blockIO.leafWeight",
                    )?;
                }
                for wd in &b.weight_device {
                    if let Some(w) = wd.weight {
                        let v = format!("{}:{} {w}", wd.major, wd.minor);
                        write_supported(d, "blkio.weight_device", &v, "linux.resources.blockIO.weightDevice")?;
                    }
                    if let Some(w) = wd.leaf_weight {
                        let v = format!("{}:{} {w}", wd.major, wd.minor);
                        write_supported(
                            d,
                            "blkio.leaf_weight_device",
                            &v,
                            "linux.resources.blockIO.weightDevice",
                        )?;
                    }
                }
                for (list, file) in [
                    (&b.throttle_read_bps_device, "blkio.throttle.read_bps_device"),
                    (&b.throttle_write_bps_device, "blkio.throttle.write_bps_device"),
                    (&b.throttle_read_iops_device, "blkio.throttle.read_iops_device"),
                    (&b.throttle_write_iops_device, "blkio.throttle.write_iops_device"),
                ] {
                    for t in list {
                        write(d, file, &format!("{}:{} {}", t.major, t.minor, t.rate))?;
                    }
                }
            }
            Place::V2(d) => {
                enable(d, "io")?;
                if let Some(w) = b.weight {
                    write(&d.path, "io.weight", &format!("default {}", blkio_to_io_weight(w)))?;
                }
                for wd in &b.weight_device {
                    if let Some(w) = wd.weight {
                        write(
                            &d.path,
                            "io.weight",
                            &format!("{}:{} {}", wd.major, wd.minor, blkio_to_io_weight(w)),
                        )?;
                    }
                }
                for (list, key) in [
                    (&b.throttle_read_bps_device, "rbps"),
                    (&b.throttle_write_bps_device, "wbps"),
                    (&b.throttle_read_iops_device, "riops"),
                    (&b.throttle_write_iops_device, "wiops"),
                ] {
                    for t in list {
                        write(&d.path, "io.max", &format!("{}:{} {key}={}", t.major, t.minor, t.rate))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// v1: the devices controller's allow/deny lists, in order after denying
    /// everything; v2: an eBPF device program attached to the v2 directory.
    fn apply_devices(&self, rules: &[DeviceRule], extra: &[DeviceRule], warnings: &mut Vec<String>) -> Result<()> {
        match self.v1("devices") {
            Some(d) => {
                // Each write(2) is one rule; the two files are opened once.
                let (allow, deny) = (d.join("devices.allow"), d.join("devices.deny"));
                let open = |p: &Path| {
                    std::fs::OpenOptions::new().write(true).open(p).map_err(|e| Error::Io {
                        op: "open",
                        path: p.to_path_buf(),
                        err: e,
                    })
                };
                let mut deny_file = open(&deny)?;
                let mut allow_file = None;
                let put = |f: &mut std::fs::File, p: &Path, line: &str| {
                    f.write_all(line.as_bytes()).map_err(|e| Error::Io {
                        op: "write",
                        path: p.to_path_buf(),
                        err: e,
                    })
                };
                put(&mut deny_file, &deny, "a")?;
                for r in rules.iter().chain(extra) {
                    let line = device_rule_line(r);
                    if r.allow {
                        let f = match &mut allow_file {
                            Some(f) => f,
                            None => allow_file.insert(open(&allow)?),
                        };
                        put(f, &allow, &line)?;
                    } else {
                        put(&mut deny_file, &deny, &line)?;
                    }
                }
                Ok(())
            }
            None => {
                let Some(d) = self.v2() else {
                    warnings.push(
                        "linux.resources.devices: no devices controller and no cgroup v2 tree; not enforced".into(),
                    );
                    return Ok(());
                };
                let all: Vec<DeviceRule> = rules.iter().chain(extra).cloned().collect();
                let prog = crate::devicefilter::program(&all);
                let dir = cella_sys::fd::open(&d.path, libc::O_RDONLY | libc::O_DIRECTORY, 0)
                    .map_err(io_err("open", &d.path))?;
                let fd = cella_sys::bpf::load_cgroup_device_program(&prog).map_err(|e| {
                    Error::Unsupported(format!(
                        "linux.resources.devices: loading the cgroup v2 device program failed: {e}"
                    ))
                })?;
                cella_sys::bpf::attach_cgroup_device_program(dir.as_fd(), fd.as_fd())
                    .map_err(io_err("attach the device program to", &d.path))
            }
        }
    }
}

/// The resources with runc's "zero means unset" applied, and sections that
/// are then empty dropped.
fn without_zeros(r: &Resources) -> Resources {
    let mut r = r.clone();
    fn nz<T: Default + PartialEq>(v: &mut Option<T>) {
        if v.as_ref() == Some(&T::default()) {
            *v = None;
        }
    }
    if let Some(m) = &mut r.memory {
        nz(&mut m.limit);
        nz(&mut m.reservation);
        nz(&mut m.swap);
        nz(&mut m.kernel);
        nz(&mut m.kernel_tcp);
        let nothing = m.limit.is_none()
            && m.reservation.is_none()
            && m.swap.is_none()
            && m.kernel.is_none()
            && m.kernel_tcp.is_none()
            && m.swappiness.is_none()
            && m.disable_oom_killer != Some(true);
        if nothing {
            r.memory = None;
        }
    }
    if let Some(c) = &mut r.cpu {
        nz(&mut c.shares);
        nz(&mut c.quota);
        nz(&mut c.period);
        nz(&mut c.burst);
        nz(&mut c.realtime_runtime);
        nz(&mut c.realtime_period);
        if c.cpus.as_deref() == Some("") {
            c.cpus = None;
        }
        if c.mems.as_deref() == Some("") {
            c.mems = None;
        }
        if *c == Cpu::default() {
            r.cpu = None;
        }
    }
    if let Some(b) = &mut r.block_io {
        nz(&mut b.weight);
        nz(&mut b.leaf_weight);
        b.weight_device
            .retain(|w| w.weight.unwrap_or(0) != 0 || w.leaf_weight.unwrap_or(0) != 0);
        if *b == BlockIo::default() {
            r.block_io = None;
        }
    }
    r
}

/// `c 1:3 rwm` as the v1 devices controller reads it.
pub fn device_rule_line(r: &DeviceRule) -> String {
    let kind = r.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("a");
    if kind == "a" {
        return "a".into();
    }
    let num = |n: Option<i64>| {
        n.filter(|&n| n >= 0)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "*".into())
    };
    let access = r.access.as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
    format!("{kind} {}:{} {access}", num(r.major), num(r.minor))
}

/// runc's conversion of cpu shares (2..262144) to cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// blkio weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let p = dir.join(file);
    std::fs::write(&p, value).map_err(|e| Error::Io {
        op: "write",
        path: p.clone(),
        err: e,
    })
}

/// Writes a file that some kernels lack; a missing file names the field.
fn write_supported(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    if !dir.join(file).exists() {
        return Err(Error::Unsupported(format!("{field}: this kernel has no {file}")));
    }
    write(dir, file, value)
}

/// Enables a v2 controller in every ancestor's cgroup.subtree_control, from
/// the mount root down to the container's parent.
fn enable(d: &CgroupDir, controller: &str) -> Result<()> {
    let rel = d.path.strip_prefix(&d.mountpoint).unwrap_or(Path::new(""));
    let mut cur = d.mountpoint.clone();
    let comps: Vec<PathBuf> = rel.iter().map(PathBuf::from).collect();
    for c in &comps {
        let ctl = cur.join("cgroup.subtree_control");
        let enabled = std::fs::read_to_string(&ctl).map_err(io_err("read", &ctl))?;
        if !enabled.split_whitespace().any(|x| x == controller) {
            std::fs::write(&ctl, format!("+{controller}")).map_err(io_err("enable controller in", &ctl))?;
        }
        cur.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    #[test]
    fn zeros_mean_unset_as_in_runc() {
        let r = Resources {
            block_io: Some(BlockIo {
                weight: Some(0),
                leaf_weight: Some(0),
                ..Default::default()
            }),
            cpu: Some(Cpu {
                shares: Some(0),
                quota: Some(0),
                cpus: Some(String::new()),
                ..Default::default()
            }),
            memory: Some(Memory {
                limit: Some(0),
                swappiness: Some(60),
                ..Default::default()
            }),
            pids: Some(Pids { limit: 0 }),
            ..Default::default()
        };
        let z = without_zeros(&r);
        assert!(z.block_io.is_none() && z.cpu.is_none());
        assert_eq!(
            z.memory.unwrap(),
            Memory {
                swappiness: Some(60),
                ..Default::default()
            }
        );
    }

    #[test]
    fn device_rule_lines() {
        let r = |kind: Option<&str>, major, minor, access: Option<&str>| DeviceRule {
            allow: true,
            kind: kind.map(String::from),
            major,
            minor,
            access: access.map(String::from),
        };
        assert_eq!(device_rule_line(&r(None, None, None, Some("rwm"))), "a");
        assert_eq!(
            device_rule_line(&r(Some("c"), Some(1), Some(3), Some("rw"))),
            "c 1:3 rw"
        );
        assert_eq!(device_rule_line(&r(Some("c"), Some(136), None, None)), "c 136:* rwm");
        assert_eq!(
            device_rule_line(&r(Some("b"), Some(-1), Some(-1), Some("m"))),
            "b *:* m"
        );
    }
}
