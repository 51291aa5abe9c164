"""Leaves of fused trees on hierarchies up to renaming, and their exact samples on disk.

A leaf of :mod:`fused_levels` is a single-Einsum joint problem: a sub-problem (an Einsum with
its tile sizes) on its leaf arch (:func:`fusion_levels.leaf_arch`). Its answers depend on the
names of its ranks and tensors only through which tensor uses which rank and what each level
keeps or may split; two leaves that differ by a renaming have the same staircase, and a mapping
of one renamed is a mapping of the other with the same cost. Attention's two Einsums
(``QK[m,p,h] += Q[m,h,e]*K[p,h,e]`` and ``AV[m,h,f] += QK[m,p,h]*V[p,h,f]``) are the same problem
under ``e <-> p, p <-> f`` wherever their tiles agree, so one solve serves both.

:func:`canonical` builds the *canonical* leaf: ranks and tensors renamed by their role (each
level's ``keeps`` resolved to the tensors it holds, ``spatial_ranks`` to the ranks of the
problem), the least such form over the inputs' orders. Equal keys mean equal canonical problems
and archs (the key is their full text), so a staircase solved for the canonical leaf is the
staircase of every leaf with that key; :meth:`Canon.to_original` renames a mapping back
(docs/fusion.md, "Lazy leaves", "Canonical leaves").

:class:`LeafStore` keeps each canonical leaf's exact samples in the results cache
(:mod:`cache`: keyed by the canonical leaf, its arch, the mapspace, the method and solver, and
the model revision, every payload checked by its digest), so a later run starts from them.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, replace

from ..errors import BoundsolverError
from ..model.arch import Arch, Level
from ..model.cost import Copies, Nest
from ..model.einsum import Axis, Einsum, Tensor, Term
from ..model.fusion_levels import LevelMapping

MAX_PERMUTED = 4  # inputs whose orders are tried (a leaf has two; more: kept in their order)


@dataclass(frozen=True)
class Canon:
    """A leaf in canonical form: ``problem`` on ``arch``, ``ranks`` and ``tensors`` pairs
    (canonical name, original name), ``key`` the text of the canonical problem and arch."""

    problem: Einsum
    arch: Arch
    ranks: tuple[tuple[str, str], ...]
    tensors: tuple[tuple[str, str], ...]
    key: str
    resident: frozenset = frozenset()  # the resident tensors' canonical names

    def to_original(self, m: LevelMapping) -> LevelMapping:
        """A mapping of the canonical leaf renamed into the original leaf's names."""
        return LevelMapping(rename_nest(m.nest, dict(self.ranks), dict(self.tensors)),
                            m.copies, m.names)

    def to_canonical(self, m: LevelMapping) -> LevelMapping:
        """A mapping of the original leaf renamed into the canonical names."""
        back = {o: c for c, o in self.ranks}, {o: c for c, o in self.tensors}
        return LevelMapping(rename_nest(m.nest, *back), m.copies, m.names)


def rename_nest(nest: Nest, ranks: dict[str, str], tensors: dict[str, str]) -> Nest:
    """``nest`` with every rank and tensor name replaced (tiles, orders, copies, fanout)."""
    def tiles(level):
        return tuple((ranks[d], v) for d, v in level)

    return Nest(tuple(tiles(lv) for lv in nest.levels),
                tuple(tuple(ranks[d] for d in order) for order in nest.orders),
                tuple((tensors[T], b) for T, b in nest.storage),
                tuple(tiles(s) for s in nest.spatial))


def canonical(sub: Einsum, arch: Arch, resident: frozenset = frozenset()) -> Canon:
    """The canonical form of leaf ``sub`` on its leaf arch ``arch`` (module docstring). A leaf
    whose axes are not all plain ranks (sliding windows, a rank used twice by one tensor) keeps
    its own names: only its ``keeps`` and spatial ranks are resolved, which changes nothing."""
    plain = all(a.is_plain for T in sub.tensors for a in T.axes) and all(
        len(set(T.ranks)) == len(T.ranks) for T in sub.tensors)
    orders = (itertools.permutations(range(len(sub.inputs)))
              if plain and len(sub.inputs) <= MAX_PERMUTED else [tuple(range(len(sub.inputs)))])
    best = min((_form(sub, arch, order, plain) for order in orders), key=lambda f: f[0])
    text, problem, carch, ranks, tensors = best
    return Canon(problem, carch, ranks, tensors, text,
                 frozenset(c for c, o in tensors if o in resident))


