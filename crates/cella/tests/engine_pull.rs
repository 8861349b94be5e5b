//! `cella pull` from a real registry (Debian's docker-registry, i.e.
//! distribution) on the loopback of a network namespace the test makes,
//! seeded with skopeo.

#[path = "support/engine.rs"]
mod common;
use common::*;
use std::process::Command;

#[test]
fn pull_run_and_refuse_a_corrupted_blob() {
    let e = Engine::new();
    let base = e.root.parent().unwrap().to_path_buf();
    let w = base.join("work");
    // A two-layer docker archive, written as docker save lays it out.
    cella_testsupport::busybox_rootfs(&w.join("l1"));
    let setup = Command::new("sh")
        .args(["-ec", &format!(
            "cd {w} && mkdir -p l2 arch && echo second > l2/marker && \
             (cd l1 && tar -czf ../arch/l1.tar.gz .) && (cd l2 && tar -cf ../arch/l2.tar .) && \
             d1=$(gunzip -c arch/l1.tar.gz | sha256sum | cut -d' ' -f1) && d2=$(sha256sum arch/l2.tar | cut -d' ' -f1) && \
             echo '{{\"created\":\"2026-01-01T00:00:00Z\",\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"/bin/sh\"],\"Env\":[\"PATH=/bin\",\"PULLED=yes\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:'$d1'\",\"sha256:'$d2'\"]}}}}' > arch/cfg.json && \
             echo '[{{\"Config\":\"cfg.json\",\"RepoTags\":[\"x/bb:1\"],\"Layers\":[\"l1.tar.gz\",\"l2.tar\"]}}]' > arch/manifest.json && \
             (cd arch && tar -cf ../archive.tar .) && \
             printf 'version: 0.1\\nstorage:\\n  filesystem:\\n    rootdirectory: {w}/registry\\nhttp:\\n  addr: 127.0.0.1:5055\\n' > registry.yml",
            w = w.display()
        )])
        .output()
        .unwrap();
    assert!(setup.status.success(), "{setup:?}");
    let c = format!(
        "env CELLA_DEFAULT_NETWORK=none {CELLA} --root {} --runroot {}",
        e.root.display(),
        e.runroot.display()
    );
    let script = format!(
        r#"W={w}; C='{c}'
        ip link set lo up
        docker-registry serve $W/registry.yml >$W/registry.log 2>&1 & R=$!
        for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/5055) 2>/dev/null && break; sleep 0.1; done
        skopeo copy -q --dest-tls-verify=false docker-archive:$W/archive.tar docker://127.0.0.1:5055/test/bb:1
        echo pull_rc=$($C pull -q --tls-verify=false 127.0.0.1:5055/test/bb:1 >/dev/null; echo $?)
        echo run=$($C run --rm 127.0.0.1:5055/test/bb:1 sh -c 'cat /marker; echo $PULLED')
        echo images=$($C images --format json | grep -c '127.0.0.1:5055/test/bb:1')
        echo https=$($C pull 127.0.0.1:5055/test/bb:1 2>&1 | grep -ci 'https\|tls\|ssl')
        echo missing=$($C pull --tls-verify=false 127.0.0.1:5055/test/nope:1 2>&1 | grep -c 404)
        $C rmi 127.0.0.1:5055/test/bb:1 >/dev/null
        # Corrupt the second layer's blob in the registry: the pull must refuse it.
        # (in place: the registry serves a blob's recorded length)
        for f in $(find $W/registry -path '*blobs/sha256/*/data' -size +2k); do printf 'XXXX' | dd of=$f bs=1 seek=1000 conv=notrunc 2>/dev/null; done
        echo corrupt=$($C pull --tls-verify=false 127.0.0.1:5055/test/bb:1 2>&1 | grep -c 'does not match its digest')
        echo stored=$($C images -q | wc -l)
        echo tmp=$(ls {root}/tmp | wc -l)
        kill $R
        "#,
        w = w.display(),
        root = e.root.display()
    );
    let out = Command::new("unshare")
        .args(["--net", "bash", "-c", &script])
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = |k: &str| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(|s| s.trim().to_string()))
            .unwrap_or_default()
    };
    assert_eq!(v("pull_rc"), "0", "{text}");
    assert_eq!(v("run"), "second yes", "{text}");
    assert_eq!(v("images"), "1", "{text}");
    assert_ne!(v("https"), "0", "without --tls-verify=false it speaks HTTPS: {text}");
    assert_eq!(v("missing"), "1", "{text}");
    assert_eq!(v("corrupt"), "1", "{text}");
    assert_eq!(
        v("stored"),
        "1",
        "only the built-in host image: nothing of the corrupt pull: {text}"
    );
    assert_eq!(v("tmp"), "0", "{text}");
}

#[test]
fn a_killed_transfer_leaves_nothing_once_the_store_is_used_again() {
    let e = Engine::new();
    // What a killed pull (or import, or load) leaves: files in tmp/.
    e.ok(&["images"]);
    // (named KIND-PID-RANDOM; PID 0 is never a live process's)
    let stale = e.root.join("tmp/pull-0-deadbeef");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("0"), b"half a layer").unwrap();
    let dir = e.root.with_file_name("rootfs");
    cella_testsupport::busybox_rootfs(&dir);
    e.ok(&["import", dir.to_str().unwrap(), "after:1"]);
    assert!(!stale.exists(), "swept under the store lock");
    assert_eq!(std::fs::read_dir(e.root.join("tmp")).unwrap().count(), 0);
}
