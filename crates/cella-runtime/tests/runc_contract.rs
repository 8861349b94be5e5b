//! runc's command-line contract as clients depend on it, each case run on
//! cella-runtime and on a peer (Debian's runc 1.1.5, or crun 1.8.1 where
//! the issue names crun's behaviour) with the same bundle, comparing what a
//! client sees: exit codes, the words containerd matches, outputs.

mod common;
use common::*;
use std::process::Command;

/// cella-runtime and runc, each with a state root of its own.
fn with_runc() -> [(&'static str, Rt); 2] {
    [("cella-runtime", Rt::new()), ("runc", Rt::with_bin("runc"))]
}

/// The command that runs `bin` where crun works on this machine: crun 1.8
/// refuses hybrid cgroups, so every runtime of such a comparison runs in a
/// private mount namespace without the cgroup2 mount.
fn in_v1_namespace(script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &format!("umount /sys/fs/cgroup/unified 2>/dev/null; {script}"),
    ]);
    c
}

fn output(mut c: Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).replace('\r', ""),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn kill_of_a_stopped_container_says_not_running() {
    // containerd's shim treats the process as gone only on "container not
    // running" (or ESRCH); `kill --all` of a stopped container succeeds.
    for (name, rt) in with_runc() {
        let id = unique("kstop");
        rt.create(&sh("true"), &id).ok();
        rt.exec(&["start", &id]).ok();
        assert!(eventually(|| rt.status(&id) == "stopped"), "{name}");
        let all = rt.exec(&["kill", "--all", &id, "9"]);
        assert_eq!(all.code, 0, "{name}: {all:?}");
        let one = rt.exec(&["kill", &id, "9"]);
        assert_ne!(one.code, 0, "{name}: {one:?}");
        assert!(one.stderr.contains("container not running"), "{name}: {one:?}");
        rt.exec(&["delete", &id]).ok();
    }
}

