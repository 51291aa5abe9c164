"""Command line: ``boundsolver curve PROBLEM [capacities] [--csv F] [--plot F]``.

PROBLEM is ``gemm M K N``, ``bmm M K N H``, ``gbmm M K N H G``, ``conv --R 3 --P 16 ...``,
``einsum "Z[m,n] += A[m,k] * B[k,n]" m=64 k=64 n=64``, a YAML file, or a name in ``problems/``.
A workload file (``gpt3_6.7b``, ``ffn``, ``attention``) takes its parameters as options
(``--tokens 1024``); ``--fusion`` adds its fused frontier to the unfused one.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .curves.methods import DEFAULT, METHODS
from .errors import BoundsolverError
from .io.specs import call_workload, load_arch, load_problems
from .model.einsum import Einsum, einsum
from .model.mapspace import Mapspace
from .model.workload import Workload

POSITIONAL = {"gemm": ["M", "K", "N"], "bmm": ["M", "K", "N", "H"], "gbmm": ["M", "K", "N", "H", "G"],
              "conv": []}
NETWORK_DOC = """Per-layer bounds of an ONNX model: one row per layer (op, shape, MACs, tensor sizes,
algorithmic minimum, maximal effectual buffer, traffic and operational intensity at each
capacity), identical layers solved once, and the network's curve unfused (every layer alone
with the whole buffer) and, with --fusion, fused (slow on big networks)."""
SHOWN = ["capacity", "occupancy", "accesses", "status", "op_intensity", "loop_order", "mapping"]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="boundsolver", description=(
        "Exact least backing-store traffic of a tensor algorithm for each buffer capacity "
        "(Orojenesis curves), by integer programming."))
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("curve", help="least accesses at given capacities, or the whole frontier",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("problem", nargs="+", help="workload and sizes, an einsum, or a YAML file/name")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--capacities", "-c", nargs="+", type=float, metavar="WORDS",
                      help="buffer capacities in words")
    what.add_argument("--range", nargs=3, metavar=("LO", "HI", "COUNT"),
                      help="COUNT log-spaced capacities from LO to HI words")
    what.add_argument("--frontier", action="store_true",
                      help="every breakpoint of the staircase (the default)")
    p.add_argument("--solver", default="highs", help="highs (in-process, default) or cbc")
    p.add_argument("--time-limit", type=float, help="seconds per capacity (reported, never hidden)")
    p.add_argument("--placement", choices=["uniform", "per_tensor"],
                   help="per_tensor: each tensor's tile at its own loop depth (docs/mapspaces.md); "
                        "default uniform for an Einsum, per_tensor inside a workload's Einsums")
    p.add_argument("--factors", choices=["perfect", "imperfect"], default="perfect",
                   help="imperfect: tile sizes need not divide the rank size")
    p.add_argument("--fusion", action="store_true",
                   help="for a workload: fused and unfused frontiers and their ratio "
                        "(docs/fusion.md); without it, the unfused one")
    p.add_argument("--max-depth", type=int, default=3,
                   help="for --fusion: loops nested in a fused loop tree (docs/fusion.md)")
    p.add_argument("--method", choices=METHODS,
                   help="how curves are traced: auto (the default: the faster exact method), "
                        "milp (integer programs) or enumerate (the exhaustive reference)")
    p.add_argument("--enumerate", action="store_true", help="the same as --method enumerate")
    p.add_argument("--verbose", "-v", action="count", default=0,
                   help="log what the solvers do (-v: retries and cuts, -vv: every solve)")
    p.add_argument("--csv", "-o", type=Path, help="write the full table as CSV ('-': stdout)")
    p.add_argument("--plot", type=Path, help="draw the log-log staircase to this image (png, pdf)")
    p.add_argument("--arch", default="snowcat",
                   help="architecture YAML or name in arch/: its word size; with several buffer "
                        "levels (three_level), the exact joint bound over the swept level")
    p.add_argument("--level-size", action="append", metavar="NAME=WORDS",
                   help="a named capacity of the arch file (e.g. L1=8192); repeatable")
    p.add_argument("--unit", choices=["words", "bytes", "bits"], default="words",
                   help="unit of the plot's axes")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no table")
    n = sub.add_parser("network", help="per-layer bounds of an ONNX model and the network's curve",
                       description=NETWORK_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("model", type=Path, help="an ONNX file")
    n.add_argument("--capacities", "-c", default="1024,16384,262144,4194304",
                   help="comma-separated buffer capacities in words (default %(default)s)")
    n.add_argument("--dims", default="", metavar="NAME=N,...",
                   help="fix symbolic dimensions, e.g. batch=1,seq=512")
    n.add_argument("--skip-unsupported", action="store_true",
                   help="leave unsupported nodes out (listed) instead of refusing the model")
    n.add_argument("--fusion", action="store_true",
                   help="also the fused network curve (slow on big networks)")
    n.add_argument("--mapspace", default=None,
                   help="inner mapspace, e.g. uniform/perfect (default per_tensor/perfect)")
    n.add_argument("--method", choices=METHODS, default=DEFAULT,
                   help="how each layer's frontier is traced (default %(default)s: the faster "
                        "exact method)")
    n.add_argument("--solver", default="highs", help="highs (default) or cbc")
    n.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    n.add_argument("--csv", "-o", type=Path,
                   help="write the per-layer table as CSV, and the network curve to <stem>_curve.csv")
    n.add_argument("--plot", type=Path, help="draw the network curve to this image (png, pdf)")
    n.add_argument("--unit", choices=["words", "bytes", "bits"], default="words",
                   help="unit of the plot's axes")
    n.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no table")
    sub.add_parser("problems", help="list the named problems in problems/")
    r = sub.add_parser("reproduce", help="every single-Einsum figure of the paper, with a table")
    r.add_argument("--out", type=Path, default=Path("figures"), help="output folder")
    r.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    r.add_argument("--force-rerun", action="store_true", help="recompute and overwrite the cache")
    r.add_argument("--quick", action="store_true", help="two problems per figure (smoke test)")
    return top


def main(argv: list[str] | None = None) -> int:
    args, extra = parser().parse_known_args(argv)
    _logging(getattr(args, "verbose", 0))
    try:
        if args.command == "problems":
            return _list_problems()
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "network":
            if extra:
                raise BoundsolverError(f"unknown options {' '.join(extra)}")
            return _network(args)
        return _curve(args, extra)
    except BoundsolverError as err:
        print(f"boundsolver: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `--csv - | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's flush quiet
        return 0


def _logging(verbose: int) -> None:
    """Solvers say nothing unless asked: -v logs retries and cut-off points, -vv every solve."""
    if not verbose:
        return
    log = logging.getLogger("boundsolver")
    if not any(getattr(h, "cli", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        handler.cli = True
        log.addHandler(handler)
    log.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)


def problems_from(tokens: list[str], extra: list[str]) -> list[Einsum]:
    """The problems named on the command line (see the module docstring)."""
    kind, rest = tokens[0], tokens[1:]
    if kind in POSITIONAL:
        names = POSITIONAL[kind]
        if len(rest) > len(names):
            raise BoundsolverError(f"{kind} takes {len(names)} sizes ({' '.join(names)}), "
                                   f"got {len(rest)}: {' '.join(rest)}")
        kwargs = dict(zip(names, map(_int, rest)))
        kwargs |= _keywords(extra, f"{kind} option")
        return [call_workload(kind, kwargs)]
    if kind == "einsum":
        if extra:
            raise BoundsolverError(f"unknown options {' '.join(extra)}")
        if not rest:
            raise BoundsolverError('einsum needs a string, e.g. einsum "Z[m,n] += A[m,k] * '
                                   'B[k,n]" m=64 k=64 n=64')
        sizes = _keywords([f"--{t}" if "=" in t else t for t in rest[1:]], "rank size")
        return [einsum(rest[0], **sizes)]
    if rest:
        raise BoundsolverError(f"unexpected arguments after {kind}: {' '.join(rest)}")
    return load_problems(kind, **_keywords(extra, "workload parameter"))


def _keywords(tokens: list[str], what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise BoundsolverError(f"expected --NAME VALUE or NAME=VALUE, got {tok!r}")
        if "=" in tok:
            key, value = tok[2:].split("=", 1)
            i += 1
        elif i + 1 < len(tokens):
            key, value = tok[2:], tokens[i + 1]
            i += 2
        else:
            raise BoundsolverError(f"{what} {tok} has no value")
        out[key] = _int(value)
    return out


def _int(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise BoundsolverError(f"expected a positive integer, got {text!r}") from None
    if not value.is_integer():
        raise BoundsolverError(f"expected a positive integer, got {text!r}")
    return int(value)


def capacities(args) -> list[float] | None:
    if args.capacities:
        return args.capacities
    if args.range:
        lo, hi, count = float(args.range[0]), float(args.range[1]), _int(args.range[2])
        if not (0 < lo < hi) or count < 2:
            raise BoundsolverError(f"--range needs 0 < LO < HI and COUNT >= 2, got {args.range}")
        return sorted({math.floor(v) for v in np.geomspace(lo, hi, count)})
    return None


def _curve(args, extra: list[str]) -> int:
    from .curves.batch import solve_one

    problems = problems_from(args.problem, extra)
    arch = load_arch(args.arch, **dict(_level_size(x) for x in args.level_size or []))
    caps = capacities(args)
    if any(isinstance(p, Workload) for p in problems):
        return _workloads(args, problems, caps)
    if args.fusion:
        raise BoundsolverError("--fusion applies to workloads (e.g. gpt3_6.7b, ffn, attention)")
    frames = []
    for p in problems:
        if not arch.is_single_buffer:  # a hierarchy: its joint bound (hierarchy.py)
            from .curves.solve import pareto_frontier, solve_curve

            opts = dict(arch=arch, method=_method(args) or DEFAULT, solver=args.solver,
                        mapspace=Mapspace(args.placement or "uniform", args.factors))
            df = pareto_frontier(p, **opts) if caps is None else solve_curve(p, caps, **opts)
        else:
            df = solve_one(p, caps, args.solver, _method(args) or DEFAULT,
                           args.time_limit, progress=not args.quiet,
                           mapspace=Mapspace(args.placement or "uniform", args.factors))
        frames.append(df)
        if not args.quiet:
            _report(p, df)
    table = pd.concat([df.assign(problem=p.name or str(p)) for p, df in zip(problems, frames)],
                      ignore_index=True)
    if args.csv:
        table.to_csv(sys.stdout if str(args.csv) == "-" else args.csv, index=False)
    if args.plot:
        _plot(problems, frames, args.plot, args.unit, arch.word_bits)
    return 0 if (table["status"] != "time_limit").all() else 1


def _method(args) -> str | None:
    if args.enumerate and args.method not in (None, "enumerate"):
        raise BoundsolverError(f"--enumerate and --method {args.method} disagree")
    return "enumerate" if args.enumerate else args.method


def _workloads(args, problems, caps) -> int:
    from .curves.solve import pareto_frontier, solve_curve

    if args.time_limit is not None:
        raise BoundsolverError("--time-limit does not apply to workloads (always exact)")
    method = _method(args) or DEFAULT
    mapspace = Mapspace(args.placement or "per_tensor", args.factors)
    tables, plots = [], []
    for w in problems:
        runs = [True, False] if args.fusion else [False]
        opts = dict(mapspace=mapspace, method=method, solver=args.solver)
        # max_depth applies to the fused run only (the API refuses it elsewhere)
        frames = {f: (pareto_frontier(w, fusion=f, max_depth=args.max_depth if f else None,
                                      **opts) if caps is None else
                      solve_curve(w, caps, fusion=f, max_depth=args.max_depth if f else None,
                                  **opts))
                  for f in runs}
        for f, df in frames.items():
            if not args.quiet:
                print(f"{w.name} {'fused' if f else 'unfused'} ({len(df)} rows, "
                      f"{df.attrs['seconds']:.2f} s, minimum {df.attrs['algorithmic_minimum']} words)")
                shown = [c for c in ("capacity", "occupancy", "accesses", "status", "segments")
                         if c in df.columns]
                print(df[shown].to_string(index=False))
                if f and df["status"].eq("optimal").any():
                    print("loop tree of the least-traffic point:")
                    print(df.loc[df["status"].eq("optimal"), "tree"].iloc[-1])
            tables.append(df.assign(problem=w.name, fusion=f))
        plots.append((w, frames))
    table = pd.concat(tables, ignore_index=True)
    if args.csv:
        table.to_csv(sys.stdout if str(args.csv) == "-" else args.csv, index=False)
    if args.plot:
        _plot_workloads(plots, args.plot, args.unit)
    return 0


def _plot_workloads(plots, path: Path, unit: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report.plots import plot_curve, plot_fusion

    fig, ax = plt.subplots(figsize=(5.6, 3.8), layout="constrained")
    for w, frames in plots:
        if True in frames:
            plot_fusion(frames[True], frames[False], ax=ax, unit=unit, word_bits=w.word_bits,
                        label=w.name if len(plots) > 1 else None)
        else:
            plot_curve(frames[False], ax=ax, unit=unit, word_bits=w.word_bits,
                       label=f"{w.name} unfused")
    fig.savefig(path, dpi=200)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)


def _network(args) -> int:
    from .io.onnx import from_onnx
    from .report.network import network_curves, network_frontier, network_table

    caps = [_int(c) for c in args.capacities.split(",") if c.strip()]
    if not caps or min(caps) <= 0:
        raise BoundsolverError(f"--capacities needs positive integers, got {args.capacities!r}")
    dims = _keywords([f"--{d.strip()}" for d in args.dims.split(",") if d.strip()], "dimension")
    if not args.model.is_file():
        raise BoundsolverError(f"no such file: {args.model}")
    w = from_onnx(args.model, skip_unsupported=args.skip_unsupported, **dims)
    mapspace = args.mapspace or None
    table = network_table(w, caps, mapspace=mapspace, method=args.method, solver=args.solver,
                          cache=not args.no_cache, progress=not args.quiet)
    fused = None
    if args.fusion:  # every breakpoint (for the plot), read at the capacities for the table
        from .curves.solve import pareto_frontier

        fused = pareto_frontier(w, solver=args.solver, fusion=True, mapspace=mapspace,
                                method=args.method)
    curves = network_curves(w, caps, args.fusion, table=table, mapspace=mapspace,
                            method=args.method, solver=args.solver, fused_frontier=fused)
    curve = pd.DataFrame({"capacity": caps})
    for f, df in curves.items():
        name = "fused" if f else "unfused"
        curve[f"accesses_{name}"] = df["accesses"].to_numpy() if "accesses" in df else np.nan
        curve[f"op_intensity_{name}"] = (df["op_intensity"].to_numpy() if "op_intensity" in df
                                         else np.nan)
    if not args.quiet:
        for s in w.skipped:
            print(f"skipped {s.node} ({s.op_type}): {s.reason}")
        shown = ["layer", "op_type", "shape", "macs", "algorithmic_minimum",
                 "max_effectual_buffer", *[c for c in table.columns if c.startswith("accesses_at_")]]
        with pd.option_context("display.max_colwidth", 40, "display.width", 250,
                               "display.max_rows", None):
            print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"{w.name}: {len(table)} layers ({table.attrs['distinct']} distinct, solved in "
              f"{table.attrs['seconds']:.2f} s), {w.macs} MACs, "
              f"algorithmic minimum {w.algorithmic_minimum} words (whole network), "
              f"{w.unfused_minimum} words (layers alone)")
        print(curve.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
        path = args.csv.with_name(f"{args.csv.stem}_curve.csv")
        curve.to_csv(path, index=False)
        print(f"wrote {args.csv} and {path}", file=sys.stderr)
    if args.plot:
        _plot_network(w, network_frontier(table), fused, args.plot, args.unit)
    return 0


def _plot_network(w, unfused: pd.DataFrame, fused: pd.DataFrame | None, path: Path,
                  unit: str) -> None:
    """The unfused and fused staircases, every breakpoint of each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report.plots import plot_curve, plot_fusion

    fig, ax = plt.subplots(figsize=(5.6, 3.8), layout="constrained")
    unfused.attrs["algorithmic_minimum"] = w.unfused_minimum
    if fused is not None:
        plot_fusion(fused, unfused, ax=ax, unit=unit, word_bits=w.word_bits, label=w.name)
    else:
        plot_curve(unfused, ax=ax, unit=unit, word_bits=w.word_bits, label=f"{w.name} unfused")
    fig.savefig(path, dpi=200)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)


