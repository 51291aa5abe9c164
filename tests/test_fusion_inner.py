"""Fused loop trees whose stored tensors live in inner levels across leaf invocations
(docs/fusion.md, "Tree tiles in inner levels"): the hand-counted FlashAttention-2 example, an
independent step-by-step simulation against the evaluator on random trees, the brute force
with the choice against the brute force without it, and the search with the choice
(``inner_storage=True``, fused_levels.PlacedSearch) against the brute force with it."""

from __future__ import annotations

import random
from itertools import product

import pytest

import boundsolver as bs
from boundsolver.curves import fused, fused_levels
from boundsolver.errors import ArchError, EinsumError
from boundsolver.model import fusion, fusion_levels
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import evaluate_levels
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.model.fusion_levels import LevelMapping, invocations, leaf_arch
from boundsolver.reference.hierarchy import nests
from boundsolver.reference.treeref import segment_trees
from boundsolver.reference.treeref_levels import _leaf_contexts, _placements, enumerate_workload

FFN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]


def arch(*inner: Level) -> Arch:
    return Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))



def _flash(w, a, placed: bool) -> Schedule:
    """FlashAttention-2's loop on ``w`` (m = p = 4): query blocks of 2 rows outer, keeping Q and
    the output Z; key blocks of 2 inside, the score block S between the two leaves; every leaf
    tile whole. ``placed``: Q, Z and S live in SMEM (else in L2 only, as before)."""
    sizes = w.size | {"m": 2, "p": 2}
    where = {"Q": "SMEM", "Z": "SMEM", "S": "SMEM"} if placed else {}
    kids = []
    for e in w.einsums:
        sub = fusion.sub_problem(e, sizes)
        res = frozenset(T.name for T in sub.tensors if T.name in {"Q", "Z", "S"})
        inner = tuple((T.name, where[T.name]) for T in sub.tensors if T.name in where)
        _, r = invocations(w, e, sizes)
        kids.append(Leaf(e.name, LevelMapping.whole(sub, leaf_arch(a, sub, res, r > 1, inner))))
    key_loop = Node("p", 2, (), tuple(kids), at=(("S", "SMEM"),) if placed else ())
    query_loop = Node("m", 2, ("Q", "Z"), (key_loop,),
                      at=(("Q", "SMEM"), ("Z", "SMEM")) if placed else ())
    return Schedule((Node(None, 0, (), (query_loop,)),))


def test_flash_attention_2_counted_by_hand():
    """Attention m = p = 4, e = f = 2 on DRAM -> L2 -> SMEM (16 words), FlashAttention-2's loop.

    By hand (docs/fusion.md). 2 query blocks of 2 rows, 2 key blocks of 2 keys each. DRAM: Q
    read once (8 words), Z written once (8), K and V (4 words a block) read once per (query
    block, key block): 16 each; 48. With Q, Z and S in SMEM across the key loop: Q enters SMEM
    once per query block (8 in all), Z is written back once per query block (8, never read
    back: each block is written once), K and V enter SMEM once per leaf invocation (16 each), S
    is written and read inside SMEM (0): 48, exactly FlashAttention-2's global-memory traffic
    here (per query block: Q 4, K and V 2 x 4 each, O 4; 2 x 24). SMEM holds Q, Z, S (4 words
    each) and a leaf's K or V block (4): 16. L2 (inclusive) holds the same 12 tree words and the
    leaf's streamed block: 16. Before (every tensor stored in L2, inner levels refilled at every
    leaf invocation), per invocation of the S leaf Q 4 + K 4 + S written 4, of the Z leaf S 4 +
    V 4 + Z written 4 (4 x 24 = 96), and Z's 4 partial sums read back on the second key block of
    each of the 2 query blocks (8): 104."""
    w = bs.workload(ATTENTION, m=4, p=4, e=2, f=2)
    a = arch(Level("SMEM", 16))
    new = fusion_levels.evaluate(w, _flash(w, a, True), a)
    assert (new.dram, new.accesses, new.occupancy) == (48, (48, 48), (16, 16))
    assert dict(new.reads) == {"Q": 8, "K": 16, "V": 16} and dict(new.writes) == {"Z": 8}
    old = fusion_levels.evaluate(w, _flash(w, a, False), a)
    assert (old.dram, old.accesses[1]) == (48, 104)
    text = fusion_levels.tree(w, _flash(w, a, True), a)
    assert "[Q{m:2,e:2}] kept in L2 and SMEM, 4 words" in text
    assert "[S{m:2,p:2}] intermediate in L2 and SMEM, 4 words" in text