/// `run --detach` returns once the container runs and is recorded: its
/// --pid-file names the init and `state` reads "running" with that PID, as
/// runc leaves them. (cella-runtime writes both while the init execs; the
/// state directory's lock holds other commands off until then.)
#[test]
fn run_detached_returns_with_the_pid_file_and_the_record_written() {
    for (name, rt) in with_runc() {
        let id = unique("rund");
        let b = sh("sleep 30");
        b.write();
        let pid_file = b.dir.join("run.pid");
        let args = [
            "run",
            "--detach",
            "--bundle",
            b.dir.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ];
        // The container keeps whatever stdio it is given: none, so that
        // nothing waits on it.
        let status = rt
            .cmd(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let pid = std::fs::read_to_string(&pid_file).map(|p| p.trim().parse::<i64>().ok());
        let st = rt.state(&id);
        rt.exec(&["delete", "--force", &id]);
        assert!(status.success(), "{name}: run --detach: {status}");
        assert_eq!(st["status"], "running", "{name}: {st}");
        assert_eq!(pid.ok().flatten(), st["pid"].as_i64(), "{name}: pid file against {st}");
        assert!(st["pid"].as_i64().is_some_and(|p| p > 0), "{name}: {st}");
    }
}

#[test]
fn options_stand_before_or_after_the_container_id() {
    // go-runc puts flags first; other harnesses put them after the ID.
    for after in [false, true] {
        let mut seen = Vec::new();
        for (name, rt) in with_runc() {
            let id = unique("order");
            let b = sh("sleep 30");
            b.write();
            let pid_file = b.dir.join("init.pid");
            let (bundle, pid) = (b.dir.to_str().unwrap(), pid_file.to_str().unwrap());
            let order = |opts: &[&str], rest: &[&str]| -> Vec<String> {
                let (first, second) = if after { (rest, opts) } else { (opts, rest) };
                first.iter().chain(second).map(|s| s.to_string()).collect()
            };
            let run = |cmd: &str, opts: &[&str], rest: &[&str]| {
                let mut args = vec![cmd.to_string()];
                args.extend(order(opts, rest));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                rt.exec(&args)
            };
            let mut codes = Vec::new();
            let mut out = Vec::new();
            for (cmd, opts, rest) in [
                (
                    "create",
                    &["--bundle", bundle, "--pid-file", pid, "--no-pivot"][..],
                    &[id.as_str()][..],
                ),
                ("start", &[], &[id.as_str()]),
                ("state", &[], &[id.as_str()]),
                ("kill", &["--all"], &[id.as_str(), "KILL"]),
                ("delete", &["--force"], &[id.as_str()]),
            ] {
                let o = run(cmd, opts, rest);
                assert!(o.code == 0 || name == "runc", "{name} {cmd} (after: {after}): {o:?}");
                codes.push((cmd, o.code));
                if cmd == "state" {
                    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
                    out.push(v["status"].to_string());
                }
            }
            assert!(pid_file.exists(), "{name}: --pid-file");
            // exec's command follows the ID; its options may stand between.
            let id2 = unique("exec");
            let b2 = sh("sleep 30");
            rt.create(&b2, &id2).ok();
            rt.exec(&["start", &id2]).ok();
            let o = rt.exec(&["exec", "--env", "X=one", &id2, "sh", "-c", "echo $X -e"]);
            codes.push(("exec", o.code));
            out.push(o.stdout);
            // Options between the ID and the command: runc 1.1 takes them as
            // the command ("--env": not found); cella-runtime as options.
            if name == "cella-runtime" {
                let o = rt.exec(&["exec", &id2, "--env", "X=two", "sh", "-c", "echo $X -e"]);
                assert_eq!((o.code, o.stdout.as_str()), (0, "two -e\n"), "{o:?}");
            }
            rt.exec(&["delete", "--force", &id2]).ok();
            seen.push((name, codes, out));
        }
        let (cella, runc) = (&seen[0], &seen[1]);
        assert_eq!(cella.1, runc.1, "exit codes (options after the id: {after}): {seen:?}");
        assert_eq!(cella.2, runc.2, "outputs (options after the id: {after}): {seen:?}");
        assert!(cella.1.iter().all(|(_, c)| *c == 0), "{seen:?}");
    }
}

#[test]
fn hooks_see_the_state_crun_gives_them() {
    // prestart, createRuntime and createContainer: "created" (crun); then
    // startContainer "created" (runc), poststart "running", poststop "stopped".
    let mut seen = Vec::new();
    for bin in [BIN, "crun"] {
        let mut b = sh("true");
        b.spec.oci_version = "1.0.2".into(); // crun 1.8 takes 1.0.x only
        b.spec.root.as_mut().unwrap().readonly = false;
        let log = b.dir.join("hooks.log");
        let hook = |phase: &str, file: &str| cella_spec::Hook {
            path: "/bin/sh".into(),
            args: vec![
                "sh".into(),
                "-c".into(),
                format!("printf '{phase} %s\\n' \"$(grep -o '\"status\":\"[a-z]*\"')\" >> {file}"),
            ],
            env: vec![],
            timeout: None,
        };
        let host = log.display().to_string();
        let hooks = cella_spec::Hooks {
            prestart: vec![hook("prestart", &host)],
            create_runtime: vec![hook("createRuntime", &host)],
            create_container: vec![hook("createContainer", &host)],
            start_container: vec![hook("startContainer", "/hooks.log")],
            poststart: vec![hook("poststart", &host)],
            poststop: vec![hook("poststop", &host)],
        };
        b.spec.hooks = Some(hooks);
        b.write();
        let root = std::env::temp_dir().join(unique("hooks-root"));
        let (code, _, err) = output(in_v1_namespace(&format!(
            "{bin} --root {} run --bundle {} {}",
            root.display(),
            b.dir.display(),
            unique("hooks")
        )));
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(code, 0, "{bin}: {err}");
        let mut text = std::fs::read_to_string(&log).unwrap_or_default();
        text += &std::fs::read_to_string(b.rootfs().join("hooks.log")).unwrap_or_default();
        seen.push(text);
    }
    // startContainer: runc's "created" (crun 1.8 says "starting", which the
    // runtime spec does not have).
    let sorted = |t: &str| {
        let mut l: Vec<String> = t
            .lines()
            .filter(|l| !l.starts_with("startContainer"))
            .map(String::from)
            .collect();
        l.sort();
        l
    };
    assert_eq!(sorted(&seen[0]), sorted(&seen[1]), "cella-runtime vs crun");
    assert!(seen[0].contains("startContainer \"status\":\"created\""), "{seen:?}");
    assert!(seen[0].contains("prestart \"status\":\"created\""), "{seen:?}");
    assert!(seen[0].contains("poststop \"status\":\"stopped\""), "{seen:?}");
}

/// The optional fields of the `/` line of a mountinfo.
fn root_propagation(mountinfo: &str) -> String {
    mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .map(|l| {
            l.split(' ')
                .skip(6)
                .take_while(|f| *f != "-")
                .map(|f| f.split(':').next().unwrap_or(f))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

#[test]
fn rootfs_propagation_on_a_rootfs_that_is_a_mount_point() {
    // Under containerd the rootfs is always a mount (an overlay), under a
    // shared root. Every propagation starts and `/` carries it, as crun does.
    for prop in ["shared", "rshared", "slave", "rslave", "private", "unbindable"] {
        let mut seen = Vec::new();
        for bin in [BIN, "crun"] {
            let mut b = sh("cat /proc/self/mountinfo");
            b.spec.oci_version = "1.0.2".into(); // crun 1.8 takes 1.0.x only
            b.spec.linux.as_mut().unwrap().rootfs_propagation = Some(prop.into());
            b.write();
            let root = std::env::temp_dir().join(unique("prop-root"));
            let rootfs = b.rootfs();
            let (code, out, err) = output(in_v1_namespace(&format!(
                "mount --make-rshared / && mount --bind {r} {r} && {bin} --root {} run --bundle {} {}",
                root.display(),
                b.dir.display(),
                unique("prop"),
                r = rootfs.display(),
            )));
            let _ = std::fs::remove_dir_all(&root);
            assert_eq!(code, 0, "{bin} {prop}: {err}");
            seen.push(root_propagation(&out));
        }
        // crun 1.8 sets up with a private rootfs, so its "/" loses the
        // slave relationship; here "/" stays a slave of the host's rootfs
        // mount, as the name asks (host mounts below the rootfs come in).
        if !prop.ends_with("slave") {
            assert_eq!(seen[0], seen[1], "{prop}: cella-runtime vs crun");
        }
        let want = match prop {
            "shared" | "rshared" => "shared",
            "slave" | "rslave" => "master",
            "unbindable" => "unbindable",
            _ => "",
        };
        assert_eq!(seen[0], want, "{prop}");
    }
}

#[test]
fn mount_propagation_between_host_and_container() {
    // Kubernetes' mount propagation: a volume with rshared (Bidirectional)
    // sees the host's mounts and gives the host its own; with rslave
    // (HostToContainer) only the first. The "host" is a private mount
    // namespace of the test with a shared tmpfs as the volume's source.
    let rt = Rt::new();
    for (opt, back) in [("rshared", true), ("rslave", false)] {
        let mut b = sh("while [ ! -e /v/h/hostfile ]; do sleep 0.05; done; echo saw-host; \
             mkdir -p /v/c && mount -t tmpfs tmpfs /v/c && touch /v/c/ctrfile; sleep 2");
        let vol = b.dir.join("vol");
        std::fs::create_dir_all(&vol).unwrap();
        b.spec.linux.as_mut().unwrap().rootfs_propagation = Some(opt.into());
        b.spec.mounts.push(cella_spec::Mount {
            destination: "/v".into(),
            kind: Some("bind".into()),
            source: Some(vol.display().to_string()),
            options: vec!["rbind".into(), opt.into()],
        });
        let p = b.spec.process.as_mut().unwrap();
        p.capabilities = Some(cella_spec::Capabilities {
            bounding: Some(vec!["CAP_SYS_ADMIN".into()]),
            effective: Some(vec!["CAP_SYS_ADMIN".into()]),
            permitted: Some(vec!["CAP_SYS_ADMIN".into()]),
            ..Default::default()
        });
        b.spec.linux.as_mut().unwrap().seccomp = None;
        let run = rt.run_line(&b, &unique("mprop"), "");
        let v = vol.display();
        let script = format!(
            "mount -t tmpfs tmpfs {v} && mount --make-shared {v} && ({run} > {v}.out 2>&1 &) && \
             sleep 0.5 && mkdir {v}/h && mount -t tmpfs tmpfs {v}/h && touch {v}/h/hostfile && \
             for i in $(seq 60); do [ -e {v}/c/ctrfile ] && break; sleep 0.05; done; \
             [ -e {v}/c/ctrfile ] && echo saw-container; sleep 2.5; cat {v}.out"
        );
        let o = rt.sh(&script, true);
        assert!(o.stdout.contains("saw-host"), "{opt}: host to container: {o:?}");
        assert_eq!(
            o.stdout.contains("saw-container"),
            back,
            "{opt}: container to host: {o:?}"
        );
    }
}

#[test]
fn a_seccomp_profile_may_deny_what_the_runtime_uses_to_set_up() {
    // The filter is loaded last: a profile denying getcwd (which the
    // runtime calls after chdir) does not keep the container from starting.
    // With no_new_privileges runc starts it too; without, runc loads the
    // filter before it drops capabilities and fails, cella-runtime does not.
    for nnp in [true, false] {
        let mut seen = Vec::new();
        for (name, rt) in with_runc() {
            let mut b = sh("echo started");
            b.spec.process.as_mut().unwrap().no_new_privileges = nnp;
            b.spec.linux.as_mut().unwrap().seccomp = Some(
                serde_json::from_value(serde_json::json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}],
                }))
                .unwrap(),
            );
            let o = rt.run(&b, &unique("nogetcwd"));
            seen.push((name, o.code, o.stdout.clone()));
        }
        assert_eq!((seen[0].1, seen[0].2.as_str()), (0, "started\n"), "{seen:?}");
        if nnp {
            assert_eq!(seen[0], ("cella-runtime", seen[1].1, seen[1].2.clone()), "{seen:?}");
        }
    }
}

