#!/usr/bin/env bash
# Runs COMMAND in a private mount namespace that shows one cgroup layout of
# this (hybrid) host, for the benches that compare runtimes on it:
#   v1      the v1 hierarchies alone: /sys/fs/cgroup/unified unmounted
#           (crun 1.8 refuses hybrid cgroups)
#   v2      cgroup v2 alone: every v1 hierarchy and their tmpfs unmounted,
#           the host's cgroup2 mounted at /sys/fs/cgroup. It has one
#           controller here (hugetlb; the others are bound to v1), so no
#           limit can be set, but a start does a v2 start's work: the
#           cgroup, the device filter, no v1 moves.
#   hybrid  the host's layout as it is
# The host's mounts are untouched.
#
#   bench/in-view.sh v1|v2|hybrid COMMAND [ARG...]
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,15p "$0" >&2; exit 2; }
view=$1
shift
case $view in
  v1) prepare='umount /sys/fs/cgroup/unified 2>/dev/null || true' ;;
  v2) prepare='for m in $(awk '\''$9 == "cgroup" {print $5}'\'' /proc/self/mountinfo); do umount "$m"; done
       umount /sys/fs/cgroup/unified 2>/dev/null || true
       umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup' ;;
  hybrid) prepare=: ;;
  *) echo "bench/in-view.sh: unknown view $view (v1, v2 or hybrid)" >&2; exit 2 ;;
esac
exec unshare -m --propagation private sh -c "set -e; $prepare; exec \"\$@\"" sh "$@"
