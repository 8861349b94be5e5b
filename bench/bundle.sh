#!/usr/bin/env bash
# Makes the benches' bundle in DIR: a busybox root filesystem and
# RUNTIME's default spec (`RUNTIME spec`), running /bin/true without a
# terminal. --oci-1.0 writes ociVersion 1.0.2, the newest crun 1.8 takes.
# Used by bench/lifecycle.sh, bench/versus.sh and scripts/startup-order.sh.
#
#   bench/bundle.sh [--oci-1.0] RUNTIME DIR
set -euo pipefail
oci=""
if [ "${1:-}" = --oci-1.0 ]; then oci=1.0.2; shift; fi
[ $# = 2 ] || { sed -n 2,7p "$0" >&2; exit 2; }
runtime=$1 dir=$2
mkdir -p "$dir/rootfs"/{bin,proc,sys,dev,etc,tmp}
cp /bin/busybox "$dir/rootfs/bin/busybox"
ln -s busybox "$dir/rootfs/bin/true"
(cd "$dir" && "$runtime" spec)
python3 - "$dir/config.json" "$oci" <<'PY'
import json, sys
p, oci = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
if oci:
    c["ociVersion"] = oci
json.dump(c, open(p, "w"), indent=2)
PY
