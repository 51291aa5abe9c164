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

from ..errors import BoundsolverError, EinsumError
from ..milp.solvers import solver_name
from ..model.einsum import Einsum
from ..model.mapspace import Mapspace
from ..model.workload import Workload
from .fused import check_translate, workload_curve, workload_frontier
from .methods import AUTO_ENUMERATION, DEFAULT, METHODS, check_method, choose_method
from .points import Answer, Point, PointSolver, curve, frontier, walk

__all__ = ["AUTO_ENUMERATION", "DEFAULT", "METHODS", "Answer", "Point", "PointSolver",
           "choose_method", "pareto_frontier", "solve_curve", "walk"]


def _capacity(c: object) -> int:
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c <= 0:
        raise BoundsolverError(f"capacity must be a positive number of words, got {c!r}")
    if c < 1:
        raise BoundsolverError(f"capacity {c!r} is below one word")
    if c > 2**63 - 1:  # the solvers and the frames count in int64
        raise BoundsolverError(
            f"capacity {c:,} is over the signed 64-bit limit ({2**63 - 1:,} words); a capacity "
            "at or above a problem's largest useful buffer (its tensors' total size) answers the "
            "same as that buffer, so ask for that one")
    return int(math.floor(c))


def solve_curve(problem: Einsum | Workload, capacities: Iterable[float], *,
                mapspace: Mapspace | str | None = None, method: str = DEFAULT,
                solver: str = "highs", time_limit: float | None = None, progress: bool = False,
                fusion: bool | None = None, max_depth: int | None = None,
                translate: bool | None = None,
                arch=None, lower_bound: bool = False,
                inner_storage: bool | None = None, workers: int | None = None) -> pd.DataFrame:
    """Least accesses at each capacity (words), one row per capacity in the given order.

    ``lower_bound=True`` adds the any-schedule floor at each row's capacity and ``gap`` =
    accesses / floor (:func:`boundsolver.lower_bound`, docs/lower_bounds.md); off by default
    because on GEMMs the floor costs about as much as the enumerated curve itself (GEMM 4096^3:
    0.10 s against 0.07 s), which the default path should not pay unasked.

    Everything after ``capacities`` is keyword-only, and an option that does not apply to the
    problem is refused (:class:`BoundsolverError`), never ignored.

    ``method``: "auto" (the default everywhere: the faster exact method, enumeration where its
    estimated work is small, else the MILP; methods.py), "milp" (one integer program per
    question) or "enumerate" (the exhaustive reference, vectorised). Both give the same
    staircase; every point of either is rebuilt as a mapping and re-costed in Python integers.
    ``solver`` names the MILP's backend (checked even where enumeration runs).

    ``arch`` (an :class:`Arch`, a packaged name or a YAML path): a hierarchy of several levels gives the
    exact joint bound over the swept level's capacity (hierarchy.py; rows carry
    ``occupancy_<level>`` and ``accesses_<level>``); the paper's one-buffer machine changes
    nothing. An arch with no swept level has no capacities to sweep: refused here
    (:func:`pareto_frontier` gives its bound at the fixed capacities). On a hierarchy the
    default mapspace is per-tensor placement within every level (``joint.DEFAULT_MAPSPACE``,
    AccelForge's; ``mapspace="uniform/perfect"``: Timeloop's), and ``attrs["mapspace"]`` says
    which one ran. Without ``time_limit``, where "auto" takes the per-tensor MILP (the
    enumerators declined) it gets ``joint.DEFAULT_TIME_LIMIT`` seconds per capacity, a
    capacity it cuts a ``time_limit`` row; ``time_limit=math.inf`` waits for every proof.

    For a :class:`Workload`, ``fusion=True`` (the default) searches fused mappings (loop trees
    with up to ``max_depth`` nested loops, default 3, each over a different rank) and
    ``fusion=False`` runs every Einsum alone (docs/fusion.md); ``method`` says how per-Einsum
    curves are traced. Workloads default to per-tensor placement inside each Einsum
    (``mapspace="uniform/perfect"``: the Orojenesis inner mapspace). On a hierarchy a workload
    runs unfused unless ``fusion=True``, which searches loop trees whose tensors live in the
    outer, swept level, each leaf a joint nest on the inner levels (per-tensor placement by
    default, as every hierarchy; docs/fusion.md, "On hierarchies"), and the tree's stored
    tensors may also live in inner levels across leaf invocations (``inner_storage``, None by
    default: on wherever the arch has a level inside the swept one; docs/fusion.md, "Tree tiles
    in inner levels"). ``inner_storage=False`` keeps the older, smaller mapspace (tree tensors
    in the swept level only); ``inner_storage=True`` is refused where it does not apply.
    ``workers`` (fused workloads on one buffer): at most this many processes solve the
    workload's connected regions apart (docs/fusion.md, "Regions in parallel"; 1: one process;
    None, the default: a pool only where two or more regions are large); the curve is the same
    either way. ``translate`` (fused workloads, on one buffer or a hierarchy): None, the default,
    also searches translated loops where they are modelled (perfect shared tiles; on a
    hierarchy, no level naming ``spatial_ranks``: docs/fusion.md, "Translated loops"); False the
    mapspace without them (a higher or equal curve, cheaper); True them, refusing a mapspace
    where they are not modelled.

    Capacities are floored to whole words. A capacity below the smallest possible occupancy gives a
    row with status ``infeasible``; a solve cut by ``time_limit`` (seconds per capacity; a single
    Einsum by the MILP only, so "auto" with a time limit is the MILP) gives a row with status
    ``time_limit``, its best bound and incumbent. ``progress``: a progress bar (a single Einsum
    only). A point solved at capacity S with occupancy o answers every capacity in [o, S]
    exactly (the curve is a staircase).
    """
    if isinstance(capacities, (str, bytes)) or not isinstance(capacities, Iterable):
        raise BoundsolverError(f"capacities must be a sequence of numbers, got {capacities!r}")
    caps = [_capacity(c) for c in capacities]
    arch = _arch(arch)
    method = _options(problem, arch, method, solver, time_limit, progress, fusion, max_depth,
                      workers)
    _check_translate(problem, arch, fusion, translate)
    if arch is not None and arch.swept is None:
        raise BoundsolverError(
            f"{arch.name} has no swept level (every capacity is fixed), so capacities "
            f"{caps[:3]}{'...' if len(caps) > 3 else ''} would sweep nothing: call "
            "pareto_frontier(..., arch=...) for its bound at the fixed capacities, or give one "
            "level 'capacity: sweep'")
    hierarchy = _hierarchy(problem, arch, method, mapspace, fusion, max_depth, inner_storage,
                           translate)
    if hierarchy is not None:
        out = hierarchy(problem, arch, caps, method=method, solver=solver,
                        **({} if time_limit is None else {"time_limit": time_limit}))
    elif isinstance(problem, Workload):
        out = workload_curve(problem, caps, fusion is not False, solver, mapspace, method,
                             _depth(max_depth), time_limit=time_limit, workers=workers,
                             translate=translate)
    else:
        out = curve(problem, caps, solver, time_limit, progress, mapspace, method)
    return _floored(out, problem, arch, lower_bound)


