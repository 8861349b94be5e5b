#!/usr/bin/env bash
# Network setup's share of `cella run`: the time `cella run -d host sleep`
# takes to return with the container running, with --network none, bridge,
# and bridge with a published port, alternating, N rounds, inside a network
# namespace this script makes (nothing touches the host's network). Removal
# is not timed: the kernel tears a network namespace with a device in it
# down in the background (RCU grace periods), which a tight loop of
# `run --rm` would otherwise charge to the next run. Also times that loop.
#
#   bench/network.sh [ROUNDS]      (default 30; root required)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-30}
[ "$(id -u)" = 0 ] || { echo "bench/network.sh: run as root" >&2; exit 1; }
command -v nft >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; }
scripts/build-release.sh cella
cella="$PWD/target/release/cella"
work=$(mktemp -d /tmp/cella-bench-net.XXXXXX)
trap 'rm -rf "$work"; rmdir /sys/fs/cgroup/cella /sys/fs/cgroup/*/cella 2>/dev/null || true' EXIT
unshare --net python3 - "$rounds" "$cella" "$work" <<'PY'
import os, statistics, subprocess, sys, time
rounds, cella, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
base = [cella, "--root", f"{work}/store", "--runroot", f"{work}/run"]
modes = {
    "none": ["--network", "none"],
    "bridge": ["--network", "bridge"],
    "bridge -p": ["--network", "bridge", "-p", "127.0.0.1:18080:80"],
}
def once(flags, detach):
    argv = base + ["run"] + (["-d", "--name", "b"] if detach else ["--rm"]) + flags + ["host"] + (["sleep", "30"] if detach else ["true"])
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    ms = (time.perf_counter() - t0) * 1000
    if detach:
        subprocess.run(base + ["rm", "-f", "b"], check=True, stdout=subprocess.DEVNULL)
        time.sleep(0.1)
    return ms
for flags in modes.values():  # warm-up; the first bridge run also makes the bridge and table
    once(flags, True)
for detach, title in [(True, "run -d (returns once running)"), (False, "run --rm ... true (back to back)")]:
    times = {k: [] for k in modes}
    for _ in range(rounds):
        for k, flags in modes.items():
            times[k].append(once(flags, detach))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{title}, median of {rounds} alternating rounds (own network namespace):")
    for k, v in med.items():
        print(f"  --network {k:10} {v:7.1f} ms  (+{v - med['none']:.1f} ms over none)")
PY
