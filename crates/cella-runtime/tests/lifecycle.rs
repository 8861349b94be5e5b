//! create/start/state/kill/delete transitions, run --keep and --detach,
//! list, pid files, concurrent creates of one id, console sockets.

mod common;
use common::*;
use std::os::fd::{AsFd, AsRawFd};

#[test]
fn transitions_created_running_stopped_deleted() {
    let rt = Rt::new();
    let id = unique("life");
    let b = sh("sleep 30");
    let pid_file = b.dir.join("init.pid");
    b.write();
    rt.exec(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.dir.canonicalize().unwrap().to_str().unwrap());
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(st["pid"], pid);
    // Before start, the init is the runtime itself, running from an image
    // that cannot be written (a detached read-only overlay, or a memfd).
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_ne!(exe, std::path::Path::new(BIN).canonicalize().unwrap(), "{exe:?}");
    let write = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{pid}/exe"));
    assert!(write.is_err(), "the init's image opened for writing");

    rt.exec(&["start", &id]).ok();
    assert_eq!(rt.status(&id), "running");
    assert!(rt
        .exec(&["start", &id])
        .failed()
        .stderr
        .contains("only a created container can be started"));
    let o = rt.exec(&["delete", &id]).failed();
    assert!(o.stderr.contains("is running") && o.stderr.contains("--force"), "{o:?}");

    // PID 1 ignores SIGTERM without a handler; SIGKILL from outside stops it.
    rt.exec(&["kill", &id, "SIGKILL"]).ok();
    assert!(eventually(|| rt.status(&id) == "stopped"));
    assert_eq!(rt.state(&id)["pid"], 0);
    let o = rt.exec(&["kill", &id, "9"]).failed();
    assert!(o.stderr.contains("stopped"), "{o:?}");
    rt.exec(&["delete", &id]).ok();
    let o = rt.exec(&["state", &id]).failed();
    assert!(o.stderr.contains("does not exist"), "{o:?}");
    assert!(!rt.state_dir(&id).exists());
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists());
    }
}

#[test]
fn delete_of_a_created_container_kills_the_waiting_init() {
    let rt = Rt::new();
    let id = unique("delcreated");
    rt.create(&sh("echo never"), &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    rt.exec(&["delete", &id]).ok();
    assert!(eventually(|| !pid_alive(pid)));
}

#[test]
fn delete_force_stops_a_running_container_and_its_children() {
    let rt = Rt::new();
    let id = unique("force");
    let b = sh("sleep 100 & sleep 100");
    b.write();
    rt.exec(&["run", "--detach", "--bundle", b.dir.to_str().unwrap(), &id])
        .ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    rt.exec(&["delete", "--force", &id]).ok();
    assert!(!pid_alive(pid));
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists());
    }
}

/// An init part way through its exit has left its v1 cgroups (the kernel
/// shows it in each root) while it waits for its PID namespace to empty. It
/// is a container going away, not a stranger: `kill` says "container not
/// running" and `delete --force` removes it. A child held frozen keeps the
/// init in that state for as long as the test needs.
#[test]
fn an_init_part_way_through_its_exit_is_gone_not_a_stranger() {
    let rt = Rt::new();
    let id = unique("exiting");
    let b = sh("sleep 300 & wait");
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let init = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    let freezer = default_cgroup_dirs(&id)
        .into_iter()
        .find(|d| d.to_string_lossy().contains("/freezer/"))
        .expect("needs the v1 freezer hierarchy this kind of host has");
    let procs = || std::fs::read_to_string(freezer.join("cgroup.procs")).unwrap_or_default();
    assert!(eventually(|| procs().lines().count() == 2), "{}", procs());
    let child = procs().lines().find(|p| *p != init.to_string()).unwrap().to_string();
    let hold = freezer.join("hold");
    std::fs::create_dir(&hold).unwrap();
    std::fs::write(hold.join("cgroup.procs"), &child).unwrap();
    std::fs::write(hold.join("freezer.state"), "FROZEN").unwrap();
    let thaw = || std::fs::write(hold.join("freezer.state"), "THAWED");
    assert!(eventually(|| std::fs::read_to_string(hold.join("freezer.state"))
        .unwrap_or_default()
        .trim()
        == "FROZEN"));
    rt.exec(&["kill", &id, "KILL"]).ok();
    let exiting = || {
        let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap_or_default();
        let flags: u64 = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').nth(6)?.parse().ok())
            .unwrap_or(0);
        flags & 0x4 != 0
    };
    if !eventually(exiting) {
        let _ = thaw();
        panic!("the init never began to exit");
    }
    let again = rt.exec(&["kill", &id, "TERM"]);
    let mut delete = rt.cmd(&["delete", "--force", &id]).spawn().unwrap();
    // The delete meets the exiting init; the thaw lets it finish.
    std::thread::sleep(std::time::Duration::from_millis(300));
    thaw().unwrap();
    let deleted = delete.wait().unwrap();
    assert!(
        again.code != 0 && again.stderr.contains("container not running"),
        "{again:?}"
    );
    assert!(deleted.success(), "delete --force of a container whose init is exiting");
    assert!(eventually(|| !pid_alive(init)));
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} is left", d.display());
    }
}

