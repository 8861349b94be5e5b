#!/usr/bin/env bash
# podman driving cella-runtime (through conmon), as issue #5 asks:
#   run --rm; run -it through a pty; run -d + exec + pause/unpause + stop + rm;
#   --network none; the default bridge network with -p and busybox httpd
#   answering curl; --memory and --pids-limit enforced.
# Hermetic: the body runs in a network namespace made here; podman's store,
# run root and config live in a temp dir (vfs driver: no overlay mounts).
#   tests/interop/podman.sh        (root; installs podman if missing)
set -euo pipefail
SCRIPT=$(realpath "$0")
cd "$(dirname "$0")/../.."
. tests/interop/lib.sh
enter_test_netns podman podman curl -- "$@"
T=$(mktemp -d /tmp/cella-interop.XXXXXX)
RT="$PWD/target/release/cella-runtime"
cat >"$T/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$T/containers.conf"
P=(podman --root "$T/root" --runroot "$T/runroot" --storage-driver vfs --runtime "$RT")
cleanup() {
  "${P[@]}" rm -af -t 0 >/dev/null 2>&1 || true
  rm -rf "$T"
  # podman's own conmon cgroups (cgroupfs manager); rmdir leaves any in use.
  for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/unified/libpod_parent; do
    rmdir "$d/conmon" "$d" 2>/dev/null || true
  done
}
trap cleanup EXIT
# A busybox image from Debian's busybox-static.
busybox_rootfs "$T/rootfs"
tar -C "$T/rootfs" -c . | "${P[@]}" import - localhost/cella-bb:latest >/dev/null 2>&1
mkdir -p "$T/www"
IMG=localhost/cella-bb
check "run --rm echo" "hi" "${P[@]}" run --rm --network none $IMG echo hi
check "run -it through a pty" "/dev/pts/0" with_tty "${P[*]}" run -it --rm --network none $IMG tty
check "run -d" "" "${P[@]}" run -d --name c1 --network none $IMG sleep 300
check "exec" "exec-ok" "${P[@]}" exec c1 sh -c 'echo exec-ok'
check "pause" "c1" "${P[@]}" pause c1
check "paused state" "paused" "${P[@]}" inspect --format '{{.State.Status}}' c1
check "unpause" "c1" "${P[@]}" unpause c1
check "running state" "running" "${P[@]}" inspect --format '{{.State.Status}}' c1
check "stop" "c1" "${P[@]}" stop -t 1 c1
check "rm" "c1" "${P[@]}" rm c1
check "--network none has only lo" "lo" "${P[@]}" run --rm --network none $IMG ls /sys/class/net
check "--memory enforced" "67108864" "${P[@]}" run --rm --network none --memory 64m $IMG cat /sys/fs/cgroup/memory/memory.limit_in_bytes
check "--pids-limit enforced" "forks-failed" "${P[@]}" run --rm --network none --pids-limit 8 $IMG sh -c '(for i in $(seq 20); do sleep 5 & done; wait) 2>/dev/null && echo all-forked || echo forks-failed'
echo served-by-cella >"$T/www/index.html"
"${P[@]}" run -d --name web -p 127.0.0.1:18080:80 -v "$T/www:/www" $IMG httpd -f -p 80 -h /www >/dev/null
for _ in $(seq 50); do curl -s --max-time 1 http://127.0.0.1:18080/ >/dev/null && break; sleep 0.2; done
check "bridge network, -p, httpd answers curl" "served-by-cella" curl -s --max-time 5 http://127.0.0.1:18080/
"${P[@]}" rm -f -t 0 web >/dev/null 2>&1 || true
summary podman
