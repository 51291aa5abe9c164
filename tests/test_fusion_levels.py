"""Fused loop trees on hierarchies (docs/fusion.md, "On hierarchies"): the cost model, the DP
against brute force, and how the joint fused curve relates to the curves it must agree with."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused, fused_levels, joint
from boundsolver.errors import ArchError, SolverError
from boundsolver.model import fusion, fusion_levels
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import Nest
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.model.fusion_levels import LevelMapping
from boundsolver.reference.treeref_levels import enumerate_workload

UNIFORM = "uniform/perfect"
PER_TENSOR = "per_tensor/perfect"
FFN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
ATTENTION = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]


def arch(*inner: Level, name: str = "t") -> Arch:
    return Arch(name, 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


def points(sol: fused_levels.HierSolution) -> list:
    return list(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))


def key_at(sol: fused_levels.HierSolution, capacity: int):
    i = int(sol.frontier.at(capacity))
    return tuple(sol.frontier.key[i].tolist()) if i >= 0 else None


# ------------------------------------------------------------------------------ the cost model

def _whole(sub, larch) -> LevelMapping:
    """Every level holds every tile whole (no loops), uniform placement."""
    k = len(larch.on_chip)
    tiles = tuple(sub.sizes)
    storage = tuple((T.name, b) for T in sub.tensors for b, lv in enumerate(larch.on_chip, 1)
                    if lv.keeps_tensor(sub, T))
    return LevelMapping(Nest((tiles,) * k, ((),) * k, storage), None,
                        tuple(lv.name for lv in larch.on_chip))


def test_worked_example_partial_sums_are_read_back_into_inner_levels():
    """FFN with m=2, d=1, c=2, j=1 on DRAM -> L2 -> L1 (8 words), a loop over c (tile 1) holding
    the intermediate Y's 2-word column in L2; both leaves hold every tile whole.

    By hand. Y's leaf, 2 invocations: X (2 words) and A (1) stream from DRAM each time, and L1
    takes X, A and writes Y's 2 words: 5 words into L1 per invocation. Z's leaf, 2 invocations
    (Z does not use c, so each of its 2 words is visited twice): B (1) streams; Z's 2 words are
    written back each time (4) and read back from DRAM the second time (2); into L1 Y 2 + B 1 +
    Z's writes 2 each time, plus Z's 2 partial sums read back the second time: 5 + 7 = 12.
    DRAM: X 4 + A 2 + B 2 + Z 6 = 14. L2 holds Y's column (2) and a leaf's streamed tiles (3)."""
    w = bs.workload(FFN, m=2, d=1, c=2, j=1)
    a = arch(Level("L1", 8))
    leaves = []
    for e in w.einsums:
        sub = fusion.sub_problem(e, w.size | {"c": 1})
        leaves.append(Leaf(e.name, _whole(sub, fusion_levels.leaf_arch(
            a, sub, frozenset({"Y"}), e is w.einsums[1]))))
    schedule = Schedule((Node(None, 0, (), (Node("c", 1, (), tuple(leaves)),)),))
    cost = fusion_levels.evaluate(w, schedule, a)
    assert (cost.occupancy, cost.accesses, cost.dram) == ((5, 5), (14, 22), 14)
    assert dict(cost.writes)["Z"] == 4 and dict(cost.reads)["Z"] == 2
    assert "[Y{m:2,c:1}] intermediate in L2, 2 words" in fusion_levels.tree(w, schedule, a)


def _one_buffer(sub, m: LevelMapping) -> Nest:
    """A leaf's outer-level copies as a one-buffer nest (resident tensors whole at the top)."""
    outer = next(i for i, n in enumerate(m.names, 1) if n == "L2")
    storage = tuple((T, b) for T, b in m.nest.storage if b == outer)
    held = {T for T, _ in storage}
    storage += tuple((T.name, 0) for T in sub.tensors if T.name not in held)
    return Nest(m.nest.levels[:outer], m.nest.orders[:outer], storage)


def two_level_view(w, schedule: Schedule) -> Schedule:
    def walk(node, sizes):
        if isinstance(node, Leaf):
            return Leaf(node.einsum, _one_buffer(fusion.sub_problem(w[node.einsum], sizes),
                                                 node.mapping))
        below = sizes | ({node.rank: node.tile} if node.rank else {})
        return Node(node.rank, node.tile, node.keep, tuple(walk(c, below) for c in node.children))
    return Schedule(tuple(walk(s, w.size) for s in schedule.segments))


