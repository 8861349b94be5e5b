//! Images: import, load (including archives podman writes), tag, rmi, and
//! layers with whiteouts, opaque directories, device nodes and fifos.

#[path = "support/engine.rs"]
mod common;
use common::*;
use std::process::Command;

fn sh(script: &str) {
    let o = Command::new("sh").args(["-ec", script]).output().unwrap();
    assert!(o.status.success(), "{script}: {o:?}");
}

#[test]
fn import_tar_gzip_dir_and_stdin_then_tag_and_rmi() {
    let e = Engine::new();
    let work = e.root.with_file_name("work");
    let rootfs = work.join("rootfs");
    cella_testsupport::busybox_rootfs(&rootfs);
    let w = work.display();
    sh(&format!(
        "cd {w}/rootfs && tar -cf {w}/r.tar . && gzip -c {w}/r.tar > {w}/r.tgz"
    ));
    let a = e.ok(&["import", &format!("{w}/r.tar"), "imp:plain"]);
    let b = e.ok(&["import", &format!("{w}/r.tgz"), "imp:gz"]);
    e.ok(&["import", &format!("{w}/rootfs"), "imp:dir"]);
    let stdin = std::fs::File::open(work.join("r.tar")).unwrap();
    let d = e.cmd(&["import", "-", "imp:stdin"]).stdin(stdin).output().unwrap();
    assert!(d.status.success(), "{d:?}");
    assert_ne!(a, b, "separate images");
    let images: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--format", "json"])).unwrap();
    let layer = |tag: &str| {
        images
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["RepoTags"].as_array().unwrap().iter().any(|t| t == tag))
            .map(|i| i["Layers"][0].as_str().unwrap().to_string())
            .unwrap()
    };
    // The layer is stored once, by the digest of the uncompressed tar.
    assert_eq!(layer("imp:plain"), layer("imp:gz"));
    assert_eq!(layer("imp:plain"), layer("imp:stdin"));
    assert_eq!(
        std::fs::read_dir(e.root.join("layers")).unwrap().count(),
        2,
        "tar+gzip+stdin share one; the directory's tar differs"
    );
    assert!(images.as_array().unwrap().iter().any(|i| i["Id"] == "host"));
    // Each runs.
    for t in ["imp:plain", "imp:gz", "imp:dir", "imp:stdin"] {
        assert_eq!(e.ok(&["run", "--rm", t, "echo", "ok"]), "ok\n", "{t}");
    }
    // tag, then rmi removes one name at a time, and the image with the last.
    e.ok(&["tag", "imp:gz", "other/name:v2"]);
    assert_eq!(e.ok(&["run", "--rm", "other/name:v2", "true"]), "");
    assert_eq!(e.ok(&["rmi", "other/name:v2"]).trim(), "Untagged: other/name:v2");
    e.ok(&["run", "--name", "user", "imp:gz", "true"]);
    let refused = e.out(&["rmi", "imp:gz"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("used by container user"),
        "{refused:?}"
    );
    let removed = e.ok(&["rmi", "-f", "imp:gz"]);
    assert!(removed.contains("Deleted: sha256:"), "{removed}");
    assert_eq!(e.containers_on_disk(), 0, "-f removed its container");
    for bad in [
        &["import", "/no/such/file", "x"][..],
        &["import", "/etc/hostname", "x"],
        &["import", "/etc", "Bad Name"],
        &["tag", "nope", "x"],
        &["rmi", "host"],
    ] {
        let o = e.out(bad);
        assert!(!o.status.success(), "{bad:?}");
    }
    assert_eq!(
        std::fs::read_dir(e.root.join("tmp")).unwrap().count(),
        0,
        "no partial layers left"
    );
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn layers_keep_whiteouts_opaque_dirs_devices_and_fifos() {
    let e = Engine::new();
    let work = e.root.with_file_name("work");
    let w = work.display();
    // A two-layer docker archive, written by hand as docker save lays it out.
    cella_testsupport::busybox_rootfs(&work.join("l1"));
    sh(&format!(
        "cd {w} && echo gone > l1/a && mkdir -p l1/d l2/d && echo old > l1/d/x && \
         echo new > l2/d/y && touch l2/.wh.a l2/d/.wh..wh..opq && mknod l2/null c 1 3 && mkfifo l2/fifo && \
         (cd l1 && tar -cf ../l1.tar .) && (cd l2 && tar -cf ../l2.tar .) && \
         mkdir -p arch && cp l1.tar l2.tar arch/ && \
         echo '{{\"created\":\"2026-01-01T00:00:00Z\",\"config\":{{\"Cmd\":[\"/bin/sh\"],\"Env\":[\"PATH=/bin\",\"FROM_IMAGE=1\"],\"WorkingDir\":\"/d\"}}}}' > arch/cfg.json && \
         echo '[{{\"Config\":\"cfg.json\",\"RepoTags\":[\"layered:1\"],\"Layers\":[\"l1.tar\",\"l2.tar\"]}}]' > arch/manifest.json && \
         (cd arch && tar -cf ../archive.tar .)"
    ));
    assert_eq!(
        e.ok(&["load", "-i", &format!("{w}/archive.tar")]).trim(),
        "Loaded image: layered:1"
    );
    let out = e.ok(&[
        "run",
        "--rm",
        "layered:1",
        "sh",
        "-c",
        "pwd; echo $FROM_IMAGE; ls /d; test -e /a || echo a-gone; stat -c '%F %t:%T' /null; test -p /fifo && echo fifo",
    ]);
    assert_eq!(out, "/d\n1\ny\na-gone\ncharacter special file 1:3\nfifo\n");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn podman_save_archives_load_and_run() {
    let e = Engine::new();
    let work = e.root.with_file_name("podman");
    cella_testsupport::busybox_rootfs(&work.join("rootfs"));
    let w = work.display();
    // podman with a store of its own under the test's directory.
    let pm = format!("podman --root {w}/root --runroot {w}/run --storage-driver vfs");
    sh(&format!(
        "cd {w}/rootfs && tar -cf {w}/r.tar . && \
         {pm} import --change 'CMD [\"/bin/sh\"]' {w}/r.tar localhost/fromfpodman:1 >/dev/null 2>&1 && \
         {pm} save -o {w}/docker.tar localhost/fromfpodman:1 2>/dev/null && \
         {pm} save --format oci-archive -o {w}/oci.tar localhost/fromfpodman:1 2>/dev/null"
    ));
    let podman_id = String::from_utf8_lossy(
        &Command::new("sh")
            .args(["-c", &format!("{pm} images -q --no-trunc localhost/fromfpodman:1")])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string();
    assert_eq!(
        e.ok(&["load", "-i", &format!("{w}/docker.tar")]).trim(),
        "Loaded image: localhost/fromfpodman:1"
    );
    let ours: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "localhost/fromfpodman:1"])).unwrap();
    assert_eq!(
        ours[0]["Id"], podman_id,
        "the same image id as podman's (the config digest)"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "localhost/fromfpodman:1", "echo", "from docker-archive"]),
        "from docker-archive\n"
    );
    e.ok(&["rmi", "localhost/fromfpodman:1"]);
    let stdin = std::fs::File::open(work.join("oci.tar")).unwrap();
    let o = e.cmd(&["load"]).stdin(stdin).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        e.ok(&["run", "--rm", "localhost/fromfpodman:1", "echo", "from oci-archive"]),
        "from oci-archive\n"
    );
    // Not an archive: a clear error, and nothing stored.
    let before = e.ok(&["images", "-q"]);
    let bad = e.out(&["load", "-i", &format!("{w}/r.tar")]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("neither a docker archive"),
        "{bad:?}"
    );
    assert_eq!(e.ok(&["images", "-q"]), before);
    assert_eq!(std::fs::read_dir(e.root.join("tmp")).unwrap().count(), 0);
    let _ = Command::new("sh")
        .args(["-c", &format!("{pm} rmi -a -f >/dev/null 2>&1; rm -rf {w}")])
        .status();
}

#[test]
fn images_q_lists_what_rmi_can_remove() {
    // `cella rmi $(cella images -q)` must not fail on the built-in image.
    let e = Engine::new();
    assert_eq!(e.ok(&["images", "-q"]), "", "the host image is not listed");
    let bb = e.busybox();
    let ids = e.ok(&["images", "-q"]);
    assert_eq!(ids.lines().count(), 1, "{ids}");
    let mut args = vec!["rmi"];
    args.extend(ids.split_whitespace());
    e.ok(&args);
    assert!(!e.ok(&["images"]).contains(bb.split(':').next().unwrap()));
    assert!(e.ok(&["images"]).contains("host"), "still there, just not in -q");
}
