//! A containerd of the test's own with its CRI plugin and two runtime
//! handlers: `runc` (the control) and `cella` (the runc v2 shim running the
//! cella-runtime under test). It runs in a mount and network namespace made
//! for it: /run and /var/lib there are tmpfs (netns files, shim sockets, CNI
//! state), `lo` is up, the CNI bridge lives only there, and the shared tmpfs
//! `prop/` is the "host" side of the mount propagation checks. When dropped
//! it stops containerd and every shim it started (by PID), removes the pods'
//! cgroups, and removes its directory; the namespaces go with their last
//! process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Containerd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// The cgroup parent every pod gets (under every hierarchy's root); with
    /// the systemd driver, the stem of each pod's slice name.
    pub cgroup_parent: String,
    /// `SystemdCgroup = true` for both handlers, as Kubernetes recommends.
    pub systemd: bool,
    child: Child,
}

pub const PAUSE: &str = "localhost/cella-pause:test";
pub const BUSYBOX: &str = "localhost/cella-busybox:test";

impl Containerd {
    pub fn start(cella_runtime: &str, systemd: bool) -> Containerd {
        let dir = std::env::temp_dir().join(cella_testsupport::unique("cella-cri"));
        for d in ["cni", "logs", "prop"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let t = dir.display();
        let config = format!(
            r#"version = 2
root = "{t}/root"
state = "{t}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{t}/containerd.sock"
[ttrpc]
  address = "{t}/containerd.sock.ttrpc"
[debug]
  address = "{t}/debug.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "runc"
        SystemdCgroup = {systemd}
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cella]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cella.options]
        BinaryName = "{cella_runtime}"
        Root = "/run/containerd/cella"
        SystemdCgroup = {systemd}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{t}/cni"
"#
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        std::fs::write(
            dir.join("cni/10-cella-test.conflist"),
            r#"{"cniVersion": "0.4.0", "name": "cella-test", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]]}},
  {"type": "loopback"}]}"#,
        )
        .unwrap();
        // With the systemd driver the runtimes must still reach systemd (its
        // private socket and the system bus) under the private /run.
        let keep_systemd = if systemd {
            format!(
                "mkdir -p {t}/hostrun && mount --bind /run {t}/hostrun && mount -t tmpfs tmpfs /run && \
                 for d in systemd dbus; do mkdir -p /run/$d && mount --bind {t}/hostrun/$d /run/$d; done && umount {t}/hostrun; "
            )
        } else {
            "mount -t tmpfs tmpfs /run; ".to_string()
        };
        let script = format!(
            "set -e; {keep_systemd}mkdir -p /run/netns; mount -t tmpfs tmpfs /var/lib; \
             ip link set lo up; mount -t tmpfs tmpfs {t}/prop; mount --make-shared {t}/prop; \
             exec containerd --config {t}/config.toml"
        );
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("unshare")
            .args(["-m", "-n", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let socket = dir.join("containerd.sock");
        let stem = cella_testsupport::unique("cellacri").replace('-', "");
        let c = Containerd {
            cgroup_parent: if systemd {
                format!("cellacri-{stem}")
            } else {
                format!("/{stem}")
            },
            systemd,
            dir,
            socket,
            child,
        };
        for _ in 0..200 {
            if c.socket.exists() {
                return c;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("containerd did not start: {}", c.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// containerd's PID: the namespaces' holder (`nsenter -t PID`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `ctr` on this containerd, in the CRI's namespace.
    pub fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr")
            .args(["-a", self.socket.to_str().unwrap(), "-n", "k8s.io"])
            .args(args)
            .output()
            .unwrap()
    }

    /// The pod's cgroup parent: a directory, or a slice for the systemd driver.
    pub fn pod_parent(&self, handler: &str) -> String {
        if self.systemd {
            format!("{}-{handler}.slice", self.cgroup_parent)
        } else {
            format!("{}/pod-{handler}", self.cgroup_parent)
        }
    }

    /// A shell command in containerd's mount and network namespaces (the pods' "host").
    pub fn on_host(&self, script: &str) -> std::process::Output {
        Command::new("nsenter")
            .args(["-t", &self.pid().to_string(), "-m", "-n", "sh", "-c", script])
            .output()
            .unwrap()
    }

    /// Imports the busybox and pause images (OCI archives built here).
    pub fn import_images(&self) {
        for (name, cmd) in [(BUSYBOX, vec!["sh"]), (PAUSE, vec!["/bin/sleep", "2147483647"])] {
            let archive = crate::images::busybox_archive(&self.dir, name, &cmd);
            let o = self.ctr(&[
                "images",
                "import",
                "--snapshotter",
                "overlayfs",
                archive.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "ctr images import {name}: {o:?}");
        }
    }

    /// The PIDs of the shims this containerd started (their command line
    /// names its socket).
    fn shims(&self) -> Vec<i32> {
        let needle = self.socket.display().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.starts_with("/usr/bin/containerd-shim") && c.contains(&needle)
                })
            })
            .collect()
    }
}

/// Every process in the cgroup tree `dir` (its cgroup.procs and below).
fn processes_in(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                processes_in(&e.path(), out);
            }
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let shims = self.shims();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A shim and its container outlive containerd: kill them by PID
        // (their containers die with the shims' PID namespaces or pods).
        for pid in shims {
            let _ = cella_sys::process::kill(pid, libc::SIGKILL);
        }
        if self.systemd {
            // The pods' slices: stopping one kills what runs in it.
            for handler in ["runc", "cella"] {
                let _ = Command::new("systemctl")
                    .args(["stop", &format!("{}-{handler}.slice", self.cgroup_parent)])
                    .status();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
            return;
        }
        // What the pods still run (the shims' children, now orphans): the
        // processes of the pods' cgroups, which only this test's pods use.
        let pods = Path::new("/sys/fs/cgroup/pids").join(self.cgroup_parent.trim_start_matches('/'));
        for _ in 0..50 {
            let mut pids = Vec::new();
            processes_in(&pods, &mut pids);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = cella_sys::process::kill(pid, libc::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                remove_cgroup_tree(&h.path().join(self.cgroup_parent.trim_start_matches('/')));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
