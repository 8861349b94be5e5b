//! The engine as an ordinary user: a full uid range through newuidmap,
//! storage under the user's home, no root. The test's own passwd, group,
//! subuid and subgid are bound over /etc in a private mount namespace, so
//! the machine's files never change.

#[path = "support/rootless.rs"]
mod rootless;

use std::process::Command;

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn an_ordinary_user_runs_the_host_image_and_an_imported_one() {
    let base = std::env::temp_dir().join(cella_testsupport::unique("cella-rootless"));
    let u = rootless::User::new(&base, "rluser", 4343, 400000);
    let h = u.home.display();
    cella_testsupport::busybox_rootfs(&u.home.join("rootfs"));
    let (setup, user) = (u.setup(), u.run(CELLA));
    let script = format!(
        "{setup} cd /tmp && \
         {user} run --rm host sh -c 'id -u; cat /proc/self/uid_map; echo mine > /etc/scratch && cat /etc/scratch' && \
         {user} import {h}/rootfs bb:rl >/dev/null && {user} run --rm bb:rl sh -c 'echo imported; touch /new && echo writable' && \
         {user} run -d --name kept bb:rl sleep 30 >/dev/null && {user} exec kept id -u && {user} rm -f kept >/dev/null && \
         ls {h}/.local/share/cella"
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

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn an_ordinary_user_publishes_a_port_through_pasta() {
    // In a network namespace of the test's own (an uplink with a default
    // route for pasta to copy) and a private mount namespace, where the
    // test's user and ranges are bound over /etc and /dev/net/tun is
    // usable by everyone, as most distributions ship it (0666).
    let base = std::env::temp_dir().join(cella_testsupport::unique("cella-pasta"));
    let u = rootless::User::new(&base, "rluser", 4344, 500000);
    let (h, b) = (u.home.display(), base.display());
    cella_testsupport::busybox_rootfs(&u.home.join("rootfs"));
    let (setup, user) = (u.setup(), u.run(CELLA));
    let script = format!(
        "{setup} \
         ip link set lo up && ip link add up0 type veth peer name up1 && ip addr add 192.0.2.2/24 dev up0 && \
         ip link set up0 up && ip route add default via 192.0.2.1 && \
         mknod {b}/tun c 10 200 && chmod 666 {b}/tun && mount --bind {b}/tun /dev/net/tun && cd /tmp && \
         {user} import {h}/rootfs bb:rl >/dev/null && \
         {user} run -d --name web --network bridge -p 127.0.0.1:18081:8080 bb:rl sh -c \
           'mkdir -p /www && echo rootless-page > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null && sleep 0.5 && \
         echo page=$(/bin/busybox wget -qO- http://127.0.0.1:18081/) && \
         echo low=$({user} run --rm --network bridge -p 80:80 bb:rl true 2>&1 | grep -c 'from 1024 up') && \
         {user} rm -f web >/dev/null && sleep 0.3 && echo pastas=$(ps -eo comm= | grep -cE '^(pasta|passt)')"
    );
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&base);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("page=rootless-page"), "{text}");
    assert!(text.contains("low=1"), "{text}");
    assert!(text.contains("pastas=0"), "pasta ends with the container: {text}");
}
