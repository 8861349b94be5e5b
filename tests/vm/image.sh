#!/usr/bin/env bash
# Builds the test guest's disk image, kernel and initrd into $CACHE/<key>/,
# where <key> is the hash of the package list and of this script: the same
# inputs reuse the image; the downloaded packages are kept in $CACHE/debs
# for the next build. Prints the directory. Needs root (mmdebstrap's root
# mode, mkfs.ext4 -d keeps ownership) and a Debian mirror.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CELLA_VM_CACHE:-/var/cache/cella-vm}
MIRROR=${CELLA_VM_MIRROR:-http://deb.debian.org/debian}
key=$(cat "$here/packages" "$here/image.sh" "$here/guest-boot.sh" | sha256sum | cut -c1-16)
out=$CACHE/image-$key
if [ -s "$out/disk.img" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$CACHE/debs"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
include=$(grep -v '^#' "$here/packages" | grep . | paste -sd, -)
# The boot script goes in as a file; the hooks run outside the chroot ($1 is its root).
cp "$here/guest-boot.sh" "$work/guest-boot.sh"
mmdebstrap --mode=root --variant=minbase --include="$include" \
  --aptopt='Apt::Install-Recommends "false"' \
  --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="cp -a $CACHE/debs/. \"\$1\"/var/cache/apt/archives/ 2>/dev/null || true" \
  --customize-hook="cp -a \"\$1\"/var/cache/apt/archives/*.deb $CACHE/debs/ 2>/dev/null || true" \
  --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
  --customize-hook="install -m 0755 $work/guest-boot.sh \"\$1\"/usr/local/sbin/cella-guest-boot" \
  --customize-hook='printf "%s\n" "[Unit]" "Description=cella guest tests" "After=multi-user.target" "" "[Service]" "Type=simple" "ExecStart=/usr/local/sbin/cella-guest-boot" "StandardOutput=journal+console" "StandardError=journal+console" "TimeoutStartSec=infinity" "" "[Install]" "WantedBy=multi-user.target" > "$1"/etc/systemd/system/cella-guest.service' \
  --customize-hook='chroot "$1" systemctl enable cella-guest.service' \
  --customize-hook='echo cella-guest > "$1"/etc/hostname' \
  --customize-hook='echo "/dev/vda / ext4 rw,relatime 0 1" > "$1"/etc/fstab' \
  --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer systemd-timesyncd.service 2>/dev/null || true' \
  --customize-hook='chroot "$1" useradd -m -u 1000 -s /bin/sh tester && mkdir -p "$1"/var/lib/systemd/linger && touch "$1"/var/lib/systemd/linger/tester' \
  bookworm "$root" "$MIRROR" >&2
cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd.img"
truncate -s 6G "$work/disk.img"
mkfs.ext4 -q -F -L cella-guest -d "$root" "$work/disk.img" >&2
rm -rf "$root"
mkdir -p "$out"
mv "$work/vmlinuz" "$work/initrd.img" "$work/disk.img" "$out/"
# Older images go: one per key is enough.
find "$CACHE" -maxdepth 1 -name 'image-*' ! -path "$out" -exec rm -rf {} +
echo "$out"