# ------------------------------------------------------------------------ DP against brute force

CASES = {
    "three levels": (FFN, dict(m=4, d=2, c=4, j=2), arch(Level("L1", 4))),
    "fanout, unicast": (FFN, dict(m=2, d=2, c=4, j=2),
                        arch(Level("L1", 4, instances=2, multicast=False))),
    "bypass": (ATTENTION, dict(m=2, p=2, e=2, f=2), arch(Level("L1", 3, keeps=("inputs",)))),
    "four levels, fanout": (ATTENTION, dict(m=2, p=2, e=2, f=2),
                            arch(Level("L1", 4, instances=2),
                                 Level("L0", 3, instances=4, multicast=False))),
    "K read as K[p], bypass of the weights": (
        ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"], dict(m=2, e=2, d=2, p=2),
        arch(Level("L1", 3, keeps=("output", "input")))),
    "three Einsums, fanout": (
        ["Y[m,c] += X[m,d] * A[d,c]", "S[m,c] = Y[m,c]", "Z[m,j] += S[m,c] * B[c,j]"],
        dict(m=2, d=1, c=2, j=2), arch(Level("L1", 4, instances=2, multicast=False))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dp_equals_brute_force(case):
    texts, sizes, a = CASES[case]
    w = bs.workload(texts, **sizes)
    # the mapspace without inner placements (inner_storage=False; the default's own brute
    # force is tests/test_fused_placed.py's) and without translated loops (translate=False;
    # with them: tests/test_fused_levels_translate.py)
    ref = enumerate_workload(w, a, True, max_depth=2)
    sol = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, inner_storage=False,
                                      translate=False)
    assert points(sol) == [(o, k) for o, k, _ in ref]
    front = fused_levels.workload_frontier(w, a, mapspace=UNIFORM, max_depth=2,
                                           inner_storage=False, translate=False)  # re-costed
    for (_, row), (occ, key) in zip(front.iterrows(), points(sol)):
        schedule = sol.schedule(occ)
        # DRAM and the outer level's occupancy, as the two-level model costs the same tree
        two = fusion.evaluate(w, two_level_view(w, schedule))
        assert (two.occupancy, two.accesses) == (row["occupancy"], row["accesses"])
        assert row["occupancy"] <= occ and row["accesses_L2"] == row["accesses"] == key[0]


# ------------------------------------------------------------------ agreeing with other curves

@pytest.mark.parametrize("mapspace", [UNIFORM, "per_tensor/perfect"])
def test_unconstrained_inner_levels_give_the_two_level_fused_curve(mapspace):
    w = bs.workload(FFN, m=4, d=2, c=4, j=2)
    sol = fused_levels.solve_workload(w, arch(Level("L1", 1000)), True, mapspace)
    two = fused.solve_workload(w, True, mapspace)
    caps = sorted(set(sol.frontier.occ.tolist()) | set(two.frontier.occ.tolist()))
    assert [key_at(sol, c)[0] for c in caps] == [two.value(c) for c in caps]


def test_joint_fused_between_two_level_fused_and_unfused():
    """Never below the two-level fused curve at the outer capacity (DRAM), never above the
    unfused joint bound on the same arch (the whole key), and here strictly better somewhere."""
    w = bs.workload(ATTENTION, m=4, p=4, e=2, f=2)
    a = arch(Level("L1", 4, instances=2, multicast=False))
    sol = fused_levels.solve_workload(w, a, True, UNIFORM)
    two = fused.solve_workload(w, True, UNIFORM)
    caps = list(range(int(sol.frontier.occ[0]), int(sol.frontier.occ[-1]) + 2))
    unfused = joint.solve_workload(w, a, caps, method="enumerate", placement="uniform")
    better = False
    for c, (_, row) in zip(caps, unfused.iterrows()):
        key = key_at(sol, c)
        assert key[0] >= two.value(c)
        if row["status"] == "optimal":
            other = (int(row["accesses"]), int(row["accesses_L1"]))
            assert key <= other
            better |= key < other
    assert better


def test_one_einsum_equals_the_single_einsum_joint_bound():
    w = bs.workload(["Z[m,n] += A[m,k] * B[k,n]"], m=4, k=4, n=2)
    a = arch(Level("L1", 4, instances=2, multicast=False))
    front = fused_levels.workload_frontier(w, a, mapspace=UNIFORM)
    single = joint.solve(w.einsums[0], a, method="enumerate", placement="uniform")
    cols = ["occupancy", "accesses", "accesses_L2", "accesses_L1", "occupancy_L1"]
    assert front[cols].values.tolist() == single[cols].values.tolist()


def test_public_entry_points_and_refusals():
    w = bs.workload(FFN, m=4, d=2, c=4, j=2)
    a = arch(Level("L1", 4))
    front = bs.pareto_frontier(w, arch=a, fusion=True, mapspace=UNIFORM, max_depth=2)
    assert {"occupancy_L1", "accesses_L1", "accesses_L2", "tree", "mapping_Y"} <= set(front)
    assert "in L2" in front["tree"].iloc[-1] and "@L1" in front["mapping_Z"].iloc[-1]
    curve = bs.solve_curve(w, front["occupancy"].tolist(), arch=a, fusion=True,
                           mapspace=UNIFORM, max_depth=2)
    key = ["accesses", "accesses_L1"]
    assert curve[key].values.tolist() == front[key].values.tolist()
    refused = {
        "to be the swept one": Arch("s", 8, (Level("DRAM"), Level("L2", 64),
                                             Level("L1", sweep=True))),
        "to keep every tensor": Arch("b", 8, (Level("DRAM"), Level("L2", sweep=True,
                                                                   keeps=("inputs",)),
                                              Level("L1", 8))),
        "one instance": Arch("f", 8, (Level("DRAM"), Level("L2", sweep=True, instances=2),
                                      Level("L1", 8, instances=2))),
    }
    for message, bad in refused.items():
        with pytest.raises(ArchError, match=message):
            bs.pareto_frontier(w, arch=bad, fusion=True)
    with pytest.raises(bs.BoundsolverError, match="perfect factors"):
        bs.pareto_frontier(w, arch=a, fusion=True, mapspace="uniform/imperfect")


def test_per_tensor_placement_contains_uniform():
    """Uniform placement within levels is per-tensor placement with every copy of a level at
    one boundary, so per-tensor leaves are never lexicographically worse; here they are better
    into L1 somewhere (the option is honoured, not ignored)."""
    w = bs.workload(FFN, m=2, d=2, c=4, j=2)
    a = arch(Level("L1", 4))
    uniform = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2)
    per_tensor = fused_levels.solve_workload(w, a, True, "per_tensor/perfect", max_depth=2)
    caps = sorted(set(uniform.frontier.occ.tolist()) | set(per_tensor.frontier.occ.tolist()))
    pairs = [(key_at(per_tensor, c), key_at(uniform, c)) for c in caps]
    assert all(p <= u for p, u in pairs if u is not None)
    assert any(p < u for p, u in pairs if u is not None)
    assert [p[0] for p, _ in pairs] == [fused.solve_workload(w, True, "per_tensor/perfect",
                                                             max_depth=2).value(c) for c in caps]