def pareto_frontier(problem: Einsum | Workload, *, mapspace: Mapspace | str | None = None,
                    method: str = DEFAULT, solver: str = "highs",
                    time_limit: float | None = None, progress: bool = False,
                    fusion: bool | None = None, max_depth: int | None = None,
                    translate: bool | None = None,
                    arch=None, lower_bound: bool = False,
                    inner_storage: bool | None = None, workers: int | None = None) -> pd.DataFrame:
    """Every breakpoint of the staircase, in increasing occupancy (options as in
    :func:`solve_curve`, all keyword-only; ``lower_bound=True``: the floor at each breakpoint's
    occupancy and the gap).

    A :class:`Workload` gives its fused (``fusion=True``, the default) or unfused frontier, each
    breakpoint with its schedule and every Einsum's mapping. An ``arch`` whose one buffer has a
    fixed capacity gives the breakpoints that fit it (the last one is the bound there).

    The MILP walks from the largest capacity down: least accesses A under capacity S, then
    least occupancy o with accesses <= A gives the breakpoint (o, A); continue with S = o - 1
    until infeasible. A time limit ends the walk with a ``time_limit`` row.

    On a hierarchy the walk needs every point proven: a ``time_limit`` is refused there,
    except ``math.inf`` (no limit). Without it, where "auto" takes the per-tensor MILP, a
    point not proven in ``joint.DEFAULT_TIME_LIMIT`` seconds (or a walk past
    ``joint.DEFAULT_WALK_LIMIT``) raises :class:`~boundsolver.errors.ProofOutOfReach` (never
    a silent hours-long run); :func:`solve_curve` at chosen capacities then gives
    ``time_limit`` rows with proven bounds.
    """
    arch = _arch(arch)
    method = _options(problem, arch, method, solver, time_limit, progress, fusion, max_depth,
                      workers)
    _check_translate(problem, arch, fusion, translate)
    hierarchy = _hierarchy(problem, arch, method, mapspace, fusion, max_depth, inner_storage,
                           translate)
    if hierarchy is not None:
        if time_limit is not None and time_limit != math.inf:
            raise BoundsolverError(f"time_limit applies to {arch.name}'s bound at given "
                                   "capacities (solve_curve): its frontier is a walk of proven "
                                   "points, each needed for the next (time_limit=math.inf: "
                                   "no limit, wait for every proof)")
        limit = {} if time_limit is None else {"time_limit": time_limit}
        return _floored(hierarchy(problem, arch, method=method, solver=solver, **limit),
                        problem, arch, lower_bound)
    if isinstance(problem, Workload):
        front = workload_frontier(problem, fusion is not False, solver, mapspace, method,
                                  _depth(max_depth), time_limit=time_limit,
                                  workers=workers, translate=translate)
    else:
        front = frontier(problem, solver, time_limit, progress, mapspace, method)
    return _floored(_clipped(front, arch), problem, arch, lower_bound)