#[test]
fn no_namespaces_listed_means_the_runtimes_own() {
    // An empty linux.namespaces: the container shares the runtime's
    // namespaces and its root is the bundle's by chroot (no pivot_root), as
    // runc's. Run in a private mount namespace of the test's, where runc's
    // own mounts (it mounts into the caller's namespace) cannot reach the host.
    let mut seen = Vec::new();
    for bin in [BIN, "runc"] {
        let mut b = Bundle::busybox(&["/bin/busybox", "sh", "-c", "ls /; sleep 2"]);
        let l = b.spec.linux.as_mut().unwrap();
        l.namespaces.clear();
        l.masked_paths.clear();
        l.readonly_paths.clear();
        b.spec.hostname = None;
        b.write();
        let root = std::env::temp_dir().join(unique("nons-root"));
        let pid_file = b.dir.join("pid");
        let id = unique("nons");
        let (code, out, err) = output(in_v1_namespace(&format!(
            "{bin} --root {r} create --bundle {b} --pid-file {p} {id} >{b}/out 2>&1 && \
             [ $(readlink /proc/$(cat {p})/ns/mnt) = $(readlink /proc/self/ns/mnt) ] && echo same-mount-namespace; \
             {bin} --root {r} start {id} && sleep 0.5; {bin} --root {r} delete --force {id}; \
             grep -c ^work {b}/out; grep -c ^bin {b}/out; grep -c {b}/rootfs /proc/self/mountinfo",
            r = root.display(),
            b = b.dir.display(),
            p = pid_file.display(),
        )));
        let _ = std::fs::remove_dir_all(&root);
        seen.push((bin, code, out, err));
    }
    let (cella, runc) = (&seen[0], &seen[1]);
    assert!(
        cella.2.contains("same-mount-namespace") && runc.2.contains("same-mount-namespace"),
        "{seen:?}"
    );
    // Both run in the bundle's root (no /work of the host's there, busybox's
    // /bin); cella-runtime mounted nothing in the caller's namespace (runc did).
    let counts = |o: &str| o.lines().skip(1).map(String::from).collect::<Vec<_>>();
    assert_eq!(counts(&cella.2)[..2], counts(&runc.2)[..2], "{seen:?}");
    assert_eq!(counts(&cella.2), ["0", "1", "0"], "{seen:?}");
}

