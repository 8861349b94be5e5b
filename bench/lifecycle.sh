#!/usr/bin/env bash
# Lifecycle benchmark: `run` of /bin/true in a busybox bundle with the default
# spec's namespaces, for cella-runtime, runc and crun, alternating, N rounds.
# Two passes, each round in a shuffled order: every start from an idle
# machine (50 ms pause before it), then back to back. Prints medians of wall
# time and CPU time (user + system of all the run waited for, from wait4),
# the ratios against crun, and wall time against the kernel's floor:
# `unshare -m -u -i -p -n -C --fork /bin/true`, the same namespaces with no
# runtime, timed the same way.
#
# Wall and CPU time are of the runtime alone, spawned directly. Peak RSS
# comes from a pass of its own through GNU time (%M), whose small C parent
# keeps the figure the runtime's own: timing through that wrapper would add
# its exec, fork and wait (2.5 ms here) to every figure, floor included,
# and pull every ratio toward 1.
#
# All run inside one private mount namespace with the v1 view of
# bench/in-view.sh (cgroup2 unmounted): crun 1.8 refuses hybrid cgroups, and
# timing the others in the same namespace keeps the comparison fair.
#
# --v2 gives that namespace in-view.sh's v2 view instead: cgroup v2 alone.
# There no runtime moves a PID through the v1 threadgroup lock: the
# runtimes' own work is what differs. crun 1.8.1 raises RLIMIT_MEMLOCK to
# infinity before it loads its device filter and gives up when that fails,
# and this machine has no CAP_SYS_RESOURCE; since kernel 5.11 BPF charges
# memory to the memory cgroup and not to that limit, so the bench preloads
# into crun a shim that lets that one setrlimit's EPERM pass. The shim costs crun one
# more library to load; --v2 prints that cost, timed on `crun --version`.
#
# The state roots are on a tmpfs mounted there, as clients keep them
# (/run/runc, /run/crun, containerd's and podman's under /run); the bundle
# stays on disk. --state-on-disk puts the roots beside the bundle instead:
# on this machine's ext4 (no journal, mounted with discard) each removed
# state directory then costs a synchronous discard, 0.4-0.7 ms a start.
#
# Back to back, a start is also timed by the command before it: crun's
# (and runc's) cgroup.procs write waits for an RCU grace period unless
# another such write came shortly before, so crun's median depends on how
# often the shuffle puts it after runc or crun. The medians by
# predecessor show it.
#
#   bench/lifecycle.sh [--state-on-disk] [--v2] [ROUNDS]      (default 100; root required)
set -euo pipefail
cd "$(dirname "$0")/.."
state_on_disk=false
v2=false
while [ $# -gt 0 ]; do
  case $1 in
    --state-on-disk) state_on_disk=true; shift ;;
    --v2) v2=true; shift ;;
    *) break ;;
  esac
done
rounds=${1:-100}
[ "$(id -u)" = 0 ] || { echo "bench/lifecycle.sh: run as root" >&2; exit 1; }
need=()
for p in runc crun; do command -v $p >/dev/null || need+=($p); done
[ -x /usr/bin/time ] || need+=(time)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
scripts/build-release.sh cella-runtime
cella="$PWD/target/release/cella-runtime"
work=$(mktemp -d /tmp/cella-bench.XXXXXX)
# cella-runtime leaves the shared /cella cgroup parents (as runc and docker
# leave theirs); the bench's go with it when empty.
trap 'rm -rf "$work"; rmdir /sys/fs/cgroup/cella /sys/fs/cgroup/*/cella 2>/dev/null || true' EXIT
bench/bundle.sh --oci-1.0 "$cella" "$work/bundle"
cat > "$work/measure.py" <<'PY'
import os, random, resource, statistics, sys, time
rounds, bundle, cella, state = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
shim = sys.argv[5] if len(sys.argv) > 5 else ""   # --v2: crun's memlock shim
runtimes = {
    "cella-runtime": [cella, "--root", f"{state}/cella-state"],
    "runc": ["runc", "--root", f"{state}/runc-state"],
    "crun": ["crun", "--root", f"{state}/crun-state"],
}
# The kernel's own work for the same namespaces, with no runtime around it.
FLOOR = ["/usr/bin/unshare", "-m", "-u", "-i", "-p", "-n", "-C", "--fork", "/bin/true"]
names = list(runtimes) + ["floor"]
def argv_of(name, i):
    if name == "floor":
        return FLOOR
    return runtimes[name] + ["run", "--bundle", bundle, f"bench-{name}-{i}"]
devnull = os.open(os.devnull, os.O_RDWR)
def env_of(name):
    return dict(os.environ, LD_PRELOAD=shim) if shim and name == "crun" else os.environ
def spawn(argv, env=os.environ):
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"run failed with status {status}: rerun by hand: {' '.join(argv)}")
    return ru
