//! `cella ns pids` on a two-level nested PID namespace.

use std::process::Command;

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

#[test]
fn right_pid_at_each_level_of_two_nested_pid_namespaces() {
    let dir = std::env::temp_dir().join(format!("cella-pids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seen = dir.join("middle-sees");
    // The middle level starts the inner level (whose sleep is its PID 1), then
    // writes down the PID it sees for that sleep, from its own /proc.
    let middle = format!(
        "unshare --pid --fork --mount-proc sleep 60 & sleep 0.5; \
         for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = sleep ] && [ \"$(cat $p/cmdline | tr '\\0' ' ')\" = 'sleep 60 ' ] && basename $p; done > {}; wait",
        seen.display()
    );
    let mut outer = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c", &middle])
        .spawn()
        .unwrap();
    // The innermost sleep, on the host: a `sleep 60` three levels deep.
    let mut host_pid = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        host_pid = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let p: i32 = e.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
            (nspid.split_whitespace().count() == 3 && cmd == b"sleep\x0060\x00").then_some(p)
        });
        if host_pid.is_some() && std::fs::read_to_string(&seen).is_ok_and(|s| !s.trim().is_empty()) {
            break;
        }
    }
    let host_pid = host_pid.expect("the innermost sleep");
    let out = Command::new(CELLA)
        .args(["ns", "pids", "-J", &host_pid.to_string()])
        .output()
        .unwrap();
    let middle_view = std::fs::read_to_string(&seen).unwrap_or_default();
    let members = Command::new(CELLA)
        .args(["ns", "pids", "--members", "-J", &host_pid.to_string()])
        .output()
        .unwrap();
    let _ = Command::new("kill").arg(outer.id().to_string()).status();
    let _ = Command::new("kill").args(["-9", &host_pid.to_string()]).status();
    let _ = outer.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3, "{v}");
    assert_eq!(levels[0]["pid"], host_pid);
    assert_eq!(
        levels[1]["pid"].to_string(),
        middle_view.trim(),
        "what the middle level calls it: {v}"
    );
    assert_eq!(levels[2]["pid"], 1, "the innermost level's PID 1");
    let inner_ns = std::fs::read_link(format!("/proc/{host_pid}/ns/pid"))
        .map(|l| l.display().to_string())
        .unwrap_or_default();
    assert!(
        inner_ns.is_empty() || inner_ns.contains(&levels[2]["pidns"].to_string()),
        "{inner_ns} vs {v}"
    );
    assert!(
        levels.iter().all(|l| l["pidns"].is_u64()),
        "every level's namespace is named: {v}"
    );
    let m: serde_json::Value = serde_json::from_slice(&members.stdout).unwrap();
    assert_eq!(
        m["pids"],
        serde_json::json!([{"host": host_pid, "inside": 1}]),
        "only the sleep is in the innermost namespace"
    );
    let bad = Command::new(CELLA).args(["ns", "pids", "999999999"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("999999999"));
}