# ------------------------------------------------------------ lazy leaves and pruning (exactness)

class _EnumeratedJoint:
    """Stands in for the joint bound's MILP of one leaf (``LevelSolver.joint``): the
    staircase point at a capacity, read from the enumerated staircase (the least key with the
    outer level at most the capacity, of least occupancy), so that the lazy search's sampling,
    bounds and memo invalidation run as with the MILP, in milliseconds."""

    swept = "occupancy:L2"

    def __init__(self, sub, larch):
        self.arch = larch
        self.staircase = fused_levels._tree_whole_points(sub, larch)
        self.index = larch.swept_index

    def joint(self, capacity, least_occupancy=True):
        fit = [(n, c) for n, c in self.staircase if c.occupancy[self.index] <= capacity]
        if not fit:
            return None
        nest, cost = fit[-1]
        return SimpleNamespace(nest=nest, copies=None, cost=cost,
                               values={self.swept: cost.occupancy[self.index]})


def _sampled(curves, canon):
    return _EnumeratedJoint(canon.problem, canon.arch)


class _LooseJoint(_EnumeratedJoint):
    """As :class:`_EnumeratedJoint`, but asked for any point of the least key
    (``least_occupancy=False``, the top of a lazy walk) it answers one of the *largest*
    occupancy that fits, as a MILP may: the walk must still settle where the key starts."""

    def __init__(self, sub, larch):
        super().__init__(sub, larch)
        self.best = fused_levels.best_per_occupancy(sub, larch)

    def joint(self, capacity, least_occupancy=True):
        point = super().joint(capacity)
        if least_occupancy or point is None:
            return point
        key = point.cost.key
        x = max(x for x, (k, _, _) in self.best.items() if x <= capacity and k == key)
        _, nest, cost = self.best[x]
        return SimpleNamespace(nest=nest, copies=None, cost=cost, values={self.swept: x})


