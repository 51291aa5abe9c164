"""The exact MILP of a hierarchy's joint bound with **per-tensor placement within every level**.

levels.py's MILP gives level ``l`` one boundary, ``l``, holding all of its copies (uniform
placement, Timeloop's mapspace). Here each copy (tensor T, level l keeping T) sits at its own
boundary of a nest with more boundaries (AccelForge's mapspace; ``reference/hierarchy.py``'s
``per_tensor_points`` enumerates it for small problems). One formulation covers every placement:
no class per placement, no class per segment order.

**Layout.** The levels with spatial fanout cut the chain into *blocks*: block ``β`` holds a fanout
level and the levels after it up to the next fanout level (the first block starts at level 1).
``Copies.fanout_at`` needs every copy of an outer level above a level's fanout and every copy of
that level or an inner one below it, so block ``β``'s copies sit at boundaries below the fanout
and above the next; the MILP gives block ``β`` the boundaries ``F_β .. E_β``, as many as it has
copies (``n_β``; fewer on tiny problems, below), the fanout right above ``F_β``. Boundaries may coincide (equal tiles, no loops
between: an empty segment).

**Variables.** Tiles at every boundary (prime exponents nested by divisibility, as levels.py);
per segment ``s`` an order class as a binary one-hot ``o[s, ·]`` (the undominated classes over
the tensors whose copies may read it); per copy a one-hot ``y[g]``, ``g = 0 .. E_β``: the segment
``g - 1`` holding its innermost relevant loop (0: none, the whole tensor), the copy sitting at
boundary ``b(g) = max(g, F_β)``. A copy that chooses ``g < F_β`` (its loop above the fanout) sits
right below the fanout, its tiles pinned to those at ``g`` (levels.py's pin rows with ``b = F_β``).
Its traffic is levels.py's ``F(T, g)`` under the order class of segment ``g - 1``: a binary per
(g, projection of the class onto T: T's innermost loop and the irrelevant loops above it), at
most the segment's one-hot summed over the classes with that projection, each a value one-hot of
``F`` gated by it (levels.py's ``_chosen``). Its footprint is a gated product over its boundary
``b(g)``. A tensor's copies choose ``g`` non-decreasing inwards (so their boundaries never
decrease). Occupancy of a level: its copies' footprints (one instance's tiles: the global tile
less every fanout at or above the boundary); traffic: levels.py's, with ``nest.replicas``.

**Every feasible point is a real per-tensor mapping costing at most its formula.** Decode: the
tiles, each segment's order the chosen class's representative order, copy of (T, l) at ``b(g)``,
fanouts at ``F_β``. Copies of a tensor are ordered (monotone ``g``), copies sit on the right side
of every fanout (blocks), every instance tile is whole (levels.py's row). The pins leave no
relevant loop of T iterating between ``g`` and ``b(g)``, so T's real innermost iterating relevant
loop above ``b(g)`` lies in segment ``s_j <= g - 1``; levels.py's argument (1) gives
``F(T, g) >= moved_at(T, b(g))`` (for ``s_j = g - 1`` the class's innermost relevant loop may run
once and lie below the real one, which only adds refetching loops; for ``s_j < g - 1`` counts
grow inwards). Footprints are exact. Replicas depend only on the levels' splits.

**Every per-tensor mapping is matched or beaten by a feasible point with formula = real cost.**
``per_tensor_points``' docstring proves every per-tensor nest matched or beaten (no component of
the key, no occupancy higher) by a *canonical* one: every boundary stores a copy, every copy at a
boundary ``c >= 2`` right below a segment holding an iterating loop of its tensor (except copies
right below a fanout), each fanout right above the first boundary holding a copy of its level
or an inner one. In a canonical nest the boundaries between two fanouts store only copies of
that block's levels, so block ``β`` uses at most ``n_β`` boundaries (and at most one more than
the number of prime factors of the rank sizes: every boundary below ``F_β`` sits right below a
segment holding an iterating loop, which takes at least one); pad each block at its end with
empty boundaries (same tiles, no loops): the fanouts then sit right above ``F_β``. Order every
segment with its one-trip loops outermost; its class (or one dominating it, which only lowers
formulas of the same order) is among ``o[s, ·]``; choose ``g = s_j + 1`` per copy (0: nothing
relevant iterates above it). A copy not right below a fanout sits at ``s_j + 1 = g = b(g)``; one
right below fanout ``β`` has ``g <= F_β = b(g)``, pinned tiles equal. Then every formula equals the
real count (levels.py's argument (2)), and ``g`` is non-decreasing inwards (an inner copy sits at or
below an outer one, so its ``j`` does too). So the least formula value under any limits is the
mapspace's least real value, and as in levels.py a lexicographic optimum of over-estimates is
exact. Every point is re-costed by ``cost.evaluate_levels`` with its :class:`Copies`.
"""

