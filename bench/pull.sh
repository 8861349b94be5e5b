#!/usr/bin/env bash
# Pull benchmark: a multi-layer image from a registry on loopback (Debian's
# docker-registry, in a network namespace of the benchmark's own), pulled by
#   cella pull                      into an empty store (blobs kept, layers unpacked)
#   skopeo copy docker:// dir:      into an empty directory (blobs only, nothing unpacked)
#   podman pull                     into an empty store of its own (layers unpacked)
# alternating, N rounds. Prints the medians and cella's ratios to the others.
#
#   bench/pull.sh [ROUNDS] [LAYERS] [MB_PER_LAYER]   (default 10 5 16; root required)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
layers=${2:-5}
mb=${3:-16}
[ "$(id -u)" = 0 ] || { echo "bench/pull.sh: run as root" >&2; exit 1; }
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v podman >/dev/null || need+=(podman)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
scripts/build-release.sh cella
cella="$PWD/target/release/cella"
work=$(mktemp -d /tmp/cella-bench-pull.XXXXXX)
cleanup() {
  umount -R "$work/podman" 2>/dev/null || true
  umount -R "$work/podman-run" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The image: busybox, then LAYERS-1 layers of MB each of text that gzip
# shrinks about as much as it shrinks binaries (base64 of random bytes).
mkdir -p "$work/img/arch" "$work/img/l0/bin"
cp /bin/busybox "$work/img/l0/bin/"
diff_ids=() files=()
for i in $(seq 0 $((layers - 1))); do
  d="$work/img/l$i"
  [ "$i" = 0 ] || { mkdir -p "$d"; head -c $((mb * 3 / 4))M /dev/urandom | base64 > "$d/data$i"; }
  tar -C "$d" -cf "$work/img/arch/l$i.tar" .
  diff_ids+=("\"sha256:$(sha256sum < "$work/img/arch/l$i.tar" | cut -d' ' -f1)\"")
  gzip -1 -n "$work/img/arch/l$i.tar"
  files+=("\"l$i.tar.gz\"")
done
join() { local IFS=,; echo "$*"; }
echo "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/busybox\",\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(join "${diff_ids[@]}")]}}" > "$work/img/arch/cfg.json"
echo "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"bench/pull:1\"],\"Layers\":[$(join "${files[@]}")]}]" > "$work/img/arch/manifest.json"
tar -C "$work/img/arch" -cf "$work/img.tar" .
size=$(du -sm "$work/img/arch" | cut -f1)
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\nhttp:\n  addr: 127.0.0.1:5099\n' "$work" > "$work/registry.yml"
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$(ulimit -Hn)" "$(ulimit -Hn)" "$nproc" "$nproc" > "$work/containers.conf"

echo "image: $layers layers, ${size} MB compressed; $rounds rounds"
unshare --net --mount bash -s "$rounds" "$cella" "$work" <<'NETNS'
set -euo pipefail
rounds=$1 cella=$2 work=$3
ip link set lo up
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & R=$!
trap 'kill $R 2>/dev/null; wait $R 2>/dev/null || true' EXIT
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5099) 2>/dev/null && break; sleep 0.05; done
skopeo copy -q --dest-tls-verify=false "docker-archive:$work/img.tar" docker://127.0.0.1:5099/bench/pull:1
export CONTAINERS_CONF="$work/containers.conf"
python3 - "$rounds" "$cella" "$work" <<'PY'
import shutil, statistics, subprocess, sys, time
rounds, cella, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ref = "127.0.0.1:5099/bench/pull:1"
pm = ["podman", "--root", f"{work}/podman", "--runroot", f"{work}/podman-run",
      "--storage-driver", "overlay", "--events-backend", "none"]
def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
def podman_reset():
    subprocess.run(pm + ["rmi", "-a", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
cmds = {
    "cella pull": (lambda: fresh(f"{work}/cella"),
                   [cella, "--root", f"{work}/cella", "--runroot", f"{work}/cella-run", "pull", "-q", "--tls-verify=false", ref]),
    "skopeo copy (to dir:)": (lambda: fresh(f"{work}/skopeo"),
                   ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"dir:{work}/skopeo"]),
    "podman pull": (podman_reset, pm + ["pull", "-q", "--tls-verify=false", ref]),
}
times = {k: [] for k in cmds}
for k, (reset, argv) in cmds.items():  # one warm-up each
    reset()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
for _ in range(rounds):
    for k, (reset, argv) in cmds.items():
        reset()
        subprocess.run(["sync"])
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times[k].append((time.perf_counter() - t) * 1000)
for k, (reset, _) in cmds.items():
    reset()
med = {k: statistics.median(v) for k, v in times.items()}
for k, m in med.items():
    print(f"{k:24s} median {m:8.1f} ms   (min {min(times[k]):.1f}, max {max(times[k]):.1f})")
c = med["cella pull"]
print(f"skopeo copy / cella pull: {med['skopeo copy (to dir:)'] / c:.2f}x")
print(f"podman pull / cella pull: {med['podman pull'] / c:.2f}x")
PY
NETNS