def identity(sub: Einsum, arch: Arch, resident: frozenset = frozenset()) -> Canon:
    """The leaf as it is (no renaming, its own arch): each leaf its own form."""
    text = json.dumps([str(sub), sub.sizes, repr(arch)])
    return Canon(sub, arch, tuple((d, d) for d in sub.ranks),
                 tuple((T.name, T.name) for T in sub.tensors), text, frozenset(resident))


def _form(sub: Einsum, arch: Arch, order: tuple[int, ...], plain: bool):
    """The leaf renamed with its inputs in ``order``: tensors ``T0..`` (inputs) and ``O`` (the
    output), ranks ``r0..`` sorted by what identifies them (size, the tensors using them, the
    levels that may split them); ranks equal in all of these are interchangeable (swapping them
    maps the problem and arch onto themselves), so their relative order does not matter."""
    tensors = [sub.inputs[i] for i in order] + [sub.output]
    tnames = [f"T{i}" for i in range(len(order))] + ["O"]
    levels = arch.levels

    def splittable(lv: Level, d: str) -> bool:
        return lv.spatial_ranks is None or d in lv.spatial_ranks

    if plain:
        sig = {d: (n, tuple(d in T.ranks for T in tensors),
                   tuple(splittable(lv, d) for lv in levels)) for d, n in sub.sizes}
        rorder = sorted(sub.ranks, key=lambda d: sig[d])
        rname = {d: f"r{i}" for i, d in enumerate(rorder)}
    else:
        rorder, rname = list(sub.ranks), {d: d for d in sub.ranks}
        tnames = [T.name for T in tensors]
    tname = {T.name: n for T, n in zip(tensors, tnames)}

    def axes(T: Tensor) -> tuple[Axis, ...]:
        out = tuple(Axis(tuple(Term(rname[t.rank], t.coef) for t in a.terms)) for a in T.axes)
        return tuple(sorted(out, key=lambda a: int(a.terms[0].rank[1:]))) if plain else out

    renamed = {T.name: Tensor(tname[T.name], axes(T)) for T in tensors}
    problem = Einsum(renamed[sub.output.name], tuple(renamed[T.name] for T in tensors[:-1]),
                     tuple((rname[d], sub.size[d]) for d in rorder), "leaf")

    def level(lv: Level) -> Level:
        held = [T for T in tensors if lv.keeps_tensor(sub, T)]
        keeps = tuple(tname[T.name] for T in held) or ("none",)
        spatial = None if lv.spatial_ranks is None else tuple(
            rname[d] for d in rorder if d in lv.spatial_ranks)
        return replace(lv, keeps=keeps, spatial_ranks=spatial)

    carch = Arch("leaf", arch.word_bits, tuple(level(lv) for lv in levels))
    text = json.dumps([str(problem), problem.sizes,
                       [[lv.name, lv.capacity, lv.sweep, lv.keeps, lv.instances,
                         lv.spatial_ranks, lv.multicast, lv.word_bits] for lv in carch.levels]])
    ranks = tuple((rname[d], d) for d in rorder)
    return text, problem, carch, ranks, tuple((tname[T.name], T.name) for T in tensors)


