"""Command line: ``boundsolver curve PROBLEM [capacities] [--csv F] [--plot F]``.

PROBLEM is ``gemm M K N``, ``bmm M K N H``, ``gbmm M K N H G``, ``conv --R 3 --P 16 ...``,
``einsum "Z[m,n] += A[m,k] * B[k,n]" m=64 k=64 n=64``, a YAML path, or a packaged name.
A workload file (``gpt3_6.7b``, ``ffn``, ``attention``) takes its parameters as options
(``--tokens 1024``); ``--fusion`` adds its fused frontier to the unfused one.

``curve``, ``network`` and ``reproduce`` share their option names and syntax: capacities
(``-c 1024 4096`` or ``-c 1024,4096``, ``--range LO HI COUNT``), the mapspace (``--mapspace
per_tensor/imperfect``, or ``--placement``/``--factors``), ``--method``/``--solver`` and the
cache (``--no-cache``, ``--force-rerun``, ``--cache-dir``). Sizes and capacities are read as
exact integers (``1e3`` is 1000; ``2.5`` and ``1e30`` as a float are not sizes), an option given
twice is refused, and output paths are checked before anything is solved.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import math
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from .curves.joint import DEFAULT_MAPSPACE
from .curves.methods import METHODS
from .errors import BoundsolverError, ProofOutOfReach
from .io.specs import call_workload, load_arch, load_problems
from .model.einsum import Einsum, einsum, shown
from .model.mapspace import FACTORS, PLACEMENTS, Mapspace, mapspace_of
from .model.workload import Workload

POSITIONAL = {"gemm": ["M", "K", "N"], "bmm": ["M", "K", "N", "H"], "gbmm": ["M", "K", "N", "H", "G"],
              "conv": []}
KINDS = (*POSITIONAL, "einsum")
NETWORK_DOC = """Per-layer bounds of an ONNX model: one row per layer (op, shape, MACs, tensor sizes,
algorithmic minimum, maximal effectual buffer, traffic and operational intensity at each
capacity), identical layers solved once, and the network's curve unfused (every layer alone
with the whole buffer) and, with --fusion, fused (slow on big networks)."""
SHOWN = ["capacity", "occupancy", "accesses", "lower_bound", "gap", "status", "op_intensity",
         "loop_order", "mapping"]
INT64_MAX = 2**63 - 1  # the solvers count in int64: a larger capacity cannot be asked
MAX_CAPACITIES = 10_000  # one solve (or staircase read) each: more is a typo, not a curve
MAX_DIGITS = 100  # longer numbers are refused as text, before any arithmetic on them
NETWORK_CAPACITIES = "1024,16384,262144,4194304"


class _Once(argparse._StoreAction):
    """``store``, but an option given twice is an error (argparse keeps the last silently)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_given", set())
        if self.dest in given:
            raise BoundsolverError(f"{'/'.join(self.option_strings)} given twice; give each "
                                   "option once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error (``--help`` shows the
    usage); argparse's default prints the whole usage block before it."""

    def error(self, message: str):
        raise BoundsolverError(f"{message} (see {self.prog} --help)")


