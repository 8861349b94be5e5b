//! Processes that enter a container must not hand it a host binary or a
//! host descriptor: the CVE-2019-5736 attack performed against `cella exec`,
//! `cella ns enter` and a container's own init (the monitor's path), and
//! `cella exec`'s stdio reopened from inside.

#[path = "../../crates/cella/tests/support/engine.rs"]
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A private copy of the cella binary, so that nothing but the attacked
/// command runs it: a write through /proc/PID/exe would then succeed
/// unless the image is protected (not merely "text file busy").
struct Copy {
    dir: PathBuf,
    bin: PathBuf,
    original: Vec<u8>,
}

impl Copy {
    fn new(e: &Engine) -> Copy {
        let dir = e.root.with_file_name("bin");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("cella");
        std::fs::copy(CELLA, &bin).unwrap();
        Copy {
            original: std::fs::read(&bin).unwrap(),
            dir,
            bin,
        }
    }

    fn cmd(&self, e: &Engine, args: &[&str]) -> Command {
        let c = e.cmd(args);
        let original = c.get_program().to_owned();
        let mut copy = Command::new(&self.bin);
        copy.args(c.get_args());
        for (k, v) in c.get_envs() {
            if let Some(v) = v {
                copy.env(k, v);
            }
        }
        assert_eq!(original, CELLA);
        copy
    }

    fn assert_unchanged(&self) {
        assert!(
            std::fs::read(&self.bin).unwrap() == self.original,
            "the host binary was rewritten"
        );
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// In the container: waits for a process running a cella image, holds its
/// exe, and once /tmp/go appears tries to append to it; the result goes to
/// /tmp/result ("rc=N" and the error). What it holds is named by the held
/// descriptor itself: a process seen running cella may have executed
/// another program (`cat`, for the test's own `exec`) before its exe is
/// opened, and a write to that one lands in the container's own layer.
/// (`command exec`: a failed redirection must not end the shell.)
const WATCHER: &str = r#"
while :; do
  for p in /proc/[0-9]*; do
    case "$(readlink $p/exe 2>/dev/null)" in
      *cella*)
        command exec 4<$p/exe 2>/dev/null || continue
        case "$(readlink /proc/self/fd/4)" in
          *cella*) readlink /proc/self/fd/4 > /tmp/held; break 2 ;;
        esac ;;
    esac
  done
  sleep 0.02
done
while [ ! -e /tmp/go ]; do sleep 0.05; done
printf CORRUPT >> /proc/self/fd/4 2>/tmp/err; echo "rc=$?" > /tmp/result; cat /tmp/err >> /tmp/result
"#;

