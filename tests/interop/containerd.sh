#!/usr/bin/env bash
# containerd (its runc shim v2) driving cella-runtime, as issue #5 asks:
#   ctr run --rm; a detached task with ctr task exec; task pause/resume,
#   kill, delete.
# Hermetic: the body runs in a network namespace made here; containerd gets
# its own config, root, state and socket in a temp dir, the CRI plugin off
# and the native snapshotter (no overlay mounts to leak).
#   tests/interop/containerd.sh     (root; installs containerd if missing)
set -euo pipefail
SCRIPT=$(realpath "$0")
cd "$(dirname "$0")/../.."
. tests/interop/lib.sh
enter_test_netns containerd containerd -- "$@"
T=$(mktemp -d /tmp/cella-interop.XXXXXX)
RT="$PWD/target/release/cella-runtime"
cat >"$T/config.toml" <<CONF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/containerd.sock"
[ttrpc]
  address = "$T/containerd.sock.ttrpc"
[debug]
  address = "$T/debug.sock"
CONF
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
CPID=$!
C=(ctr -a "$T/containerd.sock")
cleanup() {
  for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task kill -s KILL "$t" >/dev/null 2>&1 || true; done
  sleep 0.5
  for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task delete -f "$t" >/dev/null 2>&1 || true; done
  for c in $("${C[@]}" containers ls -q 2>/dev/null); do "${C[@]}" containers delete "$c" >/dev/null 2>&1 || true; done
  kill "$CPID" 2>/dev/null || true
  wait "$CPID" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$T/containerd.sock" ] && break; sleep 0.1; done

# A one-layer OCI image archive of a busybox rootfs, for `ctr images import`.
busybox_rootfs "$T/rootfs"
mkdir -p "$T/layout/blobs/sha256"
tar -C "$T/rootfs" -cf "$T/layer.tar" .
python3 - "$T" <<'PY'
import hashlib, json, sys
T = sys.argv[1]; blobs = f"{T}/layout/blobs/sha256"
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{blobs}/{d}", "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
layer = put(open(f"{T}/layer.tar", "rb").read())
config = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
           "annotations": {"io.containerd.image.name": "localhost/cella-bb:latest"}}]}, open(f"{T}/layout/index.json", "w"))
open(f"{T}/layout/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
tar -C "$T/layout" -cf "$T/image.tar" .
"${C[@]}" images import --snapshotter native "$T/image.tar" >/dev/null
IMG=localhost/cella-bb:latest
R=(--snapshotter native --runc-binary "$RT")

check "ctr run --rm echo" "hi" "${C[@]}" run --rm "${R[@]}" $IMG t-echo echo hi
check "ctr run -d (detached task)" "" "${C[@]}" run -d "${R[@]}" $IMG t1 sleep 300
check "task is running" "RUNNING" "${C[@]}" task ls
check "task exec" "exec-ok" "${C[@]}" task exec --exec-id e1 t1 sh -c 'echo exec-ok'
check "task pause" "" "${C[@]}" task pause t1
check "paused" "PAUSED" "${C[@]}" task ls
check "task resume" "" "${C[@]}" task resume t1
check "running again" "RUNNING" "${C[@]}" task ls
check "task kill" "" "${C[@]}" task kill -s KILL t1
for _ in $(seq 50); do "${C[@]}" task ls | grep -q STOPPED && break; sleep 0.1; done
check "stopped" "STOPPED" "${C[@]}" task ls
check "task delete" "t1" "${C[@]}" task delete t1
check "no task left" "TASK" "${C[@]}" task ls
"${C[@]}" containers delete t1 >/dev/null
summary containerd