class LeafStore:
    """The lazy leaves' exact samples (``(occupancy, capacity, mapping)``, the largest capacity
    found infeasible, the samples not yet settled as of least occupancy with their keys), the
    whole staircase of a leaf its enumerators traced (``Lazy.full``, each point with its outer
    occupancy), and whether the per-tensor enumerator declined the leaf (``Lazy.declined``: a
    later run walks it by the MILP at once instead of spending the enumerator's node budget
    again; the route only, both routes being exact) in a results cache (:class:`cache.Cache`),
    one entry per canonical leaf, keyed by its text, the outer arch, the mapspace, the method and
    the solver (and, through the cache's key, the model revision). A loaded sample or staircase
    point is re-costed on the canonical leaf and dropped (the whole entry with it) unless it
    reproduces its occupancy and fits every level."""

    def __init__(self, cache, arch: Arch, mapspace, method: str, solver: str):
        self.cache = cache
        self.question = {"kind": "fused leaf samples", "arch": repr(arch),
                         "mapspace": str(mapspace), "method": method, "solver": solver}

    def _ask(self, lz) -> dict:
        return self.question | {"leaf": lz.key}

    def load(self, lz) -> int:
        """Fill ``lz`` from the cache; the number of samples read."""
        data = self.cache.get_data(lz.sub, self._ask(lz))
        if not data:
            return 0
        try:
            samples = [(int(o), int(c), _mapping(m)) for o, c, m in data["samples"]]
            dead = int(data["dead"])
            loose = {(int(o), int(c)): tuple(int(v) for v in k)
                     for o, c, k in data.get("loose", [])}
            full = data.get("full")
            full = None if full is None else [(int(o), _mapping(m)) for o, m in full]
            declined = bool(data.get("declined", False))
        except (KeyError, TypeError, ValueError):
            return 0
        if not all(_checks(lz.canon, o, m) for o, _, m in samples) or (
                full is not None and not all(_checks(lz.canon, o, m) for o, m in full)):
            self.cache.delete(lz.sub, self._ask(lz))
            return 0
        lz.samples[:0] = samples
        lz.dead = max(lz.dead, dead)
        lz.loose.update(loose)
        if full is not None and lz.full is None:
            lz.full = [m for _, m in full]
        lz.declined = lz.declined or declined
        return len(samples) + len(full or ())

    def save(self, lz) -> None:
        full = None if lz.full is None else [[_occupancy(lz.canon, m), _plain(m)]
                                             for m in lz.full]
        self.cache.put_data(lz.sub, self._ask(lz), {
            "samples": [[o, c, _plain(m)] for o, c, m in lz.samples], "dead": lz.dead,
            "loose": [[o, c, list(k)] for (o, c), k in lz.loose.items()],
            "full": full, "declined": lz.declined})


def _plain(m: LevelMapping) -> dict:
    n = m.nest
    copies = None if m.copies is None else [list(m.copies.level), list(m.copies.names),
                                            None if m.copies.fanout_at is None
                                            else list(m.copies.fanout_at)]
    return {"levels": n.levels, "orders": n.orders, "storage": n.storage, "spatial": n.spatial,
            "copies": copies, "names": m.names}


def _mapping(d: dict) -> LevelMapping:
    def pairs(x):
        return tuple((str(a), int(b)) for a, b in x)

    nest = Nest(tuple(pairs(lv) for lv in d["levels"]), tuple(tuple(o) for o in d["orders"]),
                pairs(d["storage"]), tuple(pairs(s) for s in d["spatial"]))
    cp = d["copies"]
    copies = None if cp is None else Copies(tuple(cp[0]), tuple(cp[1]),
                                            None if cp[2] is None else tuple(cp[2]))
    return LevelMapping(nest, copies, tuple(d["names"]))


def _occupancy(canon: Canon, m: LevelMapping) -> int:
    """The outer (swept) level's occupancy of a mapping of the canonical leaf."""
    from ..model.cost import evaluate_levels

    cost = evaluate_levels(canon.problem, m.nest, m.copies, multicast=canon.arch.multicast)
    return int(cost.occupancy[canon.arch.swept_index])


def _checks(canon: Canon, occupancy: int, m: LevelMapping) -> bool:
    """Whether a loaded mapping re-costs to its stored outer occupancy and fits every level of
    the canonical leaf's arch."""
    from ..model.cost import evaluate_levels
    from ..reference.hierarchy import fits

    try:
        cost = evaluate_levels(canon.problem, m.nest, m.copies, multicast=canon.arch.multicast)
    except (BoundsolverError, KeyError, IndexError, ValueError, TypeError):
        return False  # a stored nest that is not one of this leaf's
    return fits(cost, canon.arch) and cost.occupancy[canon.arch.swept_index] == occupancy


__all__ = ["Canon", "LeafStore", "canonical", "identity", "rename_nest"]
