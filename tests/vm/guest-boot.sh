#!/bin/sh
# In the guest, started by cella-guest.service once the system is up:
# mounts the host's shares (the results directory, and the workspace and
# target directory read-only at the same paths as on the host, so that the
# test binaries find what they were built with), runs the suite script
# from the workspace, records its exit status, and powers off.
set -u
mkdir -p /cella-results
# The 9p transport's module may still be loading (udev): try for a while.
modprobe 9pnet_virtio 2>/dev/null
udevadm settle 2>/dev/null
tries=0
until mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /cella-results; do
  tries=$((tries + 1))
  [ $tries -lt 20 ] || { systemctl poweroff --no-block; exit 1; }
  sleep 0.5
done
ws=$(cat /cella-results/workspace)
target=$(cat /cella-results/target)
mkdir -p "$ws"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro work "$ws"
if ! [ -d "$target/debug" ]; then
  mkdir -p "$target" 2>/dev/null
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro target "$target"
fi
sh "$ws/tests/vm/guest.sh" /cella-results > /cella-results/guest.log 2>&1
echo $? > /cella-results/status.tmp
mv /cella-results/status.tmp /cella-results/status
sync
systemctl poweroff --no-block
