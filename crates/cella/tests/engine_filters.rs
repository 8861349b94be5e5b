//! `ps --filter` and `--format` templates, side by side with podman (its own store under the test's
//! directory, vfs, runc, no network) on the same containers: a running `web`, a
//! `job` that exited 3 and a `done` that exited 0, all of one image.

#[path = "support/engine.rs"]
mod common;
use common::*;
#[path = "support/podman.rs"]
mod podman;
use podman::{sh, Podman};
use std::collections::BTreeSet;

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn ps_filters_and_templates_select_and_print_what_podmans_do() {
    let e = Engine::new();
    let image = "localhost/filters:1";
    let podman = Podman::beside(&e, image);
    let pm = podman.pm.clone();
    for (name, cmd) in [("web", "sleep 300"), ("job", "exit 3"), ("done", "true")] {
        let detach = if name == "web" { "-d" } else { "" };
        sh(&format!(
            // Limits below this machine's hard ones: podman raises nofile and
            // nproc above them, which needs CAP_SYS_RESOURCE (not here).
            "{pm} run {detach} --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none \\
             --name {name} {image} sh -c '{cmd}' >/dev/null || true"
        ));
        let mut args = vec!["run", "--name", name];
        if name == "web" {
            args.push("-d");
        }
        args.extend([image, "sh", "-c", cmd]);
        let _ = e.out(&args);
    }
    let podman = |filters: &[&str]| -> BTreeSet<String> {
        let f: String = filters.iter().map(|f| format!(" --filter '{f}'")).collect();
        sh(&format!("{pm} ps -a{f} --format '{{{{.Names}}}}'"))
            .lines()
            .map(str::to_string)
            .collect()
    };
    let cella = |filters: &[&str], all: bool| -> BTreeSet<String> {
        let mut args = vec!["ps", "--format", "json"];
        if all {
            args.push("-a");
        }
        for f in filters {
            args.extend(["--filter", f]);
        }
        // docker's json: an object per line, with docker's keys.
        e.ok(&args)
            .lines()
            .map(|l| {
                let c: serde_json::Value = serde_json::from_str(l).unwrap();
                for key in [
                    "ID",
                    "Image",
                    "Command",
                    "CreatedAt",
                    "RunningFor",
                    "Status",
                    "State",
                    "Ports",
                    "Labels",
                    "Networks",
                    "Mounts",
                    "LocalVolumes",
                    "Size",
                ] {
                    assert!(c[key].is_string(), "{key} in {l}");
                }
                c["Names"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let cases: &[&[&str]] = &[
        &["name=web"],
        &["name=o"],
        &["name=^jo"],
        &["name=b$"],
        &["status=running"],
        &["status=exited"],
        &["status=created"],
        &["exited=3"],
        &["exited=0"],
        &["ancestor=localhost/filters:1"],
        &["label=team=a"],
        &["name=web", "name=job"],
        &["name=o", "status=exited"],
        &["status=exited", "exited=0"],
    ];
    for f in cases {
        assert_eq!(cella(f, true), podman(f), "--filter {f:?}");
    }
    // docker lists stopped containers for a status or exit filter without -a.
    assert_eq!(cella(&["exited=3"], false), BTreeSet::from(["job".to_string()]));
    assert_eq!(
        cella(&["name=o"], false),
        BTreeSet::new(),
        "no -a, no status filter: running only"
    );
    let o = e.out(&["ps", "--filter", "colour=red"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("colour=red"), "{o:?}");
    // Go templates, on the same containers and image.
    for (args, template) in [
        (
            "inspect -f",
            "{{.State.Status}} {{.State.ExitCode}} {{json .State.Running}}",
        ),
        (
            "inspect --format",
            "{{if .State.Running}}up{{else}}down {{.State.ExitCode}}{{end}}",
        ),
    ] {
        for name in ["web", "job", "done"] {
            let theirs = sh(&format!("{pm} {args} '{template}' {name}"));
            let mut argv: Vec<&str> = args.split(' ').collect();
            argv.extend([template, name]);
            assert_eq!(e.ok(&argv), theirs, "{args} {template} {name}");
        }
    }
    let repo_tag = "{{.Repository}}:{{.Tag}}";
    // An intended difference: cella lists its built-in host image too.
    assert_eq!(
        e.ok(&["images", "--format", repo_tag]).replace("host:latest\n", ""),
        sh(&format!("{pm} images --format '{repo_tag}'"))
    );
    // (Not .State: docker's is the state word, podman's the status text;
    // cella follows docker, as the table below shows.)
    let names = "{{.Names}} {{.Image}}";
    let sorted = |s: String| -> BTreeSet<String> { s.lines().map(str::to_string).collect() };
    assert_eq!(
        sorted(e.ok(&["ps", "-a", "--format", names])),
        sorted(sh(&format!("{pm} ps -a --format '{names}'")))
    );
    let table = e.ok(&["ps", "--format", "table {{.Names}}\\t{{.State}}"]);
    assert_eq!(table, "NAMES   STATE\nweb     running\n", "{table}");
    // images --filter against podman, on the image with one name.
    let filters = [
        "reference=localhost/filters",
        "reference=*:1",
        "reference=localhost/*",
        "reference=nope*",
        "dangling=false",
    ];
    for f in filters {
        let ours = e
            .ok(&["images", "--filter", f, "--format", repo_tag])
            .replace("host:latest\n", "");
        let theirs = sh(&format!("{pm} images --filter '{f}' --format '{repo_tag}'"));
        assert_eq!(sorted(ours), sorted(theirs), "images --filter {f}");
    }
    // With a second name, docker lists only the names that match (podman
    // lists every name of a matching image: an intended difference).
    e.ok(&["tag", image, "localhost/other:2"]);
    let only = |f: &str| sorted(e.ok(&["images", "--filter", f, "--format", repo_tag]));
    assert_eq!(
        only("reference=localhost/other"),
        BTreeSet::from(["localhost/other:2".to_string()])
    );
    assert_eq!(only("reference=*:1").len(), 1);
    // docker refuses to remove by id an image with two names, without -f.
    let bb = e.busybox();
    e.ok(&["tag", &bb, "busybox:two"]);
    let id = e.ok(&["images", "-q", "--filter", "reference=busybox:two"]);
    let o = e.out(&["rmi", id.trim()]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("must be forced"),
        "{o:?}"
    );
    assert!(e.ok(&["images"]).contains("busybox"), "nothing was removed");
    e.ok(&["rmi", "-f", id.trim()]);
    assert!(!e.ok(&["images"]).contains("busybox"));
}
