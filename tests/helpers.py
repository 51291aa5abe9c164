"""Independent references for the tests: a brute force over every mapping, frontier lookups."""

from __future__ import annotations

import math
from itertools import permutations, product

import boundsolver as bs
from boundsolver.model.arch import Arch, Level
from boundsolver.model.mapspace import divisors


def brute_frontier(problem: bs.Einsum) -> list[tuple[int, int]]:
    """The staircase by evaluating every tiling under every order of the looping ranks."""
    ranks = problem.ranks
    pairs = []
    for tiles in product(*(divisors(problem.size[d]) for d in ranks)):
        tile = dict(zip(ranks, tiles))
        looping = [d for d in ranks if problem.size[d] // tile[d] > 1]
        best = min(bs.evaluate(problem, bs.Mapping(tuple(tile.items()), order)).accesses
                   for order in permutations(looping))
        pairs.append((sum(t.footprint(tile) for t in problem.tensors), best))
    return staircase_of(pairs)


def mapspace(problem: bs.Einsum) -> int:
    looping = [d for d, n in problem.sizes if n > 1]
    return math.prod(len(divisors(problem.size[d])) for d in looping) * math.factorial(len(looping))


def points(frame) -> list[tuple[int, int]]:
    return [(int(o), int(a)) for o, a in zip(frame["occupancy"], frame["accesses"])]


def lookup(stairs: list[tuple[int, int]], capacity: int) -> int | None:
    """Least accesses at ``capacity`` on a staircase; None below its first occupancy."""
    fit = [a for o, a in stairs if o <= capacity]
    return min(fit) if fit else None


def touched(problem: bs.Einsum, tensor) -> int:
    """Words of ``tensor`` that some iteration really reads (a strided window may skip some)."""
    count = 1
    for axis in tensor.axes:
        values = {0}
        for term in axis.terms:
            values = {v + term.coef * i for v in values for i in range(problem.size[term.rank])}
        count *= len(values)
    return count


# --------------------------------------------------------------------------- general loop nests

def simulate(problem: bs.Einsum, loops, storage: dict[str, int], sizes=None) -> tuple[int, int]:
    """(occupancy, accesses) of a general loop nest by running it, for plain-axis Einsums.

    ``loops``: (rank, tile below the loop) outermost first; a rank may loop several times, tiles
    nest on aligned grids clipped at the rank size. ``storage[T]``: how many loops sit above T's
    buffered tile. A tile is fetched whole whenever the region it must hold changes; the output
    is written back on every change and read back except the first time (first-read elision).
    """
    size = problem.size
    depth = max(storage.values(), default=0)
    regions: dict[str, tuple | None] = {T.name: None for T in problem.tensors}
    moved = dict.fromkeys(regions, 0)

    def tile_after(i: int, d: str) -> int:
        return min((t for r, t in loops[:i] if r == d), default=size[d])

    def visit(i: int, lo: dict[str, int]):
        for T in problem.tensors:
            if storage[T.name] == i:
                region = tuple((lo[d], min(lo[d] + tile_after(i, d), size[d])) for d in T.ranks)
                if region != regions[T.name]:
                    regions[T.name] = region
                    moved[T.name] += math.prod(b - a for a, b in region)
        if i == depth:
            return
        d, step = loops[i]
        start, stop = lo[d], min(lo[d] + tile_after(i, d), size[d])
        for x in range(start, stop, step):
            visit(i + 1, lo | {d: x})

    visit(0, dict.fromkeys(size, 0))
    occupancy = sum(math.prod(tile_after(storage[T.name], d) for d in T.ranks) for T in problem.tensors)
    out = problem.output
    accesses = sum(moved.values()) + moved[out.name] - problem.tensor_size(out)
    return occupancy, accesses


def general_nests(problem: bs.Einsum, candidates, max_loops: int = 4):
    """Every loop nest of up to ``max_loops`` loops (tiles from ``candidates[d]``, strictly
    shrinking and dividing per rank below its first loop) with every tensor stored at any depth."""
    ranks = [d for d, n in problem.sizes if n > 1]

    def chains(d):
        out = [()]
        frontier = [()]
        while frontier:
            nxt = []
            for c in frontier:
                last = c[-1] if c else problem.size[d]
                for t in candidates[d]:
                    if t < last and (not c or last % t == 0) and len(c) < max_loops:
                        nxt.append(c + (t,))
            out += nxt
            frontier = nxt
        return out

    def interleavings(seqs):
        seqs = [s for s in seqs if s]
        if not seqs:
            yield ()
            return
        for i, s in enumerate(seqs):
            for rest in interleavings(seqs[:i] + [s[1:]] + seqs[i + 1:]):
                yield (s[0],) + rest

    names = [T.name for T in problem.tensors]
    for combo in product(*(chains(d) for d in ranks)):
        if sum(map(len, combo)) > max_loops:
            continue
        seqs = [[(d, t) for t in c] for d, c in zip(ranks, combo)]
        for loops in set(interleavings(seqs)):
            for depths in product(range(len(loops) + 1), repeat=len(names)):
                yield loops, dict(zip(names, depths))


def staircase_of(pairs) -> list[tuple[int, int]]:
    """The staircase of (occupancy, value) pairs: each point's value strictly below every
    smaller occupancy's (values compare as numbers or, for hierarchies, as key tuples)."""
    best: dict = {}
    for occ, acc in pairs:
        best[occ] = min(best[occ], acc) if occ in best else acc
    stairs, low = [], None
    for occ in sorted(best):
        if low is None or best[occ] < low:
            stairs.append((occ, best[occ]))
            low = best[occ]
    return stairs


def check_nest_points(problem: bs.Einsum, mapspace, pairs) -> None:
    """Every point is a legal nest of the mapspace whose re-evaluation in integers reproduces
    it; occupancy strictly up and accesses strictly down (a staircase)."""
    from boundsolver.model import cost as nests

    imperfect = mapspace.factors == "imperfect"
    for nest, cost in pairs:
        if mapspace.placement == "uniform":
            assert len(nest.levels) == 1 and {b for _, b in nest.storage} == {1}
        again = nests.evaluate(problem, nest, check=True, imperfect=imperfect)
        assert (again.occupancy, again.accesses) == (cost.occupancy, cost.accesses)
    occ = [c.occupancy for _, c in pairs]
    acc = [c.accesses for _, c in pairs]
    assert occ == sorted(set(occ)) and acc == sorted(set(acc), reverse=True)


# ------------------------------------------------------------- small test hierarchies (3 and 4 levels)

KEEPS = [("all",), ("inputs",), ("output",), ("input", "output"), ("weight", "output"),
         ("input", "weight")]


def three(l1: int, keeps_l2=("all",), keeps_l1=("all",)) -> Arch:
    return Arch("t3", 8, (Level("DRAM"), Level("L2", sweep=True, keeps=keeps_l2),
                          Level("L1", l1, keeps=keeps_l1)))


def four(l2: int, l1: int, keeps_l2=("all",), keeps_l1=("all",)) -> Arch:
    return Arch("t4", 8, (Level("DRAM"), Level("L3", sweep=True), Level("L2", l2, keeps=keeps_l2),
                          Level("L1", l1, keeps=keeps_l1)))


def covered(problem, arch) -> bool:
    """Every tensor kept by some on-chip level (else the arch is refused)."""
    return all(any(lv.keeps_tensor(problem, T) for lv in arch.on_chip) for T in problem.tensors)


def fanout(l1: int, outer: int, inner: int, ranks=None, mc2: bool = True, mc1: bool = True,
           keeps_l1=("all",)) -> Arch:
    """DRAM -> L2 (swept, ``outer`` instances) -> L1 (``outer * inner`` instances, splits over
    ``ranks`` or any), multicast or not at each fanout."""
    return Arch("sp", 8, (Level("DRAM"),
                          Level("L2", sweep=True, instances=outer, multicast=mc2),
                          Level("L1", l1, keeps=keeps_l1, instances=outer * inner,
                                spatial_ranks=ranks, multicast=mc1)))


def key_columns(arch) -> list[str]:
    """What the lexicographic objective decides (LevelCost.key): the swept occupancy, the
    backing store's traffic and the traffic into every level, outermost first."""
    return ["occupancy", "accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]


def same_rows(ref, got, arch) -> None:
    """Two hierarchy staircases agree on every key column (both empty where no mapping fits
    the fixed levels)."""
    if ref.empty:
        assert got.empty
        return
    cols = key_columns(arch)
    assert got[cols].values.tolist() == ref[cols].values.tolist()
