#!/usr/bin/env bash
# Two cella-runtime binaries against each other, to measure one change:
# `run` of /bin/true in a busybox bundle (the spec of bench/lifecycle.sh),
# back to back, the two in a shuffled order each round, N rounds. Prints
# the medians of wall time and CPU time (user + system of all the run
# waited for, from wait4) and NEW/OLD. Pairs of one window: the machine's
# speed drifts too much here for figures taken minutes apart.
#
# Runs in a private mount namespace with bench/in-view.sh's v1 view, that of
# bench/lifecycle.sh; --v2 gives it cgroup v2 alone, --hybrid keeps the
# host's layout. The state roots are on a tmpfs mounted there, as in
# bench/lifecycle.sh.
#
#   bench/versus.sh [--v2 | --hybrid] OLD_BINARY [NEW_BINARY] [ROUNDS]
#       NEW_BINARY: default (or "") target/release/cella-runtime, built here
#       ROUNDS: default 60 (root required)
set -euo pipefail
cd "$(dirname "$0")/.."
view=v1
case ${1:-} in
  --v2) view=v2; shift ;;
  --hybrid) view=hybrid; shift ;;
esac
[ $# -ge 1 ] || { sed -n 2,15p "$0" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/versus.sh: run as root" >&2; exit 1; }
old=$(realpath "$1")
if [ -n "${2:-}" ]; then
  new=$(realpath "$2")
else
  scripts/build-release.sh cella-runtime
  new="$PWD/target/release/cella-runtime"
fi
rounds=${3:-60}
[ -x /bin/busybox ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
work=$(mktemp -d /tmp/cella-versus.XXXXXX)
trap 'rm -rf "$work"; rmdir /sys/fs/cgroup/cella /sys/fs/cgroup/*/cella 2>/dev/null || true' EXIT
bench/bundle.sh "$new" "$work/bundle"
cat > "$work/versus.py" <<'PY'
import os, random, statistics, sys, time
rounds, bundle, old, new, state = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
bins = {"old": old, "new": new}
devnull = os.open(os.devnull, os.O_RDWR)
def once(name, i):
    argv = [bins[name], "--root", f"{state}/{name}-state", "run", "--bundle", bundle, f"versus-{name}-{i}"]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, ru = os.wait4(pid, 0)
    ms = (time.perf_counter_ns() - t0) / 1e6
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name} run failed with status {status}: rerun by hand: {' '.join(argv)}")
    return ms, (ru.ru_utime + ru.ru_stime) * 1e3
for name in bins:                # warm-up: page cache, first cgroup dirs
    for i in range(3):
        once(name, f"warm{i}")
res = {n: ([], []) for n in bins}
for i in range(rounds):
    order = list(bins)
    random.shuffle(order)
    for name in order:
        ms, cpu = once(name, i)
        res[name][0].append(ms); res[name][1].append(cpu)
med = {n: (statistics.median(w), statistics.median(c)) for n, (w, c) in res.items()}
print(f"run of /bin/true, busybox bundle; {rounds} shuffled rounds back to back (medians)")
for n in bins:
    print(f"{n:<5}{med[n][0]:>9.2f} ms wall{med[n][1]:>9.2f} ms CPU   {bins[n]}")
print(f"new/old   wall {med['new'][0] / med['old'][0]:.3f}x   CPU {med['new'][1] / med['old'][1]:.3f}x")
PY
mkdir "$work/state"
echo "cgroups: the $view view of bench/in-view.sh"
bench/in-view.sh $view sh -c "mount -t tmpfs -o mode=0700 versus-state '$work/state' && python3 '$work/versus.py' '$rounds' '$work/bundle' '$old' '$new' '$work/state'"
