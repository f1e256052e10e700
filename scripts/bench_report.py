#!/usr/bin/env python3
"""Warden benchmark report (Python 3 standard library only).

  bench_report.py collect RAWDIR -o latest.json
      Parses what scripts/bench.sh left in RAWDIR (bench/vmrun records of
      every VM run, bench/nvme_direct output, the microbenchmarks' text,
      machine.env, configs.txt) into one JSON document: every repetition,
      the rows (median, min, max over repetitions), the ratios and the
      targets with their verdicts.
  bench_report.py report latest.json --md FILE [--png FILE]
                  [--docs FILE --docs-png FILE] [--print]
      Markdown (tables, targets, method, machine) and a gnuplot chart of
      IOPS; without gnuplot the chart is skipped with a message.

Every figure in the output comes from the JSON, which comes from the run.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

WORKLOADS = [("rr4k", 1), ("rr4k", 32), ("rw4k", 1), ("rw4k", 32), ("sr64k", 8)]
WL_TEXT = {
    "rr4k": "4 KiB random read",
    "rw4k": "4 KiB random write",
    "sr64k": "64 KiB sequential read",
}
# The direct-device limit for each backing: a row's "x direct" is against
# the one over the same backing.
DIRECT_OF = {"file": "direct-file", "ram": "direct-ram"}

RESULT_RE = re.compile(
    r"^(?P<prog>[\w-]+): (?P<name>\w+) qd=(?P<qd>\d+) ios=(?P<ios>\d+) iops=(?P<iops>\d+) "
    r"p50_us=(?P<p50>[\d.]+) p99_us=(?P<p99>[\d.]+) exits=(?P<exits>\S+) exits_per_io=(?P<epi>\S+)"
    r"(?: cpu_us_per_io=(?P<cpu>[\d.]+))?")
BEGIN_RE = re.compile(r"^[\w-]+ mark: begin (?P<name>\w+) qd=(?P<qd>\d+)$")
EXIT_RE = re.compile(
    r"^exitbench: (?P<op>[\w-]+) ring=(?P<ring>\d) n=(?P<n>\d+) p50_ns=(?P<p50>\d+) min_ns=(?P<min>\d+) "
    r"p99_ns=(?P<p99>\d+) exits_per_op=(?P<epo>\S+)")
FAIL_RE = re.compile(r"(: FAIL\b|viommu unavailable|: \w+ qd=\d+: |resubmit failed|PANIC|EXCEPTION)")


def wkey(name, qd):
    return "%s qd=%d" % (name, qd)


def wlabel(key):
    name, qd = key.split(" qd=")
    return "%s QD%s" % (name, qd)


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def read_env(path):
    env = {}
    if os.path.exists(path):
        for line in open(path, encoding="utf-8", errors="replace"):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def read_records(path):
    """bench/vmrun output: (kind, fields) records."""
    recs, version = [], 1
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        parts = line.split("\t")
        kind = parts[0]
        if kind == "V" and len(parts) == 2:
            version = int(parts[1])
        elif kind == "F" and len(parts) >= 2:
            recs.append(("F", {"ms": float(parts[1])}))
        elif kind == "L" and len(parts) >= 8 + version:
            # Version 1 (before host_ns) lacks the host's busy time.
            host = int(parts[5]) if version >= 2 else -1
            o = 1 if version >= 2 else 0
            recs.append(("L", {"ms": float(parts[1]), "cpu": int(parts[2]), "stat": int(parts[3]),
                               "guest": int(parts[4]), "host": host, "exits": int(parts[5 + o]),
                               "pio": int(parts[6 + o]), "mmio": int(parts[7 + o]),
                               "text": "\t".join(parts[8 + o:])}))
        elif kind == "X" and len(parts) >= 6:
            x = {"ms": float(parts[1]), "status": int(parts[2]), "ru_cpu": int(parts[3])}
            if len(parts) >= 9:
                x.update({"exits": int(parts[6]), "pio": int(parts[7]), "mmio": int(parts[8])})
            recs.append(("X", x))
        else:
            # A line that is not a record: vmrun's own complaint (exec failure).
            recs.append(("L", {"ms": 0.0, "cpu": -1, "stat": -1, "guest": -1, "host": -1, "exits": -1,
                               "pio": -1, "mmio": -1, "text": line}))
    return recs


def delta(a, b, key):
    if a[key] < 0 or b[key] < 0:
        return None
    return b[key] - a[key]


def parse_io_run(path):
    """One repetition of one configuration: its workloads and its errors."""
    recs = read_records(path)
    run = {"file": os.path.basename(path), "workloads": {}, "errors": [], "status": None,
           "ru_cpu_ms": None, "wall_ms": None}
    begin, window, prev = None, None, None
    for kind, r in recs:
        if kind == "L":
            last, prev = prev, r
        else:
            last = None
        if kind == "X":
            run["status"] = r["status"]
            run["ru_cpu_ms"] = r["ru_cpu"] / 1e6
            run["wall_ms"] = r["ms"]
            continue
        if kind != "L":
            continue
        text = r["text"]
        m = BEGIN_RE.match(text)
        if m:
            begin = (wkey(m["name"], int(m["qd"])), r)
            window = None
            continue
        if text == "~" and begin:
            b = begin[1]
            window = {"key": begin[0], "ms": r["ms"] - b["ms"], "cpu_ns": delta(b, r, "cpu"),
                      "stat_ns": delta(b, r, "stat"), "guest_ns": delta(b, r, "guest"),
                      "host_ns": delta(b, r, "host"),
                      "exits": delta(b, r, "exits"), "pio": delta(b, r, "pio"), "mmio": delta(b, r, "mmio")}
            begin = None
            continue
        m = RESULT_RE.match(text)
        if m:
            key = wkey(m["name"], int(m["qd"]))
            ios = int(m["ios"])
            w = {"ios": ios, "iops": int(m["iops"]), "p50_us": float(m["p50"]), "p99_us": float(m["p99"]),
                 "exits_guest": int(m["exits"]) if m["exits"].isdigit() else None}
            if m["cpu"] is not None:             # nvme_direct: its own getrusage
                w["cpu_us_per_io"] = float(m["cpu"])
                w["host_cpu_us_per_io"] = float(m["cpu"])
                # Its window: from the line before (it prints nothing while
                # a workload runs) to this one.
                if last and last["host"] >= 0 and r["host"] >= 0 and r["ms"] > last["ms"]:
                    w["other_cores"] = max(0.0, ((r["host"] - last["host"]) - (r["cpu"] - last["cpu"])) /
                                       ((r["ms"] - last["ms"]) * 1e6))
                w["exits_per_io"] = 0.0
                w["exits_per_io_guest"] = None
            else:
                w["exits_per_io_guest"] = (w["exits_guest"] / ios) if (w["exits_guest"] is not None and ios) else None
                if window and window["key"] == key and ios:
                    w["window_ms"] = window["ms"]
                    w["cpu_us_per_io"] = window["cpu_ns"] / 1e3 / ios if window["cpu_ns"] is not None else None
                    w["cpu_us_per_io_stat"] = window["stat_ns"] / 1e3 / ios if window["stat_ns"] is not None else None
                    # Outside the guest: the VMM's own work (exits, I/O and
                    # engine threads); guest time is tick-accounted.
                    if window["cpu_ns"] is not None and window["guest_ns"] is not None:
                        w["host_cpu_us_per_io"] = max(0, window["cpu_ns"] - window["guest_ns"]) / 1e3 / ios
                    for k in ("exits", "pio", "mmio"):
                        w[k + "_per_io"] = window[k] / ios if window[k] is not None else None
                    w["window_exits"] = window["exits"]
                    # What the rest of the host ran meanwhile, in cores: the
                    # host's busy time less the VMM's own.
                    if window["host_ns"] is not None and window["cpu_ns"] is not None and window["ms"] > 0:
                        w["other_cores"] = max(0.0, (window["host_ns"] - window["cpu_ns"]) / (window["ms"] * 1e6))
                else:
                    w["cpu_us_per_io"] = None
                    w["exits_per_io"] = None
                # Without the tracepoint (no permission), the guest's own count where it has one.
                if w.get("exits_per_io") is None:
                    w["exits_per_io"] = w["exits_per_io_guest"]
            run["workloads"][key] = w
            window = None
            continue
        if FAIL_RE.search(text) and not text.startswith("warden stats"):
            run["errors"].append(text.strip())
    if run["status"] not in (0, None) and not run["errors"]:
        run["errors"].append("exit status %s" % run["status"])
    return run


def parse_exit_run(path):
    out = []
    for kind, r in read_records(path):
        if kind == "L":
            m = EXIT_RE.match(r["text"])
            if m:
                out.append({"op": m["op"], "ring": int(m["ring"]), "n": int(m["n"]), "p50_ns": int(m["p50"]),
                            "min_ns": int(m["min"]), "p99_ns": int(m["p99"]),
                            "exits_per_op": float(m["epo"]) if m["epo"] != "n/a" else None})
    return out


def parse_boot_run(path):
    b = {"first_byte_ms": None, "mark_ms": None, "entry_to_mark_ms": None, "exit_ms": None, "status": None}
    for kind, r in read_records(path):
        if kind == "F":
            b["first_byte_ms"] = r["ms"]
        elif kind == "L":
            if r["text"].startswith("exitbench mark: boot") or r["text"].endswith("exitbench mark: boot"):
                b["mark_ms"] = r["ms"]
            m = re.search(r"exitbench boot: entry_to_mark_ns=(\d+)", r["text"])
            if m:
                b["entry_to_mark_ms"] = int(m[1]) / 1e6
        elif kind == "X":
            b["exit_ms"] = r["ms"]
            b["status"] = r["status"]
    if b["mark_ms"] is not None and b["entry_to_mark_ms"] is not None:
        b["first_instruction_ms"] = b["mark_ms"] - b["entry_to_mark_ms"]
    else:
        b["first_instruction_ms"] = None
    return b


FIG_COLON_RE = re.compile(r"^(?P<label>[^:]*[A-Za-z)][^:]*):\s+(?P<value>-?\d.*)$")
FIG_INDENT_RE = re.compile(r"^\s+(?P<label>\S.*?)(?::\s+|\s{2,})(?P<value>-?\d.*)$")


def parse_micro_text(path):
    """A microbenchmark's text: every line, and the figures in it as
    (section, label, the value as printed) - "label:  value unit ..." lines
    and indented "label   value unit" lines under a "section:" heading."""
    if not os.path.exists(path):
        return None
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    figures, section = [], ""
    for line in lines:
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            section = line.rstrip()[:-1]
            continue
        m = FIG_INDENT_RE.match(line) if line[:1].isspace() else FIG_COLON_RE.match(line)
        if not m:
            continue
        figures.append({"section": section if line[:1].isspace() else "",
                        "label": re.sub(r"\s+", " ", m["label"]).strip(),
                        "value": re.sub(r"\s+", " ", m["value"]).strip()})
    return {"raw": lines, "figures": figures}


def collect(rawdir):
    env = read_env(os.path.join(rawdir, "machine.env"))
    configs = []
    for line in open(os.path.join(rawdir, "configs.txt"), encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            continue
        cid, label, vmm, attach, vi, backing = line.split("|")
        c = {"id": cid, "label": label, "vmm": vmm, "attachment": attach,
             "viommu": None if vi == "-" else vi, "backing": backing, "available": True, "reason": None}
        un = os.path.join(rawdir, cid + ".unavailable")
        if os.path.exists(un):
            c["available"] = False
            c["reason"] = open(un, encoding="utf-8").read().strip()
        cmd = os.path.join(rawdir, cid + ".cmd")
        if os.path.exists(cmd):
            c["command"] = [w for w in open(cmd, encoding="utf-8").read().split("\n") if w]
        configs.append(c)

    runs = []
    reps_re = re.compile(r"^(?P<id>[\w-]+)\.rep(?P<rep>\d+)\.tsv$")
    for f in sorted(os.listdir(rawdir)):
        m = reps_re.match(f)
        if m and any(c["id"] == m["id"] for c in configs):
            r = parse_io_run(os.path.join(rawdir, f))
            r["config"], r["rep"] = m["id"], int(m["rep"])
            runs.append(r)
    # A configuration whose every run failed the same way is unavailable.
    for c in configs:
        cr = [r for r in runs if r["config"] == c["id"]]
        if c["available"] and cr and all(not r["workloads"] for r in cr):
            c["available"] = False
            c["reason"] = "failed: " + (cr[0]["errors"][0] if cr[0]["errors"] else "no result")
        elif not cr and c["available"]:
            c["available"] = False
            c["reason"] = c["reason"] or "not run"

    rows = []
    for c in configs:
        cr = [r for r in runs if r["config"] == c["id"] and r["workloads"]]
        for name, qd in WORKLOADS:
            key = wkey(name, qd)
            ws = [r["workloads"][key] for r in cr if key in r["workloads"]]
            if not ws:
                continue
            row = {"config": c["id"], "workload": key}
            for metric in ("iops", "p50_us", "p99_us", "exits_per_io", "exits_per_io_guest", "pio_per_io",
                           "mmio_per_io", "cpu_us_per_io", "cpu_us_per_io_stat", "host_cpu_us_per_io",
                           "other_cores"):
                row[metric] = stats([w.get(metric) for w in ws])
            rows.append(row)

    def med(cid, key, metric="iops"):
        for r in rows:
            if r["config"] == cid and r["workload"] == key and r[metric]:
                return r[metric]["median"]
        return None

    qemu_ids = [c["id"] for c in configs if c["vmm"] == "qemu"]
    qemu_best = {}
    for name, qd in WORKLOADS:
        key = wkey(name, qd)
        best = None
        for q in qemu_ids:
            v = med(q, key)
            if v is not None and (best is None or v > best[1]):
                best = (q, v)
        qemu_best[key] = best
    backing = {c["id"]: c["backing"] for c in configs}
    for row in rows:
        v = row["iops"]["median"]
        direct = DIRECT_OF.get(backing[row["config"]])
        d, qb = med(direct, row["workload"]), qemu_best[row["workload"]]
        row["direct"] = direct
        row["ratio_direct"] = v / d if d else None
        row["ratio_qemu_best"] = v / qb[1] if qb else None

    micro = {"exitbench": [], "boot": []}
    for vmm in ("warden", "qemu"):
        samples = {}
        for f in sorted(os.listdir(rawdir)):
            if re.match(r"^exit-%s\.rep\d+\.tsv$" % vmm, f):
                for e in parse_exit_run(os.path.join(rawdir, f)):
                    samples.setdefault((e["op"], e["ring"]), []).append(e)
        for (op, ring), es in sorted(samples.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
            micro["exitbench"].append({
                "vmm": vmm, "op": op, "ring": ring, "n": es[0]["n"], "p50_ns": stats([e["p50_ns"] for e in es]),
                "min_ns": min(e["min_ns"] for e in es), "p99_ns": stats([e["p99_ns"] for e in es]),
                "exits_per_op": stats([e["exits_per_op"] for e in es])})
        boots = [parse_boot_run(os.path.join(rawdir, f)) for f in sorted(os.listdir(rawdir))
                 if re.match(r"^boot-%s\.rep\d+\.\d+\.tsv$" % vmm, f)]
        if boots:
            micro["boot"].append({
                "vmm": vmm, "runs": len(boots), "failed": sum(1 for b in boots if b["status"] != 0),
                "first_instruction_ms": stats([b["first_instruction_ms"] for b in boots]),
                "first_byte_ms": stats([b["first_byte_ms"] for b in boots]),
                "guest_line_ms": stats([b["mark_ms"] for b in boots]),
                "exit_ms": stats([b["exit_ms"] for b in boots])})
    for name in ("iommu", "viommu", "blk"):
        micro[name] = parse_micro_text(os.path.join(rawdir, "micro-%s.txt" % name))

    doc = {"schema": 1, "generated": env.get("date") or datetime.datetime.utcnow().isoformat() + "Z",
           "params": {k: env.get(k) for k in ("mode", "secs", "reps", "exitbench_n", "boots_per_rep", "disk_mib",
                                               "backing_dir", "backing_fs", "duration_s", "nice")},
           "machine": {k: env.get(k) for k in ("kernel", "cpu_model", "cpus", "mem_mib", "kvm_modules", "qemu",
                                                "warden", "git", "gcc", "load_before", "load_after", "busy_before_pct",
                                                "busy_after_pct")},
           "configs": configs, "runs": runs, "rows": rows,
           "qemu_best": {k: ({"config": v[0], "iops": v[1]} if v else None) for k, v in qemu_best.items()},
           "micro": micro}
    doc["targets"] = targets(doc)
    doc["checks"] = checks(runs)
    return doc


def checks(runs):
    """How far the two instruments for each quantity disagree, over every
    window of every run: Warden's in-guest exit count (stats port) against
    the tracepoint count, and the schedstat CPU sum against /proc/PID/stat's
    utime+stime (getrusage's figure, in clock ticks)."""
    dexit, dcpu = [], []
    for r in runs:
        for key, w in r["workloads"].items():
            if w.get("exits_guest") is not None and w.get("window_exits") is not None:
                dexit.append(w["window_exits"] - w["exits_guest"])
            if w.get("cpu_us_per_io") and w.get("cpu_us_per_io_stat") is not None and w.get("window_ms", 0) >= 500:
                dcpu.append(w["cpu_us_per_io_stat"] / w["cpu_us_per_io"] - 1)
    return {"exits_outside_minus_guest": stats(dexit),
            "exits_outside_minus_guest_max": max(dexit) if dexit else None,
            "exits_outside_minus_guest_min": min(dexit) if dexit else None,
            "cpu_stat_vs_schedstat": stats(dcpu),
            "cpu_windows_compared": len(dcpu)}


def find_row(doc, cid, key):
    for r in doc["rows"]:
        if r["config"] == cid and r["workload"] == key:
            return r
    return None


def config_of(doc, cid):
    for c in doc["configs"]:
        if c["id"] == cid:
            return c
    return None


def exit_cost_us(doc, vmm, op, ring):
    for e in doc["micro"]["exitbench"]:
        if e["vmm"] == vmm and e["op"] == op and e["ring"] == ring and e["p50_ns"]:
            return e["p50_ns"]["median"] / 1000.0
    return None


def fnum(v, digits=2):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.*f" % (digits, v)


def pair_item(doc, key, num, den, threshold):
    rn = find_row(doc, num, key)
    if den == "qemu-best":
        qb = doc["qemu_best"].get(key)
        dv, dname = (qb["iops"], qb["config"]) if qb else (None, None)
    else:
        rd = find_row(doc, den, key)
        dv, dname = (rd["iops"]["median"] if rd else None), den
    nv = rn["iops"]["median"] if rn else None
    if nv is None or not dv:
        return {"workload": key, "config": num, "against": dname, "value": None, "verdict": "n/a"}
    ratio = nv / dv
    lo, hi = rn["iops"]["min"] / dv, rn["iops"]["max"] / dv
    return {"workload": key, "config": num, "against": dname, "value": ratio, "min": lo, "max": hi,
            "numerator_iops": nv, "denominator_iops": dv, "verdict": "pass" if ratio >= threshold else "miss",
            # the repetitions' spread straddles the threshold
            "close": lo < threshold <= hi}


# id, text, workloads, numerator, denominator ("qemu-best": the QEMU row with
# the most IOPS for the workload), threshold, and a context pair reported
# with a miss (not part of the verdict).
TARGETS = [
    ("pt-vs-direct", "NVMe passthrough at QD32 >= 0.95 x the direct-device limit (both on the RAM disk)",
     "qd32", "w-nvme-pt-ram", "direct-ram", 0.95, ("w-nvme-pt", "direct-file")),
    ("pt-vs-qemu", "NVMe passthrough >= 3 x QEMU's best row (same backing file), every workload",
     "all", "w-nvme-pt", "qemu-best", 3.0, ("w-nvme-pt-ram", "qemu-best")),
    ("emu-vs-qemu", "Warden's emulated NVMe >= QEMU's emulated NVMe (same backing file), every workload",
     "all", "w-nvme-emu", "q-nvme", 1.0, ("w-nvme-emu-ram", "q-nvme")),
    ("viommu-pt", "strict-vIOMMU NVMe passthrough >= 0.9 x passthrough without it (RAM disk), every workload",
     "all", "w-nvme-pt-vi", "w-nvme-pt-ram", 0.9, ("w-nvme-pt-vis", "w-nvme-pt-ram")),
]


def targets(doc):
    out = []
    for tid, text, which, num, den, threshold, ctx in TARGETS:
        keys = [wkey(n, q) for n, q in WORKLOADS if which == "all" or q == 32]
        items = [pair_item(doc, k, num, den, threshold) for k in keys]
        verdicts = [i["verdict"] for i in items]
        if all(v == "n/a" for v in verdicts):
            overall = "n/a"
        elif "miss" in verdicts:
            overall = "miss"
        elif "n/a" in verdicts:
            overall = "pass (partial)"
        else:
            overall = "pass"
        t = {"id": tid, "text": text, "threshold": threshold, "numerator": num, "denominator": den,
             "items": items, "verdict": overall,
             "context": [pair_item(doc, k, ctx[0], ctx[1], threshold) for k in keys]}
        t["cause"] = cause(doc, t)
        out.append(t)
    return out


def label_of(doc, cid):
    c = config_of(doc, cid)
    return c["label"] if c else cid


def metric(row, m):
    return row[m]["median"] if row and row.get(m) else None


def cause(doc, t):
    """For a miss, what the same run's figures say about it (or why n/a)."""
    if t["verdict"] == "n/a":
        why = []
        ids = [t["numerator"]] + ([c["id"] for c in doc["configs"] if c["vmm"] == "qemu"]
                                  if t["denominator"] == "qemu-best" else [t["denominator"]])
        for cid in ids:
            c = config_of(doc, cid)
            if c and not c["available"]:
                why.append("%s: %s" % (c["label"], c["reason"]))
        return ["not measured - " + ("; ".join(why) if why else "no rows")]
    notes = []
    misses = [i for i in t["items"] if i["verdict"] == "miss"]
    close = [i for i in t["items"] if i.get("close")]
    if close:
        notes.append("the repetitions' spread crosses the threshold for " +
                     ", ".join(wlabel(i["workload"]) for i in close))
    exit3 = exit_cost_us(doc, "warden", "mmio-read", 3)
    for i in misses:
        k = i["workload"]
        a, b = find_row(doc, i["config"], k), find_row(doc, i["against"], k)
        ea, eb = metric(a, "exits_per_io"), metric(b, "exits_per_io")
        s = "%s: %.2f x (%s vs %s IOPS of %s); p50 %s vs %s us; VMM CPU/IO %s vs %s us; exits/IO %s vs %s" % (
            wlabel(k), i["value"], fnum(i["numerator_iops"]), fnum(i["denominator_iops"]),
            label_of(doc, i["against"]), fnum(metric(a, "p50_us")), fnum(metric(b, "p50_us")),
            fnum(metric(a, "cpu_us_per_io")), fnum(metric(b, "cpu_us_per_io")), fnum(ea), fnum(eb))
        if t["id"] == "viommu-pt" and ea is not None and eb is not None and exit3:
            extra = (ea - eb) * exit3
            s += ". The %.2f extra exits per I/O (the strict unmap's queued invalidation: one tail-register " \
                 "write each) at %.1f us per ring-3 exit (exitbench) are ~%.0f us per I/O on the vCPU, which " \
                 "caps one vCPU at ~%s IOPS whatever the depth" % (ea - eb, exit3, extra, fnum(1e6 / extra))
        if t["id"] == "pt-vs-qemu":
            c = config_of(doc, i["config"])
            d = find_row(doc, DIRECT_OF.get(c["backing"]) if c else None, k)
            dv = metric(d, "iops")
            if dv is not None and i["denominator_iops"] and dv < t["threshold"] * i["denominator_iops"]:
                s += ". Even the direct-device limit over the same backing reaches only %s IOPS (%.2f x QEMU's " \
                     "best): the bound is the controller's engine and the backend on this host, not the VM" % (
                         fnum(dv), dv / i["denominator_iops"])
        if t["id"] == "emu-vs-qemu":
            ram = find_row(doc, "w-nvme-emu-ram", k)
            if ram and a and metric(ram, "p50_us") is not None and metric(a, "p50_us") is not None:
                s += ". Over the RAM disk the same attachment does %s IOPS (p50 %s us): the file backend adds " \
                     "%s us per I/O on the vCPU thread at the doorbell exit (completing it from another thread " \
                     "instead was measured slower here: docs/nvme.md)" % (
                         fnum(metric(ram, "iops")), fnum(metric(ram, "p50_us")),
                         fnum(metric(a, "p50_us") - metric(ram, "p50_us")))
        notes.append(s)
    if misses:
        ctx = ["%s %.2f x" % (wlabel(c["workload"]), c["value"]) for c in t["context"] if c["value"] is not None]
        if ctx:
            notes.append("for comparison, %s against %s: %s" % (
                label_of(doc, t["context"][0]["config"]),
                "QEMU's best" if t["context"][0]["against"] in (None,) or t["denominator"] == "qemu-best"
                else label_of(doc, t["context"][0]["against"]), ", ".join(ctx)))
    return notes


# ---------------------------------------------------------------- report

def rng(s, fmt=fnum):
    if not s:
        return "n/a"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"])
    return "%s (%s-%s)" % (fmt(s["median"]), fmt(s["min"]), fmt(s["max"]))


def med_only(s, fmt=fnum):
    return fmt(s["median"]) if s else "n/a"


def ratio_txt(v):
    return "%.2f" % v if v is not None else "-"


def io_table(doc):
    out = ["| workload | configuration | IOPS, median (min-max) | p50 us | p99 us | exits/IO | VMM CPU us/IO "
           "| outside the guest | x direct | x QEMU best | other work, cores |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, qd in WORKLOADS:
        key = wkey(name, qd)
        first = True
        for c in doc["configs"]:
            r = find_row(doc, c["id"], key)
            if not r:
                continue
            oc = r.get("other_cores")
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "**%s QD%d**" % (name, qd) if first else "", c["label"], rng(r["iops"]), med_only(r["p50_us"]),
                med_only(r["p99_us"]), med_only(r["exits_per_io"]), med_only(r["cpu_us_per_io"]),
                med_only(r.get("host_cpu_us_per_io")), ratio_txt(r["ratio_direct"]), ratio_txt(r["ratio_qemu_best"]),
                "%.2f (%.2f-%.2f)" % (oc["median"], oc["min"], oc["max"]) if oc else "n/a"))
            first = False
    return out


