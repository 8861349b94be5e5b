//! `version` and `info`: what this engine is and what it runs on, as
//! docker's documents name it (scripts read `{{.Server.Version}}`,
//! `{{.CgroupVersion}}`, `{{.Containers}}`…).

use crate::container::{self, Status};
use crate::error::Result;
use crate::store::paths::Paths;
use serde_json::{json, Value};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// PRETTY_NAME of /etc/os-release.
fn operating_system() -> String {
    read_trimmed("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// Go's names for the architecture, as docker prints them.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// docker's `version` document: the client and the server are one program.
pub fn version() -> Value {
    let part = |name: &str| {
        json!({
            "Version": VERSION,
            "ApiVersion": "1.41",
            "Os": "linux",
            "Arch": go_arch(),
            "KernelVersion": read_trimmed("/proc/sys/kernel/osrelease"),
            "Name": name,
        })
    };
    json!({"Client": part("cella"), "Server": part("cella (daemonless)")})
}

/// docker's `info` document.
pub fn info(paths: &Paths) -> Result<Value> {
    let all = container::list(paths)?;
    let count = |s: Status| all.iter().filter(|c| c.state.status == s).count();
    let images = crate::image::list(paths)?.len();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mem_total_kib: u64 = read_trimmed("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Ok(json!({
        "Containers": all.len(),
        "ContainersRunning": count(Status::Running),
        "ContainersPaused": count(Status::Paused),
        "ContainersStopped": count(Status::Exited) + count(Status::Created),
        "Images": images,
        "Driver": "overlay",
        "DockerRootDir": paths.root,
        "RunRoot": paths.runroot,
        "CgroupDriver": match crate::container::CgroupManager::for_this_host() {
            crate::container::CgroupManager::Systemd => "systemd",
            crate::container::CgroupManager::Cgroupfs => "cgroupfs",
        },
        "CgroupVersion": if v2 { "2" } else { "1" },
        "DefaultRuntime": "cella-runtime",
        "Rootless": cella_sys::process::geteuid() != 0,
        "KernelVersion": read_trimmed("/proc/sys/kernel/osrelease"),
        "OperatingSystem": operating_system(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total_kib * 1024,
        "Name": read_trimmed("/proc/sys/kernel/hostname"),
        "ServerVersion": VERSION,
    }))
}
