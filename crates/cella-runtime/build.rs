// Records the git commit for `cella-runtime --version` (containerd parses
// it), and what the test host is (see cella-testsupport's host.rs).
#[path = "../cella-testsupport/src/host.rs"]
mod host;

fn main() {
    host::emit_cfgs();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CELLA_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
}
