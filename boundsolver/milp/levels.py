"""The exact MILP of a hierarchy's joint bound (perfect or imperfect factors, spatial fanout).

A mapping onto on-chip levels 1..L is a :class:`~boundsolver.model.cost.Nest` with boundary ``b`` =
level ``b``; segment ``s`` (loops between boundaries ``s`` and ``s + 1``) runs in its own order and
every tensor is stored at each level that keeps it. ``nest.moved_at`` fills T's copy at ``b`` once
per change of its tile over the loops above ``b``: with ``j`` T's innermost *iterating* relevant
loop above ``b`` and ``s_j`` its segment,

    moved_at(T, b) = F(T, s_j + 1),   F(T, g) = |T| x prod_{e not in T} count(e, g - 1 + a_e)
                                       (sliding axes: formulation.py's sweep with j's tile at g - 1)

where ``a_e`` says whether e's loop in segment ``g - 1`` lies above ``j``, and ``F(T, 0) = |T|`` (no
relevant loop above ``b``: T's tile at ``b`` is the whole tensor). This is formulation.py's nest traffic
of a tensor of group ``g``, with T's tiles at ``b`` equal to those at ``g`` (no relevant loop
iterates in segments ``g..b-1``). ``F`` does not depend on ``b``: a copy below an outer copy with
the same tiles is filled as often (the pinned case); with bypass ``s_j`` may lie above the nearest
outer level keeping T, so the choice below ranges over every boundary, not only that level.

**The encoding.** A class fixes an order class (formulation.py) per segment, over the tensors kept
at or below it. For each stored copy (T, b) a binary one-hot ``y[g]``, ``g = 0..b``, chooses where
its ``j`` sits; choosing ``g`` pins T's tiles (``exp[d,g] = exp[d,b]``, ``= N_d`` for ``g = 0``,
through ``exp[d,g] - exp[d,b] <= top (1 - sum_{g' <= g} y[g'])``, small coefficients) and the
copy's traffic is ``F(T, g)``: per ``g`` a value one-hot summing to ``y[g]``, its exponents equal
to the factors' exponents multiplied by ``y[g]`` (products of a binary and a bounded integer,
linearised exactly: McCormick rows are exact at integer points).

**Why the least value over classes and choices is exact.** (1) Every feasible choice
over-estimates: pins hold, so no relevant loop iterates in segments ``g..b-1``, i.e. ``g >= s_j + 1``
(or ``g = 0`` and nothing relevant iterates); for ``g > s_j + 1``, ``F(T, g) >= |T| prod count(e, g - 1)
>= |T| prod count(e, s_j + 1) >= F(T, s_j + 1)`` (counts grow inwards); for ``g = s_j + 1``, the
class's innermost relevant loop may be a loop that runs once, which is below the real ``j`` and
only adds refetching loops. (2) Some class and choice is exact for every copy at once: order each
segment with its loops of one iteration outermost (its order class, or one dominating it, is
enumerated) and choose ``g = s_j + 1`` per copy. Occupancies are exact (tiles only). So for any
limits, the solver's least formula value equals the least true value; and a point minimising a
lexicographic vector of formulas that are each at least the true value has true value equal to
it (the first differing component would make the true vector lexicographically smaller). Every
point is re-costed by ``cost.evaluate_levels`` in integers, and a mismatch is an error.

**Spatial fanout** (docs/hierarchy.md). The tiles above are *global* (all instances of a level
together), so the temporal argument is unchanged. Each level with fanout has prime exponents per
rank it may split (their product a value one-hot at most the fanout); an instance's tile is the
global one less every fanout at or above it (footprints, capacities); a copy's traffic gains the
factors ``nest.replicas`` counts, which do not depend on the class or the choice.

**Imperfect factors** (docs/hierarchy.md): each rank's outermost split may be any size of
``mapspace.tile_sizes``, deeper tiles dividing it. The tiles are formulation.py's imperfect
one-hots tied to exponents, and with ``first_split`` the nesting row of boundary ``b`` is relaxed
by the one-hot entry ``tile(d, b - 1) = N_d``; counts read ``ceil(N/u)`` from the one-hot. Tiles
still never grow inwards, so counts still only grow inwards and the argument above holds
unchanged; pins compare exponents (equal exponents of two tiles, the inner no larger, make them
equal).

**Solving less.** Classes that agree on the segments an objective and its limits read pose the
same question (other segments constrain no tile), so one of them is solved for all
(``LevelSolver.groups``); and once the traffic into a level is fixed, a level inside it that keeps
the same tensors moves at least as much (``LevelSolver.floor``), so a point attaining that ends
its stage.
"""

