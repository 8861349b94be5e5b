#!/usr/bin/env bash
# Regenerates crates/cella-runtime/startup.order, the order in which the
# linker lays out the functions a start runs (scripts/build-release.sh
# passes it to lld as --symbol-ordering-file).
#
# Why: each `cella-runtime run` maps the binary three times (the caller's
# exec, the sealed re-exec, the init's fork), and each image faults its
# text in by 64 KiB fault-around windows. In the default layout the
# startup code is spread over the whole 1.6 MiB text, so every image
# touches most windows; laid out together, first the functions of the
# first image, then the init's, then the runtime's, each image touches a
# few. The order is learnt, not written: perf samples the CPU of 800
# starts of an unstripped release build, and its page faults show
# what a start touches outside the listed functions; each round rebuilds
# with the order so far and adds what still faults (scripts/startup_order.py).
#
# Rerun after large changes to the runtime or a toolchain update: symbols
# that no longer exist are skipped by the linker, new ones are only not
# laid out, so a stale order costs speed, never correctness.
#
#   scripts/startup-order.sh [ROUNDS]   (default 4; root; installs perf)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
[ "$(id -u)" = 0 ] || { echo "scripts/startup-order.sh: run as root" >&2; exit 1; }
need=()
command -v perf >/dev/null || need+=(linux-perf)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
order=crates/cella-runtime/startup.order
work=$(mktemp -d /tmp/cella-order.XXXXXX)
trap 'rm -rf "$work"; rmdir /sys/fs/cgroup/cella /sys/fs/cgroup/*/cella 2>/dev/null || true' EXIT

# Starts of /bin/true in the default spec, on the pure v1 view the benches
# use and on the host's own (hybrid) layout, whose cgroup code differs.
starts() { # KIND DATA BINARY COUNT
  local rec
  case $1 in
    clock) rec=(perf record -q -F 20000 -e cpu-clock:u) ;;
    faults) rec=(perf record -q -e page-faults -c 1 -d) ;;
  esac
  local loop="for i in \$(seq $4); do $3 --root $work/state run --bundle $work/bundle o\$\$-\$i >/dev/null; done"
  unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; ${rec[*]} -o $2.v1 -- sh -c '$loop'"
  "${rec[@]}" -o "$2.hybrid" -- sh -c "$loop"
  recordings+=("$1:$3:$2.v1" "$1:$3:$2.hybrid")
}

recordings=()
for r in $(seq "$rounds"); do
  # The release build, symbols kept (the same code; strip only drops them).
  CARGO_TARGET_DIR=target/startup-order CARGO_PROFILE_RELEASE_STRIP=false scripts/build-release.sh cella-runtime
  mkdir -p "$work/r$r"
  bin="$work/r$r/cella-runtime"
  cp target/startup-order/release/cella-runtime "$bin"
  if [ ! -d "$work/state" ]; then
    bench/bundle.sh "$bin" "$work/bundle"
    mkdir "$work/state"
  fi
  [ "$r" = 1 ] && starts clock "$work/r$r/clock" "$bin" 400
  starts faults "$work/r$r/faults" "$bin" 3
  echo "round $r: $(python3 scripts/startup_order.py "$order" "${recordings[@]}")"
done
