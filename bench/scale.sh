#!/usr/bin/env bash
# Many containers: start N (default 100) detached `sleep` containers of the
# same busybox image with bounded concurrency (default 8 at once), list
# them, stop them (one `stop -t 1` of all of them) and remove them (one
# `rm -f` of all), on cella and on podman (each with a store of its own
# under a temporary directory, podman with runc and cgroupfs). Prints each
# phase's wall time and podman's time over cella's; checks that nothing of
# either is left behind (containers, cgroups, mounts).
#
#   bench/scale.sh [N] [CONCURRENCY]      (root required)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
jobs=${2:-8}
[ "$(id -u)" = 0 ] || { echo "bench/scale.sh: run as root" >&2; exit 1; }
command -v podman >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null; }
command -v runc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; }
[ -x /bin/busybox ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
scripts/build-release.sh cella
work=$(mktemp -d /tmp/cella-bench-scale.XXXXXX)
cella=("$PWD/target/release/cella" --root "$work/cella" --runroot "$work/cella-run")
pm=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --cgroup-manager cgroupfs --events-backend none --runtime runc)
cleanup() {
  "${pm[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
  "${pm[@]}" rmi -a -f >/dev/null 2>&1 || true
  ids=$("${cella[@]}" ps -aq 2>/dev/null || true)
  [ -z "$ids" ] || "${cella[@]}" rm -f $ids >/dev/null 2>&1 || true
  umount -R "$work/podman" 2>/dev/null || true
  umount -R "$work/podman-run" 2>/dev/null || true
  rm -rf "$work"
  # cella's shared cgroup parent (it stays for the next container) and
  # podman's, if they are empty now.
  rmdir /sys/fs/cgroup/cella /sys/fs/cgroup/*/cella 2>/dev/null || true
  for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/unified/libpod_parent; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}
trap cleanup EXIT
# podman's default ulimits at or under this machine's hard limits (no CAP_SYS_RESOURCE).
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]
CONF
export CONTAINERS_CONF="$work/containers.conf"
mkdir -p "$work/rootfs"/{bin,etc,proc,sys,dev,tmp}
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"${pm[@]}" import "$work/rootfs.tar" localhost/bench:1 >/dev/null 2>&1
"${cella[@]}" import "$work/rootfs.tar" localhost/bench:1 >/dev/null

# phase ENGINE NAME COMMAND...: runs it, prints and records its wall time.
declare -A took
phase() {
  local engine=$1 name=$2; shift 2
  local t0 t1
  t0=$(date +%s%N)
  # (podman warns about every SIGKILL: its output is shown only on failure)
  "$@" >/dev/null 2>"$work/phase.err" || { cat "$work/phase.err" >&2; exit 1; }
  t1=$(date +%s%N)
  took[$engine,$name]=$(( (t1 - t0) / 1000000 ))
  printf '  %-7s %-6s %8d ms\n' "$engine" "$name" "${took[$engine,$name]}"
}
run_all() { # ENGINE-COMMAND...: N detached containers, JOBS at a time
  seq 1 "$n" | xargs -P "$jobs" -I{} "$@" run -d --network none --name "scale{}" localhost/bench:1 sleep 600
}
names() { seq 1 "$n" | sed 's/^/scale/'; }
check_count() { # ENGINE WANT COMMAND...
  local engine=$1 want=$2; shift 2
  local got; got=$("$@" ps -aq | wc -l)
  [ "$got" = "$want" ] || { echo "scale: $engine has $got containers, expected $want" >&2; exit 1; }
}
cella_cgroups() { find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path '*/cella/*' 2>/dev/null | wc -l; }
cgroups_before=$(cella_cgroups)
echo "$n containers, $jobs started at once:"
for engine in cella podman; do
  if [ $engine = cella ]; then e=("${cella[@]}"); else e=("${pm[@]}"); fi
  phase $engine start run_all "${e[@]}"
  check_count $engine "$n" "${e[@]}"
  phase $engine list "${e[@]}" ps -a
  phase $engine stop "${e[@]}" stop -t 1 $(names)
  phase $engine rm "${e[@]}" rm -f $(names)
  check_count $engine 0 "${e[@]}"
done
echo "podman / cella:"
for p in start list stop rm; do
  awk -v a="${took[podman,$p]}" -v b="${took[cella,$p]}" -v p="$p" \
    'BEGIN { printf "  %-6s %6.1fx\n", p, (b > 0 ? a / b : 0) }'
done
# Nothing of cella's is left: no cgroup, no mount under its store.
left=$(( $(cella_cgroups) - cgroups_before ))
mounts=$(grep -c "$work/cella" /proc/self/mountinfo || true)
[ "$left" -le 0 ] || { echo "scale: $left cgroups of cella's left" >&2; exit 1; }
[ "$mounts" = 0 ] || { echo "scale: $mounts mounts left under $work/cella" >&2; exit 1; }
echo "left behind: ${left} cgroups, ${mounts} mounts"
