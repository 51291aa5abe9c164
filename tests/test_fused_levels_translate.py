"""Translated loops on hierarchies (docs/fusion.md, "Translated loops", "On hierarchies";
issue 23): ``fusion_levels.evaluate`` costs ``Node.via`` with one buffer's per-Einsum sizes,
and the hierarchy search tries each segment's renamings (``fused.translations``) as on one
buffer. Checked here: a translated tree on three levels counted by hand; its DRAM and outer
occupancy are one buffer's (``fusion.evaluate``) and its every column the renamed untranslated
tree's; the solver against the hierarchy brute force over translated trees restricted to the
stated mapspace; the DRAM column with unconstrained inner levels equals the two-level fused
curve, translations on both; never above ``translate=False``; the refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import tiny_fused_hierarchies
from test_fused_translate import in_one_name_mapspace

import boundsolver as bs
from boundsolver.curves import fused, fused_levels
from boundsolver.errors import BoundsolverError
from boundsolver.model import fusion, fusion_levels
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import Nest
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.model.fusion_levels import LevelMapping
from boundsolver.reference.treeref_levels import enumerate_workload

K_BY_P = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"]
UNIFORM = "uniform/perfect"


def arch(*inner: Level, name: str = "t") -> Arch:
    return Arch(name, 8, (Level("DRAM"), Level("L2", sweep=True), *inner))



def _loop_tree(w, a, rank: str, via: tuple) -> Schedule:
    """``for <rank> (tile 1, via) {K; S}``, each leaf holding its tiles whole in every level."""
    leaves = []
    for e in w.einsums:
        bound = dict(via).get(e.name, rank)
        sub = fusion.sub_problem(e, w.size | {bound: 1})
        leaves.append(Leaf(e.name, LevelMapping.whole(sub, fusion_levels.leaf_arch(
            a, sub, frozenset({"K"}), False))))
    return Schedule((Node(None, 0, (), (Node(rank, 1, (), tuple(leaves), (), via),)),))


def test_translated_loop_on_three_levels_counted_by_hand():
    """``K[m,e] += I[m,d]·W[e,d]; S[m,p] += Q[m,e]·K[p,e]``, m = p = 2, e = 1, d = 2, on DRAM ->
    L2 (swept) -> L1 (8 words): ``for p (tile 1, via K.m) {K; S}``, ``K``'s row stored at the
    loop in L2, each leaf holding its tiles whole in every level.

    By hand. Two iterations. K's leaf (m:1, e:1, d:2): I[p,:] (2 words) and W (2) stream from
    DRAM through L2 into L1, K's word is written from L1 into the tree's copy (1): DRAM 4,
    L1 5 per iteration. S's leaf (m:2, e:1, p:1): Q (2) streams, K's word comes from the tree
    (1), S's column (2) is written out (each S[m,p] once: the loop binds p, which S's output
    has, so no read-back): DRAM 4, L1 5. DRAM: I 4 + W 4 + Q 4 + S 4 = 16; L1: 20. L2 holds K's
    word plus a leaf's streamed tiles (2 + 2): 5; L1 a leaf's copies: 5. (W is read once per
    key: the producer runs under the key loop.)"""
    w = bs.workload(K_BY_P, m=2, p=2, e=1, d=2)
    a = arch(Level("L1", 8))
    sched = _loop_tree(w, a, "p", (("K", "m"),))
    cost = fusion_levels.evaluate(w, sched, a)
    assert (cost.occupancy, cost.accesses, cost.dram) == ((5, 5), (16, 20), 16)
    assert dict(cost.reads) == {"I": 4, "W": 4, "Q": 4} and dict(cost.writes) == {"S": 4}
    # DRAM and the outer occupancy are one buffer's, of the same tree's outer-level copies
    one = fusion.evaluate(w, _two_level(w, sched))
    assert (one.occupancy, one.accesses) == (5, 16)
    # the same tree untranslated on the workload whose producer names its rank p: every column
    w2 = bs.workload(["K[p,e] += I[p,d] * W[e,d]", K_BY_P[1]], m=2, p=2, e=1, d=2)
    assert fusion_levels.evaluate(w2, _loop_tree(w2, a, "p", ()), a) == cost
    assert "via K.m" in fusion_levels.tree(w, sched, a)


def _two_level(w, schedule: Schedule) -> Schedule:
    """A hierarchy schedule's outer-level copies as a one-buffer schedule (resident tensors
    whole at the top of each leaf's nest), ``via`` kept."""
    def leaf(sub, m: LevelMapping) -> Nest:
        outer = m.names.index("L2") + 1
        storage = tuple((T, b) for T, b in m.nest.storage if b == outer)
        held = {T for T, _ in storage}
        storage += tuple((T.name, 0) for T in sub.tensors if T.name not in held)
        return Nest(m.nest.levels[:outer], m.nest.orders[:outer], storage)

    def walk(node, sizes):
        if isinstance(node, Leaf):
            return Leaf(node.einsum, leaf(fusion.sub_problem(w[node.einsum], sizes[node.einsum]),
                                          node.mapping))
        _, below = fusion.cut(node, node.einsums(), sizes)
        return Node(node.rank, node.tile, node.keep, tuple(walk(c, below) for c in node.children),
                    (), node.via)
    return Schedule(tuple(walk(s, fusion.root_sizes(w, s.einsums())) for s in schedule.segments))


