#!/usr/bin/env bash
# Prints the path of a qemu-system-x86_64 to boot the guest with: the
# host's own if it has one, else bookworm's qemu unpacked into
# $CACHE/qemu-<version>/ (apt-get download + dpkg -x, with the libraries the
# host lacks): installing it could conflict with newer qemu packages on the
# host, and unpacking changes nothing outside the cache.
set -euo pipefail
CACHE=${CELLA_VM_CACHE:-/var/cache/cella-vm}
if command -v qemu-system-x86_64 >/dev/null; then
  command -v qemu-system-x86_64
  exit 0
fi
version=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
[ -n "$version" ] && [ "$version" != "(none)" ] || { echo "qemu.sh: no qemu-system-x86 package in the apt sources" >&2; exit 1; }
dir=$CACHE/qemu-${version//[:+~]/_}
if [ -x "$dir/qemu" ]; then
  echo "$dir/qemu"
  exit 0
fi
work=$(mktemp -d "$CACHE/qemu-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
# qemu, its firmware, and every library in its dependency tree that the
# host does not have installed.
# (libelogind0 is the alternative to the host's libsystemd0: never that.)
wanted=(qemu-system-x86 qemu-system-common qemu-system-data seabios)
for p in $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances --no-pre-depends qemu-system-x86 2>/dev/null | grep -v '^[ <]' | sort -u \
    | grep '^lib' | grep -v '^libelogind'); do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || wanted+=("$p")
done
# apt drops privileges to _apt for downloads: give it a directory it may write.
chown _apt "$work" 2>/dev/null || true
for p in "${wanted[@]}"; do
  apt-get download -q "$p" >/dev/null 2>&1 || echo "qemu.sh: could not download $p (an alternative is installed?)" >&2
done
mkdir root
for d in ./*.deb; do dpkg -x "$d" root; done
libs=$(find "$PWD/root" -name '*.so*' -printf '%h\n' | sort -u | sed "s|^$PWD/root|$dir|" | paste -sd: -)
cat > root/qemu <<WRAP
#!/bin/sh
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export QEMU_MODULE_DIR="$dir/usr/lib/x86_64-linux-gnu/qemu"
exec "$dir/usr/bin/qemu-system-x86_64" -L "$dir/usr/share/qemu" -L "$dir/usr/share/seabios" "\$@"
WRAP
chmod +x root/qemu
rm -rf "$dir"
mv root "$dir"
# The TCG accelerator is a module: start a machine-less qemu and quit it.
if ! echo quit | timeout 20 "$dir/qemu" -accel tcg -machine none -display none -nodefaults -monitor stdio >/dev/null; then
  echo "qemu.sh: the unpacked qemu does not run:" >&2
  echo quit | timeout 20 "$dir/qemu" -accel tcg -machine none -display none -nodefaults -monitor stdio >&2 || true
  [ -n "${CELLA_VM_KEEP:-}" ] || rm -rf "$dir"
  exit 1
fi
echo "$dir/qemu"