def test_refusals():
    w = bs.workload(ATTENTION, m=4, p=4, e=2, f=2)
    a = arch(Level("SMEM", 16))
    good = _flash(w, a, True)
    with pytest.raises(EinsumError, match="one buffer has none"):
        fusion.check_schedule(w, good)
    with pytest.raises(EinsumError, match="one buffer has no inner levels"):
        fusion.evaluate(w, good, check=False)
    assert "keep Q@SMEM,Z@SMEM" in good.describe(w) and "at S@SMEM" in good.describe(w)
    root = good.segments[0]
    q = root.children[0]
    bad = Schedule((Node(None, 0, (), (Node("m", 2, ("Q", "Z"), q.children,
                                             at=(("K", "SMEM"),)),)),))
    with pytest.raises(EinsumError, match="not stored there"):
        fusion_levels.evaluate(w, bad, a)
    bad = Schedule((Node(None, 0, (), (Node("m", 2, ("Q", "Z"), q.children,
                                             at=(("Q", "RF"),)),)),))
    with pytest.raises(EinsumError, match="no inner level"):
        fusion_levels.evaluate(w, bad, a)
    b = arch(Level("SMEM", 16, keeps=("output",)))
    with pytest.raises((ArchError, EinsumError)):
        fusion_levels.evaluate(w, _flash(w, b, True), b)
    sub = fusion.sub_problem(w.einsums[0], w.size | {"m": 2, "p": 2})
    with pytest.raises(ArchError, match="leave 0 words of SMEM"):
        leaf_arch(a, sub, frozenset({"Q", "S"}), False, (("Q", "SMEM"),), (0,))


# --------------------------------------------------------------- an independent simulation

def _elements(tensor, origin: dict, extent: dict) -> set:
    return set(product(*(range(origin[d], origin[d] + extent[d]) for d in tensor.ranks)))