from __future__ import annotations

import math

from ..errors import SolverError
from ..model.arch import Arch
from ..model.cost import LevelCost, Nest, replicas
from ..model.einsum import Einsum, Tensor
from ..model.mapspace import (  # LevelClass, kept and level_classes live with the other classes
    LevelClass,
    Mapspace,
    divisors,
    kept,
    tile_sizes,
    level_classes,  # noqa: F401 (joint.py and the tests import it from here)
)
from ..model.symbolic import prime_exponents
from .formulation import Factor, Linear, NestFormulation, ProductModel


def objective_names(arch: Arch) -> list[str]:
    names = [lv.name for lv in arch.on_chip]
    return (["dram"] + [f"accesses:{n}" for n in names] + [f"occupancy:{n}" for n in names])


def named_values(arch: Arch, cost: LevelCost) -> dict[str, int]:
    """A LevelCost under the objectives' names."""
    out = {"dram": cost.dram}
    for lv, occ, acc in zip(arch.on_chip, cost.occupancy, cost.accesses):
        out[f"occupancy:{lv.name}"] = occ
        out[f"accesses:{lv.name}"] = acc
    return out


class LevelFormulation(NestFormulation):
    """The MILP of one :class:`LevelClass`: tiles per level, a choice per stored copy, and the
    objectives ``dram``, ``accesses:<level>`` and ``occupancy:<level>``."""

    first_split = True  # imperfect factors: each rank's outermost split, at any boundary

    def __init__(self, problem: Einsum, arch: Arch, cls: LevelClass, ranks: list[str],
                 factors: str = "perfect"):
        ProductModel.__init__(self, problem)
        self.arch, self.cls = arch, cls
        self._setup(len(arch.on_chip), Mapspace("uniform", factors), ranks)
        self.stored = kept(problem, arch)
        self.sp: dict[tuple[str, int], dict[int, int]] = {}
        self._fanout()
        self._gates: dict[tuple[int, int], int] = {}
        self.choice: dict[tuple[int, int], list[tuple[int, int]]] = {}
        names = [lv.name for lv in arch.on_chip]
        occ = {n: Linear() for n in names}
        acc = {n: Linear() for n in names}
        dram = Linear()
        for i, T in enumerate(problem.tensors):
            for b in self.stored[i]:
                occ[names[b - 1]].add(self._footprint(T, b))
                words = self._words(i, T, b, lambda rep, tag, i=i, T=T, b=b:
                                    self._copy(i, T, b, rep, tag))
                acc[names[b - 1]].add(words)
                if b == self.stored[i][0]:
                    dram.add(words)
        self._finish_named({"dram": dram} | {f"accesses:{n}": acc[n] for n in names}
                           | {f"occupancy:{n}": occ[n] for n in names})

    # ----------------------------------------------------------------------------- fanout
    def _fanout(self) -> None:
        """Spatial factors of each level with fanout (prime exponents per split rank), their
        product at most the fanout (a value one-hot over the products it may take), and every
        instance's innermost tile whole: the global tiles (``exp``) stay the temporal nest."""
        for b in range(1, len(self.arch.on_chip) + 1):
            split = [d for d in self.arch.splits(self.problem, b) if d in self.ranks]
            if not split:
                continue
            for d in split:
                top = prime_exponents(self.problem.size[d])
                self.sp[d, b] = {p: self.m.var(f"spatial[{d},{b},{p}]", 0, e)
                                 for p, e in top.items()}
            values = {math.prod(o.values())
                      for o in self.arch.split_options(self.problem, b, ranks=split)}
            z = {v: self.m.var(f"fanout[{b}].value[{v}]") for v in sorted(values)}
            self.m.row(f"fanout[{b}].choice", dict.fromkeys(z.values(), 1), 1, 1)
            for p in sorted({p for d in split for p in self.sp[d, b]}):
                coefs = {zv: prime_exponents(v).get(p, 0) for v, zv in z.items()}
                for d in split:
                    if p in self.sp[d, b]:
                        coefs[self.sp[d, b][p]] = -1
                self.m.row(f"fanout[{b}].exponent[{p}]", coefs, 0, 0)
        for d in self.ranks:
            for p, x in self.exp[d, self.k].items():
                coefs = {v[p]: 1 for (e, _), v in self.sp.items() if e == d and p in v}
                if coefs:
                    self.m.row(f"whole[{d},{p}]", coefs | {x: -1}, -math.inf, 0)

    def _words(self, i: int, T: Tensor, b: int, traffic) -> Linear:
        """Words moved into T's copy at ``b``: ``traffic(replication factors, tag)`` (its
        fills); the output is also written back as often and read back all but once, and where
        its parent does not multicast only one child reads each partial sum back."""
        above, unicast = self._replication(i, T, b)
        words = traffic(above + unicast, "moved")
        if T is self.problem.output:
            reads = traffic(above, "reads") if unicast else words
            words = Linear().add(words).add(reads)
            rep = self._product(f"replicas[{T.name},{b}]", above)
            words.add(rep, -self.problem.tensor_size(T))
        return words

    def _fanout_boundary(self, level: int) -> int:
        """The boundary right below level ``level``'s fanout loop (here: its own boundary)."""
        return level

    def _tile(self, d: str, b: int) -> Factor:
        """One instance's tile: the global tile's exponents less every fanout's at or above."""
        factor = super()._tile(d, b)
        splits = [v for (e, level), v in self.sp.items()
                  if e == d and self._fanout_boundary(level) <= b]
        if not splits or factor[0] == "const":
            return factor
        if factor[0] == "sel":  # an imperfect global tile: its exponents (tied to the one-hot);
            # an instance's tile divides it, so it is a candidate size too (mapspace.tile_sizes)
            factor = ("exp", {p: {x: 1} for p, x in self.exp[d, b].items()},
                      tile_sizes(self.problem.size[d], True), {})
        exps = {p: dict(by) for p, by in factor[1].items()}
        for v in splits:
            for p, x in v.items():
                exps.setdefault(p, {})[x] = -1
        return ("exp", exps, factor[2], factor[3])

    def _replication(self, i: int, T: Tensor, b: int) -> tuple[list[Factor], list[Factor]]:
        """The factors of ``nest.replicas``: fanouts of ranks T does not use at or above its
        source copy, and those below it whose parent does not multicast."""
        stored = self.stored[i]
        source = stored[stored.index(b) - 1] if stored.index(b) else 0
        above: list[Factor] = []
        unicast: list[Factor] = []
        for (d, level), v in sorted(self.sp.items()):
            if d in T.ranks or level > b:
                continue
            if level > source and self.arch.on_chip[level - 1].multicast:
                continue
            values = [s for s in divisors(self.problem.size[d]) if s <= self.arch.fanouts[level - 1]]
            (above if level <= source else unicast).append(
                ("exp", {p: {x: 1} for p, x in v.items()}, values, {}))
        return above, unicast

    # ----------------------------------------------------------------------------- choices
    def _copy(self, i: int, T: Tensor, b: int, rep: list[Factor], tag: str = "moved") -> Linear:
        """Traffic of T's copy at ``b``: ``F(T, g)`` for the chosen ``g``, with its pins."""
        if (i, b) in self.choice:  # a second product over the same choice (the output's reads)
            ys = self.choice[i, b]
            return self._chosen(f"{tag}[{T.name},{b}]",
                                [(y, self._option(i, T, b, g) + rep) for g, y in ys])
        ys = [(g, self.m.var(f"where[{T.name},{b},{g}]")) for g in range(b + 1)]
        self.m.row(f"where_choice[{T.name},{b}]", {y: 1 for _, y in ys}, 1, 1)
        self.choice[i, b] = ys
        self._pins(T, f"{T.name},{b}", ys, b)
        options = [(y, self._option(i, T, b, g) + rep) for g, y in ys]
        return self._chosen(f"{tag}[{T.name},{b}]", options)

    def _pins(self, T: Tensor, tag: str, ys: list[tuple[int, int]], b: int) -> None:
        """A copy at boundary ``b`` choosing ``g < b`` keeps T's tiles from ``g`` to ``b``
        (``g = 0``: the whole tensor), in rows with small coefficients."""
        for d in dict.fromkeys(T.ranks):
            if d not in self.ranks:
                continue
            whole = prime_exponents(self.problem.size[d])
            for g in range(b):
                for p, x in self.exp[d, b].items():
                    if g == 0:  # the whole tensor: exp[d,b] >= exponents of N_d * y[0] (a
                        # multiple of N_d no larger than it: N_d, imperfect sizes included)
                        if whole.get(p, 0):
                            self.m.row(f"pin[{tag},{g},{d},{p}]",
                                       {ys[0][1]: whole[p], x: -1}, -math.inf, 0)
                        continue
                    # exp[d,g] - exp[d,b] <= top * (1 - sum_{h <= g} y[h]): with tiles
                    # non-increasing inwards, equal exponents make equal tiles
                    top = int(self.m.upper[self.exp[d, g][p]])
                    coefs = {y: top for h, y in ys if h <= g} | {x: -1, self.exp[d, g][p]: 1}
                    self.m.row(f"pin[{tag},{g},{d},{p}]", coefs, -math.inf, top)

    def _option(self, i: int, T: Tensor, b: int, g: int) -> list[Factor]:
        """The factors of ``F(T, g)``, T's tiles read at ``b`` (equal to ``g``'s when chosen)."""
        if g == 0:
            return [("const", self.problem.tensor_size(T))]
        return self._traffic_factors(T, self.cls.segments[g - 1],
                                     self.cls.tensors[g - 1].index(i), g, b)

    def _gate(self, y: int, x: int) -> int:
        """A variable equal to ``y * x`` (y binary, x an integer in [0, U]) at integer points."""
        if (y, x) not in self._gates:
            top = self.m.upper[x]
            u = self.m.var(f"gate[{y},{x}]", 0, top, integer=False)
            self.m.row(f"gate_y[{u}]", {u: 1, y: -top}, -math.inf, 0)
            self.m.row(f"gate_x[{u}]", {u: 1, x: -1}, -math.inf, 0)
            self.m.row(f"gate_both[{u}]", {x: 1, u: -1, y: top}, -math.inf, top)
            self._gates[y, x] = u
        return self._gates[y, x]

    def _chosen(self, name: str, options: list[tuple[int, list[Factor]]]) -> Linear:
        """``sum_g y[g] * prod(factors of g)``: per option a value one-hot summing to ``y[g]``
        whose exponents equal the option's factors' exponents gated by ``y[g]``."""
        out = Linear()
        for y, factors in options:
            const = math.prod(f[1] for f in factors if f[0] == "const")
            live = [f for f in factors if f[0] != "const"]
            values = self._attainable(name, live, const)
            z = {v: self.m.var(f"{name}.{y}.value[{v}]") for v in sorted(values)}
            self.m.row(f"{name}.{y}.choice", dict.fromkeys(z.values(), 1) | {y: -1}, 0, 0)
            rows: dict[int, dict[int, int]] = {}

            def add(p: int, var: int, c: int, rows=rows) -> None:
                if c:
                    row = rows.setdefault(p, {})
                    row[var] = row.get(var, 0) + c

            for v, zv in z.items():
                for p, e in prime_exponents(v).items():
                    add(p, zv, e)
            self._gated_factors(name, y, const, live, add)
            for p, coefs in sorted(rows.items()):
                self.m.row(f"{name}.{y}.exponent[{p}]", coefs, 0, 0)
            out.add(Linear({zv: v for v, zv in z.items()}))
        return out

    def _gated_factors(self, name: str, y: int, const: int, live: list[Factor], add) -> None:
        """The exponents of ``y * prod(factors)``, each passed to ``add(prime, var, -e)``: the
        constant's gated by ``y`` itself, a selection's through gated copies of its binaries
        (summing to ``y``), a tile's or count's through gated exponent variables."""
        for p, e in prime_exponents(const).items():
            add(p, y, -e)
        for f in live:
            if f[0] == "sel":
                gated = [(self._gate(y, var), val) for var, val in f[1]]
                self.m.row(f"{name}.{y}.sel", dict.fromkeys((w for w, _ in gated), 1) | {y: -1},
                           0, 0)
                for w, val in gated:
                    for p, e in prime_exponents(val).items():
                        add(p, w, -e)
            else:
                for p, by_var in f[1].items():
                    for var, c in by_var.items():
                        add(p, self._gate(y, var), -c)
                for p, e in f[3].items():
                    add(p, y, -e)

    # ----------------------------------------------------------------------------- decoding
    def decode(self, x) -> tuple[Nest, dict[tuple[int, int], int]]:
        """The nest of a solution (tiles per level, each segment's class order, every copy) and
        each copy's chosen ``g``."""
        levels = []
        for b in range(1, self.k + 1):
            tiles = {d: 1 for d in self.problem.ranks}
            for d in self.ranks:
                tiles[d] = math.prod(p ** round(x[v]) for p, v in self.exp[d, b].items())
            levels.append(tuple(tiles.items()))
        storage = tuple((T.name, b) for i, T in enumerate(self.problem.tensors)
                        for b in self.stored[i])
        spatial = ()
        if self.sp:
            spatial = tuple(tuple((d, s) for d in self.problem.ranks if (d, b) in self.sp
                                  and (s := math.prod(p ** round(x[v]) for p, v
                                                      in self.sp[d, b].items())) > 1)
                            for b in range(1, self.k + 1))
        nest = Nest(tuple(levels), tuple(c.order for c in self.cls.segments), storage, spatial)
        chosen = {key: next(g for g, y in ys if x[y] > 0.5) for key, ys in self.choice.items()}
        return nest, chosen

    def value(self, nest: Nest, chosen: dict) -> dict[str, int]:
        """Every objective of ``nest`` under this class's formulas and ``chosen``, in integers."""
        p = self.problem
        names = [lv.name for lv in self.arch.on_chip]
        out = dict.fromkeys(self.objectives, 0)
        for i, T in enumerate(p.tensors):
            for b in self.stored[i]:
                g = chosen[i, b]
                pinned = p.size if g == 0 else nest.tile(p, g)
                if any(pinned[d] != nest.tile(p, b)[d] for d in T.ranks):
                    raise SolverError(f"a solution of {p} breaks the pin of {T.name} at level "
                                      f"{b} to boundary {g}; refusing it")
                m = self._option_value(nest, i, T, b, g)
                k = self.stored[i].index(b)
                above, unicast = replicas(T, nest, self.stored[i][k - 1] if k else 0, b,
                                          self.arch.multicast)
                if T is p.output:
                    words = above * (m * unicast + m - p.tensor_size(T))
                else:
                    words = above * unicast * m
                out[f"occupancy:{names[b - 1]}"] += T.footprint(nest.instance_tile(p, b))
                out[f"accesses:{names[b - 1]}"] += words
                if b == self.stored[i][0]:
                    out["dram"] += words
        return out

    def _option_value(self, nest: Nest, i: int, T: Tensor, b: int, g: int) -> int:
        if g == 0:
            return self.problem.tensor_size(T)
        oc = self.cls.segments[g - 1]
        return self._fills(nest, T, oc, self.cls.tensors[g - 1].index(i), g, b)

    def _fills(self, nest: Nest, T: Tensor, oc: OrderClass, pos: int, g: int, b: int) -> int:
        """``F(T, g)`` at a decoded nest, in integers (the module docstring's formula, written
        apart from the symbolic factors the model is built from, so that it checks them): T's
        innermost relevant loop in segment ``g - 1`` under order class ``oc`` (T at ``pos``),
        its tile read at boundary ``b`` (pinned equal to ``g``'s)."""
        p, size = self.problem, self.problem.size
        t = nest.tile(p, b)
        m = 1
        for e in self.ranks:
            if e not in T.ranks:
                m *= -(-size[e] // nest.tile(p, g if e in oc.refetched[pos] else g - 1)[e])
        j = oc.innermost[pos]
        for a in T.axes:
            if a.is_plain:
                m *= size[a.ranks[0]]
            elif j in a.ranks:
                m *= self._sweep(a, j)(t, nest.tile(p, g - 1)[j])
            else:
                m *= self._refetch(a)(t, None)
        return m