def _loose(curves, canon):
    return _LooseJoint(canon.problem, canon.arch)


@st.composite
def _small_cases(draw):
    texts = draw(st.sampled_from([FFN, ATTENTION, ["Y[m,c] += X[m,d] * A[d,c]",
                                                   "S[m,c] = Y[m,c]",
                                                   "Z[m,j] += S[m,c] * B[c,j]"]]))
    ranks = sorted({r for t in texts for r in t if r.islower() and r.isalpha()})
    sizes = {r: draw(st.sampled_from([1, 2])) for r in ranks} | {"m": draw(st.sampled_from([2, 4]))}
    inner = [Level("L1", draw(st.integers(2, 12)),
                   instances=draw(st.sampled_from([1, 2])), multicast=False)]
    if draw(st.booleans()):
        inner.append(Level("L0", draw(st.integers(1, 6)),
                           instances=inner[0].instances * draw(st.sampled_from([1, 2])),
                           multicast=False))
    return bs.workload(texts, **sizes), arch(*inner)


def _solve(w, a, **options):
    """The search's points, or its refusal. Without inner placements unless a test asks: this
    file checks the leaves and the DP (placements: tests/test_fused_placed.py)."""
    options.setdefault("inner_storage", False)
    try:
        return points(fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, **options))
    except bs.BoundsolverError as error:
        return str(error)


def _lazy_equals_eager(case, data, solver) -> None:
    """The lazy search with leaves answered by ``solver`` (never enumerated whole) gives the
    eager frontier, and at capacities drawn from ``data`` the same keys."""
    w, a = case
    eager = _solve(w, a, lazy=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused_levels.LeafCurves, "_enumerated", lambda *_: False)
        mp.setattr(fused_levels.LeafCurves, "_solver", solver)
        assert _solve(w, a) == eager
        if isinstance(eager, str):
            return
        caps = data.draw(st.lists(st.integers(0, eager[-1][0] + 2), min_size=1, max_size=4))
        sol = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, capacities=caps,
                                          inner_storage=False)
    full = SimpleNamespace(frontier=fused_levels.stairs(*zip(*[(o, k, 0) for o, k in eager])))
    for c in caps:
        assert key_at(sol, c) == key_at(full, c)


@settings(max_examples=6)
@given(_small_cases(), st.data())
def test_lazy_leaves_equal_eager_leaves(case, data):
    """Lazy leaves (bounds, made exact only where the best trees use them) give the eager
    frontier at every breakpoint, and at chosen capacities the same keys."""
    _lazy_equals_eager(case, data, _sampled)


@settings(max_examples=60, deadline=None)
@given(_small_cases(), st.data())
def test_a_walk_topped_by_any_point_of_the_least_key_changes_nothing(case, data):
    """The lazy walk's first solve asks for any point of the least key, not one of least
    occupancy; answered with the largest occupancy that fits (the worst a solver may do), the
    frontier and the keys at chosen capacities are still the eager search's."""
    _lazy_equals_eager(case, data, _loose)


@settings(max_examples=5)
@given(_small_cases())
def test_loop_skipping_by_floors_changes_nothing(case):
    """The loop options skipped by their DRAM and inner-level floors (TreeSearch.loop) never
    held a better key: the search without skipping gives the same frontier."""
    w, a = case  # inner_storage=False: the patch below fits TreeSearch's own call of loop
    pruned = _solve(w, a, lazy=False, inner_storage=False)
    loop = fused.TreeSearch.loop
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused.TreeSearch, "loop",
                   lambda self, *args: loop(self, *args[:-1], None))
        assert _solve(w, a, lazy=False, inner_storage=False) == pruned


def test_a_wrong_leaf_bound_is_caught():
    """A lower bound above an exact point would make the lazy search wrong; it is refused."""
    w = bs.workload(FFN, m=2, d=2, c=2, j=2)
    a = arch(Level("L1", 6))
    bound = fused_levels.LeafCurves._bound

    def too_high(self, *args):
        occ, key = bound(self, *args)
        return occ, lambda n, whole: key(n, whole) + 10**6
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused_levels.LeafCurves, "_bound", too_high)
        mp.setattr(fused_levels.LeafCurves, "_enumerated", lambda *_: False)
        mp.setattr(fused_levels.LeafCurves, "_solver", _sampled)
        with pytest.raises(SolverError, match="lies below a bound"):
            fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, inner_storage=False)


