//! Hooks: order, state on stdin, namespaces, and failure semantics.

mod common;
use cella_spec::{Hook, Hooks};
use common::*;

fn logger(log: &std::path::Path, phase: &str) -> Hook {
    // Each hook logs its phase, the id and status from stdin, and its hostname
    // (the container's for createContainer/startContainer).
    Hook {
        path: "/bin/sh".into(),
        args: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "read -r s; id=$(echo \"$s\" | sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/'); st=$(echo \"$s\" | sed 's/.*\"status\":\"\\([^\"]*\\)\".*/\\1/'); echo \"{phase} $id $st $(hostname) $HOOKVAR\" >> {}",
                log.display()
            ),
        ],
        env: vec!["HOOKVAR=set".into(), "PATH=/bin:/usr/bin".into()],
        timeout: Some(10),
    }
}

#[test]
fn all_six_hooks_run_in_order_with_state_on_stdin() {
    let rt = Rt::new();
    let id = unique("hooks");
    let mut b = sh("echo running");
    b.spec.hostname = Some("hooked".into());
    b.spec.root.as_mut().unwrap().readonly = false;
    let logdir = b.dir.join("logs");
    std::fs::create_dir_all(&logdir).unwrap();
    let host_log = logdir.join("log");
    // startContainer runs after pivot_root: it sees the bundle's log dir at /logs.
    b.spec.mounts.push(cella_spec::Mount {
        destination: "/logs".into(),
        kind: Some("bind".into()),
        source: Some(logdir.display().to_string()),
        options: vec!["bind".into()],
    });
    let inner_log = std::path::Path::new("/logs/log");
    b.spec.hooks = Some(Hooks {
        prestart: vec![logger(&host_log, "prestart")],
        create_runtime: vec![logger(&host_log, "createRuntime")],
        create_container: vec![logger(&host_log, "createContainer")],
        start_container: vec![logger(inner_log, "startContainer")],
        poststart: vec![logger(&host_log, "poststart")],
        poststop: vec![logger(&host_log, "poststop")],
    });
    let o = rt.run(&b, &id).ok();
    assert_eq!(o.stdout, "running\n");
    let host = cella_sys::ns::gethostname().unwrap();
    let log = std::fs::read_to_string(&host_log).unwrap();
    let want = format!(
        "prestart {id} created {host} set\ncreateRuntime {id} created {host} set\ncreateContainer {id} created hooked set\n\
         startContainer {id} created hooked set\npoststart {id} running {host} set\npoststop {id} stopped {host} set\n"
    );
    assert_eq!(log, want);
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let rt = Rt::new();
    let id = unique("hookfail");
    let mut b = sh("echo never");
    b.spec.hooks = Some(Hooks {
        create_runtime: vec![Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), "echo hook-said-no >&2; exit 7".into()],
            ..Default::default()
        }],
        ..Default::default()
    });
    let o = rt.run(&b, &id).failed();
    assert!(
        o.stderr.contains("createRuntime hook failed") && o.stderr.contains("hook-said-no"),
        "{o:?}"
    );
    assert!(!o.stdout.contains("never"));
    assert!(!rt.state_dir(&id).exists());
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists());
    }
}

#[test]
fn failing_poststart_and_poststop_hooks_only_warn() {
    let rt = Rt::new();
    let mut b = sh("echo ran");
    let fail = Hook {
        path: "/bin/false".into(),
        ..Default::default()
    };
    b.spec.hooks = Some(Hooks {
        poststart: vec![fail.clone()],
        poststop: vec![fail],
        ..Default::default()
    });
    let o = rt.run(&b, &unique("warnhooks")).ok();
    assert_eq!(o.stdout, "ran\n");
    assert!(o.stderr.contains("poststart hook /bin/false failed"), "{o:?}");
}

/// A bundle that would print "never" but for its failing startContainer hook.
fn with_failing_start_container_hook() -> Bundle {
    let mut b = sh("echo never");
    b.spec.hooks = Some(Hooks {
        start_container: vec![Hook {
            path: "/bin/false".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    b
}

#[test]
fn failing_start_container_hook_fails_start() {
    let rt = Rt::new();
    let id = unique("startfail");
    let b = with_failing_start_container_hook();
    rt.create(&b, &id).ok();
    let o = rt.exec(&["start", &id]).failed();
    assert!(o.stderr.contains("startContainer hook failed"), "{o:?}");
    assert!(eventually(|| rt.status(&id) == "stopped"));
}

#[test]
fn failing_start_container_hook_fails_run_and_leaves_nothing() {
    // `run` starts what it created over the init's channel, not the start
    // socket: the hook's failure still comes back as run's error, the
    // process never runs, and the container is gone.
    let rt = Rt::new();
    let id = unique("runstartfail");
    let o = rt.run(&with_failing_start_container_hook(), &id).failed();
    assert!(o.stderr.contains("startContainer hook failed"), "{o:?}");
    assert!(!o.stdout.contains("never"), "{o:?}");
    assert!(!rt.root.join(&id).exists(), "state of {id} left behind");
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}