# ---------------------------------------------------- the search against the brute force

KV = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]
CASES = {  # name: (Einsums, sizes, arch); all but the last with translated trees on its curve
    "three levels": (K_BY_P, dict(m=2, p=2, e=1, d=2), arch(Level("L1", 4))),
    "bypass": (K_BY_P, dict(m=2, p=2, e=2, d=1), arch(Level("L1", 3, keeps=("output", "input")))),
    "fanout, unicast": (K_BY_P, dict(m=2, p=2, e=1, d=2),
                        arch(Level("L1", 4, instances=2, multicast=False))),
    "four levels, K V S": (KV, dict(m=2, p=2, e=1, d=1, f=1),
                           arch(Level("L1", 6), Level("L0", 3, instances=2))),
    # I read as I[m,e] by K's producer and as I[p,e] by S: renaming K's m to p would read it
    # through equal axes (fused.translations drops that renaming: _reads_faithfully)
    "I read transposed": (["K[m,e] += I[m,e] * A[e]", "S[p] += I[p,e] * K[p,e]"],
                          dict(m=2, p=2, e=2), arch(Level("L1", 4))),
}
SLOW = {("four levels, K V S", True)}  # its brute force with placements: 11 minutes
_REF: dict = {}


def _reference(case: str, inner_storage: bool, translate: bool = True) -> list:
    """The brute force over translated trees restricted to the solver's stated mapspace
    (test_fused_translate.py's predicate, written from docs/fusion.md's statement)."""
    key = (case, inner_storage, translate)
    if key not in _REF:
        texts, sizes, a = CASES[case]
        w = bs.workload(texts, **sizes)
        _REF[key] = enumerate_workload(w, a, True, max_depth=2, inner_storage=inner_storage,
                                       translate=translate,
                                       trees=in_one_name_mapspace(w) if translate else None)
    return _REF[key]


def _points(sol) -> list:
    return list(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))


@pytest.mark.parametrize("case, inner_storage", [(c, i) for c in sorted(CASES)
                                                   for i in (False, True) if (c, i) not in SLOW])
def test_the_search_equals_the_brute_force_over_translated_trees(case, inner_storage):
    """The default (``translate=None``: on, every level may split any rank) is the brute
    force over the translated trees of the stated mapspace, breakpoint by breakpoint, eager
    and lazy, with and without tree tiles in inner levels; every breakpoint's tree rebuilt
    with ``via`` and re-costed by ``fusion_levels.evaluate`` (``workload_frontier``'s rows);
    translated trees lower the curve somewhere, and the curve is never above
    ``translate=False`` (the brute force without translation)."""
    texts, sizes, a = CASES[case]
    w = bs.workload(texts, **sizes)
    ref = [(o, k) for o, k, _ in _reference(case, inner_storage)]
    for lazy in (False, True):
        sol = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2, lazy=lazy,
                                          inner_storage=inner_storage)
        assert sol.search.translate and _points(sol) == ref, lazy
    front = fused_levels.workload_frontier(w, a, mapspace=UNIFORM, max_depth=2,
                                           inner_storage=inner_storage)
    assert [(o, (d, *rest)) for o, d, rest in zip(
        front.occupancy, front.accesses,
        zip(*(front[f"accesses_{lv.name}"] for lv in a.on_chip[1:])))] == ref
    lowers = case != "I read transposed"  # its one renaming is not searched
    assert any("via" in t for t in front.tree) == lowers
    plain = [(o, k) for o, k, _ in _reference(case, inner_storage, False)]
    off = fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2,
                                      inner_storage=inner_storage, translate=False)
    assert _points(off) == plain
    assert all(min(x for y, x in plain if y <= o) >= k for o, k in ref)
    assert any(min(x for y, x in plain if y <= o) > k for o, k in ref) == lowers


# ------------------------------------------------------------ agreeing with one buffer

