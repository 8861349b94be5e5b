"""Turns perf recordings of `cella-runtime run` into a symbol ordering file.

Used by scripts/startup-order.sh. Each recording is of an unstripped
release build (same code, same symbols as the shipped one). A sample, a
CPU-clock tick or a page fault, is placed in the binary through the
mapping of the process that took it, and counted for one of three
images of a start:

  first   the binary as the caller executed it, up to the sealed re-exec
  parent  the sealed re-exec: the runtime proper
  init    the container's init, a fork of the parent

The ordering lists the first image's functions, then the init's, then the
parent's, each once, then those of the previous ordering that the samples
missed this time but the binary still has (a sampler misses rare short
functions; the list only grows, and what a change removed drops out): the first image then touches only the front of the
text, the init a compact run after it, and every image fewer 64 KiB
fault-around windows than with the default layout, which scatters the
startup code over the whole text.

    startup_order.py OUT_ORDER KIND:BINARY:PERF_DATA...

KIND is "clock" (perf record -e cpu-clock:u, sampled ips) or "faults"
(perf record -e page-faults -d, faulting addresses); each recording is of
its own BINARY, as executed (its path tells the first image from the
sealed re-exec). The recordings of every round are given each time: the
ordering is recomputed from all of them.
"""
import bisect
import os
import re
import subprocess
import sys

out_order, recordings = sys.argv[1], sys.argv[2:]
MMAP = re.compile(r"^\s*(\d+)\s+PERF_RECORD_MMAP2 \d+/\d+: \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ 0x([0-9a-f]+) [^\]]*\]: r-xp (\S+)$")
FORK = re.compile(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)")


class Binary:
    """The text segment and function symbols of one build."""

    def __init__(self, path):
        self.path = os.path.realpath(path)
        self.name = os.path.basename(self.path)
        self.text = None
        for line in self.run("readelf", "-lW"):
            f = line.split()
            if f and f[0] == "LOAD" and "E" in f[6:-1]:
                self.text = (int(f[1], 16), int(f[2], 16), int(f[4], 16))
        assert self.text, f"{path}: no executable segment"
        # Functions of .text only: .init and .fini are assembled from
        # fragments (crti.o, crtn.o) whose order must not change.
        text_index = next(
            f[0].strip("[]")
            for f in (l.replace("[ ", "[").split() for l in self.run("readelf", "-SW"))
            if len(f) > 1 and f[0].startswith("[") and f[1] == ".text"
        )
        self.symbols = sorted(
            (int(f[1], 16), int(f[2], 0), f[7])
            for f in map(str.split, self.run("readelf", "-sW"))
            if len(f) == 8 and f[3] in ("FUNC", "IFUNC") and f[6] == text_index
        )
        self.starts = [s[0] for s in self.symbols]

    def run(self, *argv):
        return subprocess.run([*argv, self.path], capture_output=True, text=True, check=True).stdout.splitlines()

    def symbol_at(self, vaddr):
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i >= 0 and vaddr < self.symbols[i][0] + max(self.symbols[i][1], 1):
            return self.symbols[i][2]
        return None

    def symbol_at_offset(self, off):
        off0, vaddr0, size = self.text
        return self.symbol_at(off - off0 + vaddr0) if off0 <= off < off0 + size else None

    def resolvers(self):
        """IFUNC resolvers: glibc runs them at every start (the IRELATIVE
        relocations), too briefly for a sampler to see."""
        return [
            s
            for f in map(str.split, self.run("readelf", "-rW"))
            if len(f) >= 4 and f[2] == "R_X86_64_IRELATIVE"
            for s in [self.symbol_at(int(f[3], 16))]
            if s
        ]


groups = {"first": [], "init": [], "parent": []}
listed = set()
resolvers = []
for rec in recordings:
    kind, path, data = rec.split(":", 2)
    b = Binary(path)
    resolvers += b.resolvers()
    field = "ip" if kind == "clock" else "addr"
    out = subprocess.run(
        ["perf", "script", "-i", data, "--show-mmap-events", "--show-task-events", "-F", f"pid,{field}"],
        capture_output=True, text=True, check=True,
    ).stdout
    maps = {}  # pid -> (start, size, file offset, image)
    for line in out.splitlines():
        m = MMAP.match(line)
        if m:
            if os.path.basename(m.group(5)) == b.name:
                image = "first" if m.group(5) == b.path else "parent"
                maps[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16), image)
            continue
        m = FORK.search(line)
        if m:
            child, parent = m.group(1), m.group(2)
            if parent in maps and child != parent:
                maps[child] = maps[parent][:3] + ("init",)
            continue
        f = line.split()
        if len(f) != 2 or f[0] not in maps or not re.fullmatch(r"[0-9a-f]+", f[1]):
            continue
        where = int(f[1], 16)
        start, size, pgoff, image = maps[f[0]]
        if start <= where < start + size:
            sym = b.symbol_at_offset(where - start + pgoff)
            if sym and (image, sym) not in listed:
                listed.add((image, sym))
                groups[image].append(sym)

previous = []
if os.path.exists(out_order):
    existing = {sym for _, _, sym in b.symbols}
    previous = [l.strip() for l in open(out_order) if l.strip() in existing]
order, once = [], set()
for sym in resolvers + groups["first"] + groups["init"] + groups["parent"] + previous:
    if sym not in once:
        once.add(sym)
        order.append(sym)
with open(out_order, "w") as f:
    f.write("\n".join(order) + "\n")
print(
    f"{len(order)} functions: {len(set(resolvers))} IFUNC resolvers, {len(groups['first'])} in the first "
    f"image, {len(groups['init'])} in the init, {len(groups['parent'])} in the runtime; "
    f"{len(order) - len(once & set(resolvers + groups['first'] + groups['init'] + groups['parent']))} kept from before"
)
