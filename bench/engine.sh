#!/usr/bin/env bash
# Engine benchmark: `cella run --rm IMAGE true` against `podman run --rm
# --network none IMAGE true` of the same busybox image (imported into both,
# each with a store of its own under a temporary directory), alternating,
# N rounds. Prints the medians and the ratio; also cella with the built-in
# host image.
#
#   bench/engine.sh [ROUNDS]      (default 30; root required)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-30}
[ "$(id -u)" = 0 ] || { echo "bench/engine.sh: run as root" >&2; exit 1; }
command -v podman >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null; }
[ -x /bin/busybox ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
scripts/build-release.sh cella
cella="$PWD/target/release/cella"
work=$(mktemp -d /tmp/cella-bench-engine.XXXXXX)
# runc: crun 1.8 refuses hybrid cgroups.
command -v runc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; }
pm=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --cgroup-manager cgroupfs --events-backend none --runtime runc)
cleanup() {
  "${pm[@]}" rm -a -f >/dev/null 2>&1 || true
  "${pm[@]}" rmi -a -f >/dev/null 2>&1 || true
  "$cella" --root "$work/cella" --runroot "$work/cella-run" rm -f $("$cella" --root "$work/cella" --runroot "$work/cella-run" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  umount -R "$work/podman" 2>/dev/null || true
  umount -R "$work/podman-run" 2>/dev/null || true
  rm -rf "$work"
  # cella's shared cgroup parent, which stays for the next container, and
  # podman's, if they are empty now (rmdir refuses otherwise).
  rmdir /sys/fs/cgroup/cella /sys/fs/cgroup/*/cella 2>/dev/null || true
  for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/unified/libpod_parent; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}
trap cleanup EXIT
# podman here needs its default ulimits at or under the current hard limits
# (no CAP_SYS_RESOURCE).
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]
CONF
export CONTAINERS_CONF="$work/containers.conf"
mkdir -p "$work/rootfs"/{bin,etc,proc,sys,dev,tmp}
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"${pm[@]}" import "$work/rootfs.tar" localhost/bench:1 >/dev/null 2>&1
"$cella" --root "$work/cella" --runroot "$work/cella-run" import "$work/rootfs.tar" localhost/bench:1 >/dev/null
python3 - "$rounds" "$cella" "$work" "${pm[@]}" <<'PY'
import os, statistics, subprocess, sys, time
rounds, cella, work, pm = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
c = [cella, "--root", f"{work}/cella", "--runroot", f"{work}/cella-run"]
cmds = {
    "cella (busybox image)": c + ["run", "--rm", "--network", "none", "localhost/bench:1", "true"],
    "cella (host image)": c + ["run", "--rm", "--network", "none", "host", "true"],
    "podman (busybox image)": pm + ["run", "--rm", "--network", "none", "localhost/bench:1", "true"],
}
times = {k: [] for k in cmds}
for k, argv in cmds.items():  # one warm-up each
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(rounds):
    for k, argv in cmds.items():
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.exit(f"{k} failed: {r.stderr.decode()}")
        times[k].append((time.perf_counter() - t0) * 1000)
med = {k: statistics.median(v) for k, v in times.items()}
print(f"run --rm IMAGE true, median of {rounds} alternating rounds:")
for k, v in med.items():
    print(f"  {k:24} {v:8.1f} ms")
base = med["cella (busybox image)"]
print(f"podman / cella (same busybox image): {med['podman (busybox image)'] / base:.1f}x")
PY
