//! Harness for integration tests: each `Rt` has its own state root, runs the
//! real binary with output captured in files (a created container's init keeps
//! the caller's stdio open, so pipes would never close), and on drop
//! force-deletes every container it made and removes its root, also when the
//! test failed.

#![allow(dead_code)]

pub use cella_testsupport::{unique, Bundle};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_cella-runtime");

pub struct Rt {
    pub root: PathBuf,
    /// The runtime binary: cella-runtime, or a peer (runc, crun) run on the same input.
    pub bin: PathBuf,
    out_dir: PathBuf,
    n: std::cell::Cell<u32>,
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "command failed: {self:#?}");
        self
    }
    pub fn failed(self) -> Out {
        assert_ne!(self.code, 0, "command should have failed: {self:#?}");
        self
    }
}

impl Rt {
    pub fn new() -> Rt {
        Rt::with_bin(BIN)
    }

    /// A harness for another runtime binary with runc's command line.
    pub fn with_bin(bin: impl Into<PathBuf>) -> Rt {
        let root = std::env::temp_dir().join(unique("cella-root"));
        let out_dir = root.with_extension("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        Rt {
            root,
            bin: bin.into(),
            out_dir,
            n: std::cell::Cell::new(0),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Runs a command to completion with stdout/stderr in files.
    pub fn exec_cmd(&self, mut c: Command) -> Out {
        let i = self.n.get();
        self.n.set(i + 1);
        let (o, e) = (
            self.out_dir.join(format!("{i}.out")),
            self.out_dir.join(format!("{i}.err")),
        );
        c.stdin(Stdio::null())
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap());
        let status = c.status().expect("spawn cella-runtime");
        Out {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&o).unwrap(),
            stderr: std::fs::read_to_string(&e).unwrap(),
        }
    }

    pub fn exec(&self, args: &[&str]) -> Out {
        self.exec_cmd(self.cmd(args))
    }

    /// `run` of a bundle in the foreground.
    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        self.exec(&["run", "--bundle", b.dir.to_str().unwrap(), id])
    }

    /// `create` of a bundle; the container's later output goes to the files of this call.
    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        self.exec(&["create", "--bundle", b.dir.to_str().unwrap(), id])
    }

    /// The shell words that `run` a bundle as `id` with this root, for tests
    /// that set something up in a shell first (fds, mount namespaces, users).
    pub fn run_line(&self, b: &Bundle, id: &str, extra: &str) -> String {
        b.write();
        format!(
            "{} --root {} run {extra} --bundle {} {id}",
            self.bin.display(),
            self.root.display(),
            b.dir.display()
        )
    }

    /// Runs `sh -c script`, in a private mount namespace when `private_mounts`.
    pub fn sh(&self, script: &str, private_mounts: bool) -> Out {
        let mut c = Command::new(if private_mounts { "unshare" } else { "sh" });
        if private_mounts {
            c.args(["-m", "--propagation", "private", "sh"]);
        }
        c.args(["-c", script]);
        self.exec_cmd(c)
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let o = self.exec(&["state", id]).ok();
        serde_json::from_str(&o.stdout).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self
                    .cmd(&["delete", "--force", &id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_dir_all(&self.out_dir);
    }
}

/// A busybox bundle running `sh -c script`.
pub fn sh(script: &str) -> Bundle {
    Bundle::busybox(&["sh", "-c", script])
}

/// Gives the bundle a new user namespace mapping 0..65536 to `host_id`.. for
/// both uids and gids.
pub fn with_userns(b: &mut Bundle, host_id: u32) {
    let l = b.spec.linux.as_mut().unwrap();
    l.namespaces.push(cella_spec::Namespace {
        kind: "user".into(),
        path: None,
    });
    let m = cella_spec::IdMapping {
        container_id: 0,
        host_id,
        size: 65536,
    };
    l.uid_mappings = vec![m];
    l.gid_mappings = vec![m];
}

/// Polls `f` every 50 ms until it holds, for up to 30 s (a bound for a
/// slow machine or the emulated guest, not a timing claim).
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// `cella-runtime [--systemd-cgroup] run -d` of a bundle, which must succeed.
pub fn run_detached(rt: &Rt, b: &Bundle, id: &str, systemd: bool) {
    b.write();
    let mut args = vec!["run", "-d", "--bundle", b.dir.to_str().unwrap(), id];
    if systemd {
        args.insert(0, "--systemd-cgroup");
    }
    rt.exec(&args).ok();
}

pub fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// The cgroup directories of a container with the default cgroupsPath.
pub fn default_cgroup_dirs(id: &str) -> Vec<PathBuf> {
    default_cgroup(id).dirs.into_iter().map(|d| d.path).collect()
}

/// The cgroup of a container with the default cgroupsPath.
pub fn default_cgroup(id: &str) -> cella_cgroups::Cgroup {
    let layout = cella_cgroups::Layout::detect().unwrap();
    cella_cgroups::Cgroup::resolve(&layout, &format!("/cella/{id}")).unwrap()
}

/// The guest tests are ignored on the host ("needs systemd as PID 1 on
/// pure cgroup v2: runs in the guest of tests/vm/run.sh", which runs them
/// with --ignored there). Run anywhere else, they fail saying where they
/// belong.
pub fn require_guest() {
    let v2 = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "))
        })
        .unwrap_or(false);
    let systemd = std::path::Path::new("/run/systemd/system").is_dir();
    assert!(
        v2 && systemd,
        "this test needs systemd as PID 1 on pure cgroup v2 (v2: {v2}, systemd: {systemd}); run tests/vm/run.sh"
    );
}

/// `systemctl show UNIT -p NAME --value`.
pub fn unit_property(unit: &str, name: &str) -> String {
    let o = Command::new("systemctl")
        .args(["show", unit, "-p", name, "--value"])
        .output()
        .expect("run systemctl");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Whether systemd knows the unit at all (loaded, active or failed).
pub fn unit_exists(unit: &str) -> bool {
    let state = unit_property(unit, "LoadState");
    let active = unit_property(unit, "ActiveState");
    state == "loaded" && active != "inactive"
}

/// The image's own /dev (no /dev tmpfs) with `dev/probe`, a node no device
/// rule allows (10:237, loop-control's numbers): opening it must fail.
pub fn with_probe_device(b: &mut Bundle) {
    b.spec.mounts.retain(|m| m.destination != "/dev");
    let dev = b.rootfs().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let status = Command::new("mknod")
        .arg(dev.join("probe"))
        .args(["c", "10", "237"])
        .status()
        .unwrap();
    assert!(status.success(), "mknod dev/probe");
}

/// A createRuntime hook that writes its PID to the returned file and hangs:
/// `create` is then midway (cgroup made, init waiting) for a test to kill.
pub fn with_hanging_create_hook(b: &mut Bundle) -> PathBuf {
    let hook_pid = b.dir.join("hook.pid");
    b.spec.hooks = Some(cella_spec::Hooks {
        create_runtime: vec![cella_spec::Hook {
            path: "/bin/sh".into(),
            args: vec![
                "sh".into(),
                "-c".into(),
                // Written aside and renamed, so a reader never sees it empty.
                format!("echo $$ > {0}.tmp && mv {0}.tmp {0}; exec sleep 60", hook_pid.display()),
            ],
            ..Default::default()
        }],
        ..Default::default()
    });
    hook_pid
}
