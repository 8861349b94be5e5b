#!/usr/bin/env bash
# Installs what cella's build and tests use, from Debian's packages, when missing.
#   libseccomp-dev, pkg-config  the libseccomp crate links against libseccomp
#   busybox-static  root filesystems for test containers
#   uidmap          newuidmap/newgidmap for rootless id ranges
#   util-linux      setpriv/unshare/ipcmk/lsns used by tests (normally present)
#   iproute2        `ip netns`, which the cella ns netns tests compare against
#   podman          writes the archives the `cella load` test loads (its own store)
#   nftables        `nft`, which the engine drives for NAT and published ports
#   passt           `pasta`, the rootless engine's user-mode network
#   curl            fetches a published port in the networking tests
#   docker-registry, skopeo   a registry on loopback and its seeding, for the registry tests
#   apache2-utils   htpasswd (bcrypt) for the registry with authentication
#   python3, openssl  the registry tests' token server (signs JWTs with openssl)
#   runc, crun      the peers the runc-contract tests run beside cella-runtime
#   containerd, containernetworking-plugins   the CRI test's containerd and its CNI bridge
#   protobuf-compiler  protoc, which the CRI test's client (k8s-cri) builds its types with
#   mmdebstrap      builds the systemd + cgroup v2 guest's image (tests/vm; its qemu
#                   is unpacked privately by tests/vm/qemu.sh, not installed)
# Peers for bench/ are installed by the bench scripts themselves.
set -euo pipefail
need=()
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || need+=(busybox-static)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
command -v setpriv >/dev/null || need+=(util-linux)
command -v ipcmk >/dev/null || need+=(util-linux)
command -v lsns >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
command -v podman >/dev/null || need+=(podman)
command -v nft >/dev/null || need+=(nftables)
command -v pasta >/dev/null || need+=(passt)
command -v curl >/dev/null || need+=(curl)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
command -v script >/dev/null || need+=(bsdutils)
command -v runc >/dev/null || need+=(runc)
command -v crun >/dev/null || need+=(crun)
command -v containerd >/dev/null || need+=(containerd)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
