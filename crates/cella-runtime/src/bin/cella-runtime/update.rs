//! `update`'s flags (runc's names and units) into a `Resources` value.

use crate::args::{Opt, Parsed};
use anyhow::{bail, Context, Result};
use cella_spec::resources::*;
use cella_spec::Resources;
use std::time::Duration;

pub const OPTIONS: &[Opt] = &[
    Opt::value(&["resources", "r"]),
    Opt::value(&["memory"]),
    Opt::value(&["memory-reservation"]),
    Opt::value(&["memory-swap"]),
    Opt::value(&["cpu-shares"]),
    Opt::value(&["cpu-period"]),
    Opt::value(&["cpu-quota"]),
    Opt::value(&["cpu-rt-period"]),
    Opt::value(&["cpu-rt-runtime"]),
    Opt::value(&["cpuset-cpus"]),
    Opt::value(&["cpuset-mems"]),
    Opt::value(&["pids-limit"]),
    Opt::value(&["blkio-weight"]),
];

/// The resources to change: a JSON file (`-` for stdin) with flags on top.
pub fn resources(p: &Parsed) -> Result<Resources> {
    let mut r: Resources = match p.value("resources") {
        Some("-") => serde_json::from_reader(std::io::stdin().lock()).context("parse resources JSON from stdin")?,
        Some(f) => {
            let text = std::fs::read(f).with_context(|| format!("read {f}"))?;
            serde_json::from_slice(&text).with_context(|| format!("parse resources JSON in {f}"))?
        }
        None => Resources::default(),
    };
    let num = |name: &str| -> Result<Option<i64>> {
        p.value(name)
            .map(|v| {
                v.parse::<i64>()
                    .with_context(|| format!("--{name} {v:?} is not a number"))
            })
            .transpose()
    };
    let bytes = |name: &str| -> Result<Option<i64>> {
        p.value(name)
            .map(|v| parse_bytes(v).with_context(|| format!("--{name} {v:?}")))
            .transpose()
    };
    let mem = [bytes("memory")?, bytes("memory-reservation")?, bytes("memory-swap")?];
    if mem.iter().any(Option::is_some) {
        let m = r.memory.get_or_insert_with(Memory::default);
        m.limit = mem[0].or(m.limit);
        m.reservation = mem[1].or(m.reservation);
        m.swap = mem[2].or(m.swap);
    }
    let cpu = [
        num("cpu-shares")?,
        num("cpu-period")?,
        num("cpu-quota")?,
        num("cpu-rt-period")?,
        num("cpu-rt-runtime")?,
    ];
    let sets = [p.value("cpuset-cpus"), p.value("cpuset-mems")];
    if cpu.iter().any(Option::is_some) || sets.iter().any(Option::is_some) {
        let c = r.cpu.get_or_insert_with(Cpu::default);
        c.shares = cpu[0].map(|v| v as u64).or(c.shares);
        c.period = cpu[1].map(|v| v as u64).or(c.period);
        c.quota = cpu[2].or(c.quota);
        c.realtime_period = cpu[3].map(|v| v as u64).or(c.realtime_period);
        c.realtime_runtime = cpu[4].or(c.realtime_runtime);
        c.cpus = sets[0].map(String::from).or(c.cpus.take());
        c.mems = sets[1].map(String::from).or(c.mems.take());
    }
    if let Some(l) = num("pids-limit")? {
        r.pids = Some(Pids { limit: l });
    }
    if let Some(w) = num("blkio-weight")? {
        r.block_io.get_or_insert_with(BlockIo::default).weight = Some(w as u16);
    }
    Ok(r)
}

/// `100`, `64k`, `512m`, `2g`, `1t` (docker's sizes), or -1 for no limit.
pub fn parse_bytes(s: &str) -> Result<i64> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    cella_spec::size::parse(s).with_context(|| format!("{s:?} is not a size (e.g. 512m, 2g) or is too large"))
}

/// `5s`, `100ms`, `1m`, `2h`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(s.trim().len()),
    );
    let n: f64 = num
        .parse()
        .with_context(|| format!("--interval {s:?} is not a duration (e.g. 5s, 100ms)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("--interval {s:?}: unknown unit {unit:?}"),
    };
    if secs.is_nan() || secs <= 0.0 {
        bail!("--interval {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("64k").unwrap(), 65536);
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2gb").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let args: Vec<String> = ["--memory", "256m", "--cpu-quota", "20000", "--pids-limit", "7", "id"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = crate::args::parse(&args, OPTIONS).unwrap();
        let r = resources(&p).unwrap();
        assert_eq!(r.memory.unwrap().limit, Some(256 << 20));
        assert_eq!(r.cpu.unwrap().quota, Some(20000));
        assert_eq!(r.pids.unwrap().limit, 7);
    }
}
