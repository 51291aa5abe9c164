"""Random valid mappings of an Einsum onto a hierarchy, like Timeloop's random mapper.

A cloud of real mappings shows where a bound sits among what a mapper finds (Fig. 24b of the
Orojenesis paper: random Simba mappings against the curves). Every mapping here is a
:class:`~boundsolver.model.cost.Nest` of the hierarchy model (docs/hierarchy.md): perfect factors,
one storage boundary per on-chip level, each tensor kept where its level keeps it, spatial
fanout within each level's budget and ``arch.splits``. It is costed by ``cost.evaluate_levels``,
the same integers the exact bound is solved over, so no sample can lie below that bound.

**How a mapping is drawn.** Each rank's prime factors are dealt among its *slots*: the
temporal loops of every segment, the fanout of every level that may split it, and the loops
below the deepest boundary. Timeloop deals them uniformly and rejects mappings that overflow a
buffer; on Simba with a 128-word global buffer almost every such draw overflows (4096 = 2^12
per rank, eight slots). So the slots are filled from the innermost outwards, each prime offered
to the current slot with the probability a uniform deal would give it (one over the slots left);
an offered prime is taken only if the instance tile it grows still fits every level at or above
that boundary (occupancy only grows outwards, so this is necessary) and the fanout budget holds,
else it moves outwards; the outermost loops take what is left. Every proposal therefore fits by
construction. The distribution is biased towards small inner tiles where capacities bind and is
not uniform over valid mappings: the cloud shows *some* valid mappings, it bounds nothing.

**Rejection.** Each proposal is re-costed in full and rejected if a fixed level or the swept
level overflows (a guard on the construction: it never happened in the tests) or, with
``distinct``, if it repeats an earlier one (equal nests cost the same and would hide each other
in a plot). If ``tries`` proposals give fewer than ``count`` mappings, :func:`sample` raises.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, replace

import pandas as pd

from ..errors import SamplingError
from ..model.arch import Arch
from ..model.cost import LevelCost, Nest, evaluate_levels
from ..model.einsum import Einsum
from ..model.results import level_row
from ..model.symbolic import prime_exponents
from .hierarchy import check, fits


@dataclass(frozen=True)
class _Plan:
    """What every proposal needs, computed once: the primes of each rank, each level's
    capacity (the swept one's from ``capacity``) and kept tensors, fanouts and splits; then
    (:func:`_plan`) each kept tensor's footprint as a product of ranks where its axes are plain,
    the slots of every stage open to each rank, and how many slots each rank has in all."""

    ranks: tuple[str, ...]
    primes: dict[str, tuple[int, ...]]
    caps: tuple[int | None, ...]
    kept: tuple[tuple, ...]
    fanouts: tuple[int, ...]
    splits: tuple[frozenset, ...]
    storage: tuple[tuple[str, int], ...]
    sized: tuple[tuple, ...] = ()  # per fixed-capacity level: (capacity, footprint rules)
    stages: tuple = ()  # (boundary, {rank: its open slots}) per stage, innermost first
    slots: tuple[tuple[str, int], ...] = ()  # rank -> its open slots over every stage

    def fits(self, tile: dict[str, int], upto: int) -> bool:
        """Levels 1..upto hold their tensors' footprints over ``tile`` (an inner tile's
        footprint never exceeds an outer one's, so failing here rules the draw out)."""
        for level, cap, rules in self.sized:
            if level >= upto:
                break
            words = 0
            for rule in rules:
                if isinstance(rule, tuple):
                    n = 1
                    for d in rule:
                        n *= tile[d]
                    words += n
                else:
                    words += rule.footprint(tile)
            if words > cap:
                return False
        return True


def _rule(T) -> tuple[str, ...] | object:
    """How :meth:`_Plan.fits` takes ``T``'s footprint: the ranks whose tiles multiply to it
    where every axis is plain (the draw's hot loop), else the tensor itself (sliding windows)."""
    if all(a.is_plain for a in T.axes):
        return tuple(a.terms[0].rank for a in T.axes)
    return T


def _primes(n: int) -> tuple[int, ...]:
    """Prime factors of ``n`` with multiplicity."""
    return tuple(p for p, e in prime_exponents(n).items() for _ in range(e))


def _plan(problem: Einsum, arch: Arch, capacity: int | None) -> _Plan:
    """Precompute the plan; refuse at once where not even one-word tiles fit."""
    check(problem, arch)
    on_chip = arch.on_chip
    caps = tuple(capacity if lv.sweep else lv.capacity for lv in on_chip)
    kept = tuple(tuple(T for T in problem.tensors if lv.keeps_tensor(problem, T)) for lv in on_chip)
    plan = _Plan(problem.ranks, {d: _primes(n) for d, n in problem.size.items()}, caps, kept,
                 arch.fanouts, tuple(frozenset(arch.splits(problem, b))
                                     for b in range(1, len(on_chip) + 1)),
                 tuple((T.name, b) for T in problem.tensors
                       for b, lv in enumerate(on_chip, start=1) if lv.keeps_tensor(problem, T)))
    sized = tuple((i, cap, tuple(_rule(T) for T in tensors))
                  for i, (cap, tensors) in enumerate(zip(caps, kept)) if cap is not None)
    plan = replace(plan, sized=sized)
    stages = tuple((b, {d: _slots(plan, d, slots) for d in plan.ranks})
                   for b, slots in _stages(plan))
    plan = replace(plan, stages=stages, slots=tuple(
        (d, sum(len(opened[d]) for _, opened in stages)) for d in plan.ranks))
    if not plan.fits(dict.fromkeys(problem.ranks, 1), len(on_chip)):
        raise SamplingError(f"no mapping of {problem.name or problem} fits {arch.name}: some "
                            f"level holds less than its tensors' one-word tiles (capacities "
                            f"{caps}, words per instance)")
    return plan


def _stages(plan: _Plan) -> list[tuple[int, list[tuple[str, int]]]]:
    """Slots filled together, innermost first, as (boundary whose instance tile they complete,
    slots): ("res", k) below the deepest boundary, then per b = k-1..0 the fanout of level b+1
    ("s", b+1, if it may split the rank) and segment b's loops ("t", b)."""
    k = len(plan.caps)
    out = [(k, [("res", k)])]
    for b in range(k - 1, -1, -1):
        out.append((b, [("s", b + 1), ("t", b)]))
    return out


def _slots(plan: _Plan, d: str, slots: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The slots of a stage open to rank ``d`` (a fanout only where the level splits ``d``)."""
    return [s for s in slots if s[0] != "s" or (plan.fanouts[s[1] - 1] > 1
                                                  and d in plan.splits[s[1] - 1])]


def _deal(plan: _Plan, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """One proposal's factors: per boundary b = 1..k the instance tile, per level its fanout
    (rank -> factor), per segment its trips; every tile fits (see the module docstring)."""
    k = len(plan.caps)
    left = dict(plan.slots)
    units = [(d, p) for d in plan.ranks for p in plan.primes[d]]
    tile = dict.fromkeys(plan.ranks, 1)
    spatial = [dict.fromkeys(plan.ranks, 1) for _ in range(k)]
    trips = [dict.fromkeys(plan.ranks, 1) for _ in range(k)]
    tiles: list[dict] = [{}] * (k + 1)
    randrange = rng.randrange
    for b, opened in plan.stages:
        offered, kept = [], []
        for d, p in units:
            mine = opened[d]
            u = randrange(left[d])
            (offered if u < len(mine) else kept).append((d, p, mine[u] if u < len(mine) else None))
        rng.shuffle(offered)
        for d, p, (kind, at) in offered:
            if not _take(plan, tile, spatial, trips, d, p, kind, at, b):
                kept.append((d, p, None))
        for d in plan.ranks:
            left[d] -= len(opened[d])
        units = [(d, p) for d, p, _ in kept]
        if b:
            tiles[b] = dict(tile)
    for d, p in units:  # the outermost loops take what is left
        trips[0][d] *= p
    return tiles, spatial, trips


def _take(plan: _Plan, tile: dict, spatial: list, trips: list, d: str, p: int, kind: str,
          at: int, b: int) -> bool:
    """Give prime ``p`` of ``d`` to a slot if the fanout budget and every level at or above
    boundary ``b`` still hold; growing the instance tile at ``b`` is what costs capacity."""
    if kind == "s" and math.prod(spatial[at - 1].values()) * p > plan.fanouts[at - 1]:
        return False
    if b == 0:  # segment 0 and level 1's fanout lie above every buffer
        (spatial[at - 1] if kind == "s" else trips[0])[d] *= p
        return True
    tile[d] *= p
    if not plan.fits(tile, b):
        tile[d] //= p
        return False
    if kind == "s":
        spatial[at - 1][d] *= p
    elif kind == "t":
        trips[at][d] *= p
    return True


def propose(plan: _Plan, rng: random.Random) -> Nest:
    """One random nest: dealt factors, global tiles (instance tile times every fanout at or
    above the level), a random order of each segment's iterating loops."""
    tiles, spatial, trips = _deal(plan, rng)
    k = len(plan.caps)
    levels, cover = [], dict.fromkeys(plan.ranks, 1)
    for b in range(1, k + 1):
        for d, s in spatial[b - 1].items():
            cover[d] *= s
        levels.append(tuple((d, tiles[b][d] * cover[d]) for d in plan.ranks))
    orders = []
    for s in range(k):
        looping = [d for d in plan.ranks if trips[s][d] > 1]
        rng.shuffle(looping)
        orders.append(tuple(looping))
    fanned = any(f > 1 for f in plan.fanouts)
    sp = tuple(tuple((d, f) for d, f in level.items() if f > 1) for level in spatial)
    return Nest(tuple(levels), tuple(orders), plan.storage, sp if fanned else ())


def sample_nests(problem: Einsum, arch: Arch, count: int, capacity: int | None = None,
                 seed: int = 0, tries: int | None = None,
                 distinct: bool = True) -> tuple[list[tuple[Nest, LevelCost]], dict]:
    """Up to ``count`` valid (nest, cost) pairs and what it took (proposals, rejections);
    :func:`sample` is the table of them. Deterministic for a seed."""
    plan = _plan(problem, arch, capacity)
    rng = random.Random(seed)
    tries = 20 * count + 100 if tries is None else tries
    swept = arch.swept_index
    found, seen, overflow, repeats, proposals = [], set(), 0, 0, 0
    while len(found) < count and proposals < tries:
        proposals += 1
        nest = propose(plan, rng)
        if distinct and nest in seen:
            repeats += 1
            continue
        cost = evaluate_levels(problem, nest, multicast=arch.multicast)
        if not fits(cost, arch) or (capacity is not None and swept is not None
                                    and cost.occupancy[swept] > capacity):
            overflow += 1
            continue
        seen.add(nest)
        found.append((nest, cost))
    return found, {"proposals": proposals, "rejected_overflow": overflow,
                   "rejected_repeat": repeats}


def sample(problem: Einsum, arch: Arch, count: int, capacity: int | None = None, seed: int = 0,
           tries: int | None = None, distinct: bool = True) -> pd.DataFrame:
    """``count`` random valid mappings of ``problem`` on ``arch`` (module docstring: how, and
    what is rejected), the swept level's occupancy at most ``capacity`` words if given.

    Columns (words): ``occupancy`` (the swept level's), ``accesses`` (the backing store's),
    ``occupancy_<level>`` (one instance) and ``accesses_<level>`` (into it from its parent) per
    on-chip level, ``total_words`` (every on-chip level's occupancy times its instances), and
    ``mapping``. Raises :class:`SamplingError` if ``tries`` proposals (default ``20 * count +
    100``) give fewer than ``count``, e.g. a small problem with fewer distinct mappings."""
    began = time.perf_counter()
    found, stats = sample_nests(problem, arch, count, capacity, seed, tries, distinct)
    if len(found) < count:
        raise SamplingError(f"found {len(found)} of {count} valid "
                            f"{'distinct ' if distinct else ''}mappings of "
                            f"{problem.name or problem} on {arch.name} in {stats['proposals']} "
                            f"proposals ({stats}); raise tries, lower count"
                            + (" or pass distinct=False" if distinct else ""))
    df = pd.DataFrame([_row(problem, arch, n, c) for n, c in found])
    df.attrs |= {"problem": str(problem), "arch": arch.name, "capacity": capacity, "seed": seed,
                 "unit": "words", "seconds": time.perf_counter() - began} | stats
    return df


def _row(problem: Einsum, arch: Arch, nest: Nest, cost: LevelCost) -> dict:
    """One table row (the columns of joint.frame, plus total on-chip words)."""
    row = level_row(problem, arch, nest, cost)
    mapping = row.pop("mapping")
    row["total_words"] = sum(o * lv.instances for lv, o in zip(arch.on_chip, cost.occupancy))
    return row | {"mapping": mapping}
