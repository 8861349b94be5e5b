#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration
# tests that run real containers (root needed for most; rootless ones switch
# to an unprivileged uid themselves). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets -q -- -D warnings
# Containers are cheap but the machine has 2 cores; 4 test threads keep the
# suite quick without starving the kernel work each container does.
# Doc-tests are skipped (there are none); --no-fail-fast runs every test
# binary even when one fails; the summed result is the last line.
log=$(mktemp)
# Containers leave their shared cgroup parent (/cella, as docker leaves
# /docker) for the next one, and podman (the differential tests) its
# libpod_parent/conmon: the suite's go when it ends, if empty.
cleanup() {
  rm -f "$log"
  rmdir /sys/fs/cgroup/cella /sys/fs/cgroup/*/cella 2>/dev/null || true
  for d in /sys/fs/cgroup/libpod_parent /sys/fs/cgroup/*/libpod_parent; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}
trap cleanup EXIT
set +e
cargo test --workspace --lib --bins --tests --no-fail-fast -- --test-threads 4 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# The tests that need systemd as PID 1 on pure cgroup v2 (this machine has
# neither): one boot of a Debian guest under qemu runs them all (tests/vm).
tests/vm/run.sh 2>&1 | tee -a "$log"
vm_rc=${PIPESTATUS[0]}
[ "$rc" != 0 ] || rc=$vm_rc
set -e
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
ignored=$(grep -E '^test result' "$log" | grep -Eo '[0-9]+ ignored' | awk '{s+=$1} END {print s+0}')
in_guest=$(sed -n 's/^vm: \([0-9]*\) tests ran in the guest$/\1/p' "$log")
echo "cella: $passed passed, $failed failed; $ignored ignored on the host, ${in_guest:-0} of them ran in the guest"
grep -h '^vm: SKIPPED' "$log" || true
exit "$rc"
