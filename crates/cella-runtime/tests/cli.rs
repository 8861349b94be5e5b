//! The runc-compatible surface clients parse: --version, spec, features, help.

mod common;
use common::*;

#[test]
fn version_is_three_lines_like_runc() {
    let o = Rt::new().exec(&["--version"]).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{o:?}");
    assert!(lines[0].starts_with("cella-runtime version "));
    assert!(lines[1].starts_with("commit: "));
    assert!(lines[2].starts_with("spec: 1."));
}

#[test]
fn spec_writes_runc_defaults_and_refuses_to_overwrite() {
    let rt = Rt::new();
    let dir = std::env::temp_dir().join(unique("spec"));
    std::fs::create_dir_all(&dir).unwrap();
    rt.exec(&["spec", "-b", dir.to_str().unwrap()]).ok();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["root"]["readonly"], true);
    assert_eq!(v["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
    assert_eq!(v["linux"]["maskedPaths"].as_array().unwrap().len(), 10);
    let o = rt.exec(&["spec", "--bundle", dir.to_str().unwrap()]).failed();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.stderr.contains("exists"), "{o:?}");
}

#[test]
fn features_has_runcs_shape() {
    let o = Rt::new().exec(&["features"]).ok();
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert!(v["hooks"].as_array().unwrap().len() == 6);
    assert!(v["mountOptions"].as_array().unwrap().iter().any(|x| x == "rbind"));
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert_eq!(ns.len(), 8);
    assert!(v["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
    for key in [
        "cgroup",
        "seccomp",
        "apparmor",
        "selinux",
        "intelRdt",
        "mountExtensions",
    ] {
        assert!(v["linux"].get(key).is_some(), "features.linux.{key} missing");
    }
}

#[test]
fn unknown_commands_and_options_are_errors() {
    let rt = Rt::new();
    assert!(rt.exec(&["frobnicate"]).failed().stderr.contains("unknown command"));
    assert!(rt
        .exec(&["create", "--bogus", "x"])
        .failed()
        .stderr
        .contains("unknown option"));
    assert!(rt
        .exec(&["--log-format", "xml", "list"])
        .failed()
        .stderr
        .contains("--log-format"));
    let h = rt.exec(&["--help"]).ok();
    assert!(h.stdout.contains("create") && h.stdout.contains("--root"));
}
