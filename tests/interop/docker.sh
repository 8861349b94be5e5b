#!/usr/bin/env bash
# docker driving cella-runtime (dockerd → containerd → runc shim), as issue #5
# asks: docker run --rm --runtime cella, with -p, and docker exec.
# Hermetic: the body runs in a network namespace made here; dockerd gets its
# own data root, exec root, pidfile and socket in a temp dir, vfs storage.
#   tests/interop/docker.sh     (root; installs docker.io if missing)
set -euo pipefail
SCRIPT=$(realpath "$0")
cd "$(dirname "$0")/../.."
. tests/interop/lib.sh
enter_test_netns dockerd docker.io curl -- "$@"
T=$(mktemp -d /tmp/cella-interop.XXXXXX)
RT="$PWD/target/release/cella-runtime"
dockerd --data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/docker.pid" --host "unix://$T/docker.sock" \
  --storage-driver vfs --add-runtime "cella=$RT" >"$T/dockerd.log" 2>&1 &
DPID=$!
# Debian's client matches Debian's daemon; another docker on PATH may be newer.
DOCKER=$(command -v /usr/bin/docker || command -v docker)
D=("$DOCKER" -H "unix://$T/docker.sock")
cleanup() {
  "${D[@]}" rm -f $("${D[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  kill "$DPID" 2>/dev/null || true
  wait "$DPID" 2>/dev/null || true
  # Anything dockerd left mounted under its roots (network namespaces).
  { grep -o " $T[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
  for d in /sys/fs/cgroup/*/docker /sys/fs/cgroup/unified/docker; do rmdir "$d" 2>/dev/null || true; done
}
trap cleanup EXIT
for _ in $(seq 150); do "${D[@]}" info >/dev/null 2>&1 && break; sleep 0.2; done
busybox_rootfs "$T/rootfs"
mkdir -p "$T/www" && echo served-by-cella >"$T/www/index.html"
tar -C "$T/rootfs" -c . | "${D[@]}" import - cella-bb:latest >/dev/null
IMG=cella-bb:latest

check "docker run --rm --runtime cella" "hello-from-cella" "${D[@]}" run --rm --runtime cella --network none $IMG echo hello-from-cella
"${D[@]}" run -d --name web --runtime cella -p 127.0.0.1:18082:80 -v "$T/www:/www" $IMG httpd -f -p 80 -h /www >/dev/null
for _ in $(seq 50); do curl -s --max-time 1 http://127.0.0.1:18082/ >/dev/null && break; sleep 0.2; done
check "-p: httpd answers curl" "served-by-cella" curl -s --max-time 5 http://127.0.0.1:18082/
check "docker exec" "exec-ok" "${D[@]}" exec web sh -c 'echo exec-ok'
check "docker inspect: runtime" "cella" "${D[@]}" inspect --format '{{.HostConfig.Runtime}}' web
check "docker rm -f" "web" "${D[@]}" rm -f web
summary docker