def test_lazy_leaves_with_the_milp_equal_the_enumerated_eager_search():
    """The lazy search with its leaves solved by the joint MILP (``LevelSolver.joint`` at sampled
    capacities, the path large problems take) gives the frontier of the eager search whose leaves
    are enumerated whole: two independent routes to each leaf's staircase."""
    w = bs.workload(FFN, m=4, d=2, c=2, j=2)
    a = arch(Level("L1", 6, instances=2, multicast=False))
    eager = fused_levels.solve_workload(w, a, True, UNIFORM, method="enumerate", max_depth=2,
                                        lazy=False)
    lazy = fused_levels.solve_workload(w, a, True, UNIFORM, method="milp", max_depth=2)
    assert points(lazy) == points(eager)
    assert lazy.search.curves.solves > 0  # the MILP route was taken


def test_per_tensor_leaves_the_enumerators_decline_are_walked_lazily_by_the_milp():
    """Per-tensor leaves ("auto") that levelnest.py and the depth-first enumerator decline
    (made to here) are sampled lazily by ``PlacementSolver.joint``, not traced whole by its
    walk, and the frontier is the eager search's with every leaf enumerated whole. Fails if
    such leaves count as enumerated again (then no lazy solve is made) or are solved in
    another mapspace (uniform leaves lie above per-tensor ones here)."""
    w = bs.workload(FFN, m=2, d=2, c=4, j=2)
    a = arch(Level("L1", 4))
    eager = fused_levels.solve_workload(w, a, True, "per_tensor/perfect", method="enumerate",
                                        max_depth=2, lazy=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused_levels.levelnest, "frontier", lambda *args, **kw: None)
        mp.setattr(joint, "AUTO_PER_TENSOR", 0)
        lazy = fused_levels.solve_workload(w, a, True, "per_tensor/perfect", max_depth=2)
    assert points(lazy) == points(eager)
    assert lazy.search.curves.solves > 0 and not lazy.search.curves.traced


# ------------------------------------------------------- canonical leaves and the leaf store

def _renamed(texts: list[str], ranks: dict, tensors: dict) -> list[str]:
    """The chain's text with ranks and tensors renamed (tensor names longer than one letter,
    so the two substitutions never meet)."""
    out = []
    for t in texts:
        t = "".join(ranks.get(ch, ch) if ch.islower() else ch for ch in t)
        for a, b in tensors.items():
            t = t.replace(f"{a}[", f"{b}[")
        out.append(t)
    return out


def test_attentions_two_leaves_are_one_canonical_leaf():
    """QK[m,p,h] += Q[m,h,e]*K[p,h,e] with p = e = 8 and AV[m,h,f] += QK[m,p,h]*V[p,h,f] with
    p = f = 8 are one problem under e -> p, p -> f: one canonical form; the resident sets and
    a revisited output are part of the leaf; a different size is another leaf."""
    from boundsolver.curves.fused_leaves import canonical

    a = bs.load_arch("a100")
    qk = bs.einsum("QK[m,p,h] += Q[m,h,e] * K[p,h,e]", m=4, p=8, h=2, e=8)
    av = bs.einsum("AV[m,h,f] += QK[m,p,h] * V[p,h,f]", m=4, p=8, h=2, f=8)

    def key(e, res, revisited=False, arch=a):
        return canonical(e, fusion_levels.leaf_arch(arch, e, frozenset(res), revisited),
                         frozenset(res)).key
    assert key(qk, {"Q", "QK"}) == key(av, {"QK", "AV"})
    assert key(qk, ()) == key(av, ())
    assert key(qk, {"Q"}) != key(av, {"V"})  # the first input is Q there, QK here
    assert key(qk, {"Q", "QK"}) != key(av, {"QK"})
    assert key(qk, ()) != key(av.with_sizes(m=4, p=8, h=2, f=4), ())
    assert key(qk, ()) != key(qk, (), arch=bs.load_arch("h100"))
    c = canonical(qk, fusion_levels.leaf_arch(a, qk, frozenset({"Q"}), False), frozenset({"Q"}))
    assert c.resident == {dict((o, n) for n, o in c.tensors)["Q"]}


