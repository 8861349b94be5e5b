//! The engine as an ordinary user: a full uid range through newuidmap,
//! storage under the user's home, no root. The test's own passwd, group,
//! subuid and subgid are bound over /etc in a private mount namespace, so
//! the machine's files never change.

use std::process::Command;

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

#[test]
fn an_ordinary_user_runs_the_host_image_and_an_imported_one() {
    if !std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .contains("Uid:\t0\t")
    {
        return; // the setup below (binds over /etc, setpriv) needs root
    }
    let base = std::env::temp_dir().join(cella_testsupport::unique("cella-rootless"));
    let (etc, home) = (base.join("etc"), base.join("home"));
    std::fs::create_dir_all(&etc).unwrap();
    cella_testsupport::busybox_rootfs(&home.join("rootfs"));
    let passwd =
        std::fs::read_to_string("/etc/passwd").unwrap() + &format!("rluser:x:4343:4343::{}:/bin/sh\n", home.display());
    let group = std::fs::read_to_string("/etc/group").unwrap() + "rluser:x:4343:\n";
    let mut binds = String::new();
    for (name, text) in [
        ("passwd", passwd),
        ("group", group),
        ("subuid", "rluser:400000:65536\n".to_string()),
        ("subgid", "rluser:400000:65536\n".to_string()),
    ] {
        std::fs::write(etc.join(name), text).unwrap();
        binds += &format!("mount --bind {}/{name} /etc/{name} && ", etc.display());
    }
    let h = home.display();
    // Runtime state in the test's directory too ($XDG_RUNTIME_DIR/cella).
    let user = format!(
        "setpriv --reuid=4343 --regid=4343 --clear-groups env HOME={h} XDG_DATA_HOME= XDG_RUNTIME_DIR={h}/run {CELLA}"
    );
    let script = format!(
        "chmod 755 {b} && mkdir -p {h}/run && chown -R 4343:4343 {h} && {binds} cd /tmp && \
         {user} run --rm host sh -c 'id -u; cat /proc/self/uid_map; echo mine > /etc/scratch && cat /etc/scratch' && \
         {user} import {h}/rootfs bb:rl >/dev/null && {user} run --rm bb:rl sh -c 'echo imported; touch /new && echo writable' && \
         {user} run -d --name kept bb:rl sleep 30 >/dev/null && {user} exec kept id -u && {user} rm -f kept >/dev/null && \
         ls {h}/.local/share/cella",
        b = base.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&base);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        &words[..8],
        ["0", "0", "4343", "1", "1", "400000", "65536", "mine"],
        "{text}"
    );
    assert_eq!(&words[8..11], ["imported", "writable", "0"], "{text}");
    assert!(
        text.contains("containers") && text.contains("layers"),
        "the store is in the user's home: {text}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{out:?}");
}