from __future__ import annotations

import math
from itertools import accumulate

from ..errors import SolverError
from ..model.arch import Arch, ArchError
from ..model.cost import Copies, Nest, replicas
from ..model.einsum import Einsum, Tensor
from ..model.mapspace import Mapspace, OrderClass, order_classes, tile_sizes, windowed_ranks
from ..model.symbolic import prime_exponents
from .formulation import Factor, Linear, ProductModel
from .levels import LevelFormulation, kept


def _steps(problem: Einsum, d: str, space: Mapspace) -> int:
    """How often rank ``d``'s tile can shrink down a nest: its prime factors with perfect
    factors; with imperfect ones, also one outermost split to any size and then that tile's
    prime factors."""
    n = problem.size[d]
    steps = sum(prime_exponents(n).values())
    if space.factors == "imperfect" and d not in windowed_ranks(problem):
        steps = max([steps] + [1 + sum(prime_exponents(u).values())
                               for u in tile_sizes(n, True) if u < n])
    return steps


def blocks(problem: Einsum, arch: Arch) -> list[list[int]]:
    """The on-chip levels (1 = outermost) of each block: a fanout level (or level 1) and the
    levels after it up to the next fanout level. Refuses a block whose levels keep nothing."""
    out: list[list[int]] = []
    for lv, fan in enumerate(arch.fanouts, start=1):
        if fan > 1 or not out:
            out.append([])
        out[-1].append(lv)
    stored = kept(problem, arch)
    for block in out:
        if not any(lv in s for s in stored for lv in block):
            names = ", ".join(arch.on_chip[lv - 1].name for lv in block)
            raise ArchError(f"{arch.name}: level(s) {names} have fanout but keep no tensor of "
                            "this problem; the per-tensor search needs each fanout below a copy")
    return out