#[test]
fn a_mount_namespace_joined_by_path_is_used_as_it_stands() {
    // A mount namespace of the test's, holding a marker mount; the container
    // joins it by path and sees the marker; nothing is pivoted there.
    let marker = unique("marker");
    let mut holder = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!("mount -t tmpfs {marker} /mnt && exec sleep 30"),
        ])
        .spawn()
        .unwrap();
    let pid = holder.id();
    assert!(eventually(
        || std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).is_ok_and(|m| m.contains(&marker))
    ));
    let rt = Rt::new();
    let mut b = Bundle::busybox(&[
        "/bin/busybox",
        "sh",
        "-c",
        "cat /proc/self/mountinfo; readlink /proc/self/ns/mnt",
    ]);
    let l = b.spec.linux.as_mut().unwrap();
    l.masked_paths.clear();
    l.readonly_paths.clear();
    for n in &mut l.namespaces {
        if n.kind == "mount" {
            n.path = Some(format!("/proc/{pid}/ns/mnt"));
        }
    }
    let o = rt.run(&b, &unique("joinmnt"));
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains(&marker), "{o:?}");
    assert!(o.stdout.trim_end().ends_with(theirs.to_str().unwrap()), "{o:?}");
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!after.contains(&marker));
}

#[test]
fn the_seccomp_listener_gets_its_fd_at_create() {
    // runc's order: a client that waits for the notify fd after `create`
    // gets it before `start`.
    for (name, rt) in with_runc() {
        let mut b = sh("true");
        let sock = b.dir.join("listener.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        b.spec.linux.as_mut().unwrap().seccomp = Some(
            serde_json::from_value(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": sock.display().to_string(),
                "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
            }))
            .unwrap(),
        );
        b.spec.process.as_mut().unwrap().no_new_privileges = true;
        let id = unique("notify");
        rt.create(&b, &id).ok();
        listener.set_nonblocking(true).unwrap();
        let got = (0..100).find_map(|_| match listener.accept() {
            Ok((s, _)) => Some(s),
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                None
            }
        });
        let stream = got.unwrap_or_else(|| panic!("{name}: no connection to the listener after create"));
        stream.set_nonblocking(false).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        use std::os::fd::AsFd;
        let (n, fd) = cella_sys::socket::recv_with_fd(stream.as_fd(), &mut buf).unwrap();
        assert!(fd.is_some(), "{name}: the notify fd");
        let msg: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(msg["fds"][0], "seccompFd", "{name}: {msg}");
        assert_eq!(rt.status(&id), "created", "{name}: before start");
        rt.exec(&["delete", "--force", &id]).ok();
    }
}

