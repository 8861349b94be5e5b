//! Shared by the engine tests (included with `#[path]`): a private store
//! per test, removed with everything in it when the test ends.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub const CELLA: &str = env!("CARGO_BIN_EXE_cella");

pub struct Engine {
    pub root: PathBuf,
    pub runroot: PathBuf,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        let base = std::env::temp_dir().join(cella_testsupport::unique("cella-engine"));
        // Hermetic: an image a test forgot to bring in is not looked for on
        // Docker Hub (tests with a registry write their own file).
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(
            base.join("registries.conf"),
            "[[registry]]\nlocation = \"docker.io\"\nblocked = true\n",
        )
        .unwrap();
        Engine {
            root: base.join("store"),
            runroot: base.join("run"),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(CELLA);
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(args);
        c.stdin(Stdio::null());
        // Tests outside a network namespace of their own must not make bridges.
        c.env("CELLA_DEFAULT_NETWORK", "none");
        // Registry settings and credentials of the test's own, not the machine's.
        let base = self.root.parent().unwrap();
        c.env("REGISTRY_AUTH_FILE", base.join("auth.json"))
            .env("DOCKER_CONFIG", base.join("docker"))
            .env("XDG_CONFIG_HOME", base.join("config"))
            .env("CELLA_REGISTRIES_CONF", base.join("registries.conf"));
        c
    }

    pub fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// stdout of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(o.status.success(), "cella {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A busybox image imported from a directory, as `busybox:test`.
    pub fn busybox(&self) -> String {
        let dir = self.root.with_file_name("bbroot");
        cella_testsupport::busybox_rootfs(&dir);
        self.ok(&[
            "import",
            "--change",
            "CMD [\"/bin/sh\"]",
            dir.to_str().unwrap(),
            "busybox:test",
        ]);
        let _ = std::fs::remove_dir_all(&dir);
        "busybox:test".into()
    }

    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }

    /// Runs `script` in a new network namespace with $C set to this engine's
    /// cella; returns its `key=value` lines.
    pub fn in_netns(&self, script: &str) -> (BTreeMap<String, String>, String) {
        let c = format!(
            "env CELLA_DEFAULT_NETWORK=none {CELLA} --root {} --runroot {}",
            self.root.display(),
            self.runroot.display()
        );
        let out = Command::new("unshare")
            .args(["--net", "sh", "-c", &format!("C='{c}'; ip link set lo up; {script}")])
            .output()
            .unwrap();
        let text = format!(
            "{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let vars = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        (vars, text)
    }

    pub fn containers_on_disk(&self) -> usize {
        std::fs::read_dir(self.root.join("containers"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.out(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.out(&["rm", "-f", id]);
        }
        if let Some(base) = self.root.parent() {
            // A --rm container's monitor finishes its teardown (its trash,
            // the runtime's state, the kept exit codes' prune) just after
            // `run` returns: a removal that meets it fails part way.
            eventually(|| {
                let _ = std::fs::remove_dir_all(base);
                !base.exists()
            });
        }
    }
}

/// Polls `f` every 50 ms until it holds, for up to 15 s (a bound for a
/// slow machine, not a timing claim).
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