/// Cgroups made below the container's own (a manager inside it, with its
/// cgroup namespace) go with `delete`; the shared parent (`/cella`) stays
/// for the next container, as runc's and docker's do.
#[test]
fn delete_removes_child_cgroups_and_keeps_the_shared_parent() {
    let rt = Rt::new();
    let id = unique("cgchild");
    rt.create(&sh("echo never"), &id).ok();
    let dirs = default_cgroup_dirs(&id);
    assert!(!dirs.is_empty());
    for d in &dirs {
        std::fs::create_dir_all(d.join("inner/deeper")).unwrap();
    }
    rt.exec(&["delete", "--force", &id]).ok();
    for d in &dirs {
        assert!(!d.exists(), "{} is left", d.display());
        assert!(d.parent().unwrap().exists(), "{} went", d.parent().unwrap().display());
    }
}

#[test]
fn kill_all_signals_every_process_in_the_cgroup() {
    let rt = Rt::new();
    let id = unique("killall");
    let b = sh("trap 'echo got-term; exit 3' TERM; sleep 100 & wait");
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let cg = default_cgroup_dirs(&id);
    assert!(eventually(|| std::fs::read_to_string(cg[0].join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .count()
        == 2));
    rt.exec(&["kill", "--all", &id, "TERM"]).ok();
    assert!(eventually(|| rt.status(&id) == "stopped"));
    rt.exec(&["delete", &id]).ok();
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let rt = Rt::new();
    let id = unique("keep");
    let b = sh("exit 5");
    b.write();
    let o = rt.exec(&["run", "--keep", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(o.code, 5);
    assert_eq!(rt.status(&id), "stopped");
    rt.exec(&["delete", &id]).ok();
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn list_table_json_and_quiet() {
    let rt = Rt::new();
    let a = unique("lista");
    let b = unique("listb");
    rt.create(&sh("true"), &a).ok();
    rt.create(&sh("true"), &b).ok();
    let q = rt.exec(&["list", "-q"]).ok();
    assert_eq!(q.stdout, format!("{a}\n{b}\n"));
    let t = rt.exec(&["list"]).ok();
    assert!(t.stdout.starts_with("ID"), "{t:?}");
    assert!(t.stdout.contains("created"));
    let j = rt.exec(&["list", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["status"], "created");
    assert_eq!(v[0]["owner"], "root");
}

#[test]
fn concurrent_creates_of_one_id_have_exactly_one_winner() {
    let rt = Rt::new();
    let id = unique("race");
    let b = sh("true");
    b.write();
    // Output goes to files: the winner's init keeps its stdio open, so pipes
    // would never reach end of file.
    let errs: Vec<std::path::PathBuf> = (0..4).map(|i| b.dir.join(format!("err{i}"))).collect();
    let children: Vec<_> = errs
        .iter()
        .map(|e| {
            rt.cmd(&["create", "--bundle", b.dir.to_str().unwrap(), &id])
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(e).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<bool> = children.into_iter().map(|mut c| c.wait().unwrap().success()).collect();
    assert_eq!(codes.iter().filter(|&&ok| ok).count(), 1, "{codes:?}");
    for (ok, e) in codes.iter().zip(&errs) {
        if !ok {
            let text = std::fs::read_to_string(e).unwrap();
            assert!(text.contains("already exists"), "{text}");
        }
    }
    assert_eq!(rt.status(&id), "created");
}

#[test]
fn console_socket_receives_the_pty_master() {
    let rt = Rt::new();
    let id = unique("tty");
    let mut b = sh("tty; test -t 0 && test -t 1 && echo is-a-tty; stty size");
    let p = b.spec.process.as_mut().unwrap();
    p.terminal = true;
    p.console_size = Some(cella_spec::ConsoleSize { height: 33, width: 101 });
    let sock_path = b.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    b.write();
    let accept = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let (_, fd) = cella_sys::socket::recv_with_fd(conn.as_fd(), &mut buf).unwrap();
        fd.expect("a pty master")
    });
    rt.exec(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        &id,
    ])
    .ok();
    let master = accept.join().unwrap();
    rt.exec(&["start", &id]).ok();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    // Read until the container exits (EIO once the slave side is closed).
    while let Ok(n) = cella_sys::fd::read_raw(master.as_raw_fd(), &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out).replace('\r', "");
    assert_eq!(text, "/dev/pts/0\nis-a-tty\n33 101\n");
}

#[test]
fn create_without_console_socket_for_a_terminal_is_refused() {
    let rt = Rt::new();
    let id = unique("notty");
    let mut b = sh("true");
    b.spec.process.as_mut().unwrap().terminal = true;
    let o = rt.create(&b, &id).failed();
    assert!(o.stderr.contains("--console-socket"), "{o:?}");
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn preserve_fds_passes_exactly_the_listed_descriptors() {
    let rt = Rt::new();
    let id = unique("fds");
    let b = sh("cat <&3; ls -l /proc/self/fd | grep -c /data");
    let data = b.dir.join("data");
    std::fs::write(&data, "through fd 3\n").unwrap();
    // fd 3 is passed; fd 4 (opened the same way) must not reach the container.
    let run = rt.run_line(&b, &id, "--preserve-fds 1");
    let o = rt
        .sh(&format!("exec 3<{0} 4<{0}; exec {run}", data.display()), false)
        .ok();
    assert_eq!(o.stdout, "through fd 3\n1\n", "{o:?}");
}

#[test]
fn run_in_the_foreground_proxies_the_terminal() {
    // terminal: true without --console-socket: `run` receives the pty itself
    // and copies it to its own stdout.
    let rt = Rt::new();
    let mut b = sh("tty; test -t 1 && echo is-a-tty; exit 3");
    b.spec.process.as_mut().unwrap().terminal = true;
    let o = rt.run(&b, &unique("fgtty"));
    assert_eq!(o.code, 3, "{o:?}");
    assert_eq!(o.stdout.replace('\r', ""), "/dev/pts/0\nis-a-tty\n");
}

#[test]
fn detached_run_with_a_terminal_needs_a_console_socket() {
    let rt = Rt::new();
    let id = unique("dtty");
    let mut b = sh("true");
    b.spec.process.as_mut().unwrap().terminal = true;
    b.write();
    let o = rt
        .exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id])
        .failed();
    assert!(o.stderr.contains("--console-socket"), "{o:?}");
}

#[test]
fn long_state_roots_and_ids_fit_unix_socket_limits() {
    // containerd's root plus docker's 64-character ids pass 108 bytes.
    let rt = Rt::new();
    let deep = rt.root.join("runtime-runc").join("moby").join("x".repeat(40));
    let id = format!("{}{}", "f".repeat(60), unique("long"));
    let b = sh("echo long-ok");
    b.write();
    let o = rt
        .exec(&[
            "--root",
            deep.to_str().unwrap(),
            "run",
            "--bundle",
            b.dir.to_str().unwrap(),
            &id,
        ])
        .ok();
    assert_eq!(o.stdout, "long-ok\n");
    assert!(deep.join(&id).join("start.sock").as_os_str().len() > 108);
}