@pytest.mark.parametrize("mapspace", [UNIFORM, "per_tensor/perfect"])
def test_unconstrained_inner_levels_give_the_two_level_fused_curve(mapspace):
    """With an inner level that never binds, the DRAM column at every capacity is the two-level
    fused curve, translated loops on in both (the default): here 72 words at 4 where without
    them the hierarchy gave more (120 with uniform leaves: docs/fusion.md's table), and the default
    is below ``translate=False`` somewhere, never above."""
    w = bs.workload(K_BY_P, m=4, p=4, e=2, d=2)
    a = arch(Level("L1", 1000))
    sol = fused_levels.solve_workload(w, a, True, mapspace)
    off = fused_levels.solve_workload(w, a, True, mapspace, translate=False)
    two = fused.solve_workload(w, True, mapspace)
    caps = sorted(set(sol.frontier.occ.tolist()) | set(two.frontier.occ.tolist()))

    def dram(s, c):
        return int(s.frontier.key[s.frontier.at(c)][0])
    assert [dram(sol, c) for c in caps] == [two.value(c) for c in caps]
    assert all(dram(sol, c) <= dram(off, c) for c in caps)
    assert dram(sol, 4) == 72 < dram(off, 4)  # the one-buffer brute force's (docs/fusion.md)
    assert mapspace != UNIFORM or dram(off, 4) == 120


def test_translate_on_hierarchies_through_the_api_and_cli(tmp_path):
    """``translate`` passes through ``bs.pareto_frontier``/``bs.solve_curve`` and the CLI's
    ``--no-translate`` on a hierarchy with ``fusion=True``: the default is the translated curve
    (rows re-costed with ``via``), False the curve without them; True is refused on an arch
    whose level names ``spatial_ranks`` (a renamed rank would lose its splits), where None
    leaves them out."""
    import pandas as pd

    from boundsolver.cli import main
    w = bs.workload(K_BY_P, name="kp", m=4, p=4, e=2, d=2)
    a = arch(Level("L1", 8))
    on = bs.pareto_frontier(w, arch=a, fusion=True, mapspace=UNIFORM, max_depth=2)
    off = bs.pareto_frontier(w, arch=a, fusion=True, mapspace=UNIFORM, max_depth=2,
                             translate=False)
    assert on.attrs["translate"] and not off.attrs["translate"]
    assert any("via K.m" in t for t in on.tree) and not any("via" in t for t in off.tree)
    at = bs.solve_curve(w, list(on.occupancy), arch=a, fusion=True, mapspace=UNIFORM,
                        max_depth=2, translate=False)
    assert all(x <= y for x, y in zip(on.accesses, at.accesses))
    assert any(x < y for x, y in zip(on.accesses, at.accesses))
    named = arch(Level("L1", 8, instances=2, spatial_ranks=("m",)))
    with pytest.raises(BoundsolverError, match="spatial_ranks"):
        fused_levels.solve_workload(w, named, True, UNIFORM, max_depth=1, translate=True)
    assert not fused_levels.solve_workload(w, named, True, UNIFORM, max_depth=1).search.translate
    path = tmp_path / "kp.yaml"
    path.write_text("name: kp\nsizes: {m: 4, p: 4, e: 2, d: 2}\nworkload:\n"
                    + "".join(f"  - {e}\n" for e in K_BY_P))
    cap = 4
    want = {True: int(on.accesses[on.occupancy <= cap].min()),
            False: int(off.accesses[off.occupancy <= cap].min())}
    assert want[True] < want[False]
    for flag in (True, False):
        csv = tmp_path / f"{flag}.csv"
        assert main(["curve", str(path), "--fusion", "--arch", "three_level", "--level-size",
                     "L1=8", "--capacities", str(cap), "--csv", str(csv), "--mapspace",
                     UNIFORM, "--max-depth", "2",
                     *(["--no-translate"] if not flag else [])]) == 0
        got = pd.read_csv(csv)
        assert got[got.fusion].accesses.tolist() == [want[flag]], (flag, got)


@st.composite
def tiny_translated_hierarchies(draw):
    """K's producer and QK (K read as ``K[p,e]``), ranks of 1 or 2 (m = p = 2), on
    :func:`strategies.tiny_fused_hierarchies`' archs (three or four levels, bypass, fanout)."""
    _, a = draw(tiny_fused_hierarchies(min_l1=3))
    sizes = {r: draw(st.sampled_from([1, 2])) for r in "ed"}
    return bs.workload(K_BY_P, m=2, p=2, **sizes), a


@settings(max_examples=4, deadline=None)
@given(tiny_translated_hierarchies())
def test_random_hierarchies_translated_equal_the_brute_force(case):
    """Random small hierarchies: the default search (eager and lazy) is the brute force over
    the translated trees of the stated mapspace, and never above ``translate=False``."""
    w, a = case
    try:
        ref = [(o, k) for o, k, _ in enumerate_workload(
            w, a, True, max_depth=2, translate=True, trees=in_one_name_mapspace(w))]
    except bs.BoundsolverError as error:
        ref = str(error)
    for lazy in (False, True):
        try:
            got = _points(fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2,
                                                      inner_storage=False, lazy=lazy))
        except bs.BoundsolverError as error:
            got = [] if "no schedule" in str(error) else str(error)
        assert got == ref
    if isinstance(ref, list) and ref:
        off = _points(fused_levels.solve_workload(w, a, True, UNIFORM, max_depth=2,
                                                  inner_storage=False, translate=False))
        assert all(min(x for y, x in off if y <= o) >= k for o, k in ref)
