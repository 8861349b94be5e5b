//! `cella cp` (never escaping the container's root) and `cella stats`.

#[path = "support/engine.rs"]
mod common;
use common::*;

#[test]
fn cp_both_ways_keeps_trees_and_stays_inside_the_container() {
    let e = Engine::new();
    let bb = e.busybox();
    let host = e.root.with_file_name("cp");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/f"), "file").unwrap();
    std::fs::write(host.join("tree/sub/g"), "deep").unwrap();
    std::os::unix::fs::symlink("f", host.join("tree/link")).unwrap();
    e.ok(&["run", "-d", "--name", "box", &bb, "sleep", "60"]);
    e.ok(&["cp", host.join("tree").to_str().unwrap(), "box:/tmp/"]);
    assert_eq!(
        e.ok(&[
            "exec",
            "box",
            "sh",
            "-c",
            "cat /tmp/tree/sub/g; readlink /tmp/tree/link"
        ]),
        "deepf\n"
    );
    // A file to a new name, and back out.
    e.ok(&["cp", host.join("tree/f").to_str().unwrap(), "box:/tmp/renamed"]);
    assert_eq!(e.ok(&["exec", "box", "cat", "/tmp/renamed"]), "file");
    e.ok(&["cp", "box:/tmp/tree", host.join("back").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("back/sub/g")).unwrap(), "deep");
    assert_eq!(
        std::fs::read_link(host.join("back/link")).unwrap(),
        std::path::Path::new("f")
    );
    // Symlinks in the container resolve inside it, never on the host.
    e.ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "ln -s / /tmp/up; ln -s ../../../../etc /tmp/dots",
    ]);
    e.ok(&["cp", "box:/tmp/up/etc/passwd", host.join("p1").to_str().unwrap()]);
    e.ok(&["cp", "box:/tmp/dots/passwd", host.join("p2").to_str().unwrap()]);
    let theirs = e.ok(&["exec", "box", "cat", "/etc/passwd"]);
    for p in ["p1", "p2"] {
        assert_eq!(
            std::fs::read_to_string(host.join(p)).unwrap(),
            theirs,
            "{p}: the container's passwd"
        );
    }
    let marker = host.join("tree/f");
    e.ok(&["exec", "box", "sh", "-c", "ln -s /tmp /tmp/target-link"]);
    e.ok(&["cp", marker.to_str().unwrap(), "box:/tmp/target-link/x"]);
    assert_eq!(e.ok(&["exec", "box", "cat", "/tmp/x"]), "file");
    // Errors.
    for bad in [
        vec!["cp", "nope:/x", "/tmp/y"],
        vec!["cp", "/etc/hostname", "/tmp/y"],
        vec!["cp", "box:/no/such", host.join("z").to_str().unwrap()],
    ] {
        assert!(!e.out(&bad).status.success(), "{bad:?}");
    }
    e.ok(&["stop", "-t", "0", "box"]);
    // Out of a stopped container works (docker's); into one not yet.
    let out = host.join("from-stopped");
    e.ok(&["cp", "box:/etc/passwd", out.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("root:"));
    let stopped = e.out(&["cp", "/etc/hostname", "box:/tmp/never"]);
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("not running"),
        "{stopped:?}"
    );
}

#[test]
fn stats_show_memory_cpu_and_pids() {
    let e = Engine::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--memory",
        "64m",
        "host",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["stats", "--no-stream", "--format", "json", "busy"])).unwrap();
    let row = &v[0];
    assert_eq!(row["Name"], "busy");
    assert_eq!(row["MemLimit"], 64 << 20);
    assert!(row["MemUsage"].as_u64().unwrap() > 0);
    assert!(row["PIDs"].as_u64().unwrap() >= 1);
    assert!(row["CPUPerc"].as_f64().unwrap() > 30.0, "a busy loop uses a CPU: {row}");
    let table = e.ok(&["stats", "--no-stream"]);
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("busy") && l.contains("/ 64.0MB")),
        "{table}"
    );
}
