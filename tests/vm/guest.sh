#!/bin/sh
# Runs in the guest (from cella-guest-boot): waits for systemd to finish
# booting, then runs each guest test binary's ignored tests (the ones that
# need this host) and writes their output and exit code to the results
# share ($1). The host's run.sh prints them.
set -u
results=$1
touch "$results/started"
echo "systemd: $(systemctl is-system-running --wait)"
echo "cgroup: $(stat -fc %T /sys/fs/cgroup) $(cat /sys/fs/cgroup/cgroup.controllers)"
export CELLA_IN_GUEST=1
if [ -e "$results/debug.sh" ]; then
  bash "$results/debug.sh" > "$results/debug.out" 2>&1
fi
export RUST_BACKTRACE=1
while read -r name path; do
  echo "running $name"
  "$path" --ignored --test-threads 2 > "$results/$name.out" 2>&1
  echo $? > "$results/$name.rc"
done < "$results/tests"