class _Sim:
    """Runs a schedule step by step (every iteration of every tree loop and of every leaf's
    loops), tracking what each copy holds: a copy is filled whenever the tile it needs differs
    from the one it holds; an output's copy writes back every tile it held and reads back the
    elements its chain has held before (first-read elision over the run). Counts DRAM reads
    and writes per tensor and the words into each inner level. Occupancy: every tile a tree
    node holds is resident from the first step that uses it to the last (found afterwards, from
    the recorded uses), in the outer level (inclusive) and in its inner level if placed there;
    a leaf's copies are resident while it runs. Plain axes, no fanout."""

    def __init__(self, w, a):
        self.w, self.a = w, a
        self.k = len(a.on_chip)
        self.reads, self.writes = {}, {}
        self.inner = [0] * (self.k - 1)
        self.seen: dict = {}
        self.t = 0
        self.tiles: list = []  # per tree tile: [first use, last use, words, inner level or 0]
        self.steps: list = []  # per leaf step: words of the leaf's copies per on-chip level

    def add(self, table, T, v):
        table[T] = table.get(T, 0) + v

    def fill(self, chain, tensor, out: bool, elems: set) -> tuple[int, int]:
        """(reads, writes) of one fill of a copy in ``chain`` with ``elems``."""
        if not out:
            return len(elems), 0
        seen = self.seen.setdefault(chain, set())
        back = len(elems & seen)
        seen |= elems
        return back, len(elems)

    def node(self, ctx, node, origin, sizes, resident, current):
        n = 1
        if node.rank is not None:
            n = sizes[node.rank] // node.tile
            sizes = sizes | {node.rank: node.tile}
        here = [*node.keep, *fusion.stored_here(ctx, node, resident)]
        at = dict(node.at)
        span = fusion._span(ctx, node)
        held: dict = {}
        names = [x.name for x in self.a.on_chip]
        current = dict(current)
        for it in range(n):
            o = origin | ({node.rank: origin[node.rank] + it * node.tile} if node.rank else {})
            for T in here:
                tensor = ctx.tensor(T, span)
                key = tuple(o[d] for d in tensor.ranks)
                if held.get(T) == key:
                    continue  # the loop does not step through T: its tile stays
                held[T] = key
                current[T] = len(self.tiles)
                self.tiles.append([None, None, len(_elements(tensor, o, sizes)),
                                   names.index(at[T]) if T in at else 0])
                if T not in ctx.moved and T not in ctx.exported:
                    continue
                r, wr = self.fill(("tree", T), tensor, T in ctx.written,
                                  _elements(tensor, o, sizes))
                self.add(self.reads, T, r)
                self.add(self.writes, T, wr)
                if T in at:
                    self.inner[names.index(at[T]) - 1] += r + wr
            for c in node.children:
                inside = resident | frozenset(here)
                if isinstance(c, Node):
                    self.node(ctx, c, o, sizes, inside, current)
                else:
                    self.leaf(ctx, c, o, sizes, current)

    def leaf(self, ctx, leaf, origin, sizes, current):
        e = self.w[leaf.einsum]
        sub = fusion.sub_problem(e, sizes)
        nest = leaf.mapping.nest
        shift = sum(1 for x in leaf.mapping.names if x.endswith(fusion_levels.TREE))
        tiles = [sub.size] + [dict(lv) for lv in nest.levels]
        loops = [(s, d, tiles[s][d] // tiles[s + 1][d]) for s in range(len(nest.levels))
                 for d in nest.orders[s]]
        held: dict = {}
        words = [0] * self.k
        for T, b in nest.storage:
            if b > shift:
                words[b - shift - 1] += len(_elements(sub.tensor(T), dict.fromkeys(sub.size, 0), tiles[b]))
        for idx in product(*(range(t) for _, _, t in loops)):
            self.t += 1
            self.steps.append(words)
            for T in sub.tensors:
                if T.name in current:
                    tile = self.tiles[current[T.name]]
                    tile[0] = self.t if tile[0] is None else tile[0]
                    tile[1] = self.t
            for T, b in nest.storage:
                if b <= shift:
                    continue  # a tree level's copy: the tree holds it
                tensor = sub.tensor(T)
                o = dict(origin)
                for (s, d, _), i in zip(loops, idx):
                    if s < b:
                        o[d] += i * tiles[s + 1][d]
                key = tuple(o[d] for d in tensor.ranks)
                if held.get((T, b)) == key:
                    continue
                held[(T, b)] = key
                r, wr = self.fill((leaf.einsum, T, b), tensor, tensor is sub.output,
                                  _elements(tensor, o, tiles[b]))
                real = b - shift
                if real == 1:
                    self.add(self.reads, T, r)
                    self.add(self.writes, T, wr)
                else:
                    self.inner[real - 2] += r + wr

    def occupancy(self) -> list[int]:
        """Per on-chip level, the most words resident at any step."""
        peak = [0] * self.k
        for t, words in enumerate(self.steps, 1):
            now = list(words)
            for first, last, size, lv in self.tiles:
                if first is not None and first <= t <= last:
                    now[0] += size
                    if lv:
                        now[lv] += size
            peak = [max(a, b) for a, b in zip(peak, now)]
        return peak

    def run(self, schedule):
        for seg in schedule.segments:
            ctx = fusion.Context(self.w, seg.einsums())
            self.node(ctx, seg, dict.fromkeys(self.w.size, 0), self.w.size, frozenset(), {})
        nonzero = lambda d: {T: v for T, v in d.items() if v}  # noqa: E731
        return nonzero(self.reads), nonzero(self.writes), self.inner


def _random_schedule(w, a, rng, tries: int = 50):
    """A random fused tree of the whole workload (one segment) with a random placement of every
    stored tensor and a random uniform nest of every leaf that moves each resident word into its
    tree level once (capacities ignored: the simulation checks traffic)."""
    seg = w.names
    ctx = fusion.Context(w, seg)
    trees = list(segment_trees(w, seg, 2))
    for _ in range(tries):
        tree = rng.choice(trees)
        placed = rng.choice(list(_placements(w, a, ctx, tree, frozenset(), True)))
        where = _leaf_contexts(w, a, ctx, placed, fusion.root_sizes(w, seg), frozenset(), {},
                               [0] * (len(a.on_chip) - 1), {})
        choice = {}
        for name in seg:
            sizes, res, inner, _ = where[name]
            e = w[name]
            sub = fusion.sub_problem(e, sizes)
            res = frozenset(T.name for T in sub.tensors if T.name in res | ctx.intermediates)
            _, r = invocations(w, e, sizes)
            larch = leaf_arch(a, sub, res, r > 1, inner)
            held = [lv.capacity for lv in larch.on_chip[:fusion_levels.tree_levels(larch)]]
            ok = [nest for nest in nests(sub, larch, 10**6)
                  if list(evaluate_levels(sub, nest, multicast=larch.multicast)
                          .accesses[:len(held)]) == held]
            choice[name] = LevelMapping(rng.choice(ok), None, tuple(lv.name for lv in larch.on_chip))

        def fill(node):
            if isinstance(node, Leaf):
                return Leaf(node.einsum, choice[node.einsum])
            return Node(node.rank, node.tile, node.keep, tuple(fill(c) for c in node.children),
                        node.at)
        schedule = Schedule((fill(placed),))
        if any(n.at for n in _nodes(schedule.segments[0])):
            return schedule
    return schedule


def _nodes(node):
    yield node
    for c in node.children:
        if isinstance(c, Node):
            yield from _nodes(c)


SIM_CASES = [
    (FFN, dict(m=2, d=2, c=4, j=2), arch(Level("L1", 64))),
    (ATTENTION, dict(m=4, p=2, e=2, f=2), arch(Level("L1", 64))),
    (ATTENTION, dict(m=2, p=4, e=2, f=2), arch(Level("L1", 64), Level("L0", 64))),
    (FFN, dict(m=2, d=2, c=2, j=2), arch(Level("L1", 64, keeps=("inputs",)), Level("L0", 64))),
]


@pytest.mark.parametrize("case", range(len(SIM_CASES)))
def test_simulation_equals_the_evaluator_on_random_trees(case):
    texts, sizes, a = SIM_CASES[case]
    w = bs.workload(texts, **sizes)
    rng = random.Random(case)
    for _ in range(12):
        schedule = _random_schedule(w, a, rng)
        cost = fusion_levels.evaluate(w, schedule, a)
        sim = _Sim(w, a)
        reads, writes, inner = sim.run(schedule)
        label = fusion_levels.tree(w, schedule, a)
        assert list(cost.occupancy) == sim.occupancy(), label
        assert (reads, writes) == ({T: v for T, v in cost.reads if v},
                                  {T: v for T, v in cost.writes if v}), label
        assert list(cost.accesses[1:]) == inner, label


# ------------------------------------------------------- brute force with and without the choice

def _at(points, capacity):
    best = [k for o, k, _ in points if o <= capacity]
    return best[-1] if best else None


def test_inner_storage_never_raises_the_key_and_lowers_the_inner_columns():
    """With the choice the mapspace only grows: at every capacity the brute force's key is
    lexicographically at or below the one without it, with the same DRAM column (the outer level
    stays inclusive), and the inner column falls somewhere."""
    w = bs.workload(ATTENTION, m=2, p=2, e=2, f=2)
    a = arch(Level("L1", 6))
    old = enumerate_workload(w, a, True, max_depth=2)
    new = enumerate_workload(w, a, True, max_depth=2, inner_storage=True)
    caps = sorted({o for o, _, _ in old + new})
    lower = False
    for c in caps:
        k_old, k_new = _at(old, c), _at(new, c)
        assert (k_old is None) == (k_new is None)
        if k_old is None:
            continue
        assert k_new <= k_old and k_new[0] == k_old[0]
        lower |= k_new < k_old
    assert lower
    for occ, key, schedule in new:  # every point re-costed, fitting every level
        cost = fusion_levels.evaluate(w, schedule, a)
        assert cost.occupancy[0] == occ and (cost.dram, *cost.accesses[1:]) == key
        assert cost.occupancy[1] <= 6


# ----------------------------------------------- the search (fused_levels.PlacedSearch) with it

def _points(sol) -> list:
    return list(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))


