//! Files across the boundary: read-only volumes all the way down, `cella cp`
//! in both directions with a container that plants symlinks, fifos and
//! device nodes, and inputs that would reach files or the kernel.

#[path = "../../crates/cella/tests/support/engine.rs"]
mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

fn work(e: &Engine, name: &str) -> PathBuf {
    let d = e.root.with_file_name(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn read_only_volumes_are_read_only_below_their_top() {
    // A volume holding a mount of its own (a tmpfs the test mounts in a
    // private mount namespace): `ro` covers it, `ro-non-recursive` does not.
    let e = Engine::new();
    e.busybox();
    let vol = work(&e, "vol");
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    let run = |opt: &str| {
        format!(
            "{CELLA} --root {} --runroot {} run --rm -v {}:/v:{opt} busybox:test sh -c 'touch /v/sub/x 2>&1; echo rc=$?'",
            e.root.display(),
            e.runroot.display(),
            vol.display()
        )
    };
    let script = format!(
        "mount -t tmpfs tmpfs {}/sub && {} && {} && {}",
        vol.display(),
        run("ro"),
        run("rro"),
        run("ro-non-recursive")
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("CELLA_DEFAULT_NETWORK", "none")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let rcs: Vec<&str> = out.lines().filter(|l| l.starts_with("rc=")).collect();
    assert_eq!(rcs, ["rc=1", "rc=1", "rc=0"], "{o:?}");
    assert!(out.contains("Read-only file system"), "{out}");
    // The host's own: `-v /:/host:ro` must not open /host/proc for writing
    // (opening writes nothing; refused it is EROFS).
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "/:/host:ro",
        "busybox:test",
        "sh",
        "-c",
        "(true >> /host/proc/sys/kernel/core_pattern) 2>&1; echo rc=$?; touch /host/run/cella-ro-probe 2>&1; echo rc=$?",
    ]);
    assert!(out.contains("rc=1\n") && !out.contains("rc=0"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!std::path::Path::new("/run/cella-ro-probe").exists());
}

#[test]
fn cp_lands_where_docker_puts_it_and_never_outside() {
    let e = Engine::new();
    e.busybox();
    e.ok(&["run", "-d", "--name", "t", "busybox:test", "sleep", "300"]);
    let victim = work(&e, "victim");
    let v = victim.display().to_string();
    e.ok(&[
        "exec",
        "t",
        "sh",
        "-c",
        &format!(
            "mkdir -p /d/sub {v} && echo f > /d/f && echo g > /d/sub/g && ln -s /etc/shadow /d/shadow && \
             ln -s {v} /out && mkfifo /d/fifo && mknod /d/blk b 7 0 && echo inside > /d/inside"
        ),
    ]);
    let cwd = work(&e, "cwd");
    let cp = |args: &[&str]| {
        let mut c = e.cmd(&["cp"]);
        c.args(args).current_dir(&cwd);
        c.output().unwrap()
    };
    // A relative destination is the caller's working directory.
    assert!(cp(&["t:/d/f", "NAME"]).status.success());
    assert_eq!(std::fs::read_to_string(cwd.join("NAME")).unwrap(), "f\n");
    assert!(!std::path::Path::new("/NAME").exists());
    // `-` is a tar stream.
    let o = cp(&["t:/d/f", "-"]);
    let names: Vec<String> = tar::Archive::new(&o.stdout[..])
        .entries()
        .unwrap()
        .map(|x| x.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["f"]);
    assert!(!cwd.join("-").exists() && !std::path::Path::new("/-").exists());
    // An existing directory receives the copy; SRC/. copies the contents.
    std::fs::create_dir_all(cwd.join("into")).unwrap();
    assert!(cp(&["t:/d", "into"]).status.success());
    assert_eq!(std::fs::read_to_string(cwd.join("into/d/sub/g")).unwrap(), "g\n");
    std::fs::create_dir_all(cwd.join("contents")).unwrap();
    assert!(cp(&["t:/d/.", "contents"]).status.success());
    assert!(cwd.join("contents/sub/g").exists() && !cwd.join("contents/d").exists());
    // A symlink is copied as one; -L follows it inside the container.
    assert!(cp(&["t:/d/shadow", "link"]).status.success());
    assert_eq!(
        std::fs::read_link(cwd.join("link")).unwrap(),
        std::path::Path::new("/etc/shadow")
    );
    let o = cp(&["-L", "t:/d/shadow", "followed"]);
    assert!(
        !o.status.success() && !cwd.join("followed").exists(),
        "the host's /etc/shadow: {o:?}"
    );
    // A fifo or a device node is never opened (a fifo would block).
    for special in ["t:/d/fifo", "t:/d/blk"] {
        let started = std::time::Instant::now();
        let o = cp(&[special, "special"]);
        assert!(!o.status.success(), "{special}: {o:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(!cwd.join("special").exists());
    }
    // Into the container through its symlink to a host path: the path inside.
    std::fs::write(cwd.join("hostfile"), "from host\n").unwrap();
    assert!(cp(&["hostfile", "t:/out/"]).status.success());
    assert!(
        std::fs::read_dir(&victim).unwrap().next().is_none(),
        "written on the host"
    );
    assert_eq!(e.ok(&["exec", "t", "cat", &format!("{v}/hostfile")]), "from host\n");
    // A tar stream into the container: the same.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "esc", &v).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    b.append_data(&mut h, "esc/tarred", &b"tar\n"[..]).unwrap();
    let mut c = e.cmd(&["cp", "-", "t:/d"]);
    c.stdin(std::process::Stdio::piped());
    let mut child = c.stdout(std::process::Stdio::null()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &b.into_inner().unwrap()).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        std::fs::read_dir(&victim).unwrap().next().is_none(),
        "written on the host"
    );
    assert_eq!(e.ok(&["exec", "t", "cat", &format!("{v}/tarred")]), "tar\n");
}

#[test]
fn inputs_that_reach_files_or_the_kernel_are_refused_up_front() {
    let e = Engine::new();
    e.busybox();
    for (args, says) in [
        (vec!["--hostname", "web\n10.0.0.1 evil"], "not a valid host name"),
        (vec!["--hostname=-bad"], "not a valid host name"),
        (vec!["--add-host", "a\nb:1.2.3.4"], "not a valid host name"),
        (vec!["--memory", "1k"], "6MB"),
        (vec!["--memory", "99999999999999999999g"], "invalid size"),
        (vec!["--uts", "host", "--hostname", "x"], "conflicting options"),
    ] {
        let mut full = vec!["run", "--rm"];
        full.extend(&args);
        full.extend(["busybox:test", "true"]);
        let o = e.out(&full);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(says), "{args:?}: {o:?}");
        assert_eq!(e.containers_on_disk(), 0, "{args:?}: nothing was made");
    }
}