#[test]
fn additional_gids_apply_once_each() {
    let mut seen = Vec::new();
    for (name, rt) in with_runc() {
        let mut b = sh("grep Groups /proc/self/status");
        b.spec.process.as_mut().unwrap().user.additional_gids = vec![150, 120, 130, 150];
        let o = rt.run(&b, &unique("gids"));
        seen.push((name, o.code, o.stdout.trim_end().to_string()));
    }
    assert_eq!(seen[0].1, seen[1].1, "{seen:?}");
    assert_eq!(seen[0].2, seen[1].2, "{seen:?}");
    assert_eq!(seen[0].2, "Groups:\t120 130 150", "{seen:?}");
}

#[test]
fn scheduler_and_io_priority_are_applied() {
    let rt = Rt::new();
    let id = unique("sched");
    let mut b = sh("sleep 30");
    let p = b.spec.process.as_mut().unwrap();
    p.scheduler = Some(cella_spec::Scheduler {
        policy: "SCHED_BATCH".into(),
        nice: 7,
        ..Default::default()
    });
    p.io_priority = Some(cella_spec::IoPriority {
        class: "IOPRIO_CLASS_IDLE".into(),
        priority: 0,
    });
    rt.create(&b, &id).ok();
    rt.exec(&["start", &id]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap().to_string();
    let (_, chrt, _) = output({
        let mut c = Command::new("chrt");
        c.args(["-p", &pid]);
        c
    });
    let (_, ionice, _) = output({
        let mut c = Command::new("ionice");
        c.args(["-p", &pid]);
        c
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let nice: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(16)
        .unwrap()
        .parse()
        .unwrap();
    rt.exec(&["delete", "--force", &id]).ok();
    assert!(chrt.contains("SCHED_BATCH"), "{chrt}");
    assert_eq!(nice, 7);
    assert!(ionice.trim() == "idle", "{ionice}");
}
