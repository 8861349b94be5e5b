#!/usr/bin/env bash
# The tests that need a real systemd host on pure cgroup v2, which this
# machine is not: builds (or reuses) a Debian bookworm guest, boots it once
# under qemu with the workspace shared read-only, runs every test marked
# "runs in the systemd guest" there (the ignored tests of the guest_*
# targets and of cri), and prints their results as cargo's test harness
# does, so that scripts/test.sh counts them. When the guest cannot be
# built or booted here, says why and reports those tests as ignored.
set -euo pipefail
ws=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ws"
CACHE=${CELLA_VM_CACHE:-/var/cache/cella-vm}
# Under TCG the guest boots in 25-35 s; the suite takes a few minutes.
TIMEOUT=${CELLA_VM_TIMEOUT:-1500}

# The test binaries (built on the host; the guest has the same glibc).
build_log=$(mktemp)
results=$(mktemp -d /var/tmp/cella-vm-results.XXXXXX)
# CELLA_VM_KEEP=1 keeps the results directory (console, logs) for a look.
trap 'rm -f "$build_log"; [ -n "${CELLA_VM_KEEP:-}" ] && echo "vm: results kept in $results" >&2 || rm -rf "$results"' EXIT
cargo test --no-run -p cella-runtime --test guest_cgroup_v2 --test guest_systemd --test guest_clients --test cri \
  -p cella --test guest_engine 2>&1 | tee "$build_log" >&2
sed -n 's/^ *Executable tests\/\([a-z0-9_]*\)\.rs (\(.*\))$/\1 \2/p; s/^ *Executable \.\.\/\.\.\/tests\/cri\/main\.rs (\(.*\))$/cri \1/p' "$build_log" \
  | while read -r name path; do echo "$name $ws/$path"; done > "$results/tests"
# CELLA_VM_ONLY="guest_systemd cri" runs only those (while working on them);
# CELLA_VM_DEBUG=script.sh runs a script in the guest first (its output is
# printed), for looking around.
if [ -n "${CELLA_VM_ONLY:-}" ]; then
  grep -wE "^($(echo "$CELLA_VM_ONLY" | tr ' ' '|'))" "$results/tests" > "$results/tests.only" || true
  mv "$results/tests.only" "$results/tests"
fi
if [ -n "${CELLA_VM_DEBUG:-}" ]; then
  cp "$CELLA_VM_DEBUG" "$results/debug.sh"
fi
listed=0
while read -r name path; do
  n=$("$path" --list --ignored 2>/dev/null | grep -c ': test$' || true)
  listed=$((listed + n))
done < "$results/tests"

skip() {
  echo "vm: SKIPPED: $1"
  echo "vm: the $listed tests that run in the systemd + cgroup v2 guest did not run"
  echo "test result: ignored. 0 passed; 0 failed; $listed ignored; 0 measured; 0 filtered out"
  exit 0
}
[ "$(id -u)" = 0 ] || skip "building the guest image needs root (mmdebstrap, mkfs.ext4 -d)"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (scripts/deps.sh installs it)"
img=$(tests/vm/image.sh) || skip "the guest image could not be built (no Debian mirror?); see the messages above"
qemu=$(tests/vm/qemu.sh) || skip "no qemu-system-x86_64 could be found or unpacked; see the messages above"

target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo "$ws" > "$results/workspace"
echo "${target:-$ws/target}" > "$results/target"
shares=(-virtfs "local,path=$results,mount_tag=results,security_model=none"
        -virtfs "local,path=$ws,mount_tag=work,security_model=none,readonly=on")
case "${target:-$ws/target}/" in
  "$ws"/*) ;;
  *) shares+=(-virtfs "local,path=$target,mount_tag=target,security_model=none,readonly=on") ;;
esac

echo "vm: booting the guest ($img) under TCG" >&2
start=$(date +%s)
set +e
timeout "$TIMEOUT" "$qemu" -accel tcg -cpu max -smp 2 -m 3G \
  -display none -monitor none -serial "file:$results/console.log" -no-reboot -nic none \
  -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 quiet" \
  -drive "file=$img/disk.img,if=virtio,format=raw,snapshot=on" \
  "${shares[@]}"
qemu_rc=$?
set -e
echo "vm: the guest ran $(( $(date +%s) - start )) s (qemu exit $qemu_rc)" >&2

if ! [ -e "$results/started" ]; then
  tail -n 30 "$results/console.log" >&2 || true
  skip "the guest did not boot to its test unit (qemu exit $qemu_rc); its console is above"
fi
rc=0
while read -r name path; do
  echo "vm: ---- $name (in the guest) ----"
  if [ -e "$results/$name.out" ]; then
    cat "$results/$name.out"
  else
    echo "vm: $name did not run"
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"
  fi
  [ "$(cat "$results/$name.rc" 2>/dev/null)" = 0 ] || rc=1
done < "$results/tests"
if ! [ -e "$results/status" ]; then
  echo "vm: the guest did not finish within $TIMEOUT s; the end of its console and log:"
  tail -n 30 "$results/console.log" || true
  tail -n 30 "$results/guest.log" || true
  echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"
  rc=1
fi
ran=$(cat "$results"/*.out 2>/dev/null | grep -E '^test result' | grep -Eo '[0-9]+ (passed|failed)' | awk '{s+=$1} END {print s+0}' || true)
echo "vm: $ran tests ran in the guest"
grep -h '^bench:' "$results"/*.out 2>/dev/null || true
if [ -e "$results/debug.out" ]; then
  echo "vm: ---- debug script output ----"
  cat "$results/debug.out"
fi
exit $rc