class PlacementFormulation(LevelFormulation):
    """The per-tensor MILP (module docstring): every copy's boundary and every segment's order
    class are variables of one model. ``decode`` gives the nest, its :class:`Copies` and each
    copy's choice; ``value`` its formulas in integers."""

    shared = True  # one value one-hot per chosen product (``_chosen``)
    # The strict-choice and padding cuts (``_strict``) are valid but slowed HiGHS down
    # (GEMM 16^3 at L1 = 64, two L2 sizes: 19 s with them, 8 s without; 256^3: 26 s, 11 s).
    strict = False

    def __init__(self, problem: Einsum, arch: Arch, ranks: list[str], factors: str = "perfect"):
        ProductModel.__init__(self, problem)
        self.arch = arch
        self.stored = kept(problem, arch)
        self.blocks = blocks(problem, arch)
        space = Mapspace("per_tensor", factors)
        # A canonical nest's boundaries below F_β each sit right below a segment holding an
        # iterating loop, and each such segment shrinks some rank's tile: by a prime factor, or
        # (imperfect) by its outermost split, after which the split tile's prime factors.
        factors = sum(_steps(problem, d, space) for d in ranks)
        sizes = [min(sum(lv in s for s in self.stored for lv in block), 1 + factors)
                 for block in self.blocks]
        ends = list(accumulate(sizes))
        self.first = {lv: e - n + 1 for block, n, e in zip(self.blocks, sizes, ends)
                      for lv in block}  # F of each level's block
        self.last = {lv: e for block, e in zip(self.blocks, ends) for lv in block}
        # The boundary right below each fanout level's loop (0: none), as Copies.fanout_at.
        self.fan_at = tuple(self.first[lv] if arch.fanouts[lv - 1] > 1 else 0
                            for lv in range(1, len(arch.on_chip) + 1))
        self._setup(ends[-1], space, ranks)
        self.m.heuristics = True
        self.sp: dict[tuple[str, int], dict[int, int]] = {}
        self._fanout()
        self._gates: dict[tuple[int, int], int] = {}
        self._orders()
        self.choice: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self.options: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
        names = [lv.name for lv in arch.on_chip]
        occ = {n: Linear() for n in names}
        acc = {n: Linear() for n in names}
        dram = Linear()
        words_of: dict[tuple[int, int], Linear] = {}
        for i, T in enumerate(problem.tensors):
            for lv in self.stored[i]:
                self._choose(i, T, lv)
                occ[names[lv - 1]].add(self._placed_footprint(i, T, lv))
                words = self._words(i, T, lv, lambda rep, tag, i=i, T=T, lv=lv:
                                    self._traffic(i, T, lv, rep, tag))
                acc[names[lv - 1]].add(words)
                words_of[i, lv] = words
                if lv == self.stored[i][0]:
                    dram.add(words)
        self._monotone()
        self._no_gaps()
        if self.strict:
            self._strict()
        self._unread()
        self._growing(words_of)
        self._finish_named({"dram": dram} | {f"accesses:{n}": acc[n] for n in names}
                           | {f"occupancy:{n}": occ[n] for n in names})

    # ----------------------------------------------------------------------------- layout
    def _fanout_boundary(self, level: int) -> int:
        """A level's fanout loop sits right above its block's first boundary, so one
        instance's tile at boundary ``b`` (levels.py's ``_tile``) is divided by every fanout whose
        loop is at or above ``b``."""
        return self.fan_at[level - 1]

    def _orders(self) -> None:
        """Per segment, a one-hot over the undominated order classes of the tensors whose
        copies may have their innermost relevant loop there (every copy of a block at or below
        the segment's boundary), and per tensor the classes' projections onto it."""
        self.segment_classes: list[list[OrderClass]] = []
        self.segment_tensors: list[tuple[int, ...]] = []
        self.order_vars: list[list[int]] = []
        for s in range(self.k):
            tensors = tuple(i for i, levels in enumerate(self.stored)
                            if any(self.last[lv] >= s + 1 for lv in levels))
            classes = order_classes(self.problem, self.ranks,
                                    tuple(self.problem.tensors[i] for i in tensors))
            o = [self.m.var(f"order[{s},{c}]") for c in range(len(classes))]
            self.m.row(f"order_choice[{s}]", dict.fromkeys(o, 1), 1, 1)
            self.segment_classes.append(classes)
            self.segment_tensors.append(tensors)
            self.order_vars.append(o)

    def _projections(self, i: int, g: int) -> list[tuple[OrderClass, int, list[int]]]:
        """The distinct ways segment ``g - 1``'s order may count tensor ``i``: a representative
        class, the tensor's position in it, and the classes sharing that projection."""
        s = g - 1
        pos = self.segment_tensors[s].index(i)
        groups: dict[tuple, tuple[OrderClass, list[int]]] = {}
        for c, oc in enumerate(self.segment_classes[s]):
            key = (oc.innermost[pos], oc.refetched[pos])
            groups.setdefault(key, (oc, []))[1].append(c)
        return [(oc, pos, members) for oc, members in groups.values()]

    # ----------------------------------------------------------------------------- choices
    def _choose(self, i: int, T: Tensor, lv: int) -> None:
        """The copy's choice ``y[g]``, the pins of a copy floating above its block's fanout,
        and its options (g, class projection) with their binaries."""
        first, last = self.first[lv], self.last[lv]
        ys = [(g, self.m.var(f"where[{T.name},{lv},{g}]")) for g in range(last + 1)]
        self.m.row(f"where_choice[{T.name},{lv}]", {y: 1 for _, y in ys}, 1, 1)
        self.choice[i, lv] = ys
        self._pins(T, f"{T.name},{lv}", ys, first)  # g < F: the tiles at g..F equal
        options = []  # (g, binary, position in its class, segment class index)
        for g, y in ys:
            if g == 0:
                options.append((0, y, -1, -1))
                continue
            projections = self._projections(i, g)
            if len(projections) == 1:
                options.append((g, y, projections[0][1],
                                self.segment_classes[g - 1].index(projections[0][0])))
                continue
            ws = []
            for oc, pos, members in projections:
                w = self.m.var(f"read[{T.name},{lv},{g},{members[0]}]")
                self.m.row(f"read_class[{T.name},{lv},{g},{members[0]}]",
                           {w: 1} | {self.order_vars[g - 1][c]: -1 for c in members}, -math.inf, 0)
                ws.append(w)
                options.append((g, w, pos, self.segment_classes[g - 1].index(oc)))
            self.m.row(f"read_choice[{T.name},{lv},{g}]", dict.fromkeys(ws, 1) | {y: -1}, 0, 0)
        self.options[i, lv] = options

    def _traffic(self, i: int, T: Tensor, lv: int, rep: list[Factor], tag: str) -> Linear:
        """``F(T, g)`` under the chosen option, times the replication factors."""
        opts = []
        for g, w, pos, c in self.options[i, lv]:
            if g == 0:
                factors = [("const", self.problem.tensor_size(T))]
            else:
                oc = self.segment_classes[g - 1][c]
                factors = self._traffic_factors(T, oc, pos, g, g)
            opts.append((w, factors + rep))
        return self._chosen(f"{tag}[{T.name},{lv}]", opts)

    def _chosen(self, name: str, options: list[tuple[int, list[Factor]]]) -> Linear:
        """``sum_g w[g] * prod(factors of g)`` with exactly one ``w`` at one: one value one-hot
        for all options, its exponents the sum over options of their factors' exponents gated
        by ``w`` (levels.py's gates, exact at integer points). Fewer binaries than a value
        one-hot per option (levels.py's ``_chosen``), the same integer points."""
        if not self.shared:
            return super()._chosen(name, options)
        values: set[int] = set()
        rows: dict[int, dict[int, int]] = {}

        def add(p: int, var: int, c: int) -> None:
            if c:
                row = rows.setdefault(p, {})
                row[var] = row.get(var, 0) + c

        for w, factors in options:
            const = math.prod(f[1] for f in factors if f[0] == "const")
            live = [f for f in factors if f[0] != "const"]
            values |= self._attainable(name, live, const)
            self._gated_factors(name, w, const, live, add)
        z = {v: self.m.var(f"{name}.value[{v}]") for v in sorted(values)}
        self.m.row(f"{name}.choice", dict.fromkeys(z.values(), 1), 1, 1)
        for v, zv in z.items():
            for p, e in prime_exponents(v).items():
                add(p, zv, e)
        for p, coefs in sorted(rows.items()):
            self.m.row(f"{name}.exponent[{p}]", coefs, 0, 0)
        return Linear({zv: v for v, zv in z.items()})

    def boundary(self, lv: int, g: int) -> int:
        """Where a copy of level ``lv`` choosing ``g`` sits."""
        return max(g, self.first[lv])

    def _placed_footprint(self, i: int, T: Tensor, lv: int) -> Linear:
        """The copy's footprint at its boundary ``b(g)`` (a gated product over boundaries)."""
        first = self.first[lv]
        ys = self.choice[i, lv]
        at_first = [y for g, y in ys if g <= first]
        if len(at_first) == 1:
            p = at_first[0]
        else:
            p = self.m.var(f"at_first[{T.name},{lv}]")
            self.m.row(f"at_first_sum[{T.name},{lv}]", {p: 1} | {y: -1 for y in at_first}, 0, 0)
        opts = [(p, self._footprint_factors(T, first))]
        opts += [(y, self._footprint_factors(T, g)) for g, y in ys if g > first]
        return self._chosen(f"footprint[{T.name},{lv}]", opts)

    def _footprint_factors(self, T: Tensor, b: int) -> list[Factor]:
        """T's footprint at boundary ``b`` as encoded factors of its symbolic product
        (model/symbolic.py's Terms: tiles, and a sliding window's extent at each joint tile)."""
        return [self._factor(f) for f in self.terms.footprint(T, b)]

    def _monotone(self) -> None:
        """A tensor's copies choose ``g`` non-decreasing inwards (their boundaries follow)."""
        for i, levels in enumerate(self.stored):
            T = self.problem.tensors[i]
            for outer, inner in zip(levels, levels[1:]):
                yo, yi = self.choice[i, outer], self.choice[i, inner]
                for t in range(len(yo) - 1):
                    coefs = {y: 1 for g, y in yi if g <= t}
                    for g, y in yo:
                        if g <= t:
                            coefs[y] = coefs.get(y, 0) - 1
                    self.m.row(f"monotone[{T.name},{outer},{inner},{t}]", coefs, -math.inf, 0)

    def _no_gaps(self) -> None:
        """Symmetry: within a block, a boundary below the first stores a copy only if the one
        above it does (a canonical nest's boundaries all store copies; padding goes last)."""
        for block in self.blocks:
            first, last = self.first[block[0]], self.last[block[0]]
            at: dict[int, dict[int, int]] = {b: {} for b in range(first, last + 1)}
            for (i, lv), ys in self.choice.items():
                if lv not in block:
                    continue
                for g, y in ys:
                    b = self.boundary(lv, g)
                    at[b][y] = at[b].get(y, 0) + 1
            for b in range(first + 1, last + 1):
                for y in at[b]:
                    self.m.row(f"no_gap[{b},{y}]", {y: 1} | {v: -c for v, c in at[b - 1].items()},
                               -math.inf, 0)

    def _strict(self) -> None:
        """Cuts valid at the exact representation of every canonical nest (module docstring),
        which remove over-estimating ones: a copy choosing ``g >= 1`` has a relevant loop
        iterating in segment ``g - 1`` (its tiles at ``g`` below those at ``g - 1``); and a
        boundary of a block that stores no copy has the tiles of the one above (padding)."""
        for (i, lv), ys in self.choice.items():
            T = self.problem.tensors[i]
            rel = [d for d in dict.fromkeys(T.ranks) if d in self.ranks]
            for g, y in ys:
                if g == 0:
                    continue
                coefs: dict[int, int] = {y: -1}
                const = 0
                for d in rel:
                    for p, x in self.exp[d, g].items():
                        coefs[x] = coefs.get(x, 0) - 1
                        if g == 1:
                            const += prime_exponents(self.problem.size[d])[p]
                        else:
                            above = self.exp[d, g - 1][p]
                            coefs[above] = coefs.get(above, 0) + 1
                # sum(exp[g-1] - exp[g]) - y >= 0, exp[0] the rank's own exponents
                self.m.row(f"strict[{T.name},{lv},{g}]", coefs, -const, math.inf)
        for block in self.blocks:
            first, last = self.first[block[0]], self.last[block[0]]
            for b in range(first + 1, last + 1):
                here = [y for (i, lv), ys in self.choice.items() if lv in block
                        for g, y in ys if g == b]
                for d in self.ranks:
                    top = prime_exponents(self.problem.size[d])
                    for p, x in self.exp[d, b].items():
                        self.m.row(f"padding[{b},{d},{p}]", {self.exp[d, b - 1][p]: 1, x: -1}
                                   | {y: -top[p] for y in here}, -math.inf, 0)

    def _unread(self) -> None:
        """Symmetry: an order no copy reads is the first class (it changes no formula)."""
        reads: dict[int, list[int]] = {}
        for opts in self.options.values():
            for g, w, _, _ in opts:
                if g:
                    reads.setdefault(g - 1, []).append(w)
        for s, o in enumerate(self.order_vars):  # an order no copy reads: the first class
            if len(o) > 1:
                self.m.row(f"unread[{s}]", {o[0]: 1} | dict.fromkeys(reads.get(s, []), 1),
                           1, math.inf)

    def _growing(self, words: dict[tuple[int, int], Linear]) -> None:
        """Cut valid at every exact representation: a tensor's traffic grows inwards (fills
        and replicas only grow; levels.py, docs/hierarchy.md)."""
        for i, levels in enumerate(self.stored):
            for outer, inner in zip(levels, levels[1:]):
                row = Linear().add(words[i, inner]).add(words[i, outer], -1)
                self.m.row(f"growing[{i},{outer},{inner}]", row.coefs, -row.const, math.inf)

    # ----------------------------------------------------------------------------- decoding
    def decode(self, x) -> tuple[Nest, Copies, dict]:
        """The nest (tiles, each segment's chosen class order, every copy at ``b(g)``, fanouts
        right above their blocks), its Copies, and each copy's chosen (g, position, class)."""
        levels = []
        for b in range(1, self.k + 1):
            tiles = {d: 1 for d in self.problem.ranks}
            for d in self.ranks:
                tiles[d] = math.prod(p ** round(x[v]) for p, v in self.exp[d, b].items())
            levels.append(tuple(tiles.items()))
        orders = tuple(self.segment_classes[s][next(c for c, v in enumerate(o) if x[v] > 0.5)].order
                       for s, o in enumerate(self.order_vars))
        chosen, storage, where = {}, [], []
        for i, T in enumerate(self.problem.tensors):
            for lv in self.stored[i]:
                g, _, pos, c = next(opt for opt in self.options[i, lv] if x[opt[1]] > 0.5)
                chosen[i, lv] = (g, pos, c)
                storage.append((T.name, self.boundary(lv, g)))
                where.append(lv)
        spatial = ()
        fanned = any(self.fan_at)
        if self.sp:
            at = {}
            for lv in range(1, len(self.arch.on_chip) + 1):
                split = tuple((d, s) for d in self.problem.ranks if (d, lv) in self.sp
                              and (s := math.prod(p ** round(x[v]) for p, v
                                                  in self.sp[d, lv].items())) > 1)
                if self.fan_at[lv - 1]:
                    at[self.fan_at[lv - 1]] = split
            spatial = tuple(at.get(b, ()) for b in range(1, self.k + 1))
        nest = Nest(tuple(levels), orders, tuple(storage), spatial)
        names = tuple(lv.name for lv in self.arch.on_chip)
        copies = Copies(tuple(where), names, self.fan_at if fanned else None)
        return nest, copies, chosen

    def value(self, nest: Nest, chosen: dict) -> dict[str, int]:
        """Every objective of ``nest`` under the chosen options' formulas, in integers."""
        p = self.problem
        names = [lv.name for lv in self.arch.on_chip]
        out = dict.fromkeys(self.objectives, 0)
        fanouts = [nest.fanout(b) if b else {} for b in self.fan_at]
        for i, T in enumerate(p.tensors):
            for k, lv in enumerate(self.stored[i]):
                g, pos, c = chosen[i, lv]
                b = self.boundary(lv, g)
                pinned = p.size if g == 0 else nest.tile(p, g)
                if any(pinned[d] != nest.tile(p, b)[d] for d in T.ranks):
                    raise SolverError(f"a solution of {p} breaks the pin of {T.name} at level "
                                      f"{lv} to boundary {g}; refusing it")
                m = self._formula(nest, T, g, pos, c)
                source = self.stored[i][k - 1] if k else 0
                above, unicast = replicas(T, nest, source, lv, self.arch.multicast, fanouts)
                if T is p.output:
                    words = above * (m * unicast + m - p.tensor_size(T))
                else:
                    words = above * unicast * m
                out[f"occupancy:{names[lv - 1]}"] += T.footprint(nest.instance_tile(p, b))
                out[f"accesses:{names[lv - 1]}"] += words
                if k == 0:
                    out["dram"] += words
        return out

    def _formula(self, nest: Nest, T: Tensor, g: int, pos: int, c: int) -> int:
        if g == 0:
            return self.problem.tensor_size(T)
        return self._fills(nest, T, self.segment_classes[g - 1][c], pos, g, g)