def _reproduce(args) -> int:
    import time

    from .report.reproduce import run

    start = time.perf_counter()
    table = run(args.out, cache=not args.no_cache, force_rerun=args.force_rerun, quick=args.quick)
    print((args.out / "key_numbers.md").read_text())
    print(f"wrote {len(list(args.out.glob('*.png')))} figures to {args.out} "
          f"in {time.perf_counter() - start:.1f} s ({len(table)} problems)")
    return 0


def _list_problems() -> int:
    from .io.specs import named_files

    for stem, path in named_files("problems").items():
        names = [p.name for p in load_problems(path)]
        print(f"{stem:22s} {len(names):3d}  {', '.join(names[:4])}"
              + (", ..." if len(names) > 4 else ""))
    return 0


def _level_size(text: str) -> tuple[str, int]:
    name, _, words = text.partition("=")
    return name, _int(words)


def _report(problem: Einsum, df: pd.DataFrame) -> None:
    levels = [c for c in df.columns if c.startswith(("occupancy_", "accesses_"))]
    shown = [c for c in SHOWN if c in df.columns]
    shown = shown[:-2] + levels + shown[-2:] if levels else shown
    seconds = df.attrs["seconds"] if "seconds" in df.attrs else df["solve_seconds"].sum()
    title = f"{problem.name}: {problem}" if problem.name else str(problem)
    print(f"{title}  ({len(df)} rows, {seconds:.2f} s)")
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(df[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _plot(problems, frames, path: Path, unit: str, word_bits: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report.plots import plot_curve

    fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    for p, df in zip(problems, frames):
        plot_curve(df, ax=ax, unit=unit, word_bits=word_bits, label=p.name or str(p))
    fig.savefig(path, dpi=200)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