def _key(sol, capacity: int):
    i = int(sol.frontier.at(capacity))
    return tuple(sol.frontier.key[i].tolist()) if i >= 0 else None


SEARCH_CASES = {
    "bypass": (ATTENTION, dict(m=2, p=2, e=2, f=2), arch(Level("L1", 3, keeps=("inputs",)))),
    "fanout, unicast": (FFN, dict(m=2, d=2, c=4, j=2),
                        arch(Level("L1", 4, instances=2, multicast=False))),
    "four levels, fanout": (ATTENTION, dict(m=2, p=2, e=2, f=2),
                            arch(Level("L1", 4, instances=2),
                                 Level("L0", 3, instances=4, multicast=False))),
}


@pytest.mark.parametrize("case", sorted(SEARCH_CASES))
def test_the_search_equals_the_brute_force_with_inner_storage(case):
    """The DP with placements gives the brute force's frontier (which shares only the cost
    model with it) at every breakpoint, and every breakpoint's tree re-costs to its key."""
    texts, sizes, a = SEARCH_CASES[case]
    w = bs.workload(texts, **sizes)
    ref = enumerate_workload(w, a, True, max_depth=2, inner_storage=True)
    sol = fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                      inner_storage=True)
    assert _points(sol) == [(o, k) for o, k, _ in ref]
    front = fused_levels.workload_frontier(w, a, mapspace="uniform/perfect", max_depth=2,
                                           inner_storage=True)  # each tree re-costed
    assert front["accesses"].tolist() == [k[0] for _, k in _points(sol)]
    assert front.attrs["inner_storage"]


