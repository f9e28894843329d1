"""Summarizes an onnxruntime profile (PICKBAN_ORT_PROFILE=<prefix>) where it was written, so a GPU
host returns a page instead of a 100 MB trace.

Prints, per event category (Session, Node, and the WebGPU EP's GPU-timed kernels where present):
the run() durations (median, count), then the ops and the single nodes with the most total time,
and the Memcpy nodes (every device-to-host copy in a step is a stall).

usage: python profile_summary.py <profile.json> [--top 25]
"""
import collections
import json
import statistics
import sys


def main() -> None:
    path = sys.argv[1]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    with open(path) as f:
        events = json.load(f)
    runs = [e["dur"] for e in events if e.get("name") == "model_run"]
    if runs:
        print(f"model_run: {len(runs)} runs, median {statistics.median(runs) / 1000:.2f} ms, min {min(runs) / 1000:.2f} ms")
    by_cat = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_cat[e.get("cat", "?")].append(e)
    for cat, evs in by_cat.items():
        if cat == "Session":
            continue
        per_run = len(runs) or 1
        total = sum(e["dur"] for e in evs)
        print(f"\n== {cat}: {len(evs)} events, {total / 1000 / per_run:.2f} ms per run")
        ops = collections.Counter()
        counts = collections.Counter()
        nodes = collections.Counter()
        for e in evs:
            op = e.get("args", {}).get("op_name") or e["name"].split("_")[0]
            ops[op] += e["dur"]
            counts[op] += 1
            nodes[e["name"]] += e["dur"]
        print("  op: ms per run (events per run)")
        for op, d in ops.most_common(top):
            print(f"  {op}: {d / 1000 / per_run:.3f} ({counts[op] / per_run:.1f})")
        print("  nodes with the most time (ms per run):")
        for name, d in nodes.most_common(top):
            print(f"    {d / 1000 / per_run:.3f}  {name[:140]}")
        memcpy = [(n, d) for n, d in nodes.items() if "Memcpy" in n or "memcpy" in n.lower()]
        if memcpy:
            print("  memcpy nodes (ms per run):")
            for n, d in sorted(memcpy, key=lambda x: -x[1])[:top]:
                print(f"    {d / 1000 / per_run:.3f}  {n[:140]}")


if __name__ == "__main__":
    main()
