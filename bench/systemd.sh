#!/usr/bin/env bash
# The systemd cgroup driver's cost: `cella-runtime run` of /bin/true with
# the cgroupfs driver and with --systemd-cgroup, and runc --systemd-cgroup,
# in the systemd + cgroup v2 guest of tests/vm (this machine has no
# systemd). Each round runs the three in a shuffled order, from idle; prints
# median wall and CPU time and the ratios. The guest runs under TCG, so
# absolute times are several times a real host's; compare the ratios.
#
#   bench/systemd.sh [ROUNDS]      (default 30; root required)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-30}
[ "$(id -u)" = 0 ] || { echo "bench/systemd.sh: run as root" >&2; exit 1; }
scripts/build-release.sh cella-runtime
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat > "$script" <<GUEST
set -eu
rt=$PWD/target/release/cella-runtime
rounds=$rounds
$(sed -n '/^# --- guest ---$/,$p' "$0")
GUEST
CELLA_VM_ONLY=none CELLA_VM_DEBUG="$script" tests/vm/run.sh | sed -n '/debug script output/,$p' | tail -n +2
exit 0
# --- guest ---
b=/tmp/bench-bundle
mkdir -p $b/rootfs/bin $b/rootfs/proc $b/rootfs/sys $b/rootfs/dev
cp /bin/busybox $b/rootfs/bin/ && ln -sf busybox $b/rootfs/bin/true
(cd $b && $rt spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
sleep 5 # let the boot's stragglers finish
run() { # name -> "wall_ms cpu_ms"
  local id=bench-$RANDOM$RANDOM
  local t0 t1 c0 c1
  local f
  read -r -a f < /proc/$BASHPID/stat # builtin: no child of its own to count
  c0=$(( f[13] + f[14] + f[15] + f[16] ))
  t0=$(date +%s%N)
  case $1 in
    cgroupfs) $rt --root /run/bench-cella run --bundle $b $id ;;
    systemd) $rt --root /run/bench-cella --systemd-cgroup run --bundle $b $id ;;
    runc-systemd) runc --root /run/bench-runc --systemd-cgroup run --bundle $b $id ;;
  esac
  t1=$(date +%s%N)
  read -r -a f < /proc/$BASHPID/stat
  c1=$(( f[13] + f[14] + f[15] + f[16] ))
  echo "$(( (t1 - t0) / 1000000 )) $(( (c1 - c0) * 10 ))"
}
for n in cgroupfs systemd runc-systemd; do run $n >/dev/null; done # warm caches
: > /tmp/bench.txt
for i in $(seq $rounds); do
  for n in $(printf '%s\n' cgroupfs systemd runc-systemd | shuf); do
    echo "$n $(run $n)" >> /tmp/bench.txt
    sleep 0.2
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base=$(awk '$1=="cgroupfs" {print $2}' /tmp/bench.txt | median)
echo "bench: systemd guest under TCG, $rounds rounds, run /bin/true (median wall ms, median CPU ms of children, wall ratio to cella cgroupfs)"
for n in cgroupfs systemd runc-systemd; do
  w=$(awk -v n=$n '$1==n {print $2}' /tmp/bench.txt | median)
  c=$(awk -v n=$n '$1==n {print $3}' /tmp/bench.txt | median)
  echo "bench: $n wall ${w} ms cpu ${c} ms ratio $(awk -v a=$w -v b=$base 'BEGIN {printf "%.2f", a/b}')"
done
