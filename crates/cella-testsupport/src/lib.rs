//! Busybox bundles for integration tests, built from Debian's busybox-static
//! (`scripts/test-deps.sh` installs it): a rootfs with busybox and its applet
//! links, and a config.json from `cella-runtime spec`'s defaults that each
//! test adjusts.

use cella_spec::Spec;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub const BUSYBOX: &str = "/bin/busybox";

/// A bundle directory that is removed when dropped.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, unique name for a test (container ids, directories).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn busybox_path() -> &'static Path {
    let p = Path::new(BUSYBOX);
    assert!(
        p.exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static (scripts/test-deps.sh does)"
    );
    p
}

/// Builds a busybox rootfs at `rootfs` (bin/busybox and a link per applet,
/// plus the usual empty directories and a minimal /etc).
pub fn busybox_rootfs(rootfs: &Path) {
    let bb = busybox_path();
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "sys", "dev", "etc", "tmp", "root", "usr/bin", "sbin"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(bb, bin.join("busybox")).unwrap();
    let list = std::process::Command::new(bb).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

impl Bundle {
    /// A busybox bundle with runc's default spec, running `args` without a terminal.
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = std::env::temp_dir().join(unique("cella-bundle"));
        busybox_rootfs(&dir.join("rootfs"));
        let mut spec = cella_spec::defaults::default_spec();
        let p = spec.process.as_mut().unwrap();
        p.terminal = false;
        p.args = args.iter().map(|s| s.to_string()).collect();
        Bundle { dir, spec }
    }

    /// The rootless variant (`spec --rootless`) for the calling user.
    pub fn busybox_rootless(args: &[&str], uid: u32, gid: u32) -> Bundle {
        let mut b = Bundle::busybox(args);
        let mut spec = cella_spec::defaults::rootless_spec(uid, gid);
        let p = spec.process.as_mut().unwrap();
        p.terminal = false;
        p.args = b.spec.process.as_ref().unwrap().args.clone();
        b.spec = spec;
        b
    }

    /// Writes config.json from `self.spec`.
    pub fn write(&self) -> &Self {
        let text = serde_json::to_vec_pretty(&self.spec).unwrap();
        std::fs::write(self.dir.join("config.json"), text).unwrap();
        self
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