fn wait_for(e: &Engine, ctr: &str, file: &str) -> String {
    for _ in 0..200 {
        let o = e.out(&["exec", ctr, "cat", file]);
        if o.status.success() {
            return String::from_utf8_lossy(&o.stdout).into_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{file} never appeared in {ctr}");
}

/// Runs the attack on a process that `start` starts inside container `ctr`
/// and that runs the cella image until its stdin closes; returns what the
/// watcher saw.
fn attack(e: &Engine, ctr: &str, mut start: Command) -> (String, String) {
    e.ok(&["exec", "-d", ctr, "sh", "-c", WATCHER]);
    start.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut joined = start.spawn().unwrap();
    let held = wait_for(e, ctr, "/tmp/held");
    // The joined process ends, and with it the command that started it:
    // nothing runs the binary any more.
    drop(joined.stdin.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while joined.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = joined.kill();
            let _ = joined.wait();
            panic!("the joined command did not end with its stdin");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    e.ok(&["exec", ctr, "touch", "/tmp/go"]);
    (held, wait_for(e, ctr, "/tmp/result"))
}

fn assert_refused(held: &str, result: &str, copy: &Copy) {
    assert!(
        !held.contains(&copy.bin.display().to_string()),
        "the container held the host binary: {held}"
    );
    assert!(
        !result.starts_with("rc=0"),
        "the write went through to {held}: {result}"
    );
    assert!(!result.contains("busy"), "only busy, not protected: {result}");
    copy.assert_unchanged();
}

/// A cella subcommand that runs until its stdin closes.
const BLOCKING: [&str; 5] = ["login", "--password-stdin", "-u", "x", "127.0.0.1:9"];

/// Starts a container, runs `cella ARGS /proc/self/exe login …` (the command
/// that joins it, run from the private copy) and attacks what that joined
/// process runs.
fn attack_joining(args: &[&str], privileged: bool) {
    let e = Engine::new();
    let copy = Copy::new(&e);
    let mut run = vec!["run", "-d", "--name", "t"];
    if privileged {
        run.push("--privileged");
    }
    e.ok(&[&run[..], &["host", "sleep", "300"]].concat());
    let joined = [args, &["/proc/self/exe"], &BLOCKING[..]].concat();
    let (held, result) = attack(&e, "t", copy.cmd(&e, &joined));
    assert_refused(&held, &result, &copy);
}

#[test]
fn exec_does_not_hand_the_container_the_host_binary() {
    attack_joining(&["exec", "-i", "t"], false);
}

#[test]
fn ns_enter_does_not_hand_the_container_the_host_binary() {
    // nsenter's command keeps our capabilities, which a container's processes
    // cannot reach unless they have them all: the attacker is privileged.
    attack_joining(&["ns", "enter", "t"], true);
}

#[test]
fn a_containers_init_does_not_run_the_host_binary() {
    // The monitor (a `cella run`) creates the init; an entrypoint of
    // /proc/self/exe makes PID 1 run whatever image the monitor has.
    let e = Engine::new();
    let copy = Copy::new(&e);
    let mut run = copy.cmd(
        &e,
        &[
            "run",
            "-d",
            "-i",
            "--name",
            "t",
            "--entrypoint",
            "/proc/self/exe",
            "host",
        ],
    );
    run.args(BLOCKING);
    let o = run.output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let o = e.out(&[
        "exec",
        "t",
        "sh",
        "-c",
        "readlink /proc/1/exe; exec 4</proc/1/exe; printf CORRUPT >> /proc/self/fd/4 && echo written",
    ]);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(
        !out.contains("written") && !out.contains(&copy.bin.display().to_string()),
        "{out}"
    );
    // The monitor runs the copy, so a plain binary would only be "busy".
    assert!(
        err.contains("Read-only") || err.contains("Operation not permitted"),
        "{err}"
    );
    copy.assert_unchanged();
    e.ok(&["rm", "-f", "t"]);
}

#[test]
fn exec_gives_the_container_pipes_not_the_callers_files() {
    // `cella exec … >> hostfile`: the process must not be able to reopen
    // its stdout to read or truncate the host file, nor its stdin.
    let e = Engine::new();
    e.busybox();
    e.ok(&["run", "-d", "--name", "t", "busybox:test", "sleep", "300"]);
    let dir = e.root.with_file_name("host");
    std::fs::create_dir_all(&dir).unwrap();
    let (out, input) = (dir.join("out"), dir.join("in"));
    std::fs::write(&out, "secret\n").unwrap();
    std::fs::write(&input, "host input\n").unwrap();
    let script = "for f in 0 1 2; do readlink /proc/self/fd/$f; done >&2; \
                  cat /proc/self/fd/0; : > /proc/self/fd/1; echo appended";
    for interactive in [false, true] {
        let mut c = e.cmd(&["exec"]);
        if interactive {
            c.arg("-i");
        }
        c.args(["t", "sh", "-c", script]);
        c.stdin(std::fs::File::open(&input).unwrap());
        c.stdout(std::fs::OpenOptions::new().append(true).open(&out).unwrap());
        let o = c.stderr(Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{o:?}");
        for line in err.lines().take(3) {
            assert!(
                line == "/dev/null" || line.starts_with("pipe:"),
                "a host file reached the container: {err}"
            );
        }
    }
    // Both appended through the relay, the first line kept; stdin was relayed only with -i.
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "secret\nappended\nhost input\nappended\n"
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), "host input\n");
    let _ = Path::new(&dir);
}