def targets_table(doc):
    out = ["| target | workload | measured | verdict |", "|---|---|---:|---|"]
    for t in doc["targets"]:
        first = True
        for i in t["items"]:
            if i["value"] is None:
                m = "n/a"
            else:
                m = "%.2f x (%.2f-%.2f)" % (i["value"], i["min"], i["max"])
            out.append("| %s | %s | %s | %s |" % (t["text"] if first else "", wlabel(i["workload"]), m,
                                                 i["verdict"] + (" (spread crosses)" if i.get("close") else "")))
            first = False
        out.append("| | **overall** | | **%s** |" % t["verdict"])
    return out


def unavailable_lines(doc):
    return ["- %s: %s" % (c["label"], c["reason"]) for c in doc["configs"] if not c["available"]
            and c["reason"] != "not selected (--only)"]


def failed_runs(doc):
    out = []
    for r in doc["runs"]:
        if r["errors"] and r["workloads"]:
            out.append("- %s repetition %d: %s" % (r["config"], r["rep"], "; ".join(r["errors"][:3])))
    return out


def exit_table(doc):
    rows = doc["micro"]["exitbench"]
    if not rows:
        return ["(not measured)"]
    out = ["| access | ring | Warden p50 us (min-max over reps) | Warden best us | QEMU p50 us | QEMU best us "
           "| exits per access (Warden) |", "|---|---:|---:|---:|---:|---:|---:|"]
    keys = []
    for e in rows:
        if (e["op"], e["ring"]) not in keys:
            keys.append((e["op"], e["ring"]))
    us = lambda v: "%.2f" % (v / 1000.0)
    for op, ring in keys:
        w = next((e for e in rows if e["vmm"] == "warden" and e["op"] == op and e["ring"] == ring), None)
        q = next((e for e in rows if e["vmm"] == "qemu" and e["op"] == op and e["ring"] == ring), None)
        out.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            op, ring, rng(w["p50_ns"], us) if w else "n/a", us(w["min_ns"]) if w else "n/a",
            rng(q["p50_ns"], us) if q else "n/a", us(q["min_ns"]) if q else "n/a",
            med_only(w["exits_per_op"]) if w else "n/a"))
    return out