@settings(max_examples=8, deadline=None)
@given(st.permutations("mnopq"), st.booleans())
def test_a_renamed_leaf_has_the_same_staircase_and_its_mappings_cost_the_same(names, swap):
    """The canonical leaf's enumerated joint staircase equals the original's (occupancy and
    key at every point), and each canonical point renamed back costs the same on the original
    leaf: an independent check that renaming is an isomorphism of the cost model (axes
    reordered, inputs swapped, keeps resolved by role)."""
    from boundsolver.curves.fused_leaves import canonical
    from boundsolver.model.cost import evaluate_levels
    from boundsolver.reference.hierarchy import frontier_points

    m, p, e = names[:3]
    first, second = (f"A[{m},{e}]", f"B[{e},{p}]") if not swap else (f"B[{e},{p}]", f"A[{m},{e}]")
    sub = bs.einsum(f"C[{p},{m}] += {first} * {second}", **{m: 4, p: 2, e: 2})
    a = Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True),
                      Level("L1", 6, keeps=("input", "output"), instances=2,
                            spatial_ranks=(m,), multicast=False)))
    c = canonical(sub, a)
    ours, theirs = frontier_points(sub, a, 10**9), frontier_points(c.problem, c.arch, 10**9)
    assert [(k.occupancy, k.key) for _, k in ours] == [(k.occupancy, k.key) for _, k in theirs]
    for nest, cost in theirs:
        back = c.to_original(LevelMapping(nest, None, ("L2", "L1"))).nest
        assert evaluate_levels(sub, back, multicast=a.multicast) == cost


@settings(max_examples=6, deadline=None)
@given(_small_cases())
def test_canonical_leaves_give_the_same_frontier(case):
    """Leaves shared up to renaming (the default) give the frontier of leaves each solved under
    its own names, eager and lazy (lazy with the sampled stand-in for the MILP, so that samples
    are renamed back into each leaf that shares them)."""
    w, a = case
    assert _solve(w, a, lazy=False) == _solve(w, a, lazy=False, canonical=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused_levels.LeafCurves, "_enumerated", lambda *_: False)
        mp.setattr(fused_levels.LeafCurves, "_solver", _sampled)
        assert _solve(w, a) == _solve(w, a, canonical=False)


def test_attention_shares_leaves_between_its_einsums():
    """On attention with p = f and e = p's tile sizes the QK and AV leaves coincide: fewer
    canonical leaves are traced than leaves under their own names, and the frontier is the
    same."""
    w = bs.workload(ATTENTION, m=2, p=2, e=2, f=2)
    a = arch(Level("L1", 8))
    shared = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, lazy=False)
    own = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, lazy=False,
                                      canonical=False)
    assert points(shared) == points(own)
    assert len(shared.search.curves.traced) < len(own.search.curves.traced)


def test_leaf_samples_kept_on_disk_give_the_fresh_frontier(tmp_path):
    """A second run reading the first run's leaf samples from the cache solves no leaf and
    gives the same frontier and rows; a tampered sample (another occupancy) is dropped, not
    used."""
    import sqlite3

    w = bs.workload(FFN, m=4, d=2, c=2, j=2)
    a = arch(Level("L1", 6, instances=2, multicast=False))
    cache = bs.Cache(tmp_path / "c.sqlite")
    run = [fused_levels.solve_workload(w, a, True, UNIFORM, method="milp", max_depth=2,
                                       cache=cache) for _ in range(2)]
    fresh = fused_levels.solve_workload(w, a, True, UNIFORM, method="milp", max_depth=2)
    assert run[0].search.curves.solves > 0 and run[0].search.curves.loaded == 0
    assert run[1].search.curves.solves == 0 and run[1].search.curves.loaded > 0
    assert points(run[0]) == points(run[1]) == points(fresh)
    rows = [fused_levels.workload_frontier(w, a, method="milp", max_depth=2)]
    with sqlite3.connect(cache.path) as db:  # every stored sample claims one word more
        for k, payload in db.execute("SELECT key, payload FROM results").fetchall():
            data = json.loads(payload)
            for s in data["data"]["samples"]:
                s[0] += 1
            text = json.dumps(data)
            db.execute("UPDATE results SET payload = ?, digest = ? WHERE key = ?",
                       (text, hashlib.sha256(text.encode()).hexdigest(), k))
    again = fused_levels.solve_workload(w, a, True, UNIFORM, method="milp", max_depth=2,
                                        cache=cache)
    assert again.search.curves.loaded == 0 and points(again) == points(fresh)
    assert not rows[0].empty


