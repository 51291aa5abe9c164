"""The mapspaces, as constraints on the one nest (cost.py): which mappings a curve ranges over.

A mapspace is a placement (``uniform``: every tensor at one boundary; ``per_tensor``: each at its
own) and a factor rule (``perfect`` tiles divide their rank; ``imperfect`` ones need not at the
outermost split). What the solvers and the enumerators search within it are *classes*: an
:class:`OrderClass` says what a segment's loop order means for traffic (each tensor's innermost
relevant loop and the irrelevant loops above it), a :class:`NestClass` adds which tensors share
each storage boundary. Every searcher (the MILP generator, the enumerators) takes its classes
from here, so they search the same space by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import permutations, product

from typing import TYPE_CHECKING

from ..errors import BoundsolverError, EnumerationTooLarge
from .einsum import Einsum, Tensor

if TYPE_CHECKING:
    from .arch import Arch

PLACEMENTS = ("uniform", "per_tensor")
MAX_IMPERFECT_SIZE = 10**12  # about 2 million tile sizes for one rank



FACTORS = ("perfect", "imperfect")



@dataclass(frozen=True)
class Mapspace:
    """Which mappings a curve ranges over. The default is the Orojenesis mapspace (model.md).

    ``placement="per_tensor"``: every tensor's tile may sit at its own depth of the loop nest
    (LoopTree / AccelForge). ``factors="imperfect"``: tile sizes need not divide the rank size;
    ranks that index a sliding window keep perfect factors.
    """

    placement: str = "uniform"
    factors: str = "perfect"

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise BoundsolverError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if self.factors not in FACTORS:
            raise BoundsolverError(f"factors must be one of {FACTORS}, got {self.factors!r}")

    @property
    def is_orojenesis(self) -> bool:
        return self == Mapspace()

    def __str__(self) -> str:
        return f"{self.placement}/{self.factors}"



def mapspace_of(value: Mapspace | str | None) -> Mapspace:
    """A Mapspace from a Mapspace, None (the default) or ``"per_tensor/imperfect"``-style text."""
    if value is None:
        return Mapspace()
    if isinstance(value, Mapspace):
        return value
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) == 2:
            return Mapspace(*parts)
    raise BoundsolverError(f"mapspace must be a bs.Mapspace or 'placement/factors' text "
                           f"(e.g. 'per_tensor/imperfect'), got {value!r}")



def divisors(n: int) -> list[int]:
    """The divisors of ``n``, ascending, from its prime factorisation (sympy's ``factorint``:
    Pollard rho and friends, so a prime near 2**63 takes milliseconds, not trial division's
    hours)."""
    return list(_divisors(int(n)))


@cache
def _divisors(n: int) -> tuple[int, ...]:
    import sympy

    return tuple(int(d) for d in sympy.divisors(n))



@cache
def tile_sizes(n: int, imperfect: bool) -> tuple[int, ...]:
    """Candidate tile sizes of a rank of size ``n``: its divisors, or with imperfect factors every
    smallest tile for its number of tiles, ``ceil(n / c)`` (about ``2 * sqrt(n)`` values)."""
    if not imperfect:
        return tuple(divisors(n))
    if n > MAX_IMPERFECT_SIZE:
        raise EnumerationTooLarge(
            f"a rank of size {n:,} has about {2 * math.isqrt(n):,} imperfect tile sizes; "
            f"imperfect factors are limited to ranks of size {MAX_IMPERFECT_SIZE:,} or less "
            "(perfect factors have no such limit)")
    k = math.isqrt(n)  # past c = k, ceil(n / c) steps down by at most 1: every smaller value
    return tuple(sorted({-(-n // c) for c in range(1, k + 1)} | set(range(1, -(-n // (k + 1)) + 1))))



def windowed_ranks(problem: Einsum) -> set[str]:
    """Ranks that appear in an axis that is not plain: they keep perfect factors."""
    return {d for T in problem.tensors for a in T.axes if not a.is_plain for d in a.ranks}


@dataclass(frozen=True)
class OrderClass:
    """What an outer loop order means for traffic, with one order (outermost first) realising it.

    ``innermost[i]`` is tensor i's innermost relevant loop where its sliding windows need it (else
    None); ``refetched[i]`` the irrelevant loops above that loop.
    """

    order: tuple[str, ...]
    innermost: tuple[str | None, ...]
    refetched: tuple[frozenset[str], ...]

    def dominates(self, other: OrderClass) -> bool:
        return (self.innermost == other.innermost
                and all(a <= b for a, b in zip(self.refetched, other.refetched)))



def order_classes(problem: Einsum, ranks: list[str],
                  tensors: tuple[Tensor, ...] | None = None) -> list[OrderClass]:
    """All undominated order classes, built by placing loops from the innermost outwards.

    ``tensors``: the tensors whose traffic the order decides (default all of the problem's).
    """
    tensors = problem.tensors if tensors is None else tensors
    relevant = [{d for d in ranks if d in T.ranks} for T in tensors]
    windowed = [_windowed(T, ranks) for T in tensors]
    states: dict[tuple, tuple[str, ...]] = {(frozenset(), (None,) * len(tensors)): ()}
    for _ in ranks:
        nxt: dict[tuple, tuple[str, ...]] = {}
        for (placed, key), inner in states.items():
            for d in ranks:
                if d in placed:
                    continue
                new = list(key)
                for i, rel in enumerate(relevant):
                    if key[i] is None and d in rel:  # d is tensor i's innermost relevant loop
                        above = frozenset(e for e in ranks if e not in rel and e not in placed)
                        new[i] = (d if windowed[i] else None, above)
                nxt.setdefault((placed | {d}, tuple(new)), (d, *inner))
        states = nxt
    classes = []
    for (_, key), order in states.items():
        key = [k if k is not None else (None, frozenset()) for k in key]
        classes.append(OrderClass(order, tuple(k[0] for k in key), tuple(k[1] for k in key)))
    classes.sort(key=lambda c: (sum(map(len, c.refetched)), c.order))
    return [c for c in classes if not any(o is not c and o.dominates(c) and
                                          (not c.dominates(o) or classes.index(o) < classes.index(c))
                                          for o in classes)]



def symmetries(problem: Einsum, ranks: list[str], limit: int = 5040) -> list[tuple[dict, tuple]]:
    """Rank renamings that map the Einsum onto itself, each with the tensor permutation it induces.

    A renaming may only swap looping ranks of equal size; it must send the output to the output and
    the inputs onto the inputs, axis for axis up to order (footprints and traffic ignore axis
    order). Such a renaming maps every mapping to one of equal cost. Skipped (identity only) when
    the candidates exceed ``limit``.
    """
    groups: dict[int, list[str]] = {}
    for d in ranks:
        groups.setdefault(problem.size[d], []).append(d)
    if math.prod(math.factorial(len(g)) for g in groups.values()) > limit:
        return [({d: d for d in ranks}, tuple(range(len(problem.tensors))))]

    def signature(tensor: Tensor, sigma: dict[str, str]) -> tuple:
        return tuple(sorted(tuple(sorted((t.coef, sigma.get(t.rank, t.rank)) for t in a.terms))
                            for a in tensor.axes))

    tensors = problem.tensors
    targets = [signature(T, {}) for T in tensors]
    out = len(tensors) - 1
    found = []
    for perms in product(*(permutations(g) for g in groups.values())):
        sigma = {d: e for g, p in zip(groups.values(), perms) for d, e in zip(g, p)}
        pi: list[int] = []
        for i, T in enumerate(tensors):
            sig = signature(T, sigma)
            choices = [j for j in range(len(tensors)) if targets[j] == sig and j not in pi
                       and (j == out) == (i == out)]
            if not choices:
                break
            pi.append(choices[0])
        else:
            found.append((sigma, tuple(pi)))
    return found



def distinct_classes(problem: Einsum, ranks: list[str], classes: list[OrderClass]) -> list[OrderClass]:
    """One class per orbit under the Einsum's symmetries: the others have the same optimum."""
    def key(c: OrderClass) -> tuple:
        return (c.innermost, c.refetched)

    def image(c: OrderClass, sigma: dict, pi: tuple) -> tuple:
        innermost: list = [None] * len(pi)
        refetched: list = [frozenset()] * len(pi)
        for i, j in enumerate(pi):
            innermost[j] = sigma.get(c.innermost[i]) if c.innermost[i] else None
            refetched[j] = frozenset(sigma[d] for d in c.refetched[i])
        return (tuple(innermost), tuple(refetched))

    maps = symmetries(problem, ranks)
    kept: list[OrderClass] = []
    seen: set = set()
    for c in classes:
        if key(c) in seen:
            continue
        kept.append(c)
        seen |= {image(c, sigma, pi) for sigma, pi in maps}
    return kept



def _windowed(tensor: Tensor, ranks: list[str]) -> bool:
    """Whether some axis of the tensor has several looping ranks (a sliding window)."""
    return any(sum(d in ranks for d in a.ranks) >= 2 for a in tensor.axes)



@dataclass(frozen=True)
class NestClass:
    """Storage groups (tensor indices; group 0 stored whole) and each segment's order class."""

    groups: tuple[tuple[int, ...], ...]
    segments: tuple[OrderClass, ...]

    @property
    def depth(self) -> int:
        return len(self.segments)

    def group_of(self, i: int) -> tuple[int, int]:
        """(boundary, position in its group) of tensor ``i``."""
        return next((b, g.index(i)) for b, g in enumerate(self.groups) if i in g)



def storage_groups(n: int, per_tensor: bool):
    """Every way to give ``n`` tensors storage boundaries: group 0 (whole) and groups 1..k."""
    if not per_tensor:
        yield ((), tuple(range(n)))
        return
    for level in product(range(n + 1), repeat=n):
        used = sorted(set(level) - {0})
        if used != list(range(1, len(used) + 1)):
            continue
        yield tuple(tuple(i for i in range(n) if level[i] == b) for b in range(len(used) + 1))



def nest_classes(problem: Einsum, ranks: list[str], mapspace: Mapspace) -> list[NestClass]:
    """Every class of the mapspace: each storage grouping, each segment's undominated order
    class over the group below it (uniform placement: the Orojenesis classes, ``uniform_class``)."""
    tensors = problem.tensors
    per_group: dict[tuple[int, ...], list[OrderClass]] = {}
    classes = []
    for groups in storage_groups(len(tensors), mapspace.placement == "per_tensor"):
        options = []
        for g in groups[1:]:
            if g not in per_group:
                per_group[g] = order_classes(problem, ranks, tuple(tensors[i] for i in g))
            options.append(per_group[g])
        classes += [NestClass(groups, segs) for segs in product(*options)]
    return classes



def uniform_class(problem: Einsum, cls: OrderClass) -> NestClass:
    """The nest class of the Orojenesis mapspace with order class ``cls``: one group of every
    tensor at boundary 1, nothing stored whole."""
    return NestClass(((), tuple(range(len(problem.tensors)))), (cls,))



def looping_ranks(problem: Einsum) -> list[str]:
    """Ranks that can iterate (size above one); the others never enter the model."""
    return [d for d, n in problem.sizes if n > 1]


@dataclass(frozen=True)
class LevelClass:
    """Per segment: the tensors (indices) whose traffic its order may decide, and their class."""

    tensors: tuple[tuple[int, ...], ...]
    segments: tuple[OrderClass, ...]


def kept(problem: Einsum, arch: Arch) -> list[list[int]]:
    """Per tensor, the boundaries (on-chip levels, 1 = outermost) that store it."""
    return [[b for b, lv in enumerate(arch.on_chip, start=1) if lv.keeps_tensor(problem, T)]
            for T in problem.tensors]


def level_classes(problem: Einsum, arch: Arch, ranks: list[str]) -> list[LevelClass]:
    """Every combination of undominated order classes of the segments. Segment ``s`` matters only
    to copies whose innermost relevant loop lies in it: tensors kept at some level below it."""
    where = kept(problem, arch)
    groups = tuple(tuple(i for i, bs in enumerate(where) if bs and bs[-1] > s)
                   for s in range(len(arch.on_chip)))
    options = [order_classes(problem, ranks, tuple(problem.tensors[i] for i in g)) for g in groups]
    return [LevelClass(groups, segs) for segs in product(*options)]