def boot_table(doc):
    rows = doc["micro"]["boot"]
    if not rows:
        return ["(not measured)"]
    out = ["| VMM | runs | first guest instruction ms | first console byte ms | guest's first line ms "
           "| exit ms |", "|---|---:|---:|---:|---:|---:|"]
    for b in rows:
        out.append("| %s | %d%s | %s | %s | %s | %s |" % (
            "Warden" if b["vmm"] == "warden" else "QEMU", b["runs"], " (%d failed)" % b["failed"] if b["failed"] else "",
            rng(b["first_instruction_ms"]), rng(b["first_byte_ms"]), rng(b["guest_line_ms"]), rng(b["exit_ms"])))
    return out


def micro_figures(m, title):
    if not m:
        return ["(not run)"]
    out = []
    if m["figures"]:
        out += ["| %s | as printed |" % title, "|---|---|"]
        section = None
        for f in m["figures"]:
            if f["section"] and f["section"] != section:
                out.append("| *%s* | |" % f["section"])
            section = f["section"]
            out.append("| %s%s | %s |" % ("&nbsp;&nbsp;" if f["section"] else "", f["label"],
                                          f["value"].replace("|", "/")))
    out += ["", "<details><summary>full output</summary>", "", "```"] + m["raw"] + ["```", "", "</details>"]
    return out


