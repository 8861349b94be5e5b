//! Images, layers and archives that try to reach the host: each test builds
//! the hostile input, feeds it to `import`, `load` or `pull`, and asserts
//! that a host directory outside the store is exactly as it was (no file
//! created, linked or changed) and that nothing is left in the store.

#[path = "../../crates/cella/tests/support/engine.rs"]
mod common;
#[path = "../../crates/cella/tests/support/rootless.rs"]
mod rootless;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A directory of the host's, outside any store, holding one file that a
/// hostile image would like to read, link or replace.
struct Victim {
    dir: PathBuf,
}

impl Victim {
    fn new() -> Victim {
        let dir = std::env::temp_dir().join(cella_testsupport::unique("cella-victim"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep"), "host\n").unwrap();
        Victim { dir }
    }

    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// `victim`'s path as the archive writes it: relative, with enough `..`
    /// to climb out of any store.
    fn climbing(&self) -> String {
        format!("{}{}", "../".repeat(12), self.path().trim_start_matches('/'))
    }

    fn assert_untouched(&self, context: &str) {
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["keep"], "something was created on the host: {context}");
        let keep = self.dir.join("keep");
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "host\n", "{context}");
        assert_eq!(
            std::fs::metadata(&keep).unwrap().nlink(),
            1,
            "the host file was linked: {context}"
        );
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Tar = tar::Builder<Vec<u8>>;

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h
}

fn file(b: &mut Tar, name: &str, data: &[u8]) {
    b.append_data(
        &mut header(tar::EntryType::Regular, data.len() as u64, 0o644),
        name,
        data,
    )
    .unwrap();
}

fn dir(b: &mut Tar, name: &str) {
    b.append_data(&mut header(tar::EntryType::Directory, 0, 0o755), name, &[][..])
        .unwrap();
}

fn link(b: &mut Tar, kind: tar::EntryType, name: &str, target: &str) {
    b.append_link(&mut header(kind, 0, 0o777), name, target).unwrap();
}

fn node(b: &mut Tar, kind: tar::EntryType, name: &str) {
    let mut h = header(kind, 0, 0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    b.append_data(&mut h, name, &[][..]).unwrap();
}

/// An entry whose raw name (or link target) the tar crate would refuse to
/// write, such as `../x`: the header's bytes set by hand.
fn raw(b: &mut Tar, kind: tar::EntryType, name: &str, link_target: &str, data: &[u8]) {
    let mut h = header(kind, data.len() as u64, 0o644);
    {
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname = [0; 100];
        old.linkname[..link_target.len()].copy_from_slice(link_target.as_bytes());
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn tar(build: impl FnOnce(&mut Tar)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

/// A layer that reaches for `v` through an absolute and a climbing symlink
/// with every kind of entry below them. The layer has directories of the
/// victim's path of its own, so that the symlinks resolve (inside it).
fn hostile_layer(v: &Victim) -> Vec<u8> {
    tar(|b| {
        let mut p = String::new();
        for c in v.path().trim_start_matches('/').split('/') {
            p = format!("{p}{c}/");
            dir(b, &p);
        }
        link(b, tar::EntryType::Symlink, "x", &v.path());
        link(b, tar::EntryType::Symlink, "up", &v.climbing());
        dir(b, "x/dir/");
        file(b, "x/file", b"layer\n");
        file(b, "x/new/.wh.foo", b"");
        file(b, "x/opq/.wh..wh..opq", b"");
        file(b, "x/.wh.keep", b"");
        node(b, tar::EntryType::Char, "x/dev0");
        node(b, tar::EntryType::Fifo, "x/fifo");
        link(b, tar::EntryType::Symlink, "x/sl", "/etc/passwd");
        file(b, "up/file2", b"layer\n");
        link(b, tar::EntryType::Link, "x/hardlink", "x/file");
    })
}

fn sha256(data: &[u8]) -> String {
    use std::io::Write;
    let mut c = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    format!(
        "sha256:{}",
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap()
    )
}

/// A docker-archive of busybox plus `extra` layers, named `tag`; `members`
/// adds or replaces archive members (symlinks, hostile manifests).
fn docker_archive(e: &Engine, tag: &str, extra: &[Vec<u8>], members: impl FnOnce(&mut Tar)) -> PathBuf {
    let base = e.root.with_file_name(cella_testsupport::unique("bb"));
    cella_testsupport::busybox_rootfs(&base);
    let out = std::process::Command::new("tar")
        .args(["-cf", "-", "-C", base.to_str().unwrap(), "."])
        .output()
        .unwrap();
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&base);
    let mut layers = vec![out.stdout];
    layers.extend(extra.iter().cloned());
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let names: Vec<String> = (0..layers.len()).map(|i| format!("l{i}.tar")).collect();
    let manifest = serde_json::json!([{"Config": "cfg.json", "RepoTags": [tag], "Layers": names}]).to_string();
    let bytes = tar(|b| {
        for (n, l) in names.iter().zip(&layers) {
            file(b, n, l);
        }
        file(b, "cfg.json", config.as_bytes());
        file(b, "manifest.json", manifest.as_bytes());
        members(b);
    });
    let path = e
        .root
        .with_file_name(cella_testsupport::unique("archive"))
        .with_extension("tar");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn write_tar(e: &Engine, bytes: &[u8]) -> PathBuf {
    let p = e
        .root
        .with_file_name(cella_testsupport::unique("layer"))
        .with_extension("tar");
    std::fs::write(&p, bytes).unwrap();
    p
}

fn stored_images(e: &Engine) -> usize {
    std::fs::read_dir(e.root.join("images")).map(|d| d.count()).unwrap_or(0)
}

fn leftovers(e: &Engine) -> Vec<PathBuf> {
    std::fs::read_dir(e.root.join("tmp"))
        .map(|d| d.map(|x| x.unwrap().path()).collect())
        .unwrap_or_default()
}

/// The files of the store's layers whose path ends with `tail`.
fn in_layers(e: &Engine, tail: &Path) -> Vec<PathBuf> {
    let Ok(layers) = std::fs::read_dir(e.root.join("layers")) else {
        return Vec::new();
    };
    layers
        .map(|l| l.unwrap().path().join(tail))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect()
}

#[test]
fn import_keeps_every_entry_type_inside_the_layer() {
    let e = Engine::new();
    let v = Victim::new();
    let layer = write_tar(&e, &hostile_layer(&v));
    e.ok(&["import", layer.to_str().unwrap(), "evil:1"]);
    v.assert_untouched("import");
    // Followed as if the layer were `/`: the entries are in the layer, under
    // the victim's path.
    let rel = Path::new(v.path().trim_start_matches('/')).to_path_buf();
    for name in ["file", "file2", "dir", "dev0", "fifo", "sl", "hardlink", "new", "opq"] {
        assert_eq!(in_layers(&e, &rel.join(name)).len(), 1, "{name} is in the layer");
    }
    assert!(leftovers(&e).is_empty());
}

#[test]
fn load_and_run_of_a_hostile_layer_stay_inside_the_image() {
    let e = Engine::new();
    let v = Victim::new();
    let archive = docker_archive(&e, "evil:2", &[hostile_layer(&v)], |_| {});
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    v.assert_untouched("load");
    // The container sees the entries at the victim's path of its own root.
    let out = e.ok(&[
        "run",
        "--rm",
        "evil:2",
        "cat",
        &format!("{}/file", v.path()),
        "/x/file",
        "/up/file2",
    ]);
    assert_eq!(out, "layer\nlayer\nlayer\n");
    v.assert_untouched("run");
}

#[test]
fn layers_that_climb_out_or_link_out_are_refused() {
    let v = Victim::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a file named with ..",
            tar(|b| raw(b, tar::EntryType::Regular, "../../escape", "", b"x")),
        ),
        (
            "entries below a symlink to a host directory the layer does not have",
            tar(|b| {
                link(b, tar::EntryType::Symlink, "x", &v.path());
                file(b, "x/new/.wh.foo", b"");
                node(b, tar::EntryType::Fifo, "x/fifo");
            }),
        ),
        (
            "a hard link to a host file through a symlink",
            tar(|b| {
                link(b, tar::EntryType::Symlink, "x", &v.path());
                link(b, tar::EntryType::Link, "h", "x/keep");
            }),
        ),
        (
            "a hard link named with ..",
            tar(|b| link(b, tar::EntryType::Link, "h", &format!("{}/keep", v.climbing()))),
        ),
        ("a whiteout of ..", tar(|b| file(b, "d/.wh...", b""))),
        ("a whiteout of nothing", tar(|b| file(b, "d/.wh.", b""))),
    ];
    for (what, bytes) in cases {
        let e = Engine::new();
        let layer = write_tar(&e, &bytes);
        let o = e.out(&["import", layer.to_str().unwrap(), "evil:3"]);
        assert_eq!(o.status.code(), Some(125), "{what}: {o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("refusing"), "{what}: {o:?}");
        v.assert_untouched(what);
        assert_eq!(stored_images(&e), 0, "{what}");
        assert!(leftovers(&e).is_empty(), "{what}: {:?}", leftovers(&e));
        assert!(in_layers(&e, Path::new("")).is_empty(), "{what}: no layer stored");
    }
}

#[test]
fn archive_members_are_read_only_as_regular_files_of_the_archive() {
    let v = Victim::new();
    std::fs::write(
        v.dir.join("secret.json"),
        r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["/secret"]},"rootfs":{"type":"layers","diff_ids":[]}}"#,
    )
    .unwrap();
    let backup = tar(|b| file(b, "etc/backup", b"host backup\n"));
    std::fs::create_dir_all(v.dir.join("dir")).unwrap();
    std::fs::write(v.dir.join("dir/backup.tar"), &backup).unwrap();
    let secret = v.dir.join("secret.json").display().to_string();
    let vdir = v.dir.join("dir").display().to_string();
    type Members = Box<dyn FnOnce(&mut Tar)>;
    let cases: Vec<(&str, Members, &str)> = vec![
        (
            "a config that is a symlink to a host file",
            Box::new(move |b| link(b, tar::EntryType::Symlink, "cfg.json", &secret)),
            "cfg.json",
        ),
        (
            "a layer reached through a directory symlink to the host",
            Box::new(move |b| {
                link(b, tar::EntryType::Symlink, "d", &vdir);
                let m = r#"[{"Config":"cfg.json","RepoTags":["evil:4"],"Layers":["l0.tar","d/backup.tar"]}]"#;
                file(b, "manifest.json", m.as_bytes());
            }),
            "d/backup.tar",
        ),
        (
            "a manifest that is a symlink to /dev/zero",
            Box::new(|b| link(b, tar::EntryType::Symlink, "manifest.json", "/dev/zero")),
            "manifest.json",
        ),
        (
            "a layer that is a symlink to /dev/zero",
            Box::new(|b| link(b, tar::EntryType::Symlink, "l0.tar", "/dev/zero")),
            "l0.tar",
        ),
        (
            "a layer that climbs out of the archive",
            Box::new(|b| link(b, tar::EntryType::Symlink, "l0.tar", "../../../../../../../../dev/zero")),
            "l0.tar",
        ),
        (
            "a manifest larger than any image needs",
            Box::new(|b| file(b, "manifest.json", &vec![b' '; 17 << 20])),
            "larger than",
        ),
        (
            "a fifo as the config",
            Box::new(|b| node(b, tar::EntryType::Fifo, "cfg.json")),
            "fifo",
        ),
    ];
    for (what, members, named) in cases {
        let e = Engine::new();
        let archive = docker_archive(&e, "evil:4", &[], members);
        let started = std::time::Instant::now();
        let o = e.out(&["load", "-i", archive.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{what}: {o:?}");
        assert!(err.contains(named), "{what}: the message names the member: {err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{what}: refused at once"
        );
        v.assert_secret_untouched(what);
        assert_eq!(stored_images(&e), 0, "{what}");
        assert!(leftovers(&e).is_empty(), "{what}");
        let blobs: Vec<_> = std::fs::read_dir(e.root.join("blobs/sha256"))
            .map(|d| d.collect())
            .unwrap_or_default();
        assert!(blobs.is_empty(), "{what}: no blob kept");
    }
}

impl Victim {
    /// The victim with the two extra files the archive test gave it.
    fn assert_secret_untouched(&self, context: &str) {
        for f in ["keep", "secret.json", "dir/backup.tar"] {
            let m = std::fs::metadata(self.dir.join(f)).unwrap();
            assert_eq!(m.nlink(), 1, "{f} was linked into the store: {context}");
        }
    }
}

#[test]
fn repo_tags_follow_the_reference_rules() {
    for tag in [
        "host:latest",
        "a\nb:1",
        "../../x:1",
        "a/../../x:1",
        "UPPER:1",
        "x:bad tag",
    ] {
        let e = Engine::new();
        let archive = docker_archive(&e, tag, &[], |_| {});
        let o = e.out(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(125), "{tag:?}: {o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("invalid image reference"),
            "{o:?}"
        );
        assert_eq!(stored_images(&e), 0, "{tag:?}: nothing stored");
    }
}

#[test]
fn a_load_that_never_ends_holds_no_lock() {
    // A stream that stops after one header: the load waits for the rest
    // while others use the store; killed, it leaves nothing behind.
    let e = Engine::new();
    let mut h = header(tar::EntryType::Regular, 1 << 30, 0o644);
    h.set_path("l0.tar").unwrap();
    h.set_cksum();
    let mut load = e.cmd(&["load"]);
    load.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = load.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, h.as_bytes()).unwrap();
    std::io::Write::write_all(&mut stdin, &[0u8; 4096]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dir = e.root.with_file_name("small");
    cella_testsupport::busybox_rootfs(&dir);
    let mut import = e.cmd(&["import", dir.to_str().unwrap(), "small:1"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let imported = loop {
        if let Some(status) = import.try_wait().unwrap() {
            break status.success();
        }
        if std::time::Instant::now() > deadline {
            let _ = import.kill();
            let _ = import.wait();
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let still_reading = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert!(imported, "an import waited for the endless load");
    assert!(still_reading, "the load was still reading");
    // The next command that takes the lock sweeps what the killed load left.
    e.busybox();
    assert!(leftovers(&e).is_empty(), "{:?}", leftovers(&e));
}

#[test]
fn a_pulled_layer_stays_inside_the_layer() {
    // The same hostile layer through a registry: seeded by skopeo from a
    // docker-archive into Debian's docker-registry on the loopback of a
    // network namespace of the test's own.
    let e = Engine::new();
    let v = Victim::new();
    let archive = docker_archive(&e, "evil:5", &[hostile_layer(&v)], |_| {});
    let w = e.root.with_file_name("work");
    std::fs::create_dir_all(&w).unwrap();
    let base = e.root.parent().unwrap();
    let script = format!(
        r#"set -eu; ip link set lo up
        printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {w}/registry\nhttp:\n  addr: 127.0.0.1:5056\n' > {w}/registry.yml
        env -u REGISTRY_AUTH_FILE docker-registry serve {w}/registry.yml >{w}/registry.log 2>&1 &
        trap 'kill $! 2>/dev/null; wait 2>/dev/null' EXIT
        for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5056) 2>/dev/null && break; sleep 0.05; done
        skopeo copy -q --dest-tls-verify=false docker-archive:{a} docker://127.0.0.1:5056/test/evil:5
        env REGISTRY_AUTH_FILE={b}/auth.json CELLA_REGISTRIES_CONF={b}/registries.conf \
          {CELLA} --root {root} --runroot {run} pull -q --tls-verify=false 127.0.0.1:5056/test/evil:5
        "#,
        w = w.display(),
        a = archive.display(),
        b = base.display(),
        root = e.root.display(),
        run = e.runroot.display(),
    );
    let o = std::process::Command::new("unshare")
        .args(["--net", "bash", "-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    v.assert_untouched("pull");
    let rel = Path::new(v.path().trim_start_matches('/')).join("file");
    assert_eq!(in_layers(&e, &rel).len(), 1);
}

#[test]
fn an_unprivileged_load_and_run_keep_a_hostile_layer_inside() {
    // As an ordinary user the layers keep OCI whiteouts as marker files and
    // are copied into the container's root instead of mounted: that path
    // must stay inside too. The victim directory is the user's own, so only
    // the code stands in the way. The user, its ranges and its home are the
    // test's own, bound over /etc in a private mount namespace.
    let e = Engine::new();
    let base = e.root.with_file_name("rootless");
    let u = rootless::User::new(&base, "rlsec", 4345, 600000);
    let v = Victim {
        dir: base.join("victim"),
    };
    std::fs::create_dir_all(&v.dir).unwrap();
    std::fs::write(v.dir.join("keep"), "host\n").unwrap();
    let layer = tar(|b| {
        let mut p = String::new();
        for c in v.path().trim_start_matches('/').split('/') {
            p = format!("{p}{c}/");
            dir(b, &p);
        }
        link(b, tar::EntryType::Symlink, "x", &v.path());
        file(b, "x/file", b"layer\n");
        file(b, "x/.wh.keep", b"");
        file(b, "x/sub/.wh..wh..opq", b"");
        node(b, tar::EntryType::Fifo, "x/fifo");
        link(b, tar::EntryType::Link, "x/hardlink", "x/file");
    });
    let archive = docker_archive(&e, "evil:rl", &[layer], |_| {});
    let user = u.run(&format!(
        "env CELLA_DEFAULT_NETWORK=none CELLA_REGISTRIES_CONF={}/registries.conf {CELLA}",
        u.home.display()
    ));
    let script = format!(
        "{setup} chmod 755 {root} && chown -R 4345:4345 {vd} && cd /tmp && \
         {user} load -i {a} >/dev/null && {user} run --rm evil:rl cat {vd}/file /x/file && \
         {user} run --rm evil:rl ls {vd}",
        setup = u.setup(),
        root = e.root.parent().unwrap().display(),
        vd = v.path(),
        a = archive.display(),
    );
    let o = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    assert!(out.starts_with("layer\nlayer\n"), "{out}");
    // In the container the whiteout hid nothing of the host's: the victim
    // path there holds what the layer put.
    assert!(out.contains("file") && out.contains("hardlink"), "{out}");
    v.assert_untouched("rootless load and run");
}
