"""The public entry points: ``solve_curve`` over capacities and the Pareto frontier, routed to
one Einsum on one buffer (points.py: the MILP's ``PointSolver`` or enumeration), workloads
(fused.py, which traces each Einsum with points.py) and hierarchies (hierarchy.py: enumeration or
levels.py's ``LevelSolver``). Both class MILPs are solved by one loop (tracer.py).

Every point is verified: the solver must prove optimality (gap 0), and the decoded mapping,
re-evaluated in Python integers by ``cost.evaluate``, must reproduce the solver's value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import pandas as pd

from ..errors import BoundsolverError
from ..model.einsum import Einsum
from ..model.mapspace import Mapspace, mapspace_of
from ..model.workload import Workload
from .fused import workload_curve, workload_frontier
from .points import (
    AUTO_ENUMERATION,
    METHODS,
    Answer,
    Point,
    PointSolver,
    choose_method,
    curve,
    frontier,
    walk,
)

__all__ = ["AUTO_ENUMERATION", "METHODS", "Answer", "Point", "PointSolver", "choose_method",
           "pareto_frontier", "solve_curve", "walk"]


def _capacity(c: object) -> int:
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c <= 0:
        raise BoundsolverError(f"capacity must be a positive number of words, got {c!r}")
    if c < 1:
        raise BoundsolverError(f"capacity {c!r} is below one word")
    return int(math.floor(c))


def solve_curve(problem: Einsum | Workload, capacities: Iterable[float], solver: str = "highs",
                time_limit: float | None = None, progress: bool = False,
                mapspace: Mapspace | str | None = None, fusion: bool | None = None,
                method: str | None = None, max_depth: int = 3, arch=None) -> pd.DataFrame:
    """Least accesses at each capacity (words), one row per capacity in the given order.

    ``arch`` (an :class:`Arch` or a name in ``arch/``): a hierarchy of several levels gives the
    exact joint bound over the swept level's capacity (hierarchy.py; rows carry
    ``occupancy_<level>`` and ``accesses_<level>``); the paper's one-buffer machine changes nothing.

    ``method``: "milp" (the default for an Einsum: one integer program per question),
    "enumerate" (the exhaustive reference, vectorised) or "auto" (enumeration where its
    estimated work is small, else the MILP; the default for workloads). Every point of either
    is rebuilt as a mapping and re-costed in Python integers.

    For a :class:`Workload`, ``fusion=True`` (the default) searches fused mappings (loop trees
    with up to ``max_depth`` nested loops, each over a different rank) and ``fusion=False`` runs
    every Einsum alone (docs/fusion.md); ``method`` says how per-Einsum curves are traced.
    Workloads default to per-tensor placement inside each Einsum (``mapspace="uniform/perfect"``:
    the Orojenesis inner mapspace).

    Capacities are floored to whole words. A capacity below the smallest possible occupancy gives a
    row with status ``infeasible``; a solve cut by ``time_limit`` (seconds per capacity) gives a row
    with status ``time_limit``, its best bound and incumbent. A point solved at capacity S with
    occupancy o answers every capacity in [o, S] exactly (the curve is a staircase).
    """
    if isinstance(capacities, (str, bytes)) or not isinstance(capacities, Iterable):
        raise BoundsolverError(f"capacities must be a sequence of numbers, got {capacities!r}")
    caps = [_capacity(c) for c in capacities]
    hierarchy = _hierarchy(problem, arch, method, mapspace, fusion)
    if hierarchy is not None:
        return hierarchy(problem, _arch(arch), caps, method=method, solver=solver)
    if _is_workload(problem, fusion, time_limit):
        return workload_curve(problem, caps, fusion is not False, solver, mapspace,
                              method or "auto", max_depth)
    return curve(problem, caps, solver, time_limit, progress, mapspace, method)


def pareto_frontier(problem: Einsum | Workload, solver: str = "highs",
                    time_limit: float | None = None, progress: bool = False,
                    mapspace: Mapspace | str | None = None, fusion: bool | None = None,
                    method: str | None = None, max_depth: int = 3, arch=None) -> pd.DataFrame:
    """Every breakpoint of the staircase, traced by the MILP (ε-constraint walk).

    A :class:`Workload` gives its fused (``fusion=True``, the default) or unfused frontier, each
    breakpoint with its schedule and every Einsum's mapping (see :func:`solve_curve`).

    From the largest capacity down: least accesses A under capacity S, then least occupancy o with
    accesses <= A gives the breakpoint (o, A); continue with S = o - 1 until infeasible. Rows are
    in increasing occupancy. A time limit ends the walk with a ``time_limit`` row.
    """
    hierarchy = _hierarchy(problem, arch, method, mapspace, fusion)
    if hierarchy is not None:
        return hierarchy(problem, _arch(arch), method=method, solver=solver)
    if _is_workload(problem, fusion, time_limit):
        return workload_frontier(problem, fusion is not False, solver, mapspace,
                                 method or "auto", max_depth)
    return frontier(problem, solver, time_limit, progress, mapspace, method)


def _arch(arch):
    from ..io.specs import load_arch
    from ..model.arch import Arch

    return arch if isinstance(arch, Arch) or arch is None else load_arch(arch)


def _hierarchy(problem, arch, method, mapspace, fusion=None):
    """joint.solve with the mapspace's placement where ``arch`` has more than one buffer
    level (or bypass, or fanout); None for the paper's machine, whose curves are today's, bit
    for bit. Its joint bound is enumerated (small problems) or solved by the multi-level MILP
    (levels.py);
    ``mapspace="per_tensor/perfect"`` places each copy at its own depth within its level
    (hierarchy.py per_tensor_points for small problems, else placement.py's MILP). A workload runs its
    Einsums one after another (``fusion=False``; fused mappings on hierarchies are refused)."""
    arch = _arch(arch)
    if arch is None or arch.is_single_buffer:
        return None
    space = mapspace_of(mapspace)
    if space.factors != "perfect":
        raise BoundsolverError(
            f"{arch.name} has several levels: its joint bound covers perfect factors (uniform "
            "or per_tensor placement within each level); richer inner mapspaces are not "
            "modelled on hierarchies yet")
    from functools import partial

    from . import joint

    if isinstance(problem, Workload):
        if fusion:
            raise BoundsolverError(
                f"fused mappings on a multi-level architecture ({arch.name}) are not modelled "
                "yet; pass fusion=False (each Einsum alone on the hierarchy, summed)")
        return partial(joint.solve_workload, placement=space.placement)
    # per_tensor: each copy at its own depth within its level (enumerated or the MILP).
    return partial(joint.solve, placement=space.placement)


def _is_workload(problem, fusion, time_limit) -> bool:
    if not isinstance(problem, Workload):
        if fusion is not None:
            raise BoundsolverError("fusion= applies to workloads (bs.workload, load_problem of a "
                                   "workload file), not to a single Einsum")
        return False
    if time_limit is not None:
        raise BoundsolverError("time_limit is not supported for workloads: their curves are "
                               "always solved to optimality")
    return True