# A family per way to the disk (grey: no VM, blue: emulated NVMe, orange:
# passthrough, green: virtio-blk, purple: QEMU); lighter over the file,
# darker over the RAM disk, hatched with the vIOMMU.
CHART_STYLE = {
    "direct-ram": ("#404040", None), "direct-file": ("#a0a0a0", None),
    "w-nvme-emu": ("#9ecae1", None), "w-nvme-emu-ram": ("#3182bd", None), "w-nvme-emu-vi": ("#08519c", 4),
    "w-nvme-pt": ("#fdae6b", None), "w-nvme-pt-ram": ("#e6550d", None), "w-nvme-pt-vi": ("#a63603", 4),
    "w-nvme-pt-vis": ("#7f2704", 5),
    "w-virtio": ("#a1d99b", None), "w-virtio-ram": ("#31a354", None), "w-virtio-vi": ("#006d2c", 4),
    "q-nvme": ("#bcbddc", None), "q-virtio": ("#756bb1", None),
}


def gnuplot_chart(doc, png):
    gp = shutil.which("gnuplot")
    if not gp:
        return "gnuplot is not installed (scripts/deps.sh installs gnuplot-nox): chart skipped"
    configs = [c for c in doc["configs"] if any(r["config"] == c["id"] for r in doc["rows"])]
    if not configs:
        return "no rows: chart skipped"
    with tempfile.TemporaryDirectory() as tmp:
        dat = os.path.join(tmp, "iops.dat")
        with open(dat, "w") as f:
            for name, qd in WORKLOADS:
                key = wkey(name, qd)
                vals = []
                for c in configs:
                    r = find_row(doc, c["id"], key)
                    vals.append("%d" % r["iops"]["median"] if r else "?")
                f.write('"%s QD%d" %s\n' % (name, qd, " ".join(vals)))
        term = "pngcairo size 1400,650 font ',10'"
        probe = subprocess.run([gp, "-e", "set terminal pngcairo"], capture_output=True, text=True)
        if probe.returncode != 0 or "unknown" in (probe.stderr or "").lower():
            term = "png size 1400,650"
        plots = []
        for i, c in enumerate(configs):
            colour, pattern = CHART_STYLE.get(c["id"], ("#777777", None))
            plots.append("'%s' using %d%s title '%s' lc rgb '%s' fs %s" % (
                dat if i == 0 else "", i + 2, ":xtic(1)" if i == 0 else "", c["label"].replace("'", ""), colour,
                "pattern %d border -1" % pattern if pattern else "solid 0.9 border -1"))
        script = "\n".join([
            "set terminal %s" % term,
            "set output '%s'" % os.path.abspath(png),
            "set title 'Block I/O, %s mode, %s s per workload, median of %s repetitions (log scale)'" % (
                doc["params"].get("mode"), doc["params"].get("secs"), doc["params"].get("reps")),
            "set datafile missing '?'",
            "set style data histograms",
            "set style histogram clustered gap 1",
            "set style fill solid 0.85 border -1",
            "set boxwidth 0.9",
            "set logscale y",
            "set ylabel 'IOPS'",
            "set grid ytics",
            "set key outside right top vertical font ',9'",
            "set xtics nomirror",
            "plot " + ", ".join(plots),
        ])
        res = subprocess.run([gp], input=script, capture_output=True, text=True)
        if res.returncode != 0:
            return "gnuplot failed: %s" % res.stderr.strip()[:300]
    return None