def _floored(frame: pd.DataFrame, problem, arch, lower_bound: bool) -> pd.DataFrame:
    """``frame`` with the floor and gap columns where asked (a hierarchy's floor is the backing
    store's, at every word inside it: model/lower.py)."""
    if not isinstance(lower_bound, bool):
        raise BoundsolverError(f"lower_bound must be True or False, got {lower_bound!r}")
    if not lower_bound:
        return frame
    from ..model.lower import with_lower_bound

    hierarchy = arch is not None and not arch.is_single_buffer
    return with_lower_bound(frame, problem, arch if hierarchy else None)


DEFAULT_DEPTH = 3  # loops nested in a fused loop tree (docs/fusion.md)


def _depth(max_depth: int | None) -> int:
    return DEFAULT_DEPTH if max_depth is None else max_depth


def _options(problem, arch, method, solver, time_limit, progress, fusion, max_depth,
             workers=None) -> str:
    """The checked method; refuses every option that does not apply to ``problem`` on ``arch``
    (an option quietly dropped would answer a question the caller did not ask)."""
    if not isinstance(problem, (Einsum, Workload)):
        raise EinsumError(f"expected an Einsum (bs.gemm, bs.conv, bs.einsum, ...) or a Workload, "
                          f"got {type(problem).__name__}")
    method = check_method(method)
    solver_name(solver)
    workload = isinstance(problem, Workload)
    levels = None if arch is None or arch.is_single_buffer else arch.name
    if fusion is not None and not workload:
        raise BoundsolverError("fusion= applies to workloads (bs.workload, load_problem of a "
                               "workload file), not to a single Einsum")
    if max_depth is not None and (not workload or fusion is False or (levels and not fusion)):
        where = ("a single Einsum" if not workload else "fusion=False" if fusion is False
                 else f"a workload on {levels} without fusion=True, whose Einsums then run "
                      "unfused")
        raise BoundsolverError(f"max_depth (loops nested in a fused loop tree) applies to fused "
                               f"workloads, not to {where}")
    if workers is not None and (not workload or fusion is False or levels):
        where = ("a single Einsum" if not workload else "fusion=False" if fusion is False
                 else f"a workload on {levels}")
        raise BoundsolverError(f"workers (processes solving a fused workload's connected "
                               f"regions) applies to fused workloads on one buffer, not to "
                               f"{where}")
    if time_limit is not None:
        if workload and levels and fusion:
            raise BoundsolverError("time_limit is not supported for fused workloads on a "
                                   "hierarchy: their curves are always solved to optimality")
        if workload and not levels and fusion is False:
            raise BoundsolverError("time_limit applies to a workload's fused search "
                                   "(fusion=True), which then stops with an error past it; "
                                   "the unfused curve always solves to optimality")
        if levels and method == "enumerate":
            raise BoundsolverError("time_limit applies to the MILP (method='milp' or 'auto'); "
                                   "enumeration always runs to the end")
    if not isinstance(progress, bool):
        raise BoundsolverError(f"progress must be True or False, got {progress!r}")
    if progress and (workload or levels):
        raise BoundsolverError(
            "progress applies to a single Einsum on one buffer; "
            + ("a workload's" if workload else f"the hierarchy {levels}'s")
            + " curve shows no progress bar")
    return method


