"""Per-layer bounds of a whole network (an ONNX workload) and the network's curve.

``network_table`` gives one row per layer (op, shape, MACs, tensor sizes, algorithmic minimum,
maximal effectual buffer, and traffic and operational intensity at given capacities), each
layer's frontier traced alone with the whole buffer. Identical layers (the same Einsum up to
tensor and rank names, with the same sizes) are solved once. ``network_curves`` gives the
whole network's curve, unfused (every layer alone: the sum of the layers' curves) and, on
request, fused (slow on big networks).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence

import pandas as pd

from ..curves.batch import solve_curves
from ..curves.cache import Cache
from ..curves.fused import workload_mapspace
from ..curves.methods import DEFAULT
from ..curves.solve import solve_curve
from ..model.cost import algorithmic_minimum
from ..model.einsum import Axis, Einsum, Tensor, Term
from ..model.mapspace import Mapspace
from ..model.workload import Workload
from .metrics import max_effectual_buffer


def canonical(e: Einsum) -> Einsum:
    """``e`` with tensors named ``T0..`` (output last) and ranks ``r0..`` in order of appearance:
    two layers that differ only in names get the same canonical Einsum (and the same frontier,
    up to the names in its ``reads_``/``writes_``/``tile_`` columns)."""
    ranks = canonical_ranks(e)

    def rename(t: Tensor, name: str) -> Tensor:
        return Tensor(name, tuple(Axis(tuple(Term(ranks[x.rank], x.coef) for x in a.terms))
                                  for a in t.axes))

    inputs = tuple(rename(t, f"T{i}") for i, t in enumerate(e.inputs))
    output = rename(e.output, f"T{len(inputs)}")
    sizes = tuple(sorted(((ranks[r], n) for r, n in e.sizes), key=lambda x: int(x[0][1:])))
    return Einsum(output, inputs, sizes)


def canonical_ranks(e: Einsum) -> dict[str, str]:
    """``e``'s rank names -> ``canonical(e)``'s (``r0..`` in order of appearance)."""
    ranks: dict[str, str] = {}
    for t in e.tensors:
        for r in t.ranks:
            ranks.setdefault(r, f"r{len(ranks)}")
    for r in e.ranks:
        ranks.setdefault(r, f"r{len(ranks)}")
    return ranks


def named_mapping(text: str, e: Einsum) -> str:
    """A mapping of ``canonical(e)`` (``for r0 in ...: [T1{r0:1}]``) in ``e``'s own rank and
    tensor names: every ``r<i>`` and ``T<i>`` is replaced in one pass, so a real rank named
    ``r1`` is never renamed twice."""
    back = {c: r for r, c in canonical_ranks(e).items()}
    back |= {f"T{i}": t.name for i, t in enumerate((*e.inputs, e.output))}
    return re.sub(r"\b[rT]\d+\b", lambda m: back.get(m.group(), m.group()), text)


def _key(e: Einsum) -> tuple:
    return (str(e), e.sizes)


def _at(frontier: pd.DataFrame, capacity: float) -> pd.Series | None:
    """The breakpoint answering ``capacity``: the last one at or below it (None: infeasible)."""
    rows = frontier[frontier["occupancy"] <= capacity]
    return None if rows.empty else rows.loc[rows["occupancy"].idxmax()]


def _cap_label(c: float) -> str:
    return str(int(c))


def network_table(workload: Workload, capacities: Sequence[float] = (), *,
                  mapspace: Mapspace | str | None = None, method: str = DEFAULT,
                  solver: str = "highs", cache: bool | Cache = True, executor=None,
                  parallel: bool = False, progress: bool = True,
                  force_rerun: bool = False) -> pd.DataFrame:
    """One row per layer of ``workload`` (an :class:`OnnxWorkload`, or any workload).

    Columns: ``layer``, ``node``, ``op_type``, ``kind``, ``einsum``, ``shape`` (rank sizes),
    ``macs`` (true MACs: 0 for passes), ``padding_words``, ``tensors`` ("name:words, ..."),
    ``input_words``, ``output_words``, ``algorithmic_minimum``, ``max_effectual_buffer``,
    ``breakpoints``, ``solved_as`` (the first layer of its identical group), and per capacity C
    ``accesses_at_C`` and ``op_intensity_at_C`` (NaN below the layer's least occupancy).
    Operational intensity is (2·MACs − |O|) / accesses with the layer's true MACs (0 for a pass).

    Each distinct layer's frontier is traced once (``mapspace`` defaults to the workloads'
    per-tensor placement, so the unfused network curve is the sum of these rows); ``cache`` and
    ``force_rerun`` as in ``solve_curves``; serially by default, or in a process pool
    (``parallel=True``, or any ``executor``). ``table.attrs``: ``distinct``, ``solves``,
    ``seconds``, ``layer_seconds``, ``frontiers`` (each distinct layer's (occupancy, accesses)
    breakpoints) and ``mappings`` (each breakpoint's mapping, in the layer's own rank names).
    """
    space = workload_mapspace(mapspace)
    caps = [int(c) for c in capacities]
    layers = list(getattr(workload, "layers", ()))
    if not layers:  # a plain workload: every Einsum a MAC layer
        layers = [None] * len(workload.einsums)
    einsums = list(workload.einsums)
    canon = [canonical(e) for e in einsums]
    groups: dict[tuple, int] = {}
    first = []
    for i, c in enumerate(canon):
        first.append(groups.setdefault(_key(c), i))
    distinct = sorted(set(first))
    began = time.perf_counter()
    seconds: dict[int, float] = {}
    opts = dict(solver=solver, method=method, cache=cache, mapspace=space, force_rerun=force_rerun)
    if parallel or executor is not None:
        frames = solve_curves([canon[i] for i in distinct], None, executor=executor,
                              progress=progress, **opts)
        fronts = dict(zip(distinct, frames))
    else:
        from tqdm.auto import tqdm

        fronts = {}
        for i in tqdm(distinct, desc="layers", unit="layer", disable=not progress, leave=False):
            t = time.perf_counter()
            fronts[i] = solve_curves([canon[i]], None, progress=False, **opts)[0]
            seconds[i] = time.perf_counter() - t
    rows = []
    for i, e in enumerate(einsums):
        lay = layers[i]
        macs = e.macs if lay is None else lay.macs
        front = fronts[first[i]]
        out = e.tensor_size(e.output)
        row = {"layer": e.name, "node": e.name if lay is None else lay.node,
               "op_type": "Einsum" if lay is None else lay.op_type,
               "kind": "mac" if lay is None else lay.kind, "einsum": str(e),
               "shape": " ".join(f"{r}={n}" for r, n in e.sizes), "macs": macs,
               "padding_words": 0 if lay is None else lay.padding_words,
               "tensors": ", ".join(f"{t.name}:{e.tensor_size(t)}" for t in e.tensors),
               "input_words": sum(e.tensor_size(t) for t in e.inputs), "output_words": out,
               "algorithmic_minimum": algorithmic_minimum(e),
               "max_effectual_buffer": max_effectual_buffer(front),
               "breakpoints": len(front), "solved_as": einsums[first[i]].name}
        for c in caps:
            point = _at(front, c)
            acc = math.nan if point is None else int(point["accesses"])
            row[f"accesses_at_{_cap_label(c)}"] = acc
            row[f"op_intensity_at_{_cap_label(c)}"] = (
                math.nan if point is None else (2 * macs - out) / acc if macs else 0.0)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(distinct=len(distinct), solves=len(distinct),
                       seconds=time.perf_counter() - began,
                       layer_seconds={einsums[i].name: s for i, s in seconds.items()},
                       frontiers={einsums[i].name: [(int(o), int(a)) for o, a in zip(
                           fronts[i]["occupancy"], fronts[i]["accesses"])] for i in distinct},
                       mappings={einsums[i].name: [named_mapping(str(m), einsums[i]) for m in
                                                   fronts[i].get("mapping", ())]
                                 for i in distinct})
    return table


def network_frontier(table: pd.DataFrame) -> pd.DataFrame:
    """Every breakpoint of the unfused network staircase (every layer alone with the whole
    buffer: the sum of the layers' staircases), from ``network_table``'s frontiers. Columns
    ``occupancy`` (the buffer it needs: the largest layer's), ``accesses``, ``status``."""
    import numpy as np

    fronts = table.attrs["frontiers"]
    stairs = {k: (np.array([o for o, _ in v], dtype=np.int64), np.array([a for _, a in v],
                                                                        dtype=np.int64))
              for k, v in fronts.items()}
    counts = table["solved_as"].value_counts()
    start = max(occ[0] for occ, _ in stairs.values())
    caps = np.unique(np.concatenate([occ for occ, _ in stairs.values()]))
    caps = caps[caps >= start]
    total = np.zeros(len(caps), dtype=object)  # Python integers: no overflow
    for k, (occ, acc) in stairs.items():
        total += acc[np.searchsorted(occ, caps, side="right") - 1].astype(object) * int(counts[k])
    keep = np.ones(len(caps), bool)
    keep[1:] = total[1:] < total[:-1]
    return pd.DataFrame({"occupancy": caps[keep], "accesses": list(total[keep]),
                         "status": "optimal"})


def network_curves(workload: Workload, capacities: Sequence[float], fusion: bool = False, *,
                   table: pd.DataFrame | None = None, mapspace: Mapspace | str | None = None,
                   method: str = DEFAULT, solver: str = "highs", max_depth: int = 3,
                   cache: bool | Cache = True, progress: bool = False,
                   fused_frontier: pd.DataFrame | None = None) -> dict[bool, pd.DataFrame]:
    """The whole network's curve at ``capacities``: ``{False: unfused}`` and with ``fusion=True``
    also ``{True: fused}``. Rows: ``capacity``, ``accesses``, ``status``, ``op_intensity``
    (the workloads' (2·Σ iterations − Σ|O|) / accesses, as ``solve_curve`` of a workload).

    Unfused, every layer runs alone with the whole buffer, so the curve is the sum over layers of
    their curves: read here from ``table`` (``network_table`` at these capacities, computed if not
    given), which equals ``bs.solve_curve(workload, caps, fusion=False)`` (tests hold it to that)
    without that call's search over cuts, cubic in the number of layers (ResNet-50: 174 layers,
    about 100 s against 2.6 s). Fused, ``bs.solve_curve(workload, caps, fusion=True)``: its
    search over loop trees grows with the network's length and is slow on big networks, hence
    opt-in; ``fused_frontier`` (``bs.pareto_frontier(workload, fusion=True)``, e.g. to draw every
    breakpoint) is read at the capacities instead of solving again."""
    caps = [int(c) for c in capacities]
    if table is None:
        table = network_table(workload, caps, mapspace=mapspace, method=method, solver=solver,
                              cache=cache, progress=progress)
    ops = sum(2 * e.macs - e.tensor_size(e.output) for e in workload.einsums)
    rows = []
    for c in caps:
        col = f"accesses_at_{_cap_label(c)}"
        if col not in table.columns:
            raise ValueError(f"the table has no column {col}: build it at these capacities")
        if table[col].isna().any():
            rows.append({"capacity": c, "accesses": math.nan, "status": "infeasible",
                         "op_intensity": math.nan})
        else:
            acc = int(table[col].sum())
            rows.append({"capacity": c, "accesses": acc, "status": "optimal",
                         "op_intensity": ops / acc})
    unfused = pd.DataFrame(rows)
    unfused.attrs.update(name=f"{workload.name} unfused",
                         algorithmic_minimum=workload.unfused_minimum)
    out = {False: unfused}
    if fusion and fused_frontier is not None:
        rows = []
        for c in caps:
            point = _at(fused_frontier, c)
            rows.append({"capacity": c, "status": "infeasible"} if point is None else
                        {"capacity": c, **point.to_dict()})
        out[True] = pd.DataFrame(rows)
    elif fusion:
        out[True] = solve_curve(workload, caps, solver=solver, fusion=True, mapspace=mapspace,
                                method=method, max_depth=max_depth)
    return out