def _counting_enumerators(monkeypatch, declines: bool = False) -> list:
    """The leaves (problem and arch texts) the per-tensor leaves' enumerators (levelnest.py's
    frontier and the depth-first ``per_tensor_points``) are called on; ``declines``: both decline every leaf, as the
    depth-first one does past its node budget."""
    calls = []
    frontier, points_of = fused_levels.levelnest.frontier, fused_levels.per_tensor_points

    def counted_frontier(sub, larch, *a, **k):
        calls.append((str(sub), repr(larch)))
        return None if declines else frontier(sub, larch, *a, **k)

    def counted_points(sub, larch, *a, **k):
        calls.append((str(sub), repr(larch)))
        if declines:
            raise bs.errors.EnumerationTooLarge("declined (test)")
        return points_of(sub, larch, *a, **k)

    monkeypatch.setattr(fused_levels.levelnest, "frontier", counted_frontier)
    monkeypatch.setattr(fused_levels, "per_tensor_points", counted_points)
    return calls


def test_enumerated_leaves_kept_on_disk_are_not_enumerated_again(tmp_path, monkeypatch):
    """Per-tensor leaves are enumerated (levelnest.py, the depth-first enumerator): the store
    keeps each enumerated staircase, so a second run with the cache enumerates no leaf and
    gives the fresh frontier; a tampered staircase point (another occupancy) drops the entry
    and the leaf is enumerated again."""
    import sqlite3

    w = bs.workload(ATTENTION, m=2, p=2, e=2, f=2)
    a = arch(Level("L1", 8))
    fresh = points(fused_levels.solve_workload(w, a, True, PER_TENSOR, max_depth=2))
    cache = bs.Cache(tmp_path / "c.sqlite")
    calls = _counting_enumerators(monkeypatch)
    first = fused_levels.solve_workload(w, a, True, PER_TENSOR, max_depth=2, cache=cache)
    assert calls and first.search.curves.loaded == 0 and points(first) == fresh
    calls.clear()
    again = fused_levels.solve_workload(w, a, True, PER_TENSOR, max_depth=2, cache=cache)
    assert not calls and again.search.curves.loaded > 0 and points(again) == fresh
    with sqlite3.connect(cache.path) as db:  # every stored staircase point one word more
        for k, payload in db.execute("SELECT key, payload FROM results").fetchall():
            data = json.loads(payload)
            for p in data["data"]["full"] or []:
                p[0] += 1
            text = json.dumps(data)
            db.execute("UPDATE results SET payload = ?, digest = ? WHERE key = ?",
                       (text, hashlib.sha256(text.encode()).hexdigest(), k))
    tampered = fused_levels.solve_workload(w, a, True, PER_TENSOR, max_depth=2, cache=cache)
    assert calls and tampered.search.curves.loaded == 0 and points(tampered) == fresh


def test_a_declined_leaf_kept_on_disk_goes_to_the_milp_at_once(tmp_path, monkeypatch):
    """A leaf the enumerators declined (as past the node budget) is walked by the MILP, and the
    store says so: refined again below every stored sample by a later run (working enumerators),
    it goes to the MILP without trying an enumerator, and its known staircase there is the
    enumerated one."""
    w = bs.workload(ATTENTION, m=2, p=2, e=2, f=2)
    a = arch(Level("L1", 8))
    ms = bs.model.mapspace.mapspace_of(PER_TENSOR)
    store = fused_levels._store(bs.Cache(tmp_path / "c.sqlite"), True, a, ms, "auto", "highs")
    x, tiles, none = 0, dict(w.size), frozenset()
    with pytest.MonkeyPatch.context() as mp:
        declined = _counting_enumerators(mp, declines=True)
        curves = fused_levels.LeafCurves(a, ms, store=store)
        lz = curves.state(w, x, tiles, none)
        top = sum(lz.sub.tensor_size(T) for T in lz.sub.tensors)
        assert curves.refine(lz, top) and declined and lz.declined and curves.solves > 0
    low = min(o for o, _, _ in lz.samples) - 1  # below every sample
    assert low > lz.dead
    calls = _counting_enumerators(monkeypatch)
    again = fused_levels.LeafCurves(a, ms, store=store)
    lz2 = again.state(w, x, tiles, none)
    leaf = (str(lz2.sub), repr(lz2.canon.arch))  # (the MILP's floors enumerate others)
    assert leaf in declined and lz2.declined and again.refine(lz2, low)
    assert leaf not in calls and again.solves > 0 and lz2.full is None
    st, _, _ = again.lazy_curve(w, x, tiles, none)
    full, _ = fused_levels.LeafCurves(a, ms).curve(w, x, tiles, none)  # enumerated
    assert leaf in calls and st.key[st.at(low)].tolist() == full.key[full.at(low)].tolist()


