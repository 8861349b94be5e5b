#!/usr/bin/env bash
# Builds cella and runs a real container with no image download: the built-in
# `host` image (the host's own /usr, /etc, /lib… read-only, with a writable
# layer of the container's own on top). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build-release.sh cella
cella="$PWD/target/release/cella"
echo "host: $(hostname), PID $$"
"$cella" run --rm --network none --hostname cella-try host sh -c '
  echo "container: $(hostname), I am PID $$; $(id)"
  echo "its processes:"; ps -o pid,user,comm
  echo "its network interfaces: $(ls /sys/class/net)"'