# (random hierarchies: tests/test_fused_placed.py, the pruned search against the brute force)


def test_the_search_finds_flash_attention_2():
    """The hand-counted FlashAttention-2 tree (test_flash_attention_2_counted_by_hand: L2
    occupancy 16, key (48, 48)) is attainable, so the search's key at 16 is at most (48, 48);
    the brute force's table (docs/fusion.md) has exactly (48, 48) there, and (48, 80) without
    the choice, which the search without it still gives."""
    w = bs.workload(ATTENTION, m=4, p=4, e=2, f=2)
    a = bs.load_arch("three_level", L1=16)
    new = fused_levels.solve_workload(w, a, True, max_depth=2, inner_storage=True)
    old = fused_levels.solve_workload(w, a, True, max_depth=2, inner_storage=False)
    assert _key(new, 16) == (48, 48) and _key(old, 16) == (48, 80)
    flash = fusion_levels.evaluate(w, _flash(w, arch(Level("SMEM", 16)), True),
                                   arch(Level("SMEM", 16)))
    assert _key(new, flash.occupancy[0]) <= (flash.dram, *flash.accesses[1:])
    # the DRAM column never changes, and the key never rises
    for c in sorted(set(new.frontier.occ.tolist()) | set(old.frontier.occ.tolist())):
        assert _key(new, c)[0] == _key(old, c)[0] and _key(new, c) <= _key(old, c)
    row = bs.solve_curve(w, [16], fusion=True, arch=a, max_depth=2, inner_storage=True).iloc[0]
    assert (row["accesses"], row["accesses_L1"]) == (48, 48) and "L2 and L1" in row["tree"]