METHOD = """\
**What runs.** One invocation of `scripts/bench.sh` (`make bench`) measures every row on this host. The
guest programs are `nvme-bench` and `virtio-bench` (`guest/progs/`), whose workloads, loop and output
are `guest/rt/blkbench.c`: 4 KiB random reads and writes at queue depth 1 and 32, 64 KiB sequential
reads at QD8, polled completion, in ring 3 (on PVM hosts guest ring 0 is emulated, ring 3 native). Each
workload runs for the same time, keeps its depth in flight, reaps completions in batches and rings one
doorbell per batch. Latency is per I/O from submission to the driver seeing its completion
(reservoir-sampled beyond 65,536 I/Os); p50 and p99 are of that.

**Rows.**
- *Warden NVMe emulated*: every doorbell write traps to the VMM, which runs the commands on the vCPU
  thread. *NVMe passthrough*: doorbells in a KVM memslot (no exit), the controller on its own polling
  engine thread, DMA through a host IOMMU domain, completions by irqfd (polled here). *virtio-blk*:
  ioeventfd notifications to an I/O thread, irqfd interrupts.
- *file* rows use one raw file of {disk_mib} MiB ({backing_fs}) through Warden's io_uring backend
  (`--disk path=FILE`, buffered) - the same file QEMU's rows use with `cache=writeback,aio=io_uring`.
  *RAM disk* rows use Warden's RAM backend (`--disk path=ram:{disk_mib}M`), the backend of the
  direct-device limit; the vIOMMU rows use it too, so that their own cost is not hidden behind the file
  backend's.
- *+ vIOMMU*: `warden run --viommu mode=nested` (or `mode=shadow`) and `viommu=1` on the guest's command
  line: the guest finds the DMAR, puts the disk in a domain that maps its own queues and rings at
  IOVA = GPA but not the data buffers, and for every I/O maps the buffer at a fresh IOVA before
  submitting and unmaps it strictly (clear the PTEs, page-selective IOTLB invalidation through the
  invalidation queue, wait) when it completes - Linux's strict DMA-API mode. Latency includes both.
- *direct (no VM)*: `bench/nvme_direct` - the same controller model, its passthrough engine thread and
  a host IOMMU domain as Warden builds for a passthrough disk, driven by a host thread that builds
  commands in a 64 MiB guest-RAM arena and writes the doorbell page as the guest's stores do, with the
  guest driver's queue size (33), PRP lists and batching. It is the limit for our device: everything a VM
  adds is absent. It runs over the RAM disk and over the file; a row's `x direct` is against the direct
  row over the same backing.
- *QEMU*: `qemu-system-x86_64 -machine q35 -accel kvm -m 256M` booting the same ELF images with
  `-kernel`, `-device nvme` or `-device virtio-blk-pci` over the file, QEMU's defaults otherwise (no
  iothread; the exits column shows which notifications reach its userspace).
- Every VM has 1 vCPU and 256 MiB.

**Repetitions.** The configurations run in a fixed order, then again (A B C ... A B C ...), {reps} times
with {secs} s per workload; a row's figure is the median over the repetitions, with min-max for IOPS.
Ratios are of medians: `x QEMU best` against the QEMU row with the most IOPS for that workload. The
run's JSON (`bench/results/latest.json`, kept as `bench/results/docs.json` by a run that writes this
page) has every repetition and min-max of every metric.

**Exits and CPU per I/O.** Every VM runs under `bench/vmrun`, which samples, as each console line arrives,
(a) the VMM process's CPU time - the sum of its threads' `schedstat` run time, i.e. user+sys as
`getrusage` counts it, at nanosecond resolution - and the part of it the kernel accounted as guest time,
and (b) its userspace exits: KVM's `kvm:kvm_userspace_exit` tracepoint counted with `perf_event_open` on
the process and every thread it creates (split into PIO and MMIO by a filter on the exit reason). The
guest prints a marker line right before a workload's first submission and a one-character line right
after its last completion (`marks=1`), and its result line 2 ms later; the differences between the
samples at the two markers, divided by the workload's I/O count, are *exits/IO* and *VMM CPU us/IO*. So
boot, setup and the result lines are outside the window; inside are the workload and the end marker's
own 2-3 exits. The CPU figure is the whole VMM process: vCPU threads (which run the guest's polling
loop, so a polled workload costs at least one core per vCPU), I/O and engine threads; *outside the
guest* subtracts the guest time (vCPU time in the guest, accounted by the kernel in 10 ms ticks), leaving
the VMM's own work: exit handling, I/O and engine threads. The runner reads at nice -5 relative to the
VMM so that it notices a marker promptly. On Warden the guest also counts its exits through the
paravirtual stats port; both counts are in the JSON (`exits_per_io_guest`). The direct row counts its
own CPU with `getrusage(RUSAGE_SELF)` over each workload (driver and engine threads) and has no exits.

**Other work.** *other work, cores* is the host's busy CPU time over the same window (`/proc/stat`, all
CPUs) less the measured process's own: how many cores other processes took meanwhile (median and range
over the repetitions; 0 on a quiet host). A polled passthrough VM needs two cores to itself (its vCPU
and the controller's engine), as does the direct row (driver and engine thread): on a host with two
cores, any other work there preempts one of the two pollers, each waits for the other's time slice,
and the row's IOPS drops by one to two orders of magnitude. Rows measured with other work running
are a lower bound, not the design's cost.

**Microbenchmarks.** *Exit round trip*: `guest/progs/exitbench.c` times, one access at a time with the
TSC (frequency from CPUID 0x40000010 on Warden, calibrated against the ACPI PM timer on QEMU), an `out`
and an `in` on port 0x80 (no device on Warden, QEMU's no-op "ioport80"), a 32-bit read of an MMIO page
no BAR decodes, and `cpuid` (answered inside KVM: the in-kernel exit, for contrast), in ring 3 and in
ring 0 (ring 0 is emulated on PVM hosts, so there its figures include the emulation). *IOMMU*:
`bench/iommu` (the host VT-d model: translation with and without an IOTLB hit, strict map/unmap, DMA) and
`bench/viommu` (one I/O = map, 4 KiB DMA, strict unmap, with no IOMMU, a host domain only, nested
two-stage translation and a shadow domain). *Boot*: `exitbench boot`, from the fork of the VMM: the first
guest instruction (the host's arrival time of the guest's first line minus the guest's own TSC time from
its entry point to that line), the first console byte (QEMU: SeaBIOS's), the guest's first line, and the
VMM's exit after the guest powers off. (`bench/boottime` measures the same from outside for any command;
`exitbench` adds the first instruction.)
"""


