//! Each namespace really isolates: checked from inside a busybox container
//! against the host.

mod common;
use common::*;

#[test]
fn uts_hostname_and_domainname_differ_from_the_host() {
    let rt = Rt::new();
    let mut b = sh("hostname; cat /proc/sys/kernel/domainname");
    b.spec.hostname = Some("box-uts".into());
    b.spec.domainname = Some("dom.example".into());
    let o = rt.run(&b, &unique("uts")).ok();
    assert_eq!(o.stdout, "box-uts\ndom.example\n");
    assert_ne!(cella_sys::ns::gethostname().unwrap(), "box-uts");
}

#[test]
fn pid_namespace_shell_is_pid_1_and_sees_only_itself() {
    let rt = Rt::new();
    let o = rt
        .run(&sh("echo $$; ps -o pid,comm | tail -n +2 | wc -l"), &unique("pid"))
        .ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "1");
    // sh (PID 1) and ps itself; `wc` and `tail` run in the pipeline too.
    let n: u32 = lines[1].trim().parse().unwrap();
    assert!(n <= 4, "container sees {n} processes: {o:?}");
}

#[test]
fn ipc_queue_made_on_the_host_is_invisible() {
    let rt = Rt::new();
    let mk = std::process::Command::new("ipcmk")
        .arg("-Q")
        .output()
        .expect("ipcmk (util-linux)");
    let text = String::from_utf8_lossy(&mk.stdout);
    let qid: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
    assert!(std::fs::read_to_string("/proc/sysvipc/msg").unwrap().lines().count() > 1);
    let o = rt.run(&sh("cat /proc/sysvipc/msg | tail -n +2 | wc -l"), &unique("ipc"));
    let _ = std::process::Command::new("ipcrm").args(["-q", &qid]).status();
    assert_eq!(o.ok().stdout.trim(), "0");
}

#[test]
fn network_namespace_has_only_lo() {
    let rt = Rt::new();
    let o = rt.run(&sh("ls /sys/class/net"), &unique("net")).ok();
    assert_eq!(o.stdout, "lo\n");
}

#[test]
fn user_namespace_maps_root_to_a_host_range() {
    let rt = Rt::new();
    let mut b = sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map");
    with_userns(&mut b, 200_000);
    let o = rt.run(&b, &unique("user")).ok();
    let words: Vec<&str> = o.stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "0", "200000", "65536", "0", "200000", "65536"]);
}

#[test]
fn mount_made_inside_is_invisible_on_the_host() {
    let rt = Rt::new();
    let marker = unique("probe");
    let mut b = sh(&format!(
        "mount -t tmpfs {marker} /tmp && grep -c {marker} /proc/self/mountinfo && sleep 30"
    ));
    b.spec.root.as_mut().unwrap().readonly = false;
    let caps = b.spec.process.as_mut().unwrap().capabilities.as_mut().unwrap();
    for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
        set.as_mut().unwrap().push("CAP_SYS_ADMIN".into());
    }
    let id = unique("mnt");
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let inside = eventually(|| {
        std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .unwrap_or_default()
            .contains(&marker)
    });
    assert!(inside, "the container should see its own mount");
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&marker));
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn cgroup_namespace_shows_the_container_cgroup_as_root() {
    let rt = Rt::new();
    let id = unique("cgns");
    let o = rt.run(&sh("cat /proc/self/cgroup"), &id).ok();
    assert!(!o.stdout.is_empty());
    for line in o.stdout.lines() {
        assert!(line.ends_with(":/"), "{line} should be / inside the cgroup namespace");
    }
    // And on the host it really was in its own cgroup, now removed.
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn time_namespace_offset_shows_in_uptime() {
    let rt = Rt::new();
    let mut b = sh("cut -d. -f1 /proc/uptime");
    let l = b.spec.linux.as_mut().unwrap();
    l.namespaces.push(cella_spec::Namespace {
        kind: "time".into(),
        path: None,
    });
    l.time_offsets.insert(
        "boottime".into(),
        cella_spec::TimeOffset {
            secs: 10 * 86400,
            nanosecs: 0,
        },
    );
    l.time_offsets.insert(
        "monotonic".into(),
        cella_spec::TimeOffset {
            secs: 3600,
            nanosecs: 0,
        },
    );
    let o = rt.run(&b, &unique("time")).ok();
    let inside: u64 = o.stdout.trim().parse().unwrap();
    let host: u64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(inside >= host + 10 * 86400 - 5, "uptime inside {inside}, host {host}");
}

#[test]
fn joining_a_namespace_by_path_shares_it() {
    // The container joins the network and UTS namespaces of a helper process
    // (the slow path: setns, then unshare, then fork for the PID namespace).
    let rt = Rt::new();
    let mut helper = std::process::Command::new("unshare")
        .args(["--net", "--uts", "sh", "-c", "hostname joined-uts; sleep 30"])
        .spawn()
        .unwrap();
    let hpid = helper.id();
    assert!(eventually(|| cella_sys::ns::gethostname().is_ok()
        && std::fs::read_link(format!("/proc/{hpid}/ns/uts")).ok()
            != std::fs::read_link("/proc/self/ns/uts").ok()));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut b = sh("hostname; echo $$");
    b.spec.hostname = None;
    for ns in &mut b.spec.linux.as_mut().unwrap().namespaces {
        if ns.kind == "network" || ns.kind == "uts" {
            let name = if ns.kind == "network" { "net" } else { "uts" };
            ns.path = Some(format!("/proc/{hpid}/ns/{name}"));
        }
    }
    let o = rt.run(&b, &unique("join"));
    let _ = helper.kill();
    let _ = helper.wait();
    let o = o.ok();
    assert_eq!(o.stdout, "joined-uts\n1\n");
}
