#!/usr/bin/env bash
# Builds the release binaries into target/release/: cella-runtime linked
# static-pie (glibc's libc.a and libseccomp.a), cella with libseccomp linked
# in and glibc shared.
#
# Why static: every `run` executes cella-runtime twice (the sealed re-exec,
# then the container's init is a clone of it), and a dynamic binary pays the
# loader and its relocations each time. Static-pie keeps ASLR and saves
# about 0.7 ms of CPU per start and a third of the peak RSS (bench/lifecycle.sh).
# runc ships static binaries too. cella itself stays linked to the shared
# glibc: it resolves registry host names, and a static glibc reaches only the
# NSS modules built into it.
#
# Only the final binary gets +crt-static (`cargo rustc`): given to every
# crate, rustc refuses to build proc-macros. Where libseccomp.a is missing
# both are linked dynamically, with a warning.
#
# cella-runtime's functions are laid out in the order of
# crates/cella-runtime/startup.order (lld's --symbol-ordering-file; lld is
# rustc's linker on x86_64 Linux): the code a start runs sits together, and
# each of a start's three images faults in a few 64 KiB windows of text
# instead of most of them. scripts/startup-order.sh regenerates the file.
#
#   scripts/build-release.sh [cella-runtime|cella ...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(cella-runtime cella)
seccomp_a=$(${CC:-cc} -print-file-name=libseccomp.a 2>/dev/null || true)
static=()
if [ -n "$seccomp_a" ] && [ -e "$seccomp_a" ]; then
  # The same environment for both binaries, so that libseccomp-sys is built
  # once for them (it reruns when these change).
  export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH
  LIBSECCOMP_LIB_PATH=$(dirname "$seccomp_a")
  static=(-- -C target-feature=+crt-static)
else
  echo "build-release: no libseccomp.a (install libseccomp-dev); linking dynamically" >&2
fi
order=()
if [ -s crates/cella-runtime/startup.order ]; then
  [ ${#static[@]} -gt 0 ] || order=(--)
  order+=(-C "link-arg=-Wl,--symbol-ordering-file=$PWD/crates/cella-runtime/startup.order"
    -C link-arg=-Wl,--no-warn-symbol-ordering)
fi
for b in "${bins[@]}"; do
  case $b in
    cella-runtime)
      cargo rustc --release -q -p cella-runtime --bin cella-runtime "${static[@]}" "${order[@]}" || {
        [ ${#order[@]} -gt 0 ] || exit 1
        echo "build-release: the build with startup.order's function order (lld's --symbol-ordering-file) failed; building in the default order" >&2
        cargo rustc --release -q -p cella-runtime --bin cella-runtime "${static[@]}"
      } ;;
    cella) cargo rustc --release -q -p cella --bin cella ;;
    *) echo "build-release: unknown binary $b (cella-runtime or cella)" >&2; exit 2 ;;
  esac
done
