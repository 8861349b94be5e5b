//! Pausing and resuming: the v1 freezer, or cgroup.freeze in the v2 tree
//! (also on a hybrid machine without a v1 freezer).

use crate::{io_err, Cgroup, Error, Result};
use std::time::{Duration, Instant};

impl Cgroup {
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    /// True when the container's processes are frozen.
    pub fn is_frozen(&self) -> bool {
        if let Some(d) = self.v1("freezer") {
            return std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN");
        }
        self.v2()
            .is_some_and(|d| read_key(&d.path.join("cgroup.events"), "frozen") == Some(1))
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        if let Some(d) = self.v1("freezer") {
            let (want, file) = (if frozen { "FROZEN" } else { "THAWED" }, d.join("freezer.state"));
            // The v1 freezer can stay in FREEZING while tasks fork: write again until it settles.
            loop {
                std::fs::write(&file, want).map_err(io_err("write", &file))?;
                let now = std::fs::read_to_string(&file).map_err(io_err("read", &file))?;
                if now.trim() == want {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(Error::Unsupported(format!(
                        "{} stays {} instead of {want}",
                        file.display(),
                        now.trim()
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let d = self
            .v2()
            .ok_or_else(|| Error::Unsupported("no freezer: neither a v1 freezer nor a v2 tree is mounted".into()))?;
        let file = d.path.join("cgroup.freeze");
        std::fs::write(&file, if frozen { "1" } else { "0" }).map_err(io_err("write", &file))?;
        let events = d.path.join("cgroup.events");
        while read_key(&events, "frozen") != Some(u64::from(frozen)) {
            if Instant::now() > deadline {
                return Err(Error::Unsupported(format!(
                    "{} did not report frozen {}",
                    events.display(),
                    u8::from(frozen)
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

/// The value of `key` in a flat-keyed file (`key value` lines).
pub(crate) fn read_key(path: &std::path::Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}
