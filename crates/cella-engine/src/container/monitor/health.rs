//! `--health-cmd`: the container's monitor runs the check as docker does
//! (every interval, each run limited by the timeout, unhealthy after
//! `retries` failures in a row, failures during the start period not
//! counted until a first success) and records the result in `health.json`
//! (its writer is the monitor alone), the last five runs with their output.
//! A check is `cella exec` of the command in the container, started from
//! the monitor's sealed image; the monitor reaps it with the rest.

use crate::container::config::HealthConfig;
use crate::container::Container;
use crate::store::paths::Paths;
use crate::store::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Instant;

pub const FILE: &str = "health.json";
const KEEP_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Run {
    pub start: Timestamp,
    pub end: Timestamp,
    pub exit_code: i32,
    pub output: String,
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// starting, healthy or unhealthy ("" without a check).
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<Run>,
}

pub fn read(paths: &Paths, id: &str) -> Option<Health> {
    crate::store::read_json(&paths.container(id).join(FILE)).ok()
}

/// A check being run.
struct Running {
    pid: i32,
    output: std::os::fd::OwnedFd,
    start: Timestamp,
    deadline: Instant,
}

/// The monitor's side: when the next check is due, the one running, and
/// the record.
pub struct Checker {
    cfg: HealthConfig,
    started: Instant,
    next: Instant,
    running: Option<Running>,
    health: Health,
    succeeded_once: bool,
}

impl Checker {
    /// For a container with a check, once it has started.
    pub fn new(paths: &Paths, c: &Container) -> Option<Checker> {
        let cfg = c.config.health.clone()?;
        let now = Instant::now();
        let health = Health {
            status: "starting".into(),
            ..Default::default()
        };
        let _ = crate::store::write_json(
            &paths.container(&c.id).join(FILE),
            &health,
            crate::store::Durability::Live,
        );
        Some(Checker {
            next: now + cfg.interval(),
            started: now,
            cfg,
            running: None,
            health,
            succeeded_once: false,
        })
    }

    /// Milliseconds until it needs the monitor's attention (a check due,
    /// or one past its timeout).
    pub fn wait_ms(&self) -> i32 {
        let at = match &self.running {
            Some(r) => r.deadline,
            None => self.next,
        };
        at.saturating_duration_since(Instant::now())
            .as_millis()
            .min(i32::MAX as u128) as i32
    }

    /// Starts a due check; kills one past its timeout (its end then comes
    /// to `reaped` as a failure).
    pub fn tick(&mut self, paths: &Paths, c: &Container) {
        let now = Instant::now();
        if let Some(r) = &self.running {
            if now >= r.deadline {
                let _ = cella_sys::process::kill(r.pid, libc::SIGKILL);
            }
            return;
        }
        if now < self.next {
            return;
        }
        self.next = now + self.cfg.interval();
        match start_check(paths, c, &self.cfg) {
            Ok((pid, output)) => {
                self.running = Some(Running {
                    pid,
                    output,
                    start: Timestamp::now(),
                    deadline: now + self.cfg.timeout(),
                })
            }
            Err(e) => self.record(paths, c, Timestamp::now(), -1, e.to_string()),
        }
    }

    /// Whether `pid` was the running check; if so its result is recorded.
    pub fn reaped(&mut self, paths: &Paths, c: &Container, pid: i32, code: i32) -> bool {
        let Some(r) = self.running.take_if(|r| r.pid == pid) else {
            return false;
        };
        let mut out = vec![0u8; MAX_OUTPUT];
        let n = cella_sys::fd::read_raw(std::os::fd::AsRawFd::as_raw_fd(&r.output), &mut out).unwrap_or(0);
        let timed_out = Instant::now() >= r.deadline;
        let (code, text) = if timed_out {
            (-1, format!("Health check exceeded timeout ({:?})", self.cfg.timeout()))
        } else {
            (code, String::from_utf8_lossy(&out[..n]).into_owned())
        };
        self.record(paths, c, r.start, code, text);
        true
    }

    fn record(&mut self, paths: &Paths, c: &Container, start: Timestamp, code: i32, output: String) {
        let before = self.health.status.clone();
        let h = &mut self.health;
        h.log.push(Run {
            start,
            end: Timestamp::now(),
            exit_code: code,
            output,
        });
        if h.log.len() > KEEP_LOG {
            h.log.remove(0);
        }
        if code == 0 {
            self.succeeded_once = true;
            h.failing_streak = 0;
            h.status = "healthy".into();
        } else if self.succeeded_once || self.started.elapsed() >= self.cfg.start_period() {
            h.failing_streak += 1;
            if h.failing_streak >= self.cfg.retries() {
                h.status = "unhealthy".into();
            }
        }
        let changed = h.status != before;
        let _ = crate::store::write_json(&paths.container(&c.id).join(FILE), h, crate::store::Durability::Live);
        if changed {
            crate::events::container(paths, c, &format!("health_status: {}", self.health.status), &[]);
        }
    }
}

/// `cella exec CONTAINER sh -c CMD` (or the command as given), from this
/// monitor's own (sealed) image, its output in a pipe; its PID.
fn start_check(paths: &Paths, c: &Container, cfg: &HealthConfig) -> std::io::Result<(i32, std::os::fd::OwnedFd)> {
    let (r, w) = cella_sys::fd::pipe()?;
    cella_sys::fd::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&r))?;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg("--root")
        .arg(&paths.root)
        .arg("--runroot")
        .arg(&paths.runroot)
        .arg("exec")
        .arg(&c.id)
        .args(cfg.argv())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(w.try_clone()?))
        .stderr(std::process::Stdio::from(w));
    let child = cmd.spawn()?;
    Ok((child.id() as i32, r))
}

/// The status after checks ending with `codes` (for the tests).
#[cfg(test)]
fn status_after(cfg: HealthConfig, codes: &[i32], in_start_period: bool) -> (String, u32) {
    let paths = Paths::new(Some(std::env::temp_dir().join("cella-health-none")), None);
    let c: Container = serde_json::from_value(serde_json::json!({
        "Id": "h", "Name": "h", "Created": "2026-12-02T00:00:00Z",
        "ImageId": "x", "Config": {}, "State": {}
    }))
    .unwrap();
    let mut k = Checker {
        started: if in_start_period {
            Instant::now()
        } else {
            Instant::now() - std::time::Duration::from_secs(3600)
        },
        next: Instant::now(),
        cfg,
        running: None,
        health: Health {
            status: "starting".into(),
            ..Default::default()
        },
        succeeded_once: false,
    };
    for &code in codes {
        k.record(&paths, &c, Timestamp::now(), code, String::new());
    }
    (k.health.status.clone(), k.health.failing_streak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_dockers_rules() {
        let cfg = HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            retries: Some(2),
            start_period_ms: Some(60_000),
            ..Default::default()
        };
        assert_eq!(
            status_after(cfg.clone(), &[1, 1, 1], true),
            ("starting".into(), 0),
            "start period"
        );
        assert_eq!(
            status_after(cfg.clone(), &[0, 1], true),
            ("healthy".into(), 1),
            "after a success, failures count"
        );
        assert_eq!(status_after(cfg.clone(), &[0, 1, 1], true), ("unhealthy".into(), 2));
        assert_eq!(status_after(cfg.clone(), &[1, 1], false), ("unhealthy".into(), 2));
        assert_eq!(status_after(cfg, &[1, 1, 0], false), ("healthy".into(), 0));
    }
}
