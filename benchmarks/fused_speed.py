"""The fused search's speed: this checkout against a baseline checkout, case by case, each solve
in a fresh process (wall s, CPU s, peak MB; the two at the same time, so that both see the same
load), and whether the two curves are the same breakpoint by breakpoint. GPT-3 at 8192 tokens is also checked against its saved curve
(benchmarks/data/gpt3_T8192_fused_curve.csv).

    git archive <old commit> | tar -x -C /tmp/old            # the baseline's package
    python benchmarks/fused_speed.py --baseline /tmp/old --cases gpt3:2048 bert_layer:10

Cases: ``gpt3:TOKENS`` (the GPT-3 6.7B layer), or an ONNX model of benchmarks/onnx_models.py
with ``:N`` for its first N Einsums (``bert_layer:12``; ``:0`` for all) or ``:A-B`` for Einsums
``A..B-1`` (``resnet50:143-177``, ResNet-50's last stage: a connected region of its own). ``--limit`` seconds per
solve. ``--workers 1 2`` also runs this checkout with ``solve_workload(workers=N)`` (connected
regions in N processes), each a column of its own, at the same time as the others. CPU s counts
the pool workers (RUSAGE_CHILDREN), peak MB is the most the process and its workers held
together (sampled from /proc). The machine's load (``uptime``) is printed before and after: the
machine is shared, so compare the CPU seconds of the two columns, not the walls across runs.
``--rows`` times ``workload_frontier`` instead (what ``pareto_frontier`` runs: the
solve, then every breakpoint's tree rebuilt and re-costed in integers).
Writes benchmarks/results/fused_speed.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from common import report

HERE = Path(__file__).parent
SAVED = {"gpt3:8192": HERE / "data" / "gpt3_T8192_fused_curve.csv"}

CHILD = """
import json, resource, sys, time
sys.path[:0] = [sys.argv[2], {here!r}]  # the package under test first, before the cwd ('')
import boundsolver as bs
from boundsolver.curves.fused import solve_workload
from boundsolver.model.workload import Workload
name, n = json.loads(sys.argv[1])
if name == "gpt3":
    w = bs.load_problem("gpt3_6.7b", tokens=n)
else:
    from onnx_models import load
    w = bs.from_onnx(load(name))
    if n:
        lo, hi = n if isinstance(n, list) else (0, n)
        made = {{e.output.name for e in w.einsums[lo:hi]}}
        w = Workload(w.einsums[lo:hi], w.name, w.word_bits, tuple(s for s in w.stored if s in made))
opts = json.loads(sys.argv[3])
rows = opts.pop("rows", False)
t, c = time.perf_counter(), time.process_time()
if rows:  # the frontier with every breakpoint's row rebuilt and re-costed, as users get it
    from boundsolver.curves.fused import workload_frontier
    df = workload_frontier(w, True, **opts)
    occ, acc = df["occupancy"].astype(int).tolist(), df["accesses"].astype(int).tolist()
else:
    sol = solve_workload(w, True, **opts)
    occ, acc = sol.frontier.occ.tolist(), sol.frontier.acc.tolist()
kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # pool workers, reaped by the pool's shutdown
print(json.dumps({{"package": bs.__file__, "einsums": len(w.einsums), "wall_s": time.perf_counter() - t,
                  "cpu_s": time.process_time() - c + kids.ru_utime + kids.ru_stime,
                  "child_cpu_s": kids.ru_utime + kids.ru_stime,
                  "self_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "occ": occ, "acc": acc}}))
"""


def start(case: str, package: Path, opts: dict | None = None) -> subprocess.Popen:
    name, _, n = case.partition(":")
    # With ``-c`` the child's sys.path starts with the cwd, ahead of PYTHONPATH: run from a
    # checkout, both sides imported that checkout's package (the baseline never ran). The
    # package is put first explicitly, and each row says which package it imported.
    env = os.environ | {"PYTHONPATH": str(package)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(here=str(HERE)),
                             json.dumps([name, _span(n)]), str(package), json.dumps(opts or {})],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc.peak = Peak(proc.pid)  # sampled from the start: the solves run at once
    return proc


def _span(n: str):
    """``N`` (the first N Einsums, 0: all) or ``A-B`` (Einsums A..B-1) as the child reads it."""
    if "-" in n:
        lo, hi = n.split("-")
        return [int(lo), int(hi)]
    return int(n or 0)


def finish(proc: subprocess.Popen, limit: int) -> dict:
    peak = proc.peak
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        proc.communicate()
        return {"wall_s": f">{limit}", "peak_MB": peak.stop()}
    if proc.returncode:
        peak.stop()
        return {"error": (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:120]}
    return json.loads(out.strip().splitlines()[-1]) | {"peak_MB": peak.stop()}


class Peak(threading.Thread):
    """The most resident memory of a process and its descendants together (a solve's pool
    workers included), sampled from /proc every 0.2 s while it runs (Linux; 0 elsewhere)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.most, self.done = pid, 0, threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.most = max(self.most, sum(_rss_kB(p) for p in _tree(self.pid)))

    def stop(self) -> float:
        self.done.set()
        self.join()
        return round(self.most / 1024, 1)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (/proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return out


def _rss_kB(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _kill_tree(proc: subprocess.Popen) -> None:
    """A solve past its limit, and its pool workers (which would otherwise run on)."""
    kids = _tree(proc.pid)[1:]
    proc.kill()
    for p in kids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def saved_curve(case: str) -> list | None:
    if case not in SAVED:
        return None
    lines = SAVED[case].read_text().split()[1:]
    return [[int(v) for v in line.split(",")] for line in lines]


def _value(curve: list, cap: int):
    return min((a for o, a in curve if o <= cap), default=None)


def _change(old: list, new: list) -> dict:
    """The largest ratio old / new of least traffic over the capacities where either curve
    has a breakpoint, where it is, and how many of those capacities differ."""
    caps = sorted({o for o, _ in old + new})
    pairs = [(c, _value(old, c), _value(new, c)) for c in caps]
    diff = [(c, a, b) for c, a, b in pairs if a != b]
    c, a, b = max(diff, key=lambda x: (x[1] or 0) / (x[2] or 1))
    return {"capacities_changed": len(diff), "max_ratio": round((a or 0) / (b or 1), 4),
            "max_ratio_at": f"{c}: {a} -> {b}", "new_above_old": any(
                x is not None and y is not None and y > x for _, x, y in pairs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["gpt3:2048", "bert_layer:10"])
    ap.add_argument("--baseline", help="a folder holding the baseline's boundsolver package")
    ap.add_argument("--limit", type=int, default=900, help="seconds per solve")
    ap.add_argument("--csv", default="fused_speed.csv", help="file name under benchmarks/results")
    ap.add_argument("--workers", type=int, nargs="+", default=[],
                    help="also run this checkout with solve_workload(workers=N), each N as a "
                         "column new_wN (the plain 'new' column takes the default)")
    ap.add_argument("--rows", action="store_true",
                    help="time workload_frontier (every breakpoint's row rebuilt and re-costed) "
                         "instead of solve_workload alone")
    args = ap.parse_args()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    rows = []
    for case in args.cases:
        row = {"case": case}
        # old and new run at once, so that both see the same load from the rest of the machine
        base = {"rows": True} if args.rows else {}
        procs = {"new": start(case, HERE.parent, base)}
        procs |= {f"new_w{k}": start(case, HERE.parent, base | {"workers": k})
                  for k in args.workers}
        if args.baseline:
            procs["old"] = start(case, Path(args.baseline), base)
        runs = {tag: finish(p, args.limit) for tag, p in procs.items()}
        for tag, r in runs.items():
            row |= {f"{tag}_{k}": v for k, v in r.items() if k not in ("occ", "acc")}
        new = runs["new"]
        for tag, r in runs.items():  # every checkout's and option's curve against the new one
            if tag not in ("new", "old") and "occ" in r and "occ" in new:
                row[f"{tag}_same"] = (r["occ"], r["acc"]) == (new["occ"], new["acc"])
        if "occ" in new:
            curve = [list(p) for p in zip(new["occ"], new["acc"])]
            row["breakpoints"] = len(curve)
            if "occ" in runs.get("old", {}):
                old = [list(p) for p in zip(runs["old"]["occ"], runs["old"]["acc"])]
                row["same_as_old"] = curve == old
                if curve != old:  # where the new curve is lower (or higher), by how much
                    row |= _change(old, curve)
            if saved_curve(case) is not None:
                row["same_as_saved"] = curve == saved_curve(case)
        rows.append(row)
        print(row, flush=True)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    report(rows, HERE / "results" / args.csv)


if __name__ == "__main__":
    main()
