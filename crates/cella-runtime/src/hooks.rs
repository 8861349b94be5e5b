//! OCI hooks: each hook gets the state JSON on stdin, its own args and env,
//! and is killed when its timeout passes.

use crate::error::{Error, Result};
use cella_spec::Hook;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order; the first failure stops the rest and is returned.
pub fn run_all(phase: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for h in hooks {
        run_one(h, state_json).map_err(|msg| Error::Hook(phase, format!("{}: {msg}", h.path)))?;
    }
    Ok(())
}

/// Runs `hooks` in order, turning failures into warnings (poststart, poststop).
pub fn run_all_warn(phase: &'static str, hooks: &[Hook], state_json: &[u8]) {
    for h in hooks {
        if let Err(msg) = run_one(h, state_json) {
            crate::log::warn(&format!("{phase} hook {} failed: {msg}", h.path));
        }
    }
}

const OUTPUT_LIMIT: usize = 4096;

fn run_one(h: &Hook, state_json: &[u8]) -> std::result::Result<(), String> {
    let mut cmd = Command::new(&h.path);
    if let Some((arg0, rest)) = h.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for e in &h.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE ignored).
        let _ = stdin.write_all(state_json);
    }
    let pidfd = cella_sys::poll::pidfd_open(child.id() as i32).map_err(|e| format!("pidfd_open: {e}"))?;
    let deadline = h.timeout.map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let pipes: [OwnedFd; 2] = [
        child.stdout.take().expect("piped").into(),
        child.stderr.take().expect("piped").into(),
    ];
    let mut output = Vec::new();
    let mut open = [true, true];
    let mut timed_out = false;
    loop {
        let wait_ms = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
            None => -1,
        };
        // poll(2) skips negative fds: closed pipes are not polled again.
        let fd_or_skip = |i: usize| if open[i] { pipes[i].as_raw_fd() } else { -1 };
        let ready = cella_sys::poll::poll_many(&[pidfd.as_raw_fd(), fd_or_skip(0), fd_or_skip(1)], wait_ms)
            .map_err(|e| format!("poll: {e}"))?;
        if !ready.iter().any(|&r| r) {
            timed_out = true;
            break;
        }
        let exited = ready[0];
        for (i, pipe) in pipes.iter().enumerate() {
            // After exit, read only what is already there: a grandchild may
            // hold the pipe open for ever.
            if open[i]
                && (ready[i + 1] || exited)
                && (!exited || cella_sys::poll::poll_readable(pipe.as_fd(), 0).unwrap_or(false))
            {
                let mut buf = [0u8; 1024];
                match cella_sys::fd::read_raw(pipe.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(_) => open[i] = false,
                    Ok(n) if output.len() < OUTPUT_LIMIT => output.extend_from_slice(&buf[..n]),
                    Ok(_) => {}
                }
            }
        }
        if exited {
            break;
        }
    }
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("timed out after {} s", h.timeout.unwrap_or(0)));
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output);
    let text = text.trim();
    Err(match (status.code(), text.is_empty()) {
        (Some(c), true) => format!("exit status {c}"),
        (Some(c), false) => format!("exit status {c}: {text}"),
        (None, _) => format!("killed by a signal ({status})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["X=from-env".into()],
            timeout,
        }
    }

    #[test]
    fn passes_state_on_stdin_and_env() {
        let dir = std::env::temp_dir().join(format!("cella-hook-{}", std::process::id()));
        let out = dir.with_extension("out");
        let h = hook(
            &["sh", "-c", &format!("read s; echo \"$s $X\" > {}", out.display())],
            None,
        );
        run_all("prestart", &[h], b"{\"id\":\"c1\"}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"id\":\"c1\"} from-env\n");
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn failure_reports_status_and_output() {
        let e = run_all(
            "createRuntime",
            &[hook(&["sh", "-c", "echo boom >&2; exit 3"], None)],
            b"",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("createRuntime") && s.contains("exit status 3") && s.contains("boom"),
            "{s}"
        );
    }

    #[test]
    fn timeout_kills_the_hook() {
        let t = Instant::now();
        let e = run_all("poststart", &[hook(&["sh", "-c", "sleep 30"], Some(1))], b"").unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
