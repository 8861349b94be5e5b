//! `--restart`: whether and when the monitor starts its container again
//! once it has ended, as docker's restart manager decides: `on-failure[:N]`
//! after a non-zero exit (at most N times), `always` and `unless-stopped`
//! after any exit, never after a user's `stop`, `kill` or `rm` (their
//! mark, `STOPPED`) until a user's `start`. Delays double from 100 ms (up
//! to a minute) and start over after a run of ten seconds or more.
//!
//! Files, each with one writer: `STOPPED` (stop/kill/rm make it, a user's
//! start removes it), `RESTARTS` (this monitor's count and whether it is
//! waiting to restart; a user's start removes it).

use crate::container::config::RestartPolicy;
use crate::container::Container;
use crate::store::paths::Paths;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const STOPPED: &str = "stopped-by-user";
pub const RESTARTS: &str = "restarts.json";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Restarts {
    pub count: u32,
    /// Waiting out the delay before the next start.
    pub restarting: bool,
    /// The delay of the last restart, for the next one's doubling.
    pub last_delay_ms: u64,
}

pub fn read(paths: &Paths, id: &str) -> Restarts {
    crate::store::read_json(&paths.container(id).join(RESTARTS)).unwrap_or_default()
}

fn write(paths: &Paths, id: &str, r: &Restarts) {
    let _ = crate::store::write_json(&paths.container(id).join(RESTARTS), r, crate::store::Durability::Live);
}

/// Marks a container stopped by its user (before the signal): its monitor
/// will not start it again.
pub fn mark_stopped(paths: &Paths, id: &str) {
    let dir = paths.container(id);
    if dir.is_dir() {
        let _ = std::fs::write(dir.join(STOPPED), b"");
    }
}

/// A user's start: the policy applies afresh.
pub fn clear(paths: &Paths, id: &str) {
    let dir = paths.container(id);
    let _ = std::fs::remove_file(dir.join(STOPPED));
    let _ = std::fs::remove_file(dir.join(RESTARTS));
}

fn stopped_by_user(paths: &Paths, id: &str) -> bool {
    paths.container(id).join(STOPPED).exists()
}

/// The delay before starting `c` again after it exited with `code` having
/// run for `ran`; None: it stays stopped.
pub fn next_delay(paths: &Paths, c: &Container, code: i32, ran: Duration) -> Option<Duration> {
    let policy = c.config.restart;
    let wanted = match policy {
        RestartPolicy::No => false,
        RestartPolicy::OnFailure(max) => code != 0 && (max == 0 || read(paths, &c.id).count < max),
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
    };
    if !wanted || stopped_by_user(paths, &c.id) || c.config.auto_remove {
        return None;
    }
    let last = read(paths, &c.id).last_delay_ms;
    let ms = if last == 0 || ran >= Duration::from_secs(10) {
        100
    } else {
        (last * 2).min(60_000)
    };
    Some(Duration::from_millis(ms))
}

/// Waits out `delay` (recorded as restarting), then starts the container
/// again with a new monitor, unless its user stopped or removed it
/// meanwhile. Called by the monitor once the end is recorded.
pub fn restart_after(paths: &Paths, c: &Container, delay: Duration) {
    let mut r = read(paths, &c.id);
    r.restarting = true;
    r.last_delay_ms = delay.as_millis() as u64;
    write(paths, &c.id, &r);
    let until = std::time::Instant::now() + delay;
    while std::time::Instant::now() < until {
        if stopped_by_user(paths, &c.id) || !paths.container(&c.id).is_dir() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50).min(delay));
    }
    let go = !stopped_by_user(paths, &c.id) && paths.container(&c.id).is_dir();
    r.restarting = false;
    if go {
        r.count += 1;
    }
    if paths.container(&c.id).is_dir() {
        write(paths, &c.id, &r);
    }
    if !go {
        return;
    }
    let Ok(fresh) = crate::container::load(paths, &c.id) else {
        return;
    };
    if let Err(e) = crate::container::ops::restart_by_policy(paths, &fresh) {
        cella_runtime::log::warn(&format!("restart of container {}: {e}", c.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_start_over_after_a_long_run() {
        let base = std::env::temp_dir().join(format!("cella-restart-{}", std::process::id()));
        let paths = Paths::new(Some(base.join("root")), Some(base.join("run")));
        let mut c: Container = serde_json::from_value(serde_json::json!({
            "Id": "abc", "Name": "r", "Created": "2026-12-02T00:00:00Z",
            "ImageId": "x", "Config": {}, "State": {}
        }))
        .unwrap();
        std::fs::create_dir_all(paths.container("abc")).unwrap();
        let short = Duration::from_secs(1);
        assert_eq!(next_delay(&paths, &c, 1, short), None, "no policy");
        c.config.restart = RestartPolicy::OnFailure(2);
        assert_eq!(next_delay(&paths, &c, 0, short), None, "success is no failure");
        assert_eq!(next_delay(&paths, &c, 3, short), Some(Duration::from_millis(100)));
        write(
            &paths,
            "abc",
            &Restarts {
                count: 1,
                restarting: false,
                last_delay_ms: 100,
            },
        );
        assert_eq!(next_delay(&paths, &c, 3, short), Some(Duration::from_millis(200)));
        assert_eq!(
            next_delay(&paths, &c, 3, Duration::from_secs(10)),
            Some(Duration::from_millis(100))
        );
        write(
            &paths,
            "abc",
            &Restarts {
                count: 2,
                restarting: false,
                last_delay_ms: 200,
            },
        );
        assert_eq!(next_delay(&paths, &c, 3, short), None, "at most 2");
        c.config.restart = RestartPolicy::Always;
        write(
            &paths,
            "abc",
            &Restarts {
                count: 9,
                restarting: false,
                last_delay_ms: 40_000,
            },
        );
        assert_eq!(next_delay(&paths, &c, 0, short), Some(Duration::from_secs(60)));
        mark_stopped(&paths, "abc");
        assert_eq!(next_delay(&paths, &c, 0, short), None, "stopped by its user");
        clear(&paths, "abc");
        assert_eq!(read(&paths, "abc"), Restarts::default());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