def render(doc, png_name, chart_msg):
    p, mach = doc["params"], doc["machine"]
    lines = ["# Benchmarks", "",
             "Generated by `make bench` (`scripts/bench.sh` -> `bench/results/latest.json` -> "
             "`scripts/bench_report.py`) on %s, **%s mode** (%s s per workload, %s repetitions, interleaved), "
             "source %s. Every figure below comes from that run; `make bench` refreshes this page "
             "(`make bench QUICK=1` or `scripts/bench.sh --quick` is a short run, which writes "
             "`bench/results/latest.md` only, unless given `--docs`)." % (
                 doc["generated"], p.get("mode"), p.get("secs"), p.get("reps"), mach.get("git")), ""]
    if p.get("mode") == "quick":
        lines += ["> A **quick** run: %s s windows and %s repetitions make the figures noisier than a full "
                  "run's (1 s, 3 repetitions); the CPU-time split into guest and outside is tick-based (10 ms) "
                  "and coarse at this length." % (p.get("secs"), p.get("reps")), ""]
    try:
        busy = max(int(mach.get("busy_before_pct") or 0), int(mach.get("busy_after_pct") or 0))
    except ValueError:
        busy = 0
    if busy >= 10:
        lines += ["> **The host was not quiet**: other work used %s%% of its CPU time in the second before the run "
                  "and %s%% in the second after (load average %s before, %s after, %s cores). Polled rows "
                  "(passthrough, direct, every guest's polling vCPU) need a core each and suffer most from other "
                  "work; treat their figures as a lower bound." % (
                      mach.get("busy_before_pct"), mach.get("busy_after_pct"), mach.get("load_before"),
                      mach.get("load_after"), mach.get("cpus")), ""]
    lines += ["## Targets", ""] + targets_table(doc) + [""]
    for t in doc["targets"]:
        if t["cause"]:
            lines.append("- **%s** - %s:" % (t["text"], t["verdict"]))
            lines += ["  - %s" % n for n in t["cause"]]
    lines += ["", "## Block I/O: the three ways to a disk, the limit, and QEMU", ""]
    if chart_msg:
        lines += ["(%s)" % chart_msg, ""]
    else:
        lines += ["![IOPS per workload and configuration](%s)" % png_name, ""]
    lines += io_table(doc) + [""]
    un, fr = unavailable_lines(doc), failed_runs(doc)
    if un:
        lines += ["Not measured in this run:", ""] + un + [""]
    if fr:
        lines += ["Repetitions with errors (their other workloads count):", ""] + fr + [""]
    lines += ["## Microbenchmarks", "", "### VM exit round trip (exitbench)", ""] + exit_table(doc) + [""]
    lines += ["### IOMMU: host model (bench/iommu)", ""] + micro_figures(doc["micro"].get("iommu"), "figure") + [""]
    lines += ["### IOMMU: nested vs shadow vIOMMU (bench/viommu)", ""] + \
        micro_figures(doc["micro"].get("viommu"), "figure") + [""]
    lines += ["### Boot time (exitbench boot, from the VMM's fork)", ""] + boot_table(doc) + [""]
    if doc["micro"].get("blk"):
        lines += ["### Block backends (bench/blk)", ""] + micro_figures(doc["micro"]["blk"], "figure") + [""]
    lines += ["## Method", "", METHOD.format(disk_mib=p.get("disk_mib"), backing_fs=p.get("backing_fs") or "?",
                                            reps=p.get("reps"), secs=p.get("secs"))]
    ck = doc.get("checks") or {}
    e, c = ck.get("exits_outside_minus_guest"), ck.get("cpu_stat_vs_schedstat")
    if e:
        lines += ["In this run the tracepoint counted %d to %d exits more per window than the guest's own count "
                  "on Warden (median %s; the end marker and the stats queries themselves)." % (
                      ck["exits_outside_minus_guest_min"], ck["exits_outside_minus_guest_max"], fnum(e["median"])),
                  ""]
    if c:
        lines += ["`/proc/PID/stat` utime+stime (getrusage's figure, 10 ms ticks) and the schedstat sum agreed within "
                  "%+.1f%% to %+.1f%% (median %+.1f%%) over the %d windows of at least 0.5 s." % (
                      100 * c["min"], 100 * c["max"], 100 * c["median"], ck["cpu_windows_compared"]), ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    for k, label in (("cpu_model", "CPU"), ("cpus", "cores"), ("mem_mib", "memory, MiB"), ("kernel", "kernel"),
                     ("kvm_modules", "KVM modules"), ("qemu", "QEMU"), ("warden", "Warden"), ("gcc", "compiler"),
                     ("load_before", "load average before"), ("load_after", "load average after"),
                     ("busy_before_pct", "CPU used by other work in the second before, %"),
                     ("busy_after_pct", "... in the second after, %")):
        lines.append("| %s | %s |" % (label, mach.get(k) or "n/a"))
    lines.append("| backing file | %s MiB in %s (%s) |" % (p.get("disk_mib"), p.get("backing_dir"),
                                                          p.get("backing_fs")))
    lines.append("| run time | %s s |" % p.get("duration_s"))
    lines.append("| niceness of the measured processes | %s |" % (p.get("nice") or "0"))
    if "kvm_pvm" in (mach.get("kvm_modules") or ""):
        lines += ["", "KVM here is `kvm_pvm`: a VM inside a VM, where guest ring-0 code is emulated and ring-3 "
                  "code runs natively, and a userspace exit costs tens of microseconds (see the exit table), far "
                  "more than with hardware virtualization. Exit-bound rows (emulated NVMe, the vIOMMU "
                  "invalidations) are therefore much slower here than on such a host; exit-free ones "
                  "(passthrough, direct) much less so. The host has "
                  "%s cores shared by everything: a polled VM keeps one busy with its vCPU, the passthrough "
                  "engine another." % mach.get("cpus")]
    return "\n".join(lines) + "\n"


def report(args):
    doc = json.load(open(args.json, encoding="utf-8"))
    outputs = [(args.md, args.png)]
    if args.docs:
        outputs.append((args.docs, args.docs_png))
    for md, png in outputs:
        if not md:
            continue
        chart_msg = gnuplot_chart(doc, png) if png else "no chart requested"
        if chart_msg:
            print("bench_report: %s" % chart_msg, file=sys.stderr)
        png_name = os.path.relpath(png, os.path.dirname(os.path.abspath(md))) if png else ""
        os.makedirs(os.path.dirname(os.path.abspath(md)), exist_ok=True)
        with open(md, "w", encoding="utf-8") as f:
            f.write(render(doc, png_name, chart_msg))
    if args.print:
        print()
        print("\n".join(io_table(doc)))
        print()
        print("\n".join(targets_table(doc)))
        for t in doc["targets"]:
            if t["cause"]:
                print("- %s: %s:" % (t["text"], t["verdict"]))
                for n in t["cause"]:
                    print("  - %s" % n)
        un = unavailable_lines(doc)
        if un:
            print("\nNot measured:\n" + "\n".join(un))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("rawdir")
    c.add_argument("-o", "--output", required=True)
    r = sub.add_parser("report")
    r.add_argument("json")
    r.add_argument("--md")
    r.add_argument("--png")
    r.add_argument("--docs")
    r.add_argument("--docs-png")
    r.add_argument("--print", action="store_true")
    args = ap.parse_args()
    if args.cmd == "collect":
        doc = collect(args.rawdir)
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, args.output)
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
