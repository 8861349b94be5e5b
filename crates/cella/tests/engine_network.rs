//! Bridge networking, always inside a network namespace the test makes
//! (`unshare --net`): the bridge, veths and routes never touch the host's.

#[path = "support/engine.rs"]
mod common;
use common::*;
use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn two_containers_on_the_bridge_reach_each_other_by_address_and_name() {
    let e = Engine::new();
    let bb = e.busybox();
    let (v, text) = e.in_netns(
        &format!(
            r#"
        $C run -d --name web --network bridge {bb} sh -c 'mkdir -p /www && echo page > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null
        $C run -d --name client --network bridge {bb} sleep 30 >/dev/null
        sleep 0.3
        echo web_ip=$($C inspect web | grep '"IPAddress"' | tr -d ' ",' | cut -d: -f2)
        echo client_addr=$($C exec client ip -o -4 addr show eth0 | awk '{{print $4}}')
        echo route=$($C exec client ip route | grep default)
        echo ping=$($C exec client sh -c "ping -c1 -W2 \$(grep web /etc/hosts | cut -f1) >/dev/null && echo ok")
        echo by_name=$($C exec client wget -qO- http://web:8080/)
        echo reverse=$($C exec web grep -c client /etc/hosts)
        echo default_net=$(env -u CELLA_DEFAULT_NETWORK {CELLA} --root {root} --runroot {run} run --rm {bb} ip -o -4 addr show eth0 | awk '{{print $4}}' | cut -d. -f1-2)
        echo veths_before=$(ip -o link show type veth | wc -l)
        $C rm -f web client >/dev/null
        echo veths_after=$(ip -o link show type veth | wc -l)
        echo bridge=$(ip -o link show cella0 | grep -c cella0)
        "#,
            root = e.root.display(),
            run = e.runroot.display()
        ),
    );
    assert!(v.get("web_ip").is_some_and(|ip| ip.starts_with("10.88.")), "{text}");
    assert!(
        v["client_addr"].starts_with("10.88.") && v["client_addr"].ends_with("/16"),
        "{text}"
    );
    assert_eq!(v["route"], "default via 10.88.0.1 dev eth0", "{text}");
    assert_eq!(v["ping"], "ok", "{text}");
    assert_eq!(v["by_name"], "page", "{text}");
    assert_eq!(v["reverse"], "1", "names resolve both ways: {text}");
    assert_eq!(
        v["default_net"], "10.88",
        "root's default network is bridge, as docker's: {text}"
    );
    assert_eq!(v["veths_before"], "2", "{text}");
    assert_eq!(v["veths_after"], "0", "the veths go with the containers: {text}");
    assert_eq!(v["bridge"], "1", "{text}");
    let ips = e.root.join("networks/bridge/ips");
    assert_eq!(
        std::fs::read_dir(&ips).map(|d| d.count()).unwrap_or(0),
        0,
        "addresses released"
    );
}

#[test]
fn concurrent_containers_get_unique_addresses_and_leak_nothing() {
    let e = Engine::new();
    let (v, text) = e.in_netns(
        r#"
        for i in $(seq 1 50); do $C run -d --name n$i --network bridge host sleep 60 >/dev/null & done; wait
        echo ips=$(for i in $(seq 1 50); do $C inspect n$i | grep '"IPAddress"' | tr -d ' ",' | cut -d: -f2; done | sort -u | grep -c 10.88)
        echo running=$($C ps -q | wc -l)
        for i in $(seq 1 50); do $C rm -f n$i >/dev/null & done; wait
        echo veths=$(ip -o link show type veth | wc -l)
        "#,
    );
    assert_eq!(v.get("running").map(String::as_str), Some("50"), "{text}");
    assert_eq!(v["ips"], "50", "every container has its own address: {text}");
    assert_eq!(v["veths"], "0", "{text}");
    assert_eq!(e.containers_on_disk(), 0);
    let ips = e.root.join("networks/bridge/ips");
    assert_eq!(std::fs::read_dir(&ips).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn published_ports_nat_and_conflicts() {
    let e = Engine::new();
    let bb = e.busybox();
    // An image that exposes 8080, for -P.
    let dir = e.root.with_file_name("exposing");
    cella_testsupport::busybox_rootfs(&dir);
    e.ok(&[
        "import",
        "--change",
        "EXPOSE 8080",
        "--change",
        "CMD [\"sh\"]",
        dir.to_str().unwrap(),
        "exposing:1",
    ]);
    let (v, text) = e.in_netns(
        &format!(
            r#"
        ip addr add 192.0.2.1/32 dev lo
        $C run -d --name pub --network bridge -p 127.0.0.1:18080:8080 {bb} sh -c 'mkdir -p /www && echo published > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null
        sleep 0.3
        echo port=$($C port pub)
        echo page=$(curl -fsS http://127.0.0.1:18080/)
        echo taken=$($C run --rm --network bridge -p 18080:80 {bb} true 2>&1 | grep -c 'already published')
        echo taken_rc=$($C run --rm --network bridge -p 18080:80 {bb} true >/dev/null 2>&1; echo $?)
        echo egress=$($C exec pub ping -c1 -W2 192.0.2.1 >/dev/null && echo ok)
        echo masquerade=$(nft list chain ip cella postrouting | grep -c masquerade)
        echo rules_before=$(nft list chain ip cella ports | grep -c 'comment "cella')
        $C run -d --name all --network bridge -P --mac-address 02:42:ac:11:00:99 exposing:1 sh -c 'mkdir -p /www && echo by-P > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null
        sleep 0.3
        P=$($C port all | cut -d: -f2)
        echo p_all=$(/bin/busybox wget -qO- http://127.0.0.1:$P/)
        echo mac=$($C exec all cat /sys/class/net/eth0/address)
        echo bad_mac=$($C run --rm --network bridge --mac-address 01:00:5e:00:00:01 {bb} true 2>&1 | grep -c 'unicast')
        $C rm -f all >/dev/null
        echo no_bridge=$($C run --rm -p 80 {bb} true 2>&1 | grep -c 'needs --network bridge')
        echo bad_spec=$($C run --rm --network bridge -p 1:2:3:4 {bb} true 2>&1 | grep -c 'use \[IP:\]')
        $C rm -f pub >/dev/null
        echo rules_after=$(nft list chain ip cella ports | grep -c 'comment "cella')
        echo veths=$(ip -o link show type veth | wc -l)
        "#
        ),
    );
    assert_eq!(
        v.get("port").map(String::as_str),
        Some("8080/tcp -> 127.0.0.1:18080"),
        "{text}"
    );
    assert_eq!(v["page"], "published", "loopback reaches the published port: {text}");
    assert_eq!(v["taken"], "1", "{text}");
    assert_eq!(v["taken_rc"], "125", "{text}");
    assert_eq!(v["egress"], "ok", "{text}");
    assert_eq!(v["masquerade"], "2", "{text}");
    assert_eq!(v["rules_before"], "1", "{text}");
    assert_eq!(v["p_all"], "by-P", "-P published the exposed port: {text}");
    assert_eq!(v["mac"], "02:42:ac:11:00:99", "{text}");
    assert_eq!(v["bad_mac"], "1", "{text}");
    assert_eq!(v["no_bridge"], "1", "{text}");
    assert_eq!(v["bad_spec"], "1", "{text}");
    assert_eq!(v["rules_after"], "0", "the rule goes with the container: {text}");
    assert_eq!(v["veths"], "0", "{text}");
    assert_eq!(e.containers_on_disk(), 0, "{text}");
}

#[test]
fn user_networks_are_isolated_and_take_their_options() {
    let e = Engine::new();
    let bb = e.busybox();
    let nsfile = e.root.with_file_name("netns-file");
    let c = format!(
        "env CELLA_DEFAULT_NETWORK=none {CELLA} --root {} --runroot {}",
        e.root.display(),
        e.runroot.display()
    );
    let script = format!(
        r#"C='{c}'; F={f}; ip link set lo up
        $C network create red >/dev/null; $C network create --subnet 10.90.0.0/24 blue >/dev/null
        echo overlap=$($C network create --subnet 10.89.0.128/25 x 2>&1 | grep -c 'overlaps network red')
        echo dup=$($C network create red 2>&1 | grep -c 'already exists')
        echo nets=$($C network ls -q | tr '\n' ' ')
        $C run -d --name r1 --network red --ip 10.89.0.50 --dns 9.9.9.9 --add-host db:10.1.2.3 {bb} sleep 30 >/dev/null
        $C run -d --name r2 --network red {bb} sleep 30 >/dev/null
        $C run -d --name b1 --network blue {bb} sleep 30 >/dev/null
        echo addr=$($C exec r1 ip -o -4 addr show eth0 | awk '{{print $4}}')
        echo resolv=$($C exec r1 cat /etc/resolv.conf)
        echo addhost=$($C exec r1 grep -w db /etc/hosts | tr '\t' ' ')
        echo same=$($C exec r2 ping -c1 -W1 r1 >/dev/null && echo ok)
        B1=$($C inspect b1 | grep '"IPAddress"' | tr -d ' ",' | cut -d: -f2)
        echo cross=$($C exec r2 ping -c1 -W1 $B1 >/dev/null 2>&1 && echo reached || echo blocked)
        echo ip_taken=$($C run --rm --network red --ip 10.89.0.50 {bb} true 2>&1 | grep -c 'already used')
        echo shared=$($C run --rm --network container:r1 {bb} ip -o -4 addr show eth0 | awk '{{print $4}}')
        touch $F && unshare --net=$F true
        echo nsmode=$($C run --rm --network ns:$F {bb} ls /sys/class/net)
        echo not_ns=$($C run --rm --network ns:/etc/hostname {bb} true 2>&1 | grep -c 'not a namespace file')
        echo unknown=$($C run --rm --network nosuch {bb} true 2>&1 | grep -c 'no network "nosuch"')
        echo in_use=$($C network rm red 2>&1 | grep -c 'is used by')
        $C rm -f r1 r2 b1 >/dev/null
        $C network rm red blue >/dev/null
        echo left=$($C network ls -q | tr '\n' ' ')
        echo rules=$(nft list ruleset | grep -c cella-net)
        echo links=$(ip -o link show | grep -c 'cella[12]')
        "#,
        f = nsfile.display()
    );
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let want = [
        ("overlap", "1"),
        ("dup", "1"),
        ("nets", "bridge blue red"),
        ("addr", "10.89.0.50/24"),
        ("resolv", "nameserver 9.9.9.9"),
        ("addhost", "10.1.2.3 db"),
        ("same", "ok"),
        ("cross", "blocked"),
        ("ip_taken", "1"),
        ("shared", "10.89.0.50/24"),
        ("nsmode", "lo"),
        ("not_ns", "1"),
        ("unknown", "1"),
        ("in_use", "1"),
        ("left", "bridge"),
        ("rules", "0"),
        ("links", "0"),
    ];
    for (k, w) in want {
        assert_eq!(v.get(k).map(String::as_str), Some(w), "{k}: {text}");
    }
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let e = Engine::new();
    let bb = e.busybox();
    let (v, text) = e.in_netns(&format!(
        r#"
        $C network create red >/dev/null; $C network create blue >/dev/null
        $C run -d --name a --network red {bb} sleep 30 >/dev/null
        $C run -d --name b --network blue {bb} sleep 30 >/dev/null
        echo before=$($C exec a ping -c1 -W1 b >/dev/null 2>&1 && echo reached || echo blocked)
        $C network connect --ip 10.89.1.77 blue a
        echo eth1=$($C exec a ip -o -4 addr show eth1 | awk '{{print $4}}')
        echo after=$($C exec a ping -c1 -W1 b >/dev/null 2>&1 && echo reached || echo blocked)
        echo b_knows_a=$($C exec b grep -w a /etc/hosts | cut -f1)
        echo twice=$($C network connect blue a 2>&1 | grep -c 'already on network')
        echo own=$($C network disconnect red a 2>&1 | grep -c 'was started on')
        echo in_use=$($C network rm blue 2>&1 | grep -c 'is used by')
        $C network disconnect blue a
        echo gone=$($C exec a ip -o link show eth1 2>/dev/null | wc -l)
        echo again=$($C exec a ping -c1 -W1 b >/dev/null 2>&1 && echo reached || echo blocked)
        $C network connect blue a
        $C rm -f a b >/dev/null
        echo ips=$(ls {root}/networks/*/ips | grep -c 10.89)
        echo veths=$(ip -o link show type veth | wc -l)
        $C network rm red blue >/dev/null && echo removed=yes
        "#,
        root = e.root.display()
    ));
    let want = [
        ("before", "blocked"),
        ("eth1", "10.89.1.77/24"),
        ("after", "reached"),
        ("b_knows_a", "10.89.1.77"),
        ("twice", "1"),
        ("own", "1"),
        ("in_use", "1"),
        ("gone", "0"),
        ("again", "blocked"),
        ("ips", "0"),
        ("veths", "0"),
        ("removed", "yes"),
    ];
    for (k, w) in want {
        assert_eq!(v.get(k).map(String::as_str), Some(w), "{k}: {text}");
    }
}