def _clipped(front: pd.DataFrame, arch) -> pd.DataFrame:
    """The breakpoints that fit the one buffer's fixed capacity (all of them without one)."""
    if arch is None or arch.swept is not None:
        return front
    capacity = arch.levels[1].capacity
    fits = front["occupancy"].isna() | (front["occupancy"] <= capacity)
    out = front[fits.astype(bool)].reset_index(drop=True)
    out.attrs = front.attrs | {"arch": arch.name, "capacity": capacity}
    return out


def _arch(arch):
    from ..io.specs import load_arch
    from ..model.arch import Arch

    return arch if isinstance(arch, Arch) or arch is None else load_arch(arch)


def _check_translate(problem, arch, fusion, translate) -> None:
    """``translate`` is None, True or False, and given only where translated loops are searched:
    a fused workload, on one buffer or on a hierarchy (where fusion is ``fusion=True``; an
    arch whose levels name ``spatial_ranks`` refuses True: fused_levels). True on a mapspace
    where they are not modelled is refused by the search."""
    check_translate(translate)
    if translate is None:
        return
    levels = arch is not None and not arch.is_single_buffer
    if not isinstance(problem, Workload) or fusion is False or (levels and not fusion):
        where = ("a single Einsum" if not isinstance(problem, Workload) else "fusion=False"
                 if fusion is False else f"a workload on {arch.name} without fusion=True "
                                         "(unfused there by default)")
        raise BoundsolverError(f"translate (translated loops in fused trees) applies to fused "
                               f"workloads, not to {where}")


def _hierarchy(problem, arch, method, mapspace, fusion=None, max_depth=None,
               inner_storage=None, translate=None):
    """joint.solve with the mapspace's placement where ``arch`` has more than one buffer
    level (or bypass, or fanout); None for the paper's machine, whose curves are today's, bit
    for bit. The mapspace defaults to ``joint.DEFAULT_MAPSPACE`` (:func:`joint.hierarchy_mapspace`):
    per-tensor placement places each copy at its own depth within its level (levelnest.py or
    hierarchy.py's enumerators, else placement.py's MILP);
    ``mapspace="uniform/perfect"`` (Timeloop's) is enumerated (small problems) or solved by
    the multi-level MILP (levels.py). A workload runs its
    Einsums one after another by default (or ``fusion=False``); ``fusion=True`` searches fused
    loop trees whose tensors live in the outer, swept level (fused_levels.py, docs/fusion.md
    "On hierarchies"; other hierarchies are refused there, naming what is missing)."""
    arch = _arch(arch)
    if inner_storage is not None and inner_storage is not False and not (
            isinstance(problem, Workload) and fusion and arch is not None
            and not arch.is_single_buffer):
        raise BoundsolverError("inner_storage places a fused tree's tiles in inner levels: it "
                               "applies to a workload with fusion=True on an arch with levels "
                               "inside the swept one")
    if arch is None or arch.is_single_buffer:
        return None
    from functools import partial

    from . import joint

    space = joint.hierarchy_mapspace(mapspace)

    if isinstance(problem, Workload):
        if space.factors != "perfect":
            raise BoundsolverError(
                f"{arch.name} has several levels: a workload's joint bound there covers perfect "
                "factors; imperfect factors on hierarchies apply to a single Einsum "
                "(docs/hierarchy.md)")
        if fusion:
            from . import fused_levels

            return partial(fused_levels.solve, mapspace=space, max_depth=_depth(max_depth),
                           inner_storage=inner_storage, translate=translate)
        return partial(joint.solve_workload, placement=space.placement)
    # per_tensor: each copy at its own depth within its level (enumerated or the MILP);
    # imperfect: each rank's outermost split of any size (docs/hierarchy.md).
    return partial(joint.solve, placement=space.placement, factors=space.factors)
