//! Rootless networking: pasta (Debian's passt package) gives the container's
//! network namespace a tap device with the host's addresses and routes, and
//! forwards published ports (>= 1024, as an unprivileged user may bind).
//! It runs in the background and ends with the namespace.

use crate::container::config::Publish;
use crate::error::{Error, Result};

/// pasta's -t/-u options for the published ports.
pub fn port_args(ports: &[Publish]) -> Result<Vec<String>> {
    let mut args = Vec::new();
    for p in ports {
        if p.host_port < 1024 {
            return Err(Error::Invalid(format!(
                "-p {}: an unprivileged user can publish ports from 1024 up only",
                p.host_port
            )));
        }
        let flag = if p.proto == "udp" { "-u" } else { "-t" };
        let addr = p.host_ip.map(|i| format!("{i}/")).unwrap_or_default();
        let (hp, cp) = if p.count == 1 {
            (p.host_port.to_string(), p.container_port.to_string())
        } else {
            (
                format!("{}-{}", p.host_port, p.host_port + p.count - 1),
                format!("{}-{}", p.container_port, p.container_port + p.count - 1),
            )
        };
        args.push(flag.into());
        args.push(format!("{addr}{hp}:{cp}"));
    }
    Ok(args)
}

/// Starts pasta for the network namespace of process `pid`; its own PID
/// goes to `pid_file` (it keeps the namespace alive, so it must be stopped).
pub fn start(pid: i32, ports: &[Publish], pid_file: &std::path::Path) -> Result<()> {
    let mut cmd = std::process::Command::new("pasta");
    cmd.args(["--config-net", "--quiet", "--pid"]);
    cmd.arg(pid_file);
    cmd.args(port_args(ports)?);
    // Without -t/-u, pasta forwards no ports in: say so explicitly.
    if ports.iter().all(|p| p.proto != "tcp") {
        cmd.args(["-t", "none"]);
    }
    if ports.iter().all(|p| p.proto != "udp") {
        cmd.args(["-u", "none"]);
    }
    cmd.args(["-T", "none", "-U", "none"]);
    cmd.arg(pid.to_string());
    let out = cmd
        .output()
        .map_err(|e| Error::Invalid(format!("run pasta: {e} (install the passt package)")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let hint = if msg.contains("tun") {
            " (pasta needs /dev/net/tun readable and writable by you, mode 0666 as on most systems)"
        } else {
            ""
        };
        return Err(Error::Invalid(format!("pasta: {}{hint}", msg.trim())));
    }
    Ok(())
}

/// Stops the pasta started for a container (if it is still that pasta).
pub fn stop(pid_file: &std::path::Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // pasta's process names: "pasta", or "passt.avx2" (what Debian's
    // passt re-executes itself as on x86).
    let is_pasta = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.starts_with("pasta") || c.starts_with("passt"));
    if is_pasta {
        let _ = cella_sys::process::kill(pid, libc::SIGTERM);
        // pasta daemonizes: the monitor, a child subreaper, inherits it and
        // reaps it here (a zombie would otherwise outlive the container).
        // Called elsewhere, it waits for /proc to let it go, then insists.
        let gone = || {
            let _ = cella_sys::process::waitpid(pid, true);
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        };
        for _ in 0..100 {
            if gone() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if !gone() {
            let _ = cella_sys::process::kill(pid, libc::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_become_pasta_options() {
        let ports = vec![
            Publish::parse("127.0.0.1:18081:8080").unwrap(),
            Publish::parse("5353:53/udp").unwrap(),
            Publish::parse("9000-9001:9000-9001").unwrap(),
        ];
        assert_eq!(
            port_args(&ports).unwrap(),
            [
                "-t",
                "127.0.0.1/18081:8080",
                "-u",
                "5353:53",
                "-t",
                "9000-9001:9000-9001"
            ]
        );
        let low = vec![Publish::parse("80:80").unwrap()];
        assert!(port_args(&low).is_err());
    }
}
