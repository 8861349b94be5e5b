# Shared by the interop scripts: entering the test's network namespace, a
# busybox rootfs, the check helper, a tty.

# enter_test_netns COMMAND PACKAGE... (from the script, with "$@" after them):
# outside, installs what is missing, builds the runtime and re-runs the
# script in a new network namespace; inside, brings lo up and returns.
enter_test_netns() {
  local cmd=$1
  shift
  local pkgs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pkgs+=("$1"); shift; done
  shift
  if [ "${1:-}" = "--inside" ]; then
    ip link set lo up
    return
  fi
  scripts/deps.sh
  command -v "$cmd" >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  }
  scripts/build-release.sh cella-runtime
  exec unshare --net "$SCRIPT" --inside
}

# busybox_rootfs DIR: busybox-static and its applet links, a minimal /etc.
busybox_rootfs() {
  mkdir -p "$1"/{bin,etc,proc,sys,dev,tmp}
  cp /bin/busybox "$1/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"; done
  echo "root:x:0:0:root:/root:/bin/sh" >"$1/etc/passwd"
}

# script(1) gives the client a terminal; it ends at end of input, and CI has
# no standard input, so its input is a pipe that stays open.
with_tty() { timeout 120 script -qec "$*" /dev/null < <(sleep 120); }

passed=0
failed=0
# check NAME EXPECTED-SUBSTRING COMMAND...
check() {
  local name=$1 want=$2 got
  shift 2
  if declare -F "$1" >/dev/null; then
    got=$("$@" 2>&1 | tr -d '\r\000') || true
  else
    got=$(timeout 120 "$@" 2>&1 | tr -d '\r\000') || true
  fi
  if [[ "$got" == *"$want"* ]]; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name: wanted '$want', got: $got"; fi
}

# summary CLIENT: the closing line, and the exit status.
summary() {
  echo "interop $1: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
