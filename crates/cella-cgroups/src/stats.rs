//! Usage statistics in the JSON shape of runc's `events --stats`, and the OOM
//! kill counter that `events` watches.

use crate::freezer::read_key;
use crate::Cgroup;
use serde_json::{json, Map, Value};
use std::path::Path;

fn num(dir: &Path, file: &str) -> u64 {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A v1 limit of "huge" or a v2 "max" is reported as u64::MAX, as runc does.
fn limit(dir: &Path, file: &str) -> u64 {
    match std::fs::read_to_string(dir.join(file)) {
        Ok(s) if s.trim() == "max" => u64::MAX,
        Ok(s) => s.trim().parse().unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

fn flat_map(dir: &Path, file: &str) -> Map<String, Value> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), Value::from(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

impl Cgroup {
    /// cpu, memory, pids, blkio and hugetlb statistics.
    pub fn stats(&self) -> Value {
        let mut out = Map::new();
        out.insert("cpu".into(), self.cpu_stats());
        out.insert("memory".into(), self.memory_stats());
        if let Some(d) = self.v1("pids").or_else(|| self.v2().map(|d| d.path.as_path())) {
            out.insert(
                "pids".into(),
                json!({"current": num(d, "pids.current"), "limit": limit(d, "pids.max")}),
            );
        }
        out.insert("blkio".into(), self.blkio_stats());
        out.insert("hugetlb".into(), self.hugetlb_stats());
        Value::Object(out)
    }

    fn cpu_stats(&self) -> Value {
        if let Some(d) = self.v1("cpuacct") {
            let percpu: Vec<u64> = std::fs::read_to_string(d.join("cpuacct.usage_percpu"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            // cpuacct.stat is in USER_HZ ticks; runc reports nanoseconds.
            let st = flat_map(d, "cpuacct.stat");
            let ns = |k: &str| st.get(k).and_then(Value::as_u64).unwrap_or(0) * 10_000_000;
            let thr = self.v1("cpu").map(|c| flat_map(c, "cpu.stat")).unwrap_or_default();
            return json!({
                "usage": {"total": num(d, "cpuacct.usage"), "percpu": percpu, "kernel": ns("system"), "user": ns("user")},
                "throttling": {
                    "periods": thr.get("nr_periods").cloned().unwrap_or(0.into()),
                    "throttled_periods": thr.get("nr_throttled").cloned().unwrap_or(0.into()),
                    "throttled_time": thr.get("throttled_time").cloned().unwrap_or(0.into()),
                }
            });
        }
        let Some(d) = self.v2() else { return json!({}) };
        let st = flat_map(&d.path, "cpu.stat");
        let us = |k: &str| st.get(k).and_then(Value::as_u64).unwrap_or(0);
        json!({
            "usage": {"total": us("usage_usec") * 1000, "kernel": us("system_usec") * 1000, "user": us("user_usec") * 1000},
            "throttling": {"periods": us("nr_periods"), "throttled_periods": us("nr_throttled"), "throttled_time": us("throttled_usec") * 1000}
        })
    }

    fn memory_stats(&self) -> Value {
        if let Some(d) = self.v1("memory") {
            let entry = |prefix: &str| {
                json!({
                    "limit": limit(d, &format!("{prefix}.limit_in_bytes")),
                    "usage": num(d, &format!("{prefix}.usage_in_bytes")),
                    "max": num(d, &format!("{prefix}.max_usage_in_bytes")),
                    "failcnt": num(d, &format!("{prefix}.failcnt")),
                })
            };
            let raw = flat_map(d, "memory.stat");
            return json!({
                "cache": raw.get("cache").cloned().unwrap_or(0.into()),
                "usage": entry("memory"),
                "swap": entry("memory.memsw"),
                "kernel": entry("memory.kmem"),
                "raw": raw,
            });
        }
        let Some(d) = self.v2() else { return json!({}) };
        let p = &d.path;
        let raw = flat_map(p, "memory.stat");
        json!({
            "cache": raw.get("file").cloned().unwrap_or(0.into()),
            "usage": {"limit": limit(p, "memory.max"), "usage": num(p, "memory.current"), "max": num(p, "memory.peak"), "failcnt": read_key(&p.join("memory.events"), "max").unwrap_or(0)},
            "swap": {"limit": limit(p, "memory.swap.max"), "usage": num(p, "memory.swap.current")},
            "raw": raw,
        })
    }

    fn blkio_stats(&self) -> Value {
        let mut entries = Vec::new();
        if let Some(d) = self.v1("blkio") {
            let text = std::fs::read_to_string(d.join("blkio.throttle.io_service_bytes_recursive")).unwrap_or_default();
            for l in text.lines() {
                let f: Vec<&str> = l.split_whitespace().collect();
                if let [dev, op, value] = f[..] {
                    if let Some((ma, mi)) = dev.split_once(':') {
                        entries.push(json!({"major": ma.parse::<u64>().unwrap_or(0), "minor": mi.parse::<u64>().unwrap_or(0), "op": op, "value": value.parse::<u64>().unwrap_or(0)}));
                    }
                }
            }
        } else if let Some(d) = self.v2() {
            let text = std::fs::read_to_string(d.path.join("io.stat")).unwrap_or_default();
            for l in text.lines() {
                let mut f = l.split_whitespace();
                let Some((ma, mi)) = f.next().and_then(|d| d.split_once(':')) else {
                    continue;
                };
                for kv in f {
                    let (op, v) = match kv.split_once('=') {
                        Some(("rbytes", v)) => ("Read", v),
                        Some(("wbytes", v)) => ("Write", v),
                        _ => continue,
                    };
                    entries.push(json!({"major": ma.parse::<u64>().unwrap_or(0), "minor": mi.parse::<u64>().unwrap_or(0), "op": op, "value": v.parse::<u64>().unwrap_or(0)}));
                }
            }
        }
        json!({"ioServiceBytesRecursive": entries})
    }

    fn hugetlb_stats(&self) -> Value {
        let mut out = Map::new();
        let (dir, v2) = match (self.v1("hugetlb"), self.v2()) {
            (Some(d), _) => (d.to_path_buf(), false),
            (None, Some(d)) => (d.path.clone(), true),
            _ => return Value::Object(out),
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Value::Object(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let size = if v2 {
                name.strip_prefix("hugetlb.").and_then(|n| n.strip_suffix(".current"))
            } else {
                name.strip_prefix("hugetlb.")
                    .and_then(|n| n.strip_suffix(".usage_in_bytes"))
            };
            let Some(size) = size.filter(|s| !s.contains('.')) else {
                continue;
            };
            let v = if v2 {
                json!({"usage": num(&dir, &name), "max": limit(&dir, &format!("hugetlb.{size}.max")), "failcnt": read_key(&dir.join(format!("hugetlb.{size}.events")), "max").unwrap_or(0)})
            } else {
                json!({"usage": num(&dir, &name), "max": num(&dir, &format!("hugetlb.{size}.max_usage_in_bytes")), "failcnt": num(&dir, &format!("hugetlb.{size}.failcnt"))})
            };
            out.insert(size.to_string(), v);
        }
        Value::Object(out)
    }

    /// How many times the OOM killer has killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        if let Some(d) = self.v1("memory") {
            return read_key(&d.join("memory.oom_control"), "oom_kill").unwrap_or(0);
        }
        self.v2()
            .and_then(|d| read_key(&d.path.join("memory.events"), "oom_kill"))
            .unwrap_or(0)
    }
}
