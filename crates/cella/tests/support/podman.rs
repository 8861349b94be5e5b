//! podman beside cella, for the differential tests (included with
//! `#[path]` after support/engine.rs): its own store under the test's
//! directory (vfs, runc, no network), the same busybox image imported into
//! both, and everything podman made removed when the test ends, failed or
//! not (before the engine's directory goes).

#![allow(dead_code)]

use super::common::Engine;
use std::process::{Command, Output};

pub struct Podman {
    /// The podman command line with its store options.
    pub pm: String,
    pub work: std::path::PathBuf,
}

/// The busybox image both sides know.
pub const IMAGE: &str = "localhost/dockercli:1";

/// Limits below this machine's hard ones: podman raises nofile and nproc
/// above them, which needs CAP_SYS_RESOURCE (not here).
pub const RUN_FLAGS: &str = "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none";

pub fn sh(script: &str) -> String {
    let o = Command::new("sh").args(["-ec", script]).output().unwrap();
    assert!(o.status.success(), "{script}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Podman {
    /// podman's store next to the engine's, with `image` imported into both.
    pub fn beside(e: &Engine, image: &str) -> Podman {
        let work = e.root.with_file_name("podman");
        cella_testsupport::busybox_rootfs(&work.join("rootfs"));
        let w = work.display();
        let p = Podman {
            pm: format!("podman --root {w}/root --runroot {w}/run --storage-driver vfs --runtime runc"),
            work: work.clone(),
        };
        sh(&format!(
            "cd {w}/rootfs && tar -cf {w}/r.tar . && {} import {w}/r.tar {image} >/dev/null 2>&1",
            p.pm
        ));
        e.ok(&["import", work.join("r.tar").to_str().unwrap(), image]);
        p
    }

    /// `podman ARGS` through sh (ARGS quoted as for sh).
    pub fn out(&self, args: &str) -> Output {
        Command::new("sh")
            .args(["-c", &format!("{} {args}", self.pm)])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// stdout of `podman ARGS`, which must succeed.
    pub fn ok(&self, args: &str) -> String {
        let o = self.out(args);
        assert!(o.status.success(), "podman {args}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let pm = &self.pm;
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!("{pm} rm -f -a >/dev/null 2>&1; {pm} rmi -a -f >/dev/null 2>&1"),
            ])
            .status();
        // What podman mounted there (a container's /dev/shm) if it could not.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for m in mounts.lines().filter_map(|l| l.split(' ').nth(4)) {
            if std::path::Path::new(m).starts_with(&self.work) {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
        }
    }
}
