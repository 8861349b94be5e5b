//! `--userns auto`: each container has host ids of its own, from the
//! "containers" ranges of /etc/subuid and /etc/subgid (the test's own,
//! bound over /etc in a private mount namespace).

#[path = "support/engine.rs"]
mod common;
use common::*;
use std::process::Command;

#[test]
fn each_container_gets_its_own_ids() {
    let e = Engine::new();
    let bb = e.busybox();
    let base = e.root.parent().unwrap().to_path_buf();
    std::fs::write(base.join("subid"), "containers:2000000:131072\n").unwrap();
    std::fs::write(base.join("none"), "").unwrap();
    let c = format!(
        "env CELLA_DEFAULT_NETWORK=none {CELLA} --root {} --runroot {}",
        e.root.display(),
        e.runroot.display()
    );
    let b = base.display();
    let script = format!(
        "chmod 755 {b} && mount --bind {b}/subid /etc/subuid && mount --bind {b}/subid /etc/subgid && \
         {c} run -d --name one --userns auto {bb} sleep 30 >/dev/null && \
         {c} run -d --name two --userns auto {bb} sleep 30 >/dev/null && \
         echo one=$({c} exec one cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //') && \
         echo two=$({c} exec two cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //') && \
         echo inside=$({c} exec one sh -c 'id -u; stat -c %u /bin/busybox; touch /new && echo writable' | tr '\\n' ' ') && \
         echo host=$(stat -c %u /proc/$({c} inspect one | grep '\"Pid\"' | tr -dc 0-9)) && \
         echo third=$({c} run --rm --userns auto {bb} true 2>&1 | grep -c 'no free block') && \
         {c} rm -f one two >/dev/null && \
         echo hostimage=$({c} run --rm --userns auto host sh -c 'id -u; echo x > /etc/cella-userns && cat /etc/cella-userns') && \
         mount --bind {b}/none /etc/subuid && \
         echo empty=$({c} run --rm --userns auto {bb} true 2>&1 | grep -c 'containers:2147483647')"
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let v = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(v("one"), "0 2000000 65536", "{text}");
    assert_eq!(v("two"), "0 2065536 65536", "{text}");
    assert_eq!(v("inside"), "0 0 writable", "root inside owns its files: {text}");
    assert_eq!(
        v("host"),
        "2000000",
        "the host sees the container's root as uid 2000000: {text}"
    );
    assert_eq!(v("third"), "1", "only two blocks: a clear error: {text}");
    assert_eq!(v("hostimage"), "0 x", "a block is free again after rm: {text}");
    assert_eq!(v("empty"), "1", "no range: the message says what to add: {text}");
    assert!(!std::path::Path::new("/etc/cella-userns").exists());
    assert_eq!(e.containers_on_disk(), 0, "{text}");
}
