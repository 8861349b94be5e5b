//! What the test host is, for build scripts (included with `#[path]`): each
//! fact becomes a `cfg`, so that a test this host cannot run is reported
//! ignored with its reason instead of passing without doing anything.
//!
//! - `cella_test_root`: the tests run as root (the suite needs it).
//! - `cella_test_hybrid`: cgroup v1 controllers plus a v2 tree.
//! - `cella_test_v1_pids`: a v1 pids hierarchy, for delegation tests.

pub fn emit_cfgs() {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    let facts = [
        ("cella_test_root", root),
        (
            "cella_test_hybrid",
            std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists(),
        ),
        (
            "cella_test_v1_pids",
            std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists(),
        ),
    ];
    for (name, true_here) in facts {
        println!("cargo::rustc-check-cfg=cfg({name})");
        if true_here {
            println!("cargo:rustc-cfg={name}");
        }
    }
}
