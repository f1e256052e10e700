#!/usr/bin/env python3
"""Picks the few inputs worth checking in from a grown fuzzing corpus.

libFuzzer's -merge=1 keeps every input that adds a feature, smallest first,
which leaves hundreds of tiny files. This takes the inputs an edge-only
merge keeps, learns which coverage edges each reaches (a merge of that file
alone), then picks inputs greedily by how many edges they add beyond the
checked-in seed-* and regress-* files, until nothing new is left, and writes
them as tests/fuzz/corpus/<name>/min-<sha1 prefix> (replacing earlier min-*
files).

Usage: tests/fuzz/select_corpus.py <name> [build dir]
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile


def edges_of(binary, path, tmp):
    """The coverage edges one input reaches (a merge of that file alone)."""
    one = os.path.join(tmp, "one")
    out = os.path.join(tmp, "one-out")
    ctl = os.path.join(tmp, "one-control")
    for d in (one, out):
        shutil.rmtree(d, ignore_errors=True)
        os.mkdir(d)
    if os.path.exists(ctl):
        os.unlink(ctl)                  # an existing control file is resumed
    shutil.copy(path, one)
    subprocess.run([binary, "-merge=1", "-use_counters=0", "-merge_control_file=" + ctl, out, one],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    edges = set()
    for line in open(ctl):
        parts = line.split()
        if parts and parts[0] == "COV":
            edges |= set(int(x) for x in parts[2:])
    return edges


def main():
    name = sys.argv[1]
    build = sys.argv[2] if len(sys.argv) > 2 else "build"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.chdir(root)
    seeds = os.path.join("tests/fuzz/corpus", name)
    grown = os.path.join(build, "fuzz/corpus", name)
    binary = os.path.join(build, "fuzz", "fuzz_" + name)
    tmp = tempfile.mkdtemp()
    merged = os.path.join(tmp, "merged")
    os.mkdir(merged)
    # Candidates: what an edge-only merge keeps of the grown corpus.
    subprocess.run([binary, "-merge=1", "-use_counters=0", merged, grown], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kept = set()
    for f in os.listdir(seeds):
        if f.startswith(("seed-", "regress-")):
            kept |= edges_of(binary, os.path.join(seeds, f), tmp)
    seed_edges = len(kept)
    candidates = {}
    for f in os.listdir(merged):
        path = os.path.join(merged, f)
        candidates[path] = edges_of(binary, path, tmp)
    picked = []
    while candidates:
        best = max(candidates, key=lambda p: (len(candidates[p] - kept), -os.path.getsize(p)))
        if not candidates[best] - kept:
            break
        kept |= candidates.pop(best)
        picked.append(open(best, "rb").read())
    for f in os.listdir(seeds):
        if f.startswith("min-"):
            os.unlink(os.path.join(seeds, f))
    for data in picked:
        with open(os.path.join(seeds, "min-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as o:
            o.write(data)
    shutil.rmtree(tmp)
    print("%s: %d inputs (%d bytes) add %d edges to the %d of the seeds"
          % (name, len(picked), sum(len(d) for d in picked), len(kept) - seed_edges, seed_edges))


if __name__ == "__main__":
    main()
