#!/usr/bin/env bash
# Runs the fuzz targets (cargo fuzz, libFuzzer) for SECONDS each, JOBS at a
# time, starting from the seed corpus in fuzz/corpus/. Prints one summary line
# per target: executions, executions per second, and whether it crashed.
# Seeds are in fuzz/seeds/<target> (committed); what libFuzzer adds goes to
# fuzz/corpus/<target> (not committed).
# Crash inputs land in fuzz/artifacts/<target>/; turn each into a regression test.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]     (default 600 s, all targets)
#   JOBS=2 scripts/fuzz.sh 30                   (a smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config seccomp mount_options signal cpuset idmap state layer_unpack archive_members)
jobs=${JOBS:-2}
scripts/deps.sh
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo fuzz needs nightly flags (-Zsanitizer); the stable toolchain allows them this way.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O --fuzz-dir fuzz >/dev/null
logs=$(mktemp -d /tmp/cella-fuzz.XXXXXX)
run_one() {
  local t=$1
  mkdir -p "fuzz/corpus/$t"
  cargo fuzz run -O --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"$logs/$t.log" 2>&1
  local rc=$?
  local runs execs
  runs=$(grep -a 'stat::number_of_executed_units' "$logs/$t.log" | awk '{print $2}')
  execs=$(grep -a 'stat::average_exec_per_sec' "$logs/$t.log" | awk '{print $2}')
  if [ "$rc" = 0 ]; then
    echo "fuzz $t: ${secs}s, ${runs:-?} executions, ${execs:-?}/s, no crash"
  else
    echo "fuzz $t: CRASH (exit $rc) after ${runs:-?} executions; see $logs/$t.log and fuzz/artifacts/$t/"
  fi
  return $rc
}
failed=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
# The unpacker's sandboxes are mounted inside their own mount namespaces; only the empty directories stay here.
rmdir /tmp/cella-fuzz-unpack-* 2>/dev/null || true
# The logs stay only when something crashed (the lines above name them).
[ "$failed" != 0 ] || rm -rf "$logs"
exit $failed
