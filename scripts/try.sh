#!/usr/bin/env bash
# Builds cella-runtime and runs a real container with no image download: its
# root is an empty directory with the host's /usr and /etc bound read-only.
# Run as root (the rootless path: `cella-runtime spec --rootless`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -q -p cella-runtime
rt="$PWD/target/release/cella-runtime"
bundle=$(mktemp -d /tmp/cella-try.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs"/{usr,etc,proc,sys,dev,tmp}
for l in bin sbin lib lib64; do [ -e /usr/$l ] && ln -s usr/$l "$bundle/rootfs/$l"; done
(cd "$bundle" && "$rt" spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo \"hello from $(hostname), I am PID $$ in my own namespaces\"; ps -o pid,comm 2>/dev/null || ls /proc | grep -c '^[0-9]'"]
c["hostname"] = "cella-try"
c["mounts"] += [{"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro", "nosuid"]} for d in ("/usr", "/etc")]
json.dump(c, open(p, "w"), indent=2)
PY
"$rt" run --bundle "$bundle" "try-$$"
