//! `linux.resources` as systemd unit properties, the way runc's systemd
//! drivers pass them: v2 names on a unified host, the legacy names
//! (MemoryLimit, CPUShares, BlockIO*) where the controllers are v1. Only
//! what systemd knows goes here; everything is also written to the scope's
//! cgroup directly afterwards, so a property systemd lacks loses nothing.

use crate::apply::{blkio_to_io_weight, shares_to_weight};
use cella_dbus::Value;
use cella_spec::resources::{DeviceRule, Resources};

/// systemd's "no limit".
const INFINITY: u64 = u64::MAX;

fn prop(name: &str, v: Value) -> Value {
    Value::property(name, v)
}

fn limit(v: i64) -> Value {
    Value::U64(if v < 0 { INFINITY } else { v as u64 })
}

/// A cpuset list as systemd's byte mask (bit i of byte n is id 8n+i).
fn cpu_mask(list: &str) -> Option<Value> {
    let ids = crate::cpuset::parse(list).ok()?;
    let mut bytes = vec![0u8; ids.last().map_or(0, |&m| m as usize / 8 + 1)];
    for id in ids {
        bytes[id as usize / 8] |= 1 << (id % 8);
    }
    Some(Value::Array("y".into(), bytes.into_iter().map(Value::Byte).collect()))
}

/// Quota per period as systemd's CPU time per second, rounded up to the
/// 10 ms systemd keeps (as runc does, so that the written quota is not lower
/// than asked).
fn quota_per_sec(quota: i64, period: u64) -> u64 {
    if quota <= 0 || period == 0 {
        return INFINITY;
    }
    let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
    per_sec.div_ceil(10_000) * 10_000
}

fn device_list(name: &str, entries: Vec<(String, u64)>) -> Value {
    prop(
        name,
        Value::Array(
            "(st)".into(),
            entries
                .into_iter()
                .map(|(p, v)| Value::Struct(vec![Value::Str(p), Value::U64(v)]))
                .collect(),
        ),
    )
}

