//! `cella ns netns` against iproute2's `ip netns` on the same /run/netns.
//! Every test runs in its own private mount namespace with a tmpfs on /run
//! (and /etc where it matters), so no name, mount or namespace reaches the
//! host and all of them vanish with the test.

use std::collections::BTreeMap;
use std::process::Command;

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

/// Runs `script` (with $C set to cella) in a private mount namespace with
/// a fresh /run; returns stdout's `key=value` lines and the whole output.
fn hermetic(script: &str, private_etc: bool) -> (BTreeMap<String, String>, String) {
    let etc = if private_etc {
        "mount -t tmpfs tmpfs /etc &&"
    } else {
        ""
    };
    let full = format!("C={CELLA}; mount -t tmpfs tmpfs /run && {etc} {{ {script}\n}}");
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &full])
        .output()
        .unwrap();
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let vars = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (vars, text)
}

#[test]
fn names_added_by_either_tool_are_seen_by_both() {
    let (v, text) = hermetic(
        r#"
        $C ns netns add ours && ip netns add theirs || exit 1
        echo "ip_sees=$(ip netns list | sort | tr '\n' ' ')"
        echo "cella_sees=$($C ns netns ls | sort | tr '\n' ' ')"
        echo "cella_json=$($C ns netns ls -J | tr -d ' \n')"
        $C ns netns set ours 7 && ip netns set theirs 9
        echo "ip_ids=$(ip netns list | sort | tr '\n' ' ')"
        echo "cella_ids=$($C ns netns ls | sort | tr '\n' ' ')"
        echo "ip_exec_ours=$(ip netns exec ours readlink /proc/self/ns/net)"
        echo "cella_exec_ours=$($C ns netns exec ours readlink /proc/self/ns/net)"
        echo "file_ours=$(readlink /run/netns/ours 2>/dev/null; stat -L -c %i /run/netns/ours)"
        echo "shared=$(grep ' /run/netns .*shared:' /proc/self/mountinfo | wc -l)"
        ip netns del ours && $C ns netns del theirs
        echo "after=$(ip netns list | wc -l) $($C ns netns ls | wc -l) $(ls /run/netns | wc -l)"
        "#,
        false,
    );
    assert_eq!(v.get("ip_sees").map(String::as_str), Some("ours theirs "), "{text}");
    assert_eq!(v.get("cella_sees").map(String::as_str), Some("ours theirs "), "{text}");
    let json = v.get("cella_json").expect(&text);
    assert!(
        json.contains(r#"{"name":"ours"}"#) && json.contains(r#"{"name":"theirs"}"#),
        "{text}"
    );
    assert_eq!(
        v.get("ip_ids").map(String::as_str),
        Some("ours (id: 7) theirs (id: 9) "),
        "{text}"
    );
    assert_eq!(v.get("cella_ids"), v.get("ip_ids"), "{text}");
    let ino = v["file_ours"].trim().to_string();
    assert_eq!(v["ip_exec_ours"], format!("net:[{ino}]"), "{text}");
    assert_eq!(v["cella_exec_ours"], v["ip_exec_ours"], "{text}");
    assert_eq!(v["shared"], "1", "/run/netns is a shared mount: {text}");
    assert_eq!(v["after"], "0 0 0", "{text}");
}

#[test]
fn exec_gets_the_namespaces_sys_and_etc() {
    let (v, text) = hermetic(
        r#"
        mkdir -p /etc/netns/blue && echo per-namespace > /etc/netns/blue/hosts && echo host > /etc/hosts
        $C ns netns add blue || exit 1
        echo "links=$($C ns netns exec blue ls /sys/class/net | tr '\n' ' ')"
        echo "hosts=$($C ns netns exec blue cat /etc/hosts)"
        echo "ip_hosts=$(ip netns exec blue cat /etc/hosts)"
        echo "hosts_after=$(cat /etc/hosts)"
        $C ns netns exec blue sh -c 'exit 7'; echo "code=$?"
        $C ns netns exec blue no-such-command 2>/dev/null; echo "missing=$?"
        $C ns netns del blue
        "#,
        true,
    );
    assert_eq!(
        v.get("links").map(String::as_str),
        Some("lo "),
        "a sysfs of the new namespace: {text}"
    );
    assert_eq!(v["hosts"], "per-namespace", "{text}");
    assert_eq!(v["ip_hosts"], "per-namespace", "{text}");
    assert_eq!(
        v["hosts_after"], "host",
        "the bind stays in the command's mounts: {text}"
    );
    assert_eq!(v["code"], "7", "{text}");
    assert_eq!(v["missing"], "127", "{text}");
}

#[test]
fn pids_identify_and_attach_agree_with_ip() {
    let (v, text) = hermetic(
        r#"
        $C ns netns add red || exit 1
        $C ns netns exec red sleep 30 & S=$!
        sleep 0.5
        echo "sleeper=$S"
        echo "cella_pids=$($C ns netns pids red | tr '\n' ' ')"
        echo "ip_pids=$(ip netns pids red | tr '\n' ' ')"
        echo "cella_identify=$($C ns netns identify $S)"
        echo "json=$($C ns netns pids -J red) $($C ns netns identify -J $S)"
        echo "ip_identify=$(ip netns identify $S)"
        $C ns netns attach green $S
        echo "attached=$($C ns netns identify $S | sort | tr '\n' ' ')"
        echo "ip_attached=$(ip netns identify $S | tr '\n' ' ')"
        echo "self=$($C ns netns identify)"
        kill $S; wait $S
        $C ns netns del --all
        echo "left=$(ls /run/netns | wc -l)"
        "#,
        false,
    );
    let sleeper = v.get("sleeper").expect(&text);
    assert_eq!(v["cella_pids"], format!("{sleeper} "), "{text}");
    assert_eq!(v["ip_pids"], v["cella_pids"], "{text}");
    assert_eq!(v["cella_identify"], "red", "{text}");
    assert_eq!(
        v["json"],
        format!(r#"{{"pids":[{sleeper}]}} {{"names":["red"]}}"#),
        "{text}"
    );
    assert_eq!(v["ip_identify"], "red", "{text}");
    assert_eq!(v["attached"], "green red ", "{text}");
    // iproute2 stops at the first name it finds; it must be one of ours.
    assert!(["green ", "red "].contains(&v["ip_attached"].as_str()), "{text}");
    assert_eq!(v["self"], "", "this shell's namespace has no name: {text}");
    assert_eq!(v["left"], "0", "{text}");
}

#[test]
fn ls_shows_netnsid_and_the_bind_mount() {
    let (v, text) = hermetic(
        r#"
        $C ns netns add kept && $C ns netns set kept 5 || exit 1
        echo "row=$($C ns ls -t net -r -n -o NPROCS,NETNSID,NSFS | grep /run/netns/kept)"
        echo "header=$($C ns ls -t net | head -1 | tr -s ' ')"
        "#,
        false,
    );
    assert_eq!(v.get("row").map(String::as_str), Some("0 5 /run/netns/kept"), "{text}");
    assert_eq!(
        v["header"].trim(),
        "NS TYPE NPROCS PID USER NETNSID NSFS COMMAND",
        "lsns's columns for -t net: {text}"
    );
}

#[test]
fn bad_input_is_refused_without_side_effects() {
    let (v, text) = hermetic(
        r#"
        $C ns netns add dup || exit 1
        for args in "add a/b" "add .." "add dup" "del missing" "exec missing true" "pids missing" "set dup x" "attach x 999999999"; do
            $C ns netns $args 2>>/run/errors; echo "rc_$(echo $args | tr ' /.' '___')=$?"
        done
        echo "names=$(ls /run/netns | tr '\n' ' ')"
        echo "errors=$(tr '\n' '|' < /run/errors)"
        "#,
        false,
    );
    for (k, code) in &v {
        if k.starts_with("rc_") {
            assert_eq!(code, "1", "{k}: {text}");
        }
    }
    assert_eq!(v.keys().filter(|k| k.starts_with("rc_")).count(), 8, "{text}");
    assert_eq!(v["names"], "dup ", "nothing created by a failed command: {text}");
    let errors = &v["errors"];
    for want in [
        "invalid network namespace name \"a/b\"",
        "already exists",
        "no network namespace \"missing\"",
        "no process 999999999",
        "the id must be a number",
    ] {
        assert!(errors.contains(want), "{want}: {errors}");
    }
}