def _subparser(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    p = sub.add_parser(name, **kwargs)
    p.register("action", None, _Once)
    p.register("action", "store", _Once)
    return p


NO_TRANSLATE = ("with --fusion: leave translated loops out of the fused search (a higher or "
                "equal curve, cheaper; docs/fusion.md)")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="boundsolver", description=(
        "Exact least backing-store traffic of a tensor algorithm for each buffer capacity "
        "(Orojenesis curves), by integer programming."))
    sub = top.add_subparsers(dest="command", required=True)
    p = _subparser(sub, "curve", help="least accesses at given capacities, or the whole frontier",
                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("problem", nargs="+", help="workload and sizes, an einsum, or a YAML path or "
                                               "packaged name")
    what = _capacity_options(p, "")
    what.add_argument("--frontier", action="store_true",
                      help="every breakpoint of the staircase (the default)")
    _solve_options(p, "uniform for an Einsum, per_tensor/perfect inside a workload's Einsums "
                      f"and on a hierarchy (--arch with several levels: {DEFAULT_MAPSPACE})")
    p.add_argument("--enumerate", action="store_true", help="the same as --method enumerate")
    p.add_argument("--time-limit", help="seconds per capacity (reported, never hidden) for "
                                        "single Einsums; on a hierarchy the per-tensor MILP has "
                                        "60 by default, 'inf' waits for every proof; with "
                                        "--fusion, wall-clock seconds for a workload's fused "
                                        "search (past them: an error, no curve)")
    p.add_argument("--lower-bound", action="store_true",
                   help="add the any-schedule floor and the gap (accesses / floor) to every row "
                        "and draw the floor in --plot (docs/lower_bounds.md)")
    p.add_argument("--fusion", action="store_true",
                   help="for a workload: fused and unfused frontiers and their ratio "
                        "(docs/fusion.md); without it, the unfused one")
    p.add_argument("--max-depth", help="with --fusion: loops nested in a fused loop tree "
                                       "(default 3; docs/fusion.md)")
    p.add_argument("--no-translate", action="store_true", help=NO_TRANSLATE)
    _cache_options(p, "single Einsums on one buffer")
    p.add_argument("--verbose", "-v", action="count", default=0,
                   help="log what the solvers do (-v: retries and cuts, -vv: every solve)")
    _output_options(p, "write the full table as CSV ('-': stdout)",
                    "draw the log-log staircase to this image (png, pdf, svg, ...)")
    p.add_argument("--arch", help="architecture YAML path or packaged name (default snowcat): its "
                                  "word size; with several buffer levels (three_level), the exact "
                                  "joint bound over the swept level")
    p.add_argument("--level-size", action="append", metavar="NAME=WORDS",
                   help="a named capacity of the arch file (e.g. L1=8192); repeatable, once "
                        "per name")
    n = _subparser(sub, "network", help="per-layer bounds of an ONNX model and the network's curve",
                   description=NETWORK_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("model", type=Path, help="an ONNX file")
    _capacity_options(n, f" (default {NETWORK_CAPACITIES})")
    n.add_argument("--dims", default="", metavar="NAME=N,...",
                   help="fix symbolic dimensions, e.g. batch=1,seq=512")
    n.add_argument("--skip-unsupported", action="store_true",
                   help="leave unsupported nodes out (listed) instead of refusing the model")
    n.add_argument("--keep-batchnorm", action="store_true",
                   help="read each inference BatchNormalization's four parameter vectors as "
                        "the graph writes them, instead of folding it into the Conv or Gemm "
                        "before it (or into one scale and one shift) as compilers do")
    n.add_argument("--fusion", action="store_true",
                   help="also the fused network curve (slow on big networks)")
    n.add_argument("--time-limit", help="with --fusion: wall-clock seconds for the fused "
                                        "search; past them it stops with an error (no curve)")
    n.add_argument("--workers", help="with --fusion: at most this many processes solving the "
                                     "network's connected regions (default: one per region of "
                                     "12 Einsums or more, up to the CPUs; 1: one process; "
                                     "docs/fusion.md, 'Regions in parallel')")
    n.add_argument("--no-translate", action="store_true", help=NO_TRANSLATE)
    _solve_options(n, "per_tensor/perfect")
    _cache_options(n, "every layer")
    _output_options(n, "write the per-layer table as CSV, and the network curve to "
                       "<stem>_curve.csv", "draw the network curve to this image (png, pdf, ...)")
    _report_options(n)
    _subparser(sub, "problems", help="list the packaged problems")
    r = _subparser(sub, "reproduce", help="every single-Einsum figure of the paper, with a table "
                                          "(the paper's capacities and mapspaces)")
    r.add_argument("--out", type=Path, default=Path("figures"), help="output folder")
    _cache_options(r, "every figure's problems")
    r.add_argument("--quick", action="store_true", help="two problems per figure (smoke test)")
    return top


def _report_options(p) -> None:
    g = p.add_argument_group("report", "the HTML page and the roofline (docs/report.md)")
    g.add_argument("--html", type=Path, metavar="FILE.html",
                   help="write one self-contained page: the per-layer table (sortable), the "
                        "network curves with each point's mapping on hover, and with "
                        "--bandwidth/--peak the memory-bound layers (needs bokeh: pip install "
                        "'boundsolver[report]')")
    g.add_argument("--bandwidth", metavar="BYTES/S",
                   help="memory bandwidth in bytes per second (e.g. 2e12); with --peak, a "
                        "memory_bound column in the table, the CSV and --html")
    g.add_argument("--peak", metavar="MAC/S", help="compute peak in MACs per second (e.g. 5e14); "
                                                   "with --bandwidth")
    g.add_argument("--at", metavar="WORDS",
                   help="the buffer capacity the roofline is read at (default: the largest "
                        "capacity; added to the capacities if missing)")


def _capacity_options(p, default: str):
    what = p.add_mutually_exclusive_group()
    what.add_argument("--capacities", "-c", nargs="+", metavar="WORDS",
                      help="buffer capacities in words: -c 1024 4096 or -c 1024,4096" + default)
    what.add_argument("--range", nargs=3, metavar=("LO", "HI", "COUNT"),
                      help=f"COUNT log-spaced capacities from LO to HI words (at most "
                           f"{MAX_CAPACITIES:,})")
    return what


def _solve_options(p, default_mapspace: str) -> None:
    p.add_argument("--mapspace", metavar="PLACEMENT/FACTORS",
                   help=f"placement ({', '.join(PLACEMENTS)}) and factors ({', '.join(FACTORS)}), "
                        f"e.g. per_tensor/imperfect (docs/mapspaces.md); default "
                        f"{default_mapspace}")
    p.add_argument("--placement", choices=PLACEMENTS, help="the placement half of --mapspace")
    p.add_argument("--factors", choices=FACTORS, help="the factors half of --mapspace "
                                                      "(default perfect)")
    p.add_argument("--method", choices=METHODS,
                   help="how curves are traced: auto (the default: the faster exact method, "
                        "enumeration where it is cheap, else the MILP), milp (integer programs) "
                        "or enumerate (the exhaustive reference); every method is exact")
    p.add_argument("--solver", help="MILP solver: highs (in-process, default) or cbc")


def _cache_options(p, scope: str) -> None:
    p.add_argument("--no-cache", action="store_true",
                   help=f"neither read nor write the result cache ({scope})")
    p.add_argument("--force-rerun", action="store_true",
                   help="recompute and overwrite cached results")
    p.add_argument("--cache-dir", type=Path,
                   help="cache folder (default $BOUNDSOLVER_CACHE_DIR or the user cache folder)")


def _output_options(p, csv: str, plot: str) -> None:
    p.add_argument("--csv", "-o", type=Path, help=csv)
    p.add_argument("--plot", type=Path, help=plot)
    p.add_argument("--unit", choices=["words", "bytes", "bits"],
                   help="unit of the plot's axes (default words)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no table")


def main(argv: list[str] | None = None) -> int:
    try:
        args, extra = parser().parse_known_args(argv)
        _logging(getattr(args, "verbose", 0))
        if args.command != "curve" and extra:
            raise BoundsolverError(f"unknown options {' '.join(extra)}")
        if args.command == "problems":
            return _list_problems()
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "network":
            return _network(args)
        return _curve(args, extra)
    except BoundsolverError as err:
        if isinstance(err, ProofOutOfReach):
            err = _in_cli_words(err)
        print(f"boundsolver: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: say so, not a traceback from inside a solver
        print("boundsolver: interrupted", file=sys.stderr)
        return 130
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


# ------------------------------------------------------------------------------- reading numbers

def integer(text: str, what: str = "a positive integer") -> int:
    """``text`` as an exact positive integer: ``4096``, ``1e3``, ``4096.0`` (never through a
    float, so ``9007199254740993`` stays itself); ``2.5``, ``nan``, ``0`` and ``-1`` refused."""
    if not isinstance(text, str) or len(text.strip()) > MAX_DIGITS:
        raise BoundsolverError(f"expected {what}, got {shown(text)} (at most {MAX_DIGITS} "
                               "characters)")
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        raise BoundsolverError(f"expected {what}, got {text!r}") from None
    if not value.is_finite() or value.adjusted() >= MAX_DIGITS:
        raise BoundsolverError(f"expected {what}, got {text!r}")
    if value != value.to_integral_value() or value < 1:
        raise BoundsolverError(f"expected {what}, got {text!r}")
    return int(value)


def seconds(text: str) -> float:
    """A positive number of seconds, or ``inf`` (no limit: a hierarchy's default limit off)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0) or value == math.inf and text.strip().lower() not in ("inf", "+inf"):
        raise BoundsolverError(f"--time-limit needs a positive number of seconds (or inf), got "
                               f"{text!r}")
    return value


def keywords(tokens: list[str], what: str) -> dict[str, int]:
    """``--NAME VALUE`` / ``--NAME=VALUE`` pairs as integers; a name given twice is an error."""
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
        if not key:
            raise BoundsolverError(f"{what} needs NAME=VALUE, got {tok[2:]!r}")
        if key in out:
            raise BoundsolverError(f"{what} {key!r} given twice ({out[key]} and {value}); "
                                   "give each once")
        out[key] = integer(value, f"a positive integer for {what} {key!r}")
    return out


def _depth(text: str) -> int:
    if text.strip() == "0":
        return 0
    return integer(text, "--max-depth: a whole number of loops, 0 or more")


def capacity(text: str) -> int:
    words = integer(text, "a capacity: a positive whole number of words")
    if words > INT64_MAX:
        raise BoundsolverError(
            f"capacity {text} is over the signed 64-bit limit ({INT64_MAX:,} words); a capacity "
            "at or above a problem's largest useful buffer (its tensors' total size) answers the "
            "same as that buffer, so ask for that one")
    return words


def capacities(args, default: str | None = None) -> list[int] | None:
    """The capacities asked for (-c or --range), else ``default`` (None: the frontier)."""
    if args.range:
        lo, hi, count = capacity(args.range[0]), capacity(args.range[1]), integer(args.range[2])
        if not lo < hi or count < 2:
            raise BoundsolverError(f"--range needs LO < HI and COUNT >= 2, got "
                                   f"{' '.join(args.range)}")
        if count > MAX_CAPACITIES:
            raise BoundsolverError(f"--range COUNT {count:,} is over the limit of "
                                   f"{MAX_CAPACITIES:,} capacities (use the frontier: every "
                                   "breakpoint, which answers every capacity)")
        inner = np.geomspace(lo, hi, count)[1:-1]
        return sorted({lo, hi, *(min(max(math.floor(v), lo), hi) for v in inner)})
    texts = args.capacities or ([default] if default else None)
    if texts is None:
        return None
    caps = [capacity(t) for item in texts for t in item.split(",") if t.strip()]
    if not caps:
        raise BoundsolverError(f"--capacities names no capacity: {' '.join(texts)!r}")
    if len(caps) > MAX_CAPACITIES:
        raise BoundsolverError(f"{len(caps):,} capacities are over the limit of "
                               f"{MAX_CAPACITIES:,}")
    return caps


# ------------------------------------------------------------------------------- shared options

def mapspace(args, default: str | None) -> Mapspace | None:
    """--mapspace, or --placement/--factors (which must agree with it); None: the library's
    default for the problem."""
    if args.mapspace is not None:
        space = mapspace_of(args.mapspace)
        for key in ("placement", "factors"):
            given = getattr(args, key)
            if given is not None and given != getattr(space, key):
                raise BoundsolverError(f"--{key} {given} disagrees with --mapspace {args.mapspace}")
        return space
    if args.placement is None and args.factors is None:
        return None if default is None else mapspace_of(default)
    placement = args.placement or (default or "uniform/perfect").split("/")[0]
    return Mapspace(placement, args.factors or "perfect")


def method(args) -> str | None:
    if getattr(args, "enumerate", False):
        if args.method not in (None, "enumerate"):
            raise BoundsolverError(f"--enumerate and --method {args.method} disagree")
        chosen = "enumerate"
    else:
        chosen = args.method
    if chosen == "enumerate" and args.solver is not None:
        raise BoundsolverError(f"--solver {args.solver} does not apply to --method enumerate "
                               "(no integer program is solved); leave one out")
    return chosen


def solve_kwargs(args, default_mapspace: str | None) -> dict:
    """The options every solve takes, leaving out what was not given (the library's defaults
    apply, so the command line never restates them)."""
    out = {"mapspace": mapspace(args, default_mapspace), "method": method(args),
           "solver": args.solver}
    return {k: v for k, v in out.items() if v is not None}


def cache_of(args):
    """False (--no-cache), a Cache in --cache-dir, or True (the default cache)."""
    if args.no_cache:
        if args.cache_dir is not None or args.force_rerun:
            raise BoundsolverError("--no-cache contradicts --cache-dir and --force-rerun")
        return False
    if args.cache_dir is None:
        return True
    from .curves.cache import Cache

    if args.cache_dir.exists() and not args.cache_dir.is_dir():
        raise BoundsolverError(f"--cache-dir {args.cache_dir} is not a folder")
    return Cache(args.cache_dir / "results.sqlite")


def _refuse(args, names: list[str], why: str) -> None:
    """Options that do not apply are refused, never silently ignored."""
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n, None) not in
             (None, False, 0, [])]
    if given:
        raise BoundsolverError(f"{' and '.join(given)} {'does' if len(given) == 1 else 'do'} "
                               f"not apply {why}")


def check_outputs(args, extra_csv: bool = False) -> None:
    """Before any solve: the CSV and plot paths can be written, the plot's format is known (a
    failure after an hour's solve would lose the results)."""
    if args.unit is not None and args.plot is None and getattr(args, "html", None) is None:
        raise BoundsolverError("--unit applies to --plot (the unit of its axes)"
                               + (" and --html" if hasattr(args, "html") else ""))
    paths = []
    if args.csv is not None and str(args.csv) != "-":
        paths.append(("--csv", args.csv))
        if extra_csv:
            paths.append(("--csv", args.csv.with_name(f"{args.csv.stem}_curve.csv")))
    if args.plot is not None:
        paths.append(("--plot", args.plot))
        formats = _plot_formats()
        suffix = args.plot.suffix.lower().lstrip(".")
        if suffix not in formats:
            raise BoundsolverError(f"--plot {shown(str(args.plot))}: unknown image format "
                                   f"{suffix or '(no extension)'!r}; use one of "
                                   f"{', '.join(sorted(formats))}")
    for flag, path in paths:
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise BoundsolverError(f"{flag} {path} is a folder; name a file")
        if not folder.is_dir():
            raise BoundsolverError(f"{flag} {path}: no folder {folder} (create it first)")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise BoundsolverError(f"{flag} {path}: not writable")


def _plot_formats() -> set[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return set(FigureCanvasAgg(Figure()).get_supported_filetypes())


# ------------------------------------------------------------------------------------ problems

def problems_from(tokens: list[str], extra: list[str]) -> list[Einsum]:
    """The problems named on the command line (see the module docstring)."""
    kind, rest = tokens[0], tokens[1:]
    if kind in POSITIONAL:
        names = POSITIONAL[kind]
        if len(rest) > len(names):
            raise BoundsolverError(f"{kind} takes {len(names)} sizes ({' '.join(names)}), "
                                   f"got {len(rest)}: {' '.join(rest)}")
        kwargs = {k: integer(v, f"a positive integer for {k}") for k, v in zip(names, rest)}
        opts = keywords(extra, f"{kind} option")
        twice = [k for k in opts if k in kwargs]
        if twice:
            raise BoundsolverError(f"{kind}: {', '.join(twice)} given both as a size and as "
                                   "an option")
        return [call_workload(kind, kwargs | opts)]
    if kind == "einsum":
        if extra:
            raise BoundsolverError(f"unknown options {' '.join(extra)}")
        if not rest:
            raise BoundsolverError('einsum needs a string, e.g. einsum "Z[m,n] += A[m,k] * '
                                   'B[k,n]" m=64 k=64 n=64')
        sizes = keywords([f"--{t}" if "=" in t else t for t in rest[1:]], "rank size")
        return [einsum(rest[0], **sizes)]
    if kind.lower().endswith(".onnx"):
        raise BoundsolverError(f"{shown(kind)} is an ONNX model: `boundsolver network {kind}` "
                               "reads it (curve takes a problem or workload YAML)")
    _known_problem(kind, rest)
    if rest:
        raise BoundsolverError(f"unexpected arguments after {kind}: {' '.join(rest)} (a YAML "
                               "problem takes its parameters as options, e.g. --tokens 1024)")
    return load_problems(kind, **keywords(extra, "workload parameter"))


def _known_problem(kind: str, rest: list[str]) -> None:
    """A word that is no kind, no file and no named problem: say so, with the nearest name."""
    from .errors import SpecError
    from .io.specs import find, named_files

    if "/" in kind or os.sep in kind or kind.endswith((".yaml", ".yml")):
        find(kind, "problems")  # a path: its own error (no such file, a folder) says more
        return
    try:
        find(kind, "problems")
        return
    except SpecError:
        pass
    try:
        named = list(named_files("problems"))
    except (OSError, SpecError):
        named = []
    close = difflib.get_close_matches(kind, [*KINDS, *named], n=1)
    raise BoundsolverError(
        f"unknown problem {shown(kind)}" + (f"; did you mean {close[0]}?" if close else "")
        + f" (kinds: {', '.join(KINDS)}; or a YAML file, or a named problem: "
        + (", ".join(named) or "none") + ")")


# ------------------------------------------------------------------------------------- commands

def _curve(args, extra: list[str]) -> int:
    check_outputs(args)
    problems = problems_from(args.problem, extra)
    arch = load_arch(args.arch or "snowcat",
                     **_level_sizes(args.level_size or []))
    caps = capacities(args)
    if args.time_limit is not None:
        args.time_limit = seconds(args.time_limit)
    if args.max_depth is not None and not args.fusion:
        raise BoundsolverError("--max-depth applies to --fusion (the depth of fused loop trees)")
    if args.no_translate and not args.fusion:
        raise BoundsolverError("--no-translate applies to --fusion (translated loops are searched "
                               "in fused loop trees)")
    if any(isinstance(p, Workload) for p in problems):
        return _workloads(args, problems, caps, arch)
    if args.fusion:
        raise BoundsolverError("--fusion applies to workloads (e.g. gpt3_6.7b, ffn, attention)")
    if arch.is_single_buffer and arch.swept is not None:
        frames = _einsums(args, problems, caps)
    else:  # a hierarchy (its joint bound, hierarchy.py) or a fixed buffer: the API's answer
        _refuse(args, ["no_cache", "force_rerun", "cache_dir"],
                f"to {'a hierarchy' if not arch.is_single_buffer else 'a fixed buffer'} "
                f"({arch.name}): its bound is not cached")
        if arch.is_single_buffer or (caps is None and args.time_limit != math.inf):
            _refuse(args, ["time_limit"], f"to a fixed buffer ({arch.name}): its bound is "
                    "always exact" if arch.is_single_buffer else "to a hierarchy's frontier (a "
                    "walk of proven points; give capacities with -c or --range, or --time-limit "
                    "inf to wait for every proof)")
        limit = {} if args.time_limit is None else {"time_limit": args.time_limit}
        space = str(DEFAULT_MAPSPACE) if not arch.is_single_buffer else "uniform/perfect"
        frames = [_solve(p, caps, arch=arch, **solve_kwargs(args, space), **limit)
                  for p in problems]
    if args.lower_bound:
        from .model.lower import with_lower_bound

        inside = None if arch.is_single_buffer else arch
        frames = [with_lower_bound(df, p, inside) for p, df in zip(problems, frames)]
    if not args.quiet:
        with _tables(args):
            for p, df in zip(problems, frames):
                _report(p, df)
    table = pd.concat([df.assign(problem=p.name or str(p)) for p, df in zip(problems, frames)],
                      ignore_index=True)
    if args.csv:
        table.to_csv(sys.stdout if str(args.csv) == "-" else args.csv, index=False)
    if args.plot:
        _plot(problems, frames, args.plot, args.unit or "words", arch.word_bits,
              floor=args.lower_bound and arch.is_single_buffer)
        if args.lower_bound and not arch.is_single_buffer:
            print(f"--lower-bound: the floor is drawn for one buffer only; on {arch.name} its "
                  "lower_bound and gap columns are in the table (and --csv)", file=sys.stderr)
    return 0 if (table["status"] != "time_limit").all() else 1


CLI_ASK = ("Give capacities with -c or --range (a capacity not proven in time is a time_limit "
           "row with a proven lower bound and the best mapping found; --time-limit S sets its "
           "seconds), --time-limit inf to wait for every proof, or --mapspace uniform/perfect "
           "for Timeloop's mapspace (uniform placement within each level)")


def _in_cli_words(err: ProofOutOfReach) -> ProofOutOfReach:
    """The library's advice names Python arguments (``time_limit=math.inf``); say it with the
    options a command-line user types."""
    from .curves.joint import _ASK

    text = str(err)
    return ProofOutOfReach(text.replace(_ASK, CLI_ASK) if _ASK in text else
                           f"{text} ({CLI_ASK})")


def _tables(args):
    """Where the readable tables go: stdout, or stderr when ``--csv -`` takes stdout (what is
    piped into a file or pandas must be the CSV alone)."""
    return contextlib.redirect_stdout(sys.stderr) if str(args.csv) == "-" else \
        contextlib.nullcontext()


def _solve(problem, caps, **kwargs) -> pd.DataFrame:
    from .curves.solve import pareto_frontier, solve_curve

    return pareto_frontier(problem, **kwargs) if caps is None else \
        solve_curve(problem, caps, **kwargs)


def _einsums(args, problems, caps) -> list[pd.DataFrame]:
    """Single Einsums on one buffer, through solve_curves and its cache."""
    from .curves.batch import solve_curves

    opts = solve_kwargs(args, "uniform/perfect")
    limit = None if args.time_limit == math.inf else args.time_limit  # inf: no limit
    return solve_curves(problems, caps, time_limit=limit, cache=cache_of(args),
                        force_rerun=args.force_rerun, progress=not args.quiet, **opts)


def _workloads(args, problems, caps, arch) -> int:
    if not args.fusion:
        _refuse(args, ["time_limit"], "to workloads without --fusion (always exact)")
    _refuse(args, ["no_cache", "force_rerun", "cache_dir"], "to workloads (not cached)")
    opts = solve_kwargs(args, "per_tensor/perfect")
    if args.arch is not None:
        opts["arch"] = arch
    tables, plots = [], []
    for w in problems:
        runs = [True, False] if args.fusion else [False]
        depth = {} if args.max_depth is None else {"max_depth": _depth(args.max_depth)}
        depth |= {"translate": False} if args.no_translate else {}
        limit = {} if args.time_limit is None else {"time_limit": args.time_limit}
        frames = {f: _solve(w, caps, fusion=f, **opts, **(depth | limit if f else {}))
                  for f in runs}
        if args.lower_bound:
            from .model.lower import with_lower_bound

            inside = arch if args.arch is not None and not arch.is_single_buffer else None
            frames = {f: with_lower_bound(df, w, inside) for f, df in frames.items()}
        for f, df in frames.items():
            if not args.quiet:
                _print_workload(args, w, f, df)
            tables.append(df.assign(problem=w.name, fusion=f))
        plots.append((w, frames))
    table = pd.concat(tables, ignore_index=True)
    if args.csv:
        table.to_csv(sys.stdout if str(args.csv) == "-" else args.csv, index=False)
    if args.plot:
        _plot_workloads(plots, args.plot, args.unit or "words")
    return 0


def _print_workload(args, w, f: bool, df: pd.DataFrame) -> None:
    """One workload's fused or unfused frontier, and the loop tree of its least-traffic point."""
    facts = [f"{len(df)} rows"] + [text.format(df.attrs[key]) for key, text in (
        ("seconds", "{:.2f} s"), ("algorithmic_minimum", "minimum {} words")) if key in df.attrs]
    shown_cols = [c for c in ("capacity", "occupancy", "accesses", "lower_bound", "gap",
                              "status", "segments") if c in df.columns]
    with _tables(args):
        print(f"{w.name} {'fused' if f else 'unfused'} ({', '.join(facts)})")
        print(df[shown_cols].to_string(index=False))
        if f and df["status"].eq("optimal").any():
            print("loop tree of the least-traffic point:")
            print(df.loc[df["status"].eq("optimal"), "tree"].iloc[-1])


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

    check_outputs(args, extra_csv=bool(args.csv) and str(args.csv) != "-")
    if not args.fusion:
        _refuse(args, ["time_limit", "workers", "no_translate"], "without --fusion (the "
                "per-layer table always solves, in one process, unfused)")
    limit = {} if args.time_limit is None else {"time_limit": seconds(args.time_limit)}
    limit |= {"translate": False} if args.no_translate else {}
    if args.workers is not None:
        limit["workers"] = integer(args.workers, "--workers: a whole number of processes, 1 "
                                                 "or more")
    box = _machine(args)
    if args.html is not None:  # before any solve: the path, and bokeh installed
        from .report.html import bokeh_or_error, check_path

        check_path(args.html)
        bokeh_or_error()
    caps = capacities(args, NETWORK_CAPACITIES)
    at = capacity(args.at) if args.at is not None else max(caps)
    caps += [] if at in caps else [at]
    dims = keywords([f"--{d.strip()}" for d in args.dims.split(",") if d.strip()], "dimension")
    if not args.model.is_file():
        raise BoundsolverError(f"{args.model} is a folder; name an ONNX file" if
                               args.model.is_dir() else f"no such file: {args.model}")
    opts = solve_kwargs(args, None)
    cache = cache_of(args)
    w = from_onnx(args.model, skip_unsupported=args.skip_unsupported,
                  fold_batchnorm=not args.keep_batchnorm, **dims)
    table = network_table(w, caps, cache=cache, force_rerun=args.force_rerun,
                          progress=not args.quiet, **opts)
    if box is not None:
        from .report.roofline import roofline

        table = roofline(table, box, w.word_bits)
    fused = None
    if args.fusion:  # every breakpoint (for the plot), read at the capacities for the table
        from .curves.solve import pareto_frontier

        fused = pareto_frontier(w, fusion=True, **opts, **limit)
    curves = network_curves(w, caps, args.fusion, table=table, fused_frontier=fused, **opts)
    curve = pd.DataFrame({"capacity": caps})
    for f, df in curves.items():
        name = "fused" if f else "unfused"
        curve[f"accesses_{name}"] = df["accesses"].to_numpy() if "accesses" in df else np.nan
        curve[f"op_intensity_{name}"] = (df["op_intensity"].to_numpy() if "op_intensity" in df
                                         else np.nan)
    if not args.quiet:
        with _tables(args):
            _print_network(w, table, curve, box, at)
    if args.csv:
        if str(args.csv) == "-":
            table.to_csv(sys.stdout, index=False)
        else:
            table.to_csv(args.csv, index=False)
            path = args.csv.with_name(f"{args.csv.stem}_curve.csv")
            curve.to_csv(path, index=False)
            print(f"wrote {args.csv} and {path}", file=sys.stderr)
    if args.plot:
        _plot_network(w, network_frontier(table), fused, args.plot, args.unit or "words")
    if args.html:
        from .report.html import network_report

        network_report(w, args.html, caps, bandwidth=box and box.bandwidth,
                       peak=box and box.peak, at=at if box else None,
                       fused=False if fused is None else fused, table=table,
                       unit=args.unit or "words", **opts)
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _machine(args):
    """--bandwidth and --peak (both or neither) as a roofline; --at only with them."""
    from .report.roofline import Machine, rate

    if args.bandwidth is None and args.peak is None:
        if args.at is not None:
            raise BoundsolverError("--at applies to --bandwidth and --peak (the capacity the "
                                   "roofline is read at)")
        return None
    if args.bandwidth is None or args.peak is None:
        given, missing = ("--bandwidth", "--peak") if args.peak is None else \
            ("--peak", "--bandwidth")
        raise BoundsolverError(f"{given} needs {missing} too: a roofline needs the memory "
                               "bandwidth (bytes/s) and the compute peak (MAC/s)")
    return Machine(rate(args.bandwidth, "--bandwidth (bytes/s)"),
                   rate(args.peak, "--peak (MAC/s)"))


def _print_skipped(skipped) -> None:
    """Nodes left out one line each (each moves data the bound then reads from DRAM); folded
    ones, hundreds in a weight-stripped graph, as counts per op type."""
    from collections import Counter

    for s in skipped:
        if not s.reason.startswith("folded"):
            print(f"skipped {s.node} ({s.op_type}): {s.reason}")
    for kind, what in (("folded:", "computing only constants or shapes"),
                       ("folded into", "into the Conv or Gemm before them (--keep-batchnorm "
                                       "reads their four vectors)")):
        ops = Counter(s.op_type for s in skipped if s.reason.startswith(kind))
        if ops:
            listed = ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))
            print(f"folded {sum(ops.values())} node(s) {what}: {listed}")


def _print_network(w, table: pd.DataFrame, curve: pd.DataFrame, box, at: int) -> None:
    _print_skipped(w.skipped)
    shown_cols = ["layer", "op_type", "shape", "macs", "algorithmic_minimum",
                  "max_effectual_buffer",
                  *[c for c in table.columns if c.startswith("accesses_at_")]]
    if box is not None:
        shown_cols += [f"seconds_at_{at}", f"memory_bound_at_{at}"]
    with pd.option_context("display.max_colwidth", 40, "display.width", 250,
                           "display.max_rows", None):
        print(table[shown_cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"{w.name}: {len(table)} layers ({table.attrs['distinct']} distinct, solved in "
          f"{table.attrs['seconds']:.2f} s), {w.macs} MACs, "
          f"algorithmic minimum {w.algorithmic_minimum} words (whole network), "
          f"{w.unfused_minimum} words (layers alone)")
    if box is not None:
        bound = table[f"memory_bound_at_{at}"]
        print(f"roofline at {at} words ({box}): {int(bound.sum(skipna=True))} of {len(table)} "
              "layers memory-bound" + (f", {int(bound.isna().sum())} with no mapping there"
                                       if bound.isna().any() else ""))
    print(curve.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


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

    if args.out.exists() and not args.out.is_dir():
        raise BoundsolverError(f"--out {args.out} is a file; name a folder")
    start = time.perf_counter()
    table = run(args.out, cache=cache_of(args), force_rerun=args.force_rerun, quick=args.quick)
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


def _level_sizes(texts: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in texts:
        name, eq, words = text.partition("=")
        if not eq or not name:
            raise BoundsolverError(f"--level-size needs NAME=WORDS, got {text!r}")
        if name in out:
            raise BoundsolverError(f"--level-size {name} given twice; give each level once")
        out[name] = capacity(words)
    return out


def _report(problem: Einsum, df: pd.DataFrame) -> None:
    levels = [c for c in df.columns if c.startswith(("occupancy_", "accesses_"))]
    cols = [c for c in SHOWN if c in df.columns]
    cols = cols[:-2] + levels + cols[-2:] if levels else cols
    cut = int((df["status"] == "time_limit").sum())
    if cut:  # which column is unproven (a hierarchy's), its proven bound, the incumbent's value
        open_cols = [c for c in ("bound_of", "best_bound", "incumbent") if c in df.columns]
        cols = cols[:-2] + open_cols + cols[-2:]
    secs = df.attrs["seconds"] if "seconds" in df.attrs else df["solve_seconds"].sum()
    title = f"{problem.name}: {problem}" if problem.name else str(problem)
    space = f", mapspace {df.attrs['mapspace']}" if len(df.attrs.get("levels", ())) > 2 else ""
    print(f"{title}  ({len(df)} rows, {secs:.2f} s{space})")
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(df[cols].to_string(index=False, float_format=_number))
    if cut:
        print(_time_limit_note(df, cut))


def _number(v: float) -> str:
    """A float column's value: whole numbers in full (a bound such as best_bound must not be
    rounded to four digits), others to four significant digits."""
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.4g}"


def _time_limit_note(df: pd.DataFrame, cut: int) -> str:
    """Under the table, in words, what a ``time_limit`` row does and does not prove."""
    if "bound_of" in df.columns:
        open_cols = ", ".join(sorted(set(df["bound_of"].dropna())))
        what = (f"the columns before bound_of are proven, {open_cols} is the value of the "
                "mapping found (incumbent)")
    else:
        what = "incumbent is the accesses of the best mapping found (if any)"
    return (f"{cut} of {len(df)} rows stopped at the time limit (status time_limit, not exact): "
            f"{what}, best_bound a proven lower bound on it; a larger --time-limit (or inf) "
            "may prove them (exit status 1)")


def _plot(problems, frames, path: Path, unit: str, word_bits: int, floor: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report.plots import plot_curve, plot_floor

    fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    for p, df in zip(problems, frames):
        plot_curve(df, ax=ax, unit=unit, word_bits=word_bits, label=p.name or str(p))
        if floor:
            plot_floor(p, ax=ax, unit=unit, word_bits=word_bits,
                       label=f"{p.name or p}: no schedule moves less")
    fig.savefig(path, dpi=200)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
