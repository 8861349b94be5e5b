//! `cella ns enter`'s nsenter options (-S/-G, --preserve-credentials,
//! -r/-w, -F) and targets named by cella container.

use cella_testsupport::{unique, Bundle};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

/// A process started for a test, killed (by PID) and reaped when dropped.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first child of `pid` (the process an `unshare --fork` runs), waited for.
fn first_child(pid: u32) -> u32 {
    for _ in 0..200 {
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = text.split_whitespace().next().and_then(|c| c.parse().ok()) {
            // Past the exec: the child is no longer a copy of its parent.
            // Not a zombie either (its cmdline reads empty): with id maps,
            // `unshare` forks a helper that writes them and exits, and a
            // helper not yet reaped was once taken for the target.
            let cmdline = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            if !cmdline.is_empty() && Some(&cmdline) != std::fs::read(format!("/proc/{pid}/cmdline")).ok().as_ref() {
                return c;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no child of {pid}");
}

/// A directory removed when the test ends, passed or failed.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn out(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn user_namespace_credentials_are_root_by_default_or_as_asked() {
    // A user namespace mapping ids 0-1999 to themselves, made by cella itself.
    let h = Holder(
        Command::new(CELLA)
            .args([
                "ns",
                "unshare",
                "--fork",
                "--map-users=0:0:2000",
                "--map-groups=0:0:2000",
                "sleep",
                "60",
            ])
            .spawn()
            .unwrap(),
    );
    let target = first_child(h.0.id()).to_string();
    let enter = |extra: &[&str]| {
        out(Command::new(CELLA)
            .args(["ns", "enter", "-t", &target, "-U"])
            .args(extra)
            .args(["sh", "-c", "echo $(id -u) $(id -g) $(id -G)"]))
    };
    assert_eq!(enter(&[]), "0 0 0");
    assert_eq!(enter(&["-S", "1000", "-G", "1000"]), "1000 1000 1000");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{target}/uid_map"))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "0", "2000"]
    );
}

#[test]
fn preserve_credentials_keeps_the_callers_ids() {
    // As an ordinary user (uid 1000): a user namespace where it is uid 5.
    let as_user = ["--reuid=1000", "--regid=1000", "--clear-groups", CELLA, "ns"];
    let h = Holder(
        Command::new("setpriv")
            .args(as_user)
            .args(["unshare", "--map-user=5", "--map-group=5", "--fork", "sleep", "60"])
            .spawn()
            .unwrap(),
    );
    let target = first_child(h.0.id()).to_string();
    let enter = |extra: &[&str]| {
        Command::new("setpriv")
            .args(as_user)
            .args(["enter", "-t", &target, "-U"])
            .args(extra)
            .args(["id", "-u"])
            .output()
            .unwrap()
    };
    let kept = enter(&["--preserve-credentials"]);
    assert_eq!(String::from_utf8_lossy(&kept.stdout), "5\n", "{kept:?}");
    // Without it, nsenter's rule: become root inside, which is not mapped here.
    let root = enter(&[]);
    assert!(!root.status.success(), "{root:?}");
    assert!(
        String::from_utf8_lossy(&root.stderr).contains("is it mapped"),
        "{root:?}"
    );
}

#[test]
fn root_and_working_directory_come_from_the_target() {
    let rootfs = std::env::temp_dir().join(unique("cella-enter-root"));
    let _gone = RemoveOnDrop(rootfs.clone());
    cella_testsupport::busybox_rootfs(&rootfs);
    std::fs::write(rootfs.join("tmp/marker"), "in the target's root").unwrap();
    let h = Holder(
        Command::new("chroot")
            .arg(&rootfs)
            .args(["/bin/sh", "-c", "cd /tmp && exec sleep 60"])
            .spawn()
            .unwrap(),
    );
    let pid = h.0.id().to_string();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let seen = out(Command::new(CELLA).args(["ns", "enter", "-t", &pid, "-r", "-w", "/bin/cat", "marker"]));
    let only_root = out(Command::new(CELLA).args(["ns", "enter", "-t", &pid, "-r", "/bin/pwd"]));
    // As nsenter: -w=DIR is opened in our view, before the chroot.
    let wd = format!("-w={}", rootfs.join("bin").display());
    let explicit = out(Command::new(CELLA).args(["ns", "enter", "-t", &pid, "-r", &wd, "/bin/pwd"]));
    drop(h);
    assert_eq!(seen, "in the target's root");
    assert_eq!(only_root, "/");
    assert_eq!(explicit, "/bin");
}

#[test]
fn no_fork_leaves_the_command_outside_the_pid_namespace() {
    let h = Holder(
        Command::new("unshare")
            .args(["--pid", "--fork", "sleep", "60"])
            .spawn()
            .unwrap(),
    );
    let target = first_child(h.0.id()).to_string();
    let theirs = std::fs::read_link(format!("/proc/{target}/ns/pid")).unwrap();
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let enter = |extra: &[&str], link: &str| {
        out(Command::new(CELLA)
            .args(["ns", "enter", "-t", &target, "-p"])
            .args(extra)
            .args(["readlink", link]))
    };
    let (theirs, ours) = (theirs.display().to_string(), ours.display().to_string());
    assert_eq!(enter(&[], "/proc/self/ns/pid"), theirs);
    assert_eq!(
        enter(&["-F"], "/proc/self/ns/pid"),
        ours,
        "-F: the command itself stays outside"
    );
    assert_eq!(
        enter(&["-F"], "/proc/self/ns/pid_for_children"),
        theirs,
        "its children are inside"
    );
}

/// A running cella-runtime container, deleted (and its state dir removed) when dropped.
struct Container {
    runtime: PathBuf,
    root: PathBuf,
    id: String,
    _bundle: Bundle,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(&self.runtime)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn a_container_name_is_a_target_for_enter_pids_ls_and_netns() {
    let runtime = Path::new(CELLA).with_file_name("cella-runtime");
    assert!(
        runtime.exists(),
        "{} is missing: build the workspace first (scripts/test.sh does)",
        runtime.display()
    );
    let mut bundle = Bundle::busybox(&["sleep", "60"]);
    bundle.spec.hostname = Some("inside-box".into());
    bundle.write();
    let c = Container {
        runtime: runtime.clone(),
        root: std::env::temp_dir().join(unique("cella-ns-root")),
        id: unique("nsenter"),
        _bundle: bundle,
    };
    let started = Command::new(&runtime)
        .arg("--root")
        .arg(&c.root)
        .args(["run", "-d", "--bundle"])
        .arg(&c._bundle.dir)
        .arg(&c.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(started.success());
    let cella = |args: &[&str]| {
        let mut cmd = Command::new(CELLA);
        cmd.arg("--runroot").arg(&c.root).args(args);
        cmd
    };
    // `cella ns enter NAME CMD`: all of the container's namespaces, as with -a.
    assert_eq!(out(&mut cella(&["ns", "enter", &c.id, "hostname"])), "inside-box");
    assert_eq!(
        out(&mut cella(&["ns", "enter", "-t", &c.id, "-u", "hostname"])),
        "inside-box"
    );
    let ps = out(&mut cella(&["ns", "enter", &c.id, "ps", "-o", "pid,comm"]));
    assert!(ps.lines().any(|l| l.split_whitespace().eq(["1", "sleep"])), "{ps}");
    // `cella ns pids NAME`: the container's init is PID 1 inside.
    let levels: serde_json::Value = serde_json::from_str(&out(&mut cella(&["ns", "pids", "-J", &c.id]))).unwrap();
    assert_eq!(
        levels["levels"].as_array().unwrap().last().unwrap()["pid"],
        1,
        "{levels}"
    );
    // `cella ns ls -p NAME`: its eight namespaces.
    let ls: serde_json::Value = serde_json::from_str(&out(&mut cella(&["ns", "ls", "-l", "-J", "-p", &c.id]))).unwrap();
    assert_eq!(ls["namespaces"].as_array().unwrap().len(), 8, "{ls}");
    // An unknown name is an error, not a command.
    let unknown = cella(&["ns", "enter", "-t", "no-such-container", "true"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("neither a PID nor a cella container"));
}
