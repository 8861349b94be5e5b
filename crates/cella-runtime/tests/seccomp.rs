//! seccomp profiles and capabilities, enforced on the real kernel.

mod common;
use cella_spec::seccomp::{Seccomp, SyscallArg, SyscallRule};
use common::*;
use std::os::fd::{AsFd, AsRawFd};

fn rule(names: &[&str], action: &str) -> SyscallRule {
    SyscallRule {
        names: names.iter().map(|s| s.to_string()).collect(),
        action: action.into(),
        ..Default::default()
    }
}

fn with_seccomp(script: &str, rules: Vec<SyscallRule>) -> Bundle {
    let mut b = sh(script);
    b.spec.linux.as_mut().unwrap().seccomp = Some(Seccomp {
        default_action: "SCMP_ACT_ALLOW".into(),
        architectures: vec![
            "SCMP_ARCH_X86_64".into(),
            "SCMP_ARCH_X86".into(),
            "SCMP_ARCH_X32".into(),
        ],
        syscalls: rules,
        ..Default::default()
    });
    b
}

#[test]
fn errno_rule_fails_only_the_listed_syscalls() {
    let rt = Rt::new();
    let b = with_seccomp(
        "mkdir /dev/shm/d 2>&1; echo mkdir=$?; touch /dev/shm/f && echo touch-ok; grep Seccomp: /proc/self/status",
        vec![rule(&["mkdir", "mkdirat", "no_such_syscall_xyz"], "SCMP_ACT_ERRNO")],
    );
    let o = rt.run(&b, &unique("errno")).ok();
    assert!(
        o.stdout.contains("Operation not permitted") && o.stdout.contains("mkdir=1"),
        "{o:?}"
    );
    assert!(
        o.stdout.contains("touch-ok") && o.stdout.contains("Seccomp:\t2"),
        "{o:?}"
    );
    assert!(
        o.stderr.contains("no_such_syscall_xyz"),
        "unknown names are warned about: {o:?}"
    );
}

#[test]
fn errno_ret_and_default_errno_ret() {
    let rt = Rt::new();
    let mut r = rule(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO");
    r.errno_ret = Some(13); // EACCES
    let o = rt
        .run(&with_seccomp("mkdir /dev/shm/d 2>&1", vec![r]), &unique("errnoret"))
        .failed();
    assert!(o.stdout.contains("Permission denied"), "{o:?}");
}

#[test]
fn kill_process_kills() {
    let rt = Rt::new();
    let b = with_seccomp("uname -s; echo after", vec![rule(&["uname"], "SCMP_ACT_KILL_PROCESS")]);
    let o = rt.run(&b, &unique("kill"));
    // 128 + SIGSYS
    assert_eq!(o.code, 159, "{o:?}");
    assert!(!o.stdout.contains("after"));
}

#[test]
fn argument_filter_blocks_only_the_matching_argument() {
    let rt = Rt::new();
    // kill(2) with signal 10 (SIGUSR1) is refused; other signals pass.
    let mut r = rule(&["kill"], "SCMP_ACT_ERRNO");
    r.args = vec![SyscallArg {
        index: 1,
        value: 10,
        value_two: None,
        op: "SCMP_CMP_EQ".into(),
    }];
    let b = with_seccomp(
        "kill -0 $$ && echo zero-ok; kill -USR2 $$ && echo usr2-ok; kill -USR1 $$ 2>/dev/null || echo usr1-blocked",
        vec![r],
    );
    let o = rt.run(&b, &unique("args")).ok();
    assert_eq!(o.stdout, "zero-ok\nusr2-ok\nusr1-blocked\n");
}

#[test]
fn notify_delivers_the_fd_and_the_listener_answers() {
    let rt = Rt::new();
    let id = unique("notify");
    let mut b = with_seccomp(
        "mkdir /dev/shm/made; echo rc=$?; test -d /dev/shm/made && echo exists || echo not-created",
        vec![rule(&["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY")],
    );
    let sock = b.dir.join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let p = b.spec.linux.as_mut().unwrap().seccomp.as_mut().unwrap();
    p.listener_path = Some(sock.display().to_string());
    p.listener_metadata = Some("from-the-test".into());
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 8192];
        let (n, fd) = cella_sys::socket::recv_with_fd(conn.as_fd(), &mut buf).unwrap();
        let fd = fd.expect("the notify fd");
        let msg: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        // Pretend the directory was made: the container sees success.
        let req = cella_seccomp::notify::receive(fd.as_raw_fd()).unwrap();
        cella_seccomp::notify::respond(fd.as_raw_fd(), req.id, Ok(0)).unwrap();
        (msg, req.syscall)
    });
    let o = rt.run(&b, &id).ok();
    let (msg, syscall) = agent.join().unwrap();
    assert_eq!(o.stdout, "rc=0\nnot-created\n", "{o:?}");
    assert!(syscall.starts_with("mkdir"), "{syscall}");
    assert_eq!(msg["fds"][0], "seccompFd");
    assert_eq!(msg["metadata"], "from-the-test");
    assert_eq!(msg["state"]["id"], id.as_str());
    assert!(msg["pid"].as_i64().unwrap() > 1);
}

#[test]
fn without_no_new_privs_the_filter_is_loaded_before_capabilities_drop() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        "mkdir /dev/shm/d 2>/dev/null; echo rc=$?; grep NoNewPrivs /proc/self/status",
        vec![rule(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO")],
    );
    b.spec.process.as_mut().unwrap().no_new_privileges = false;
    let o = rt.run(&b, &unique("nonnp")).ok();
    assert_eq!(o.stdout, "rc=1\nNoNewPrivs:\t0\n");
}

#[test]
fn cap_net_raw_decides_raw_sockets() {
    // busybox ping uses a raw ICMP socket, or an ICMP datagram socket when
    // the group may (ping_group_range); closing the latter in the container's
    // own network namespace leaves only the raw socket.
    let rt = Rt::new();
    let probe = "ping -c1 -W1 127.0.0.1 2>&1 | grep -c 'permission denied'";
    let no_dgram = |b: &mut Bundle| {
        b.spec
            .linux
            .as_mut()
            .unwrap()
            .sysctl
            .insert("net.ipv4.ping_group_range".into(), "1 0".into());
    };
    let mut plain = sh(probe);
    no_dgram(&mut plain);
    let without = rt.run(&plain, &unique("noraw")).stdout;
    let mut b = sh(probe);
    no_dgram(&mut b);
    let caps = b.spec.process.as_mut().unwrap().capabilities.as_mut().unwrap();
    for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
        set.as_mut().unwrap().push("CAP_NET_RAW".into());
    }
    let with = rt.run(&b, &unique("raw")).stdout;
    assert_eq!(without, "1\n", "without CAP_NET_RAW the raw socket is refused");
    assert_eq!(with, "0\n", "with CAP_NET_RAW the raw socket opens");
}