/// The unit properties for `r` (zeros already meaning "unset" is the
/// caller's business). `v2`: the controllers are on the unified hierarchy.
pub fn resource_properties(r: &Resources, v2: bool) -> Vec<Value> {
    let mut out = vec![
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop(if v2 { "IOAccounting" } else { "BlockIOAccounting" }, Value::Bool(true)),
        prop("TasksAccounting", Value::Bool(true)),
    ];
    if let Some(m) = &r.memory {
        if let Some(l) = m.limit.filter(|&l| l != 0) {
            out.push(prop(if v2 { "MemoryMax" } else { "MemoryLimit" }, limit(l)));
        }
        if let Some(res) = m.reservation.filter(|&r| r != 0 && v2) {
            out.push(prop("MemoryLow", limit(res)));
        }
        if let (true, Some(s)) = (v2, m.swap.filter(|&s| s != 0)) {
            match (s, m.limit) {
                (-1, _) => out.push(prop("MemorySwapMax", Value::U64(INFINITY))),
                (s, Some(l)) if l > 0 => out.push(prop("MemorySwapMax", Value::U64((s - l).max(0) as u64))),
                _ => {}
            }
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(s) = c.shares.filter(|&s| s != 0) {
            if v2 {
                out.push(prop("CPUWeight", Value::U64(shares_to_weight(s))));
            } else {
                out.push(prop("CPUShares", Value::U64(s)));
            }
        }
        let (quota, period) = (c.quota.unwrap_or(0), c.period.unwrap_or(0));
        if quota != 0 || period != 0 {
            let period = if period == 0 { 100_000 } else { period };
            out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
            out.push(prop("CPUQuotaPerSecUSec", Value::U64(quota_per_sec(quota, period))));
        }
        if v2 {
            if let Some(mask) = c.cpus.as_deref().filter(|s| !s.is_empty()).and_then(cpu_mask) {
                out.push(prop("AllowedCPUs", mask));
            }
            if let Some(mask) = c.mems.as_deref().filter(|s| !s.is_empty()).and_then(cpu_mask) {
                out.push(prop("AllowedMemoryNodes", mask));
            }
        }
    }
    if let Some(p) = r.pids.as_ref().filter(|p| p.limit != 0) {
        out.push(prop("TasksMax", limit(p.limit)));
    }
    if let Some(b) = &r.block_io {
        if let Some(w) = b.weight.filter(|&w| w != 0) {
            out.push(if v2 {
                prop("IOWeight", Value::U64(blkio_to_io_weight(w)))
            } else {
                prop("BlockIOWeight", Value::U64(w.into()))
            });
        }
        let node = |major: i64, minor: i64| format!("/dev/block/{major}:{minor}");
        let weights: Vec<(String, u64)> = b
            .weight_device
            .iter()
            .filter_map(|d| {
                let w = d.weight.filter(|&w| w != 0)?;
                Some((
                    node(d.major, d.minor),
                    if v2 { blkio_to_io_weight(w) } else { w.into() },
                ))
            })
            .collect();
        if !weights.is_empty() {
            out.push(device_list(
                if v2 { "IODeviceWeight" } else { "BlockIODeviceWeight" },
                weights,
            ));
        }
        let lists = [
            (
                &b.throttle_read_bps_device,
                "IOReadBandwidthMax",
                Some("BlockIOReadBandwidth"),
            ),
            (
                &b.throttle_write_bps_device,
                "IOWriteBandwidthMax",
                Some("BlockIOWriteBandwidth"),
            ),
            (&b.throttle_read_iops_device, "IOReadIOPSMax", None),
            (&b.throttle_write_iops_device, "IOWriteIOPSMax", None),
        ];
        for (list, v2_name, v1_name) in lists {
            let name = if v2 { Some(v2_name) } else { v1_name };
            if let (Some(name), false) = (name, list.is_empty()) {
                out.push(device_list(
                    name,
                    list.iter().map(|t| (node(t.major, t.minor), t.rate)).collect(),
                ));
            }
        }
    }
    if v2 {
        out.extend(unified_properties(r));
    }
    out
}

/// The `unified` keys systemd has a property for (runc converts the same).
fn unified_properties(r: &Resources) -> Vec<Value> {
    let num = |v: &str| -> Option<Value> {
        let v = v.trim();
        if v == "max" {
            Some(Value::U64(INFINITY))
        } else {
            v.parse::<u64>().ok().map(Value::U64)
        }
    };
    let mut out = Vec::new();
    for (key, value) in &r.unified {
        let name = match key.as_str() {
            "memory.min" => "MemoryMin",
            "memory.low" => "MemoryLow",
            "memory.high" => "MemoryHigh",
            "memory.max" => "MemoryMax",
            "memory.swap.max" => "MemorySwapMax",
            "pids.max" => "TasksMax",
            "cpu.weight" => "CPUWeight",
            "cpuset.cpus" | "cpuset.mems" => {
                let name = if key == "cpuset.cpus" {
                    "AllowedCPUs"
                } else {
                    "AllowedMemoryNodes"
                };
                if let Some(mask) = cpu_mask(value) {
                    out.push(prop(name, mask));
                }
                continue;
            }
            "cpu.max" => {
                let mut f = value.split_whitespace();
                let quota = f.next().unwrap_or("max");
                let period = f.next().and_then(|p| p.parse::<u64>().ok()).unwrap_or(100_000);
                let quota = if quota == "max" {
                    -1
                } else {
                    quota.parse::<i64>().unwrap_or(-1)
                };
                out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
                out.push(prop("CPUQuotaPerSecUSec", Value::U64(quota_per_sec(quota, period))));
                continue;
            }
            _ => continue, // written to the cgroup directly
        };
        if let Some(v) = num(value) {
            out.push(prop(name, v));
        }
    }
    out
}

/// The device rules as DevicePolicy/DeviceAllow, as runc passes them, so
/// that systemd re-applying the unit (a daemon-reload) keeps the same
/// rules. None when systemd cannot express them (a deny inside an allow);
/// the rules cella writes to the cgroup still hold then.
pub fn device_properties(rules: &[DeviceRule]) -> Option<Vec<Value>> {
    let mut allow_all = false;
    let mut entries: Vec<(String, String)> = Vec::new();
    for r in rules {
        let kind = r.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("a");
        let major = r.major.filter(|&m| m >= 0);
        let minor = r.minor.filter(|&m| m >= 0);
        let access = r
            .access
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or("rwm")
            .to_string();
        let everything = kind == "a" && major.is_none() && minor.is_none();
        if everything {
            allow_all = r.allow;
            entries.clear();
            continue;
        }
        if !r.allow {
            if allow_all {
                return None; // systemd has no "everything but"
            }
            let before = entries.len();
            let gone = device_paths(kind, major, minor)?;
            entries.retain(|(p, a)| !(gone.contains(p) && *a == access));
            if entries.len() == before {
                return None;
            }
            continue;
        }
        if allow_all {
            continue;
        }
        for p in device_paths(kind, major, minor)? {
            entries.push((p, access.clone()));
        }
    }
    let policy = if allow_all { "auto" } else { "strict" };
    let allow = Value::Array(
        "(ss)".into(),
        entries
            .into_iter()
            .map(|(p, a)| Value::Struct(vec![Value::Str(p), Value::Str(a)]))
            .collect(),
    );
    Some(vec![
        prop("DevicePolicy", Value::str(policy)),
        prop("DeviceAllow", allow),
    ])
}

/// systemd's names for a rule's devices: `/dev/char/1:3`, `char-pts`
/// (a major by its /proc/devices name), `char-*`.
fn device_paths(kind: &str, major: Option<i64>, minor: Option<i64>) -> Option<Vec<String>> {
    let groups: &[&str] = match kind {
        "c" => &["char"],
        "b" => &["block"],
        _ => &["char", "block"],
    };
    let mut out = Vec::new();
    for group in groups {
        match (major, minor) {
            (Some(ma), Some(mi)) => out.push(format!("/dev/{group}/{ma}:{mi}")),
            (Some(ma), None) => out.push(format!("{group}-{}", proc_devices_name(group, ma)?)),
            (None, None) => out.push(format!("{group}-*")),
            (None, Some(_)) => return None,
        }
    }
    Some(out)
}

/// The name /proc/devices gives a major number.
fn proc_devices_name(group: &str, major: i64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    let header = if group == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    let mut in_section = false;
    for line in text.lines() {
        if line.ends_with("devices:") {
            in_section = line == header;
            continue;
        }
        let mut f = line.split_whitespace();
        if in_section && f.next().and_then(|n| n.parse::<i64>().ok()) == Some(major) {
            return f.next().map(str::to_string);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use cella_spec::resources::*;

    fn names(props: &[Value]) -> Vec<(String, Value)> {
        props
            .iter()
            .map(|p| match p {
                Value::Struct(f) => match (&f[0], &f[1]) {
                    (Value::Str(n), Value::Variant(v)) => (n.clone(), (**v).clone()),
                    _ => panic!("{p:?}"),
                },
                _ => panic!("{p:?}"),
            })
            .collect()
    }

    fn get(props: &[Value], name: &str) -> Option<Value> {
        names(props).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn v2_resources_become_v2_properties() {
        let r = Resources {
            memory: Some(Memory {
                limit: Some(64 << 20),
                reservation: Some(32 << 20),
                swap: Some(96 << 20),
                ..Default::default()
            }),
            cpu: Some(Cpu {
                shares: Some(1024),
                quota: Some(20_000),
                period: Some(100_000),
                cpus: Some("0,9".into()),
                ..Default::default()
            }),
            pids: Some(Pids { limit: 64 }),
            block_io: Some(BlockIo {
                weight: Some(500),
                throttle_read_bps_device: vec![ThrottleDevice {
                    major: 8,
                    minor: 0,
                    rate: 1 << 20,
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = resource_properties(&r, true);
        assert_eq!(get(&p, "MemoryMax"), Some(Value::U64(64 << 20)));
        assert_eq!(get(&p, "MemoryLow"), Some(Value::U64(32 << 20)));
        assert_eq!(
            get(&p, "MemorySwapMax"),
            Some(Value::U64(32 << 20)),
            "swap is memory+swap in OCI"
        );
        assert_eq!(get(&p, "CPUWeight"), Some(Value::U64(39)), "runc's shares→weight");
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(Value::U64(200_000)));
        assert_eq!(
            get(&p, "AllowedCPUs"),
            Some(Value::Array("y".into(), vec![Value::Byte(1), Value::Byte(2)]))
        );
        assert_eq!(get(&p, "TasksMax"), Some(Value::U64(64)));
        assert_eq!(get(&p, "IOWeight"), Some(Value::U64(blkio_to_io_weight(500))));
        assert!(get(&p, "IOReadBandwidthMax").is_some());
        let v1 = resource_properties(&r, false);
        assert_eq!(get(&v1, "MemoryLimit"), Some(Value::U64(64 << 20)));
        assert_eq!(get(&v1, "CPUShares"), Some(Value::U64(1024)));
        assert!(get(&v1, "MemorySwapMax").is_none() && get(&v1, "AllowedCPUs").is_none());
    }

    #[test]
    fn quota_rounds_up_to_systemds_ten_milliseconds() {
        assert_eq!(quota_per_sec(12_345, 100_000), 130_000);
        assert_eq!(quota_per_sec(-1, 100_000), INFINITY);
        let mut r = Resources::default();
        r.unified.insert("cpu.max".into(), "max 50000".into());
        r.unified.insert("memory.high".into(), "1048576".into());
        r.unified.insert("io.bfq.weight".into(), "10".into());
        let p = resource_properties(&r, true);
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(Value::U64(INFINITY)));
        assert_eq!(get(&p, "MemoryHigh"), Some(Value::U64(1 << 20)));
    }

    fn rule(allow: bool, kind: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule {
            allow,
            kind: Some(kind.into()),
            major,
            minor,
            access: Some(access.into()),
        }
    }

    #[test]
    fn device_rules_as_systemd_allow_lists() {
        let rules = [
            rule(false, "a", None, None, "rwm"),
            rule(true, "c", Some(1), Some(3), "rwm"),
            rule(true, "c", None, None, "m"),
        ];
        let p = device_properties(&rules).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), Some(Value::str("strict")));
        let Some(Value::Array(_, allow)) = get(&p, "DeviceAllow") else {
            panic!()
        };
        assert_eq!(allow.len(), 2);
        assert_eq!(
            allow[0],
            Value::Struct(vec![Value::str("/dev/char/1:3"), Value::str("rwm")])
        );
        assert_eq!(allow[1], Value::Struct(vec![Value::str("char-*"), Value::str("m")]));
        // Privileged: everything allowed.
        let p = device_properties(&[rule(true, "a", None, None, "rwm")]).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), Some(Value::str("auto")));
        // "Everything but" has no systemd form.
        assert!(device_properties(&[
            rule(true, "a", None, None, "rwm"),
            rule(false, "c", Some(1), Some(3), "rwm")
        ])
        .is_none());
        // A major by name: 1 is "mem" on every Linux.
        assert_eq!(device_paths("c", Some(1), None).unwrap(), ["char-mem"]);
    }
}