def once(name, i):
    # Wall: spawn to reaped. CPU: user + system of everything the run
    # waited for (wait4's rusage).
    t0 = time.perf_counter_ns()
    ru = spawn(argv_of(name, i), env_of(name))
    ms = (time.perf_counter_ns() - t0) / 1e6
    return ms, (ru.ru_utime + ru.ru_stime) * 1e3
rss_file = f"{state}/rss"
def peak_rss(name, i):
    # GNU time's %M: a spawn from Python would report Python's pages.
    spawn(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv_of(name, i), env_of(name))
    return int(open(rss_file).read().split()[-1]) / 1024
if shim:
    # What the shim adds to crun: one more library for its loader.
    plain, shimmed = [], []
    for i in range(200):
        for env, out in ((os.environ, plain), (env_of("crun"), shimmed)):
            t0 = time.perf_counter_ns()
            spawn(["crun", "--version"], env)
            out.append((time.perf_counter_ns() - t0) / 1e6)
    print(f"crun's memlock shim: `crun --version` {statistics.median(shimmed):.2f} ms with it, "
          f"{statistics.median(plain):.2f} ms without (medians of 200)")
for name in names:               # warm-up: page cache, first cgroup dirs
    for i in range(3):
        once(name, f"warm{i}")
rss = {n: statistics.median(peak_rss(n, f"rss{i}") for i in range(min(rounds, 20))) for n in names}
after = {}  # back to back: (name, predecessor) -> wall times
for mode in ("from idle", "back-to-back"):
    res = {n: ([], []) for n in names}
    before = None
    for i in range(rounds):
        # Shuffled each round: a start that follows another runtime's cgroup
        # move within an RCU grace period gets its own move almost free.
        order = list(names)
        random.shuffle(order)
        for name in order:
            if mode == "from idle":
                time.sleep(0.05)     # each start from an idle machine
            ms, cpu = once(name, f"{mode[0]}{i}")
            res[name][0].append(ms); res[name][1].append(cpu)
            if mode == "back-to-back" and before:
                after.setdefault((name, before), []).append(ms)
            before = name
    med = {n: tuple(statistics.median(v) for v in r) + (rss[n],) for n, r in res.items()}
    bt, bc, bm = med["crun"]
    floor = med["floor"][0]
    print(f"run of /bin/true, busybox bundle, default spec; {rounds} shuffled rounds, {mode} (medians; peak RSS: its own pass)")
    print(f"{'runtime':<15}{'wall ms':>9}{'CPU ms':>9}{'peak RSS MB':>13}{'wall/crun':>11}{'CPU/crun':>10}{'RSS/crun':>10}{'wall/floor':>12}")
    for name, (t, c, m) in med.items():
        print(f"{name:<15}{t:>9.2f}{c:>9.2f}{m:>13.2f}{t / bt:>10.2f}x{c / bc:>9.2f}x{m / bm:>9.2f}x{t / floor:>11.2f}x")
    print()
print("back to back, wall ms by the command before (median, count):")
for name in names:
    cells = [f"{p} {statistics.median(after[(name, p)]):6.2f} ({len(after[(name, p)])})" for p in names if (name, p) in after]
    print(f"  {name:<15}" + "   ".join(cells))
PY
mkdir "$work/state"
mount_state="mount -t tmpfs -o mode=0700 bench-state '$work/state' &&"
$state_on_disk && mount_state=
echo "state roots: $($state_on_disk && echo "on disk, beside the bundle" || echo "on a tmpfs, as clients keep them")"
shim=
if $v2; then
  # crun gets the memlock shim (see the top).
  shim="$work/memlock.so"
  cat > "$work/memlock.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/resource.h>
/* crun 1.8.1 sets RLIMIT_MEMLOCK to infinity before loading BPF; without
   CAP_SYS_RESOURCE that fails, and since 5.11 the limit is not used. */
static int pass_memlock(const char *sym, int resource, const void *limit) {
  int (*real)(int, const void *) = (int (*)(int, const void *))dlsym(RTLD_NEXT, sym);
  int ret = real(resource, limit);
  return ret < 0 && errno == EPERM && resource == RLIMIT_MEMLOCK ? 0 : ret;
}
int setrlimit(__rlimit_resource_t r, const struct rlimit *l) { return pass_memlock("setrlimit", r, l); }
int setrlimit64(__rlimit_resource_t r, const struct rlimit64 *l) { return pass_memlock("setrlimit64", r, l); }
C
  cc -O2 -shared -fPIC -o "$shim" "$work/memlock.c" -ldl
fi
view=$($v2 && echo v2 || echo v1)
echo "cgroups: $($v2 && echo "v2 alone (cgroup2 at /sys/fs/cgroup)" || echo "v1 alone (cgroup2 unmounted)")"
bench/in-view.sh $view sh -c "$mount_state python3 '$work/measure.py' '$rounds' '$work/bundle' '$cella' '$work/state' '$shim'"