def test_the_leaf_cache_is_refused_where_it_does_not_apply():
    w = bs.workload(FFN, m=2, d=2, c=2, j=2)
    with pytest.raises(bs.BoundsolverError, match="lazy=False"):
        fused_levels.solve_workload(w, arch(Level("L1", 6)), lazy=False, cache=True)
    with pytest.raises(bs.BoundsolverError, match="cache must be"):
        fused_levels.solve_workload(w, arch(Level("L1", 6)), cache="yes")


def test_a_leaf_refined_once_at_its_top_is_a_lower_bound_everywhere():
    """One refinement at a leaf's top capacity, its first solve answered by a point of the
    least key of the largest occupancy (``_LooseJoint``), leaves the leaf's known staircase a
    lower bound at every occupancy and exact where it says so: the solve just below that point
    settles where the least key starts. Checked against the leaf's enumerated staircase on
    every leaf of small FFN and attention chains; some tops must be loose for this to test
    anything."""
    loose = 0
    for texts, sizes in ((FFN, dict(m=4, d=2, c=2, j=2)), (ATTENTION, dict(m=4, p=2, e=2, f=2))):
        w = bs.workload(texts, **sizes)
        for a in (arch(Level("L1", 5, instances=2, multicast=False)), arch(Level("L1", 12))):
            ms = bs.model.mapspace.mapspace_of(UNIFORM)
            curves = fused_levels.LeafCurves(a, ms)
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(fused_levels.LeafCurves, "_enumerated", lambda *_: False)
                mp.setattr(fused_levels.LeafCurves, "_solver", _loose)
                for x, e in enumerate(w.einsums):
                    tiles = dict(w.size)
                    exact, _ = fused_levels.LeafCurves(a, ms).curve(w, x, tiles, frozenset())
                    lz = curves.state(w, x, tiles, frozenset())
                    curves.refine(lz, 10**6)
                    least = min(o for o, k in zip(exact.occ, exact.key.tolist())
                                if k == exact.key[-1].tolist())
                    loose += lz.samples[0][0] > least
                    known, info, _ = curves.lazy_curve(w, x, tiles, frozenset())
                    for o in range(int(exact.occ[-1]) + 2):
                        i, j = int(known.at(o)), int(exact.at(o))
                        if j < 0:
                            continue
                        truth = tuple(exact.key[j].tolist())
                        assert i < 0 or tuple(known.key[i].tolist()) <= truth
                        if i >= 0 and info[int(known.tag[i])][0] == "map":
                            assert tuple(known.key[i].tolist()) == truth
    assert loose > 0

def test_dram_column_is_the_two_level_curve_when_inner_levels_hold_three_words():
    """docs/fusion.md, "On the hierarchy (the GPU worked example)": the fused hierarchy bound's
    DRAM column equals the two-level fused curve at the same outer capacity whenever every inner
    level holds three words per instance. Not below: every hierarchy tree is a two-level tree
    with the same DRAM traffic (test_joint_fused_between_two_level_fused_and_unfused). Not
    above: a two-level tree runs on the hierarchy with its L2 tiles and every leaf's inner tiles
    of one element (one word for each of its three tensors in each inner level), which moves
    the same DRAM traffic. Here the inner levels are as tight as that allows (3 words, SMEM
    without multicast over per-SM registers, as on a100; at 2 words no tree fits), and the
    unfused hierarchy bound is never below the fused one, its DRAM column included."""
    w = bs.workload(ATTENTION, m=4, p=4, e=2, f=2)
    a = arch(Level("SMEM", 3, instances=2, multicast=False), Level("RF", 3, instances=2))
    sol = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2)
    two = fused.solve_workload(w, True, UNIFORM, max_depth=2)
    caps = sorted(set(sol.frontier.occ.tolist()) | set(two.frontier.occ.tolist()))
    assert int(sol.frontier.occ[0]) == int(two.frontier.occ[0])  # the same least occupancy
    assert [key_at(sol, c)[0] for c in caps] == [two.value(c) for c in caps]
    assert len(set(key_at(sol, c)[1] for c in caps)) > 1  # the inner levels do bind
    unfused = fused_levels.solve_workload(w, a, False, UNIFORM, max_depth=2)
    assert any(key_at(unfused, c) is not None for c in caps)
    for c in caps:
        if key_at(unfused, c) is not None:
            assert key_at(sol, c) <= key_at(unfused, c)