def test_inner_storage_is_the_default_on_hierarchies():
    """The default (None) searches inner placements wherever the arch has an inner level: the
    attainable (48, 48) at 16 words (the test above) is the default curve's, through every
    entry; ``inner_storage=False`` keeps the older mapspace's (48, 80)."""
    w = bs.workload(ATTENTION, m=4, p=4, e=2, f=2)
    a = bs.load_arch("three_level", L1=16)
    assert _key(fused_levels.solve_workload(w, a, True, max_depth=2), 16) == (48, 48)
    for entry in (bs.solve_curve, lambda *x, **o: bs.pareto_frontier(x[0], **o)):
        df = entry(w, [16], fusion=True, arch=a, max_depth=2)
        assert df.attrs["inner_storage"]
        row = df[df["occupancy"] <= 16].iloc[-1]
        assert (row["accesses"], row["accesses_L1"]) == (48, 48)
    off = bs.solve_curve(w, [16], fusion=True, arch=a, max_depth=2, inner_storage=False)
    assert not off.attrs["inner_storage"]
    assert (off["accesses"].iloc[0], off["accesses_L1"].iloc[0]) == (48, 80)


def test_unconstrained_inner_levels_give_todays_curve():
    """With an inner level that holds everything the placements change nothing in DRAM: the
    DRAM column is the two-level fused curve's, as without them."""
    w = bs.workload(FFN, m=4, d=2, c=2, j=2)
    a = arch(Level("L1", 1000))
    sol = fused_levels.solve_workload(w, a, True, "uniform/perfect", max_depth=2,
                                      inner_storage=True)
    two = fused.solve_workload(w, True, "uniform/perfect", max_depth=2)
    caps = sorted(set(sol.frontier.occ.tolist()) | set(two.frontier.occ.tolist()))
    assert [_key(sol, c)[0] for c in caps] == [two.value(c) for c in caps]


def test_inner_storage_refusals():
    w = bs.workload(FFN, m=2, d=2, c=2, j=2)
    with pytest.raises(bs.BoundsolverError, match="inner_storage must be"):
        fused_levels.solve_workload(w, arch(Level("L1", 8)), inner_storage="yes")
    with pytest.raises(bs.BoundsolverError, match="has none below"):
        fused_levels.solve_workload(w, arch(), inner_storage=True)
    for options in ({}, {"arch": arch(Level("L1", 8)), "fusion": False}):
        with pytest.raises(bs.BoundsolverError, match="inner_storage places"):
            bs.pareto_frontier(w, inner_storage=True, **options)
    # the default applies where it can and is never refused; False is the old mapspace
    sol = fused_levels.solve_workload(w, arch(), max_depth=1)
    assert not isinstance(sol.search, fused_levels.PlacedSearch)
    for value in (None, False):
        assert len(bs.pareto_frontier(w, inner_storage=value, max_depth=1)) > 0


def test_a_tensor_placed_in_a_middle_level_keeps_its_copies_below_it():
    """docs/fusion.md: a leaf keeps a tensor resident in inner level ``l`` at no level at or
    above ``l`` and fills its copies below ``l`` from the tree copy. Placed in SMEM, Q still has
    a copy in RF (which keeps every tensor: its MAC operands come through it); placed in RF, it
    has none in SMEM."""
    a = arch(Level("SMEM", 64, instances=2), Level("RF", 16, instances=4))
    w = bs.workload(ATTENTION[:1], m=2, p=2, e=2)
    sub = fusion.sub_problem(w.einsums[0], w.size)
    keeps = {}
    for lv in ("SMEM", "RF"):
        larch = leaf_arch(a, sub, frozenset({"Q"}), False, (("Q", lv),))
        keeps[lv] = {x.name: x.keeps_tensor(sub, sub.tensor("Q")) for x in larch.on_chip}
        assert [x.instances for x in larch.on_chip[2:]] == [1, 1 if lv == "RF" else 2]
    assert keeps["SMEM"] == {"SMEM(tree)": True, "L2": False, "SMEM": False, "RF": True}
    assert keeps["RF"] == {"RF(tree)": True, "L2": False, "SMEM": False, "RF": False}
