"""Rank translation through intermediates (docs/fusion.md, 'Translated loops', issue 23).

A loop may step through differently named ranks of the Einsums under it when an intermediate
identifies them: in ``K[m,e] += I[m,d]*W[e,d]; S[m,p] += Q[m,e]*K[p,e]`` a loop over ``S``'s key
rank ``p`` also runs ``K``'s producer for that key (its ``m``), so ``K`` is never stored whole.
``Node.via`` names such bindings. Checked here: a translated tree counted by hand; every
translated tree the brute force finds costs what the same tree costs, untranslated, on the
workload with each Einsum's bound ranks renamed (the evaluator's path without ``via``); no
translated schedule beats the exhaustive pebbling search (any schedule); an element-by-element
simulation of the brute force's translated trees moves what the evaluator counts; the rules that refuse
translated loops and keeps that would read different tiles."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pebbling import least_traffic

import boundsolver as bs
from boundsolver.errors import EinsumError
from boundsolver.model import fusion
from boundsolver.model.cost import Mapping, Nest
from boundsolver.model.fusion import Leaf, Node, Schedule
from boundsolver.reference.treeref import enumerate_workload, rank_classes

K_BY_P = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += Q[m,e] * K[p,e]"]
UNIFORM = "uniform/perfect"


def test_translated_loop_counted_by_hand():
    """m = p = 4, e = d = 2. ``for p (tile 1, via K.m) {K; S}``: iteration p makes row p of K
    (2 words, stored at the loop) and then column p of S.
    K's leaf (sub-problem m:1, e:2, d:2), for d: for e: one word of each tile: I[p,d] is read once
    per d (the e loop is inside, I has no e): 2 words per p, 8 in all; W[e,d] once per (d,e): 4 per
    p, 16 in all. S's leaf (m:4, e:2, p:1), for m: for e: Q[m,e] is read once per (m,e): 8 per p,
    32 in all; S[m,p] accumulates over the inner e and is written once per m: 4 per p, 16 in all
    (each written once: no read-back). Total 8 + 16 + 32 + 16 = 72. Occupancy: K's row (2) while
    K runs with one word each of I and W (4), and while S runs with one of Q and S (4): 4.
    Untranslated, K is either stored whole (8 words) or written out and read back (16 more)."""
    w = bs.workload(K_BY_P, m=4, p=4, e=2, d=2)
    k = Mapping((("m", 1), ("e", 1), ("d", 1)), ("d", "e"))
    s = Mapping((("m", 1), ("e", 1), ("p", 1)), ("m", "e"))
    tree = Node(None, 0, (), (Node("p", 1, (), (Leaf("K", k), Leaf("S", s)), (), (("K", "m"),)),))
    cost = fusion.evaluate(w, Schedule((tree,)))
    assert (cost.occupancy, cost.accesses) == (4, 72)
    assert dict(cost.reads) == {"I": 8, "W": 16, "Q": 32} and dict(cost.writes) == {"S": 16}
    # The same tree untranslated, on the workload whose producer names its rank p: the same cost.
    w2 = bs.workload(["K[p,e] += I[p,d] * W[e,d]", K_BY_P[1]], m=4, p=4, e=2, d=2)
    k2 = Mapping((("p", 1), ("e", 1), ("d", 1)), ("d", "e"))
    tree2 = Node(None, 0, (), (Node("p", 1, (), (Leaf("K", k2), Leaf("S", s))),))
    assert fusion.evaluate(w2, Schedule((tree2,))) == cost
    # Untranslated the loop over p cannot run K's producer; it is refused.
    with pytest.raises(EinsumError, match="cannot enclose"):
        fusion.check_schedule(w, Schedule((Node(None, 0, (), (Node("p", 1, (), tree.children[0]
                                                                     .children),)),)))
    assert "via K.m" in Schedule((tree,)).describe(w)


def test_refused_translations():
    w = bs.workload(K_BY_P, m=4, p=4, e=2, d=2)
    leaf_k, leaf_s = Leaf("K", Mapping((), ())), Leaf("S", Mapping((), ()))

    def tree(*node):
        return Schedule((Node(None, 0, (), node),))
    # K's m stepped with S's m: S reads K through p, so K is not aligned.
    with pytest.raises(EinsumError, match="cannot enclose"):
        fusion.check_schedule(w, tree(Node("m", 2, (), (leaf_k, leaf_s), (), ())))
    # stepping K's e with S's p (one size here): S reads K's m-axis through p, not its e-axis
    w4 = bs.workload(K_BY_P, m=4, p=4, e=4, d=2)
    with pytest.raises(EinsumError, match="cannot enclose"):
        fusion.check_schedule(w4, tree(Node("p", 2, (), (leaf_k, leaf_s), (), (("K", "e"),))))
    fusion.check_schedule(w4, tree(Node("p", 2, (), (leaf_k, leaf_s), (), (("K", "m"),))))
    # via names an Einsum not under the loop
    with pytest.raises(EinsumError, match="via"):
        fusion.check_schedule(w, tree(leaf_k, Node("p", 2, (), (leaf_s,), (), (("K", "m"),))))
    # K's m stepped by a loop over p that also steps S's m: S then reads K[p,...] whole
    with pytest.raises(EinsumError, match="cannot enclose"):
        fusion.check_schedule(w, tree(Node("m", 2, (), (leaf_k, leaf_s), (), (("S", "m"),))))


def test_a_keep_read_through_different_loop_axes_is_refused():
    """``I`` is read as ``I[m,e]`` by both Einsums, but the translated loop steps through its
    ``m`` in the first and through ``p`` (not in ``I``) in the second: the second reads all of
    ``I`` in every iteration, so ``I`` cannot be kept there as one row per iteration."""
    w = bs.workload(["K[m,e] += I[m,e] * A[e]", "S[m,p] += I[m,e] * K[p,e]"], m=2, p=2, e=2)
    ms = fusion.Leaf("K", Mapping((), ())), fusion.Leaf("S", Mapping((), ()))
    loop = Node("p", 1, ("I",), ms, (), (("K", "m"),))
    with pytest.raises(EinsumError, match="cannot be kept"):
        fusion.check_schedule(w, Schedule((Node(None, 0, (), (loop,)),)))
    fusion.check_schedule(w, Schedule((Node(None, 0, ("I",), (Node("p", 1, (), ms, (), loop.via),)),)))
    assert not any(fusion.translated(s) and "I" in _keeps_below_loops(s)
                   for _, _, sch in enumerate_workload(w, True, UNIFORM, max_depth=1, translate=True)
                   for s in sch.segments)


def _keeps_below_loops(node) -> set:
    return {T for c in node.children if isinstance(c, Node)
            for T in (*c.keep, *_keeps_below_loops(c))}


def test_rank_classes():
    w = bs.workload(["K[m,e] += I[m,d] * W[e,d]", "V[m,f] += I[m,d] * U[f,d]",
                     "S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"],
                    m=2, p=2, e=2, d=2, f=2)
    assert sorted(map(sorted, rank_classes(w))) == [["d"], ["e"], ["f"], ["m", "p"]]


def renamed_untranslated(w: bs.Workload, schedule: Schedule) -> tuple[bs.Workload, Schedule]:
    """The workload with each Einsum's ranks renamed to the names of the loops stepping through
    them (the rest to fresh names), and the schedule without ``via``: untranslated, costed by
    the evaluator's path that never reads ``via``."""
    sigma: dict[str, dict[str, str]] = {e: {} for e in w.names}

    def walk(node, above):
        if isinstance(node, Leaf):
            for loop in above:
                q = loop.binds(node.einsum)
                assert q not in sigma[node.einsum]
                sigma[node.einsum][q] = loop.rank
            return
        for c in node.children:
            walk(c, above + ((node,) if node.rank is not None else ()))
    for s in schedule.segments:
        walk(s, ())
    texts, sizes = [], {}
    for e in w.einsums:
        sg = sigma[e.name]
        taken = set(sg.values())
        assert len(taken) == len(sg)
        for r in e.ranks:  # unbound ranks: their own name if free, else a fresh one
            if r not in sg:
                sg[r] = r if r not in taken else f"{r}_{e.name.lower()}"
                taken.add(sg[r])
        for r in e.ranks:
            sizes[sg[r]] = e.size[r]

        def t(T):
            return f"{T.name}[{','.join(sg[a.ranks[0]] for a in T.axes)}]"
        texts.append(f"{t(e.output)} += " + " * ".join(t(T) for T in e.inputs))

    w2 = bs.workload(texts, name=w.name, **sizes)

    def strip(node):
        if isinstance(node, Leaf):
            sg, m = sigma[node.einsum], node.mapping
            assert isinstance(m, (Mapping, Nest))
            if isinstance(m, Mapping):
                return Leaf(node.einsum, Mapping(tuple((sg[r], t) for r, t in m.tiles),
                                                 tuple(sg[r] for r in m.order)))
            return Leaf(node.einsum, Nest(tuple(tuple((sg[r], t) for r, t in lv) for lv in m.levels),
                                          tuple(tuple(sg[r] for r in o) for o in m.orders),
                                          m.storage))
        return Node(node.rank, node.tile, node.keep, tuple(map(strip, node.children)))
    return w2, Schedule(tuple(map(strip, schedule.segments)))


@st.composite
def producer_chains(draw):
    """K's producer and a reader through another rank name, with or without a reader of S;
    small sizes, m = p (one shape of K)."""
    m, e, d = (draw(st.sampled_from(v)) for v in ([2, 4], [1, 2], [1, 2]))
    if draw(st.booleans()):
        return bs.workload(K_BY_P, m=m, p=m, e=e, d=d)
    return bs.workload([*K_BY_P, "Z[m,f] += S[m,p] * V[p,f]"], m=2, p=2, e=1, d=d, f=1)


@settings(max_examples=5, deadline=None)
@given(producer_chains())
def test_translated_breakpoints_cost_the_same_renamed(w):
    """Every breakpoint of the brute force with translation: its tree, re-costed untranslated on
    the renamed workload, costs the same; and translation only adds trees (never a higher curve)."""
    plain = enumerate_workload(w, True, UNIFORM, max_depth=2)
    more = enumerate_workload(w, True, UNIFORM, max_depth=2, translate=True)
    for occ, acc, sch in more:
        w2, s2 = renamed_untranslated(w, sch)
        again, renamed = fusion.evaluate(w, sch), fusion.evaluate(w2, s2, check=False)
        assert (again.occupancy, again.accesses) == (occ, acc)
        assert (renamed.occupancy, renamed.accesses) == (occ, acc)
    for occ, acc, _ in plain:
        assert min(a for o, a, _ in more if o <= occ) <= acc


def test_no_translated_schedule_beats_pebbling():
    """The exhaustive pebbling search (tests/pebbling.py: any schedule, no recomputation) is a
    floor for every translated breakpoint; and translation lowers this chain's curve."""
    w = bs.workload(K_BY_P, m=2, p=2, e=1, d=1)
    more = enumerate_workload(w, True, UNIFORM, max_depth=2, translate=True)
    plain = enumerate_workload(w, True, UNIFORM, max_depth=2)
    for occ, acc, _ in more:
        best = least_traffic(w, occ)
        assert best is not None and best <= acc
    lower = [(o, a) for o, a, s in more if min(x for y, x, _ in plain if y <= o) > a]
    assert lower and all(any(map(fusion.translated, s.segments)) for o, a, s in more
                         if (o, a) in lower)


# ------------------------------------------------------------- element-level re-costing

def simulate(w: bs.Workload, root: Node) -> dict[str, int]:
    """Words each tensor moves, by running a one-segment tree element by element, written from
    docs/fusion.md's rules without the package's evaluator: every loop binds, in each Einsum
    under it, the rank it steps (``Node.binds``) to a concrete range; a kept tensor is loaded
    (its whole box of elements, as its users index it) at every iteration of its node; a leaf
    (an Orojenesis ``Mapping``) loads a streamed input's box whenever the box its loops select
    changes, and flushes an output's box when it changes and at the end; an element loaded that
    was written before counts as a read-back. Intermediates cost nothing."""
    ctx = fusion.Context(w, root.einsums())
    moved: dict[str, int] = {}
    written: set = set()

    def add(T, n):
        moved[T] = moved.get(T, 0) + n

    def box(e, T, ranges):
        """The elements of ``T`` that Einsum ``e`` touches with its ranks in ``ranges``."""
        t = w[e].tensor(T)
        return frozenset(itertools.product(*(ranges[a.ranks[0]] for a in t.axes)))

    def hold(held, T, elems):
        """Make ``elems`` the held box of ``T``: an output flushes the box it replaces; a new box
        is loaded (an output's elements only where written before: first-read elision)."""
        if held.get(T) == elems:
            return
        if T in ctx.written and T in held:
            add(T, len(held[T]))
            written.update(held[T])
        if T not in ctx.written:
            add(T, len(elems))
        add(T + "@back", len(elems & written) if T in ctx.written else 0)
        held[T] = elems

    def flush(held):
        for T, elems in held.items():
            if T in ctx.written:
                add(T, len(elems))
                written.update(elems)

    def run(node, ranges, resident):
        if isinstance(node, Leaf):
            leaf(node.einsum, node.mapping, ranges[node.einsum], resident)
            return
        names = node.einsums()
        if node.rank is None:
            steps = [ranges]
        else:
            size = len(ranges[names[0]][node.binds(names[0])])
            steps = []
            for k in range(size // node.tile):
                cut = dict(ranges)
                for e in names:
                    r = node.binds(e)
                    cut[e] = ranges[e] | {r: ranges[e][r][k * node.tile:(k + 1) * node.tile]}
                steps.append(cut)
        held: dict[str, frozenset] = {}  # the kept boxes of this invocation
        for sub in steps:
            for T in node.keep:
                users = [e for e in names if T in {x.name for x in w[e].tensors}]
                hold(held, T, box(users[0], T, sub[users[0]]))
            for c in node.children:
                run(c, sub, resident | set(node.keep))
        flush(held)

    def leaf(e, m, ranges, resident):
        tile = m.tile
        loops = [r for r in m.order if len(ranges[r]) // tile[r] > 1]
        held: dict[str, frozenset] = {}
        for idx in itertools.product(*(range(len(ranges[r]) // tile[r]) for r in loops)):
            cur = {r: ranges[r] for r in ranges}
            for r, k in zip(loops, idx):
                cur[r] = ranges[r][k * tile[r]:(k + 1) * tile[r]]
            for t in w[e].tensors:
                if t.name not in resident and t.name not in ctx.intermediates:
                    hold(held, t.name, box(e, t.name, cur))
        flush(held)

    start = {e: {r: tuple(range(n)) for r, n in w[e].sizes} for e in root.einsums()}
    run(root, start, frozenset())
    return moved


def test_translated_trees_re_costed_element_by_element():
    """Every breakpoint's tree of the brute force with translation on two small chains: the
    words moved, simulated element by element, add up to the accesses the evaluator gives."""
    for texts, size in [(K_BY_P, dict(m=4, p=4, e=2, d=2)),
                        ([*K_BY_P, "Z[m,f] += S[m,p] * V[p,f]"], dict(m=2, p=2, e=1, d=1, f=1))]:
        w = bs.workload(texts, **size)
        found = enumerate_workload(w, True, UNIFORM, max_depth=2, translate=True)
        assert any(fusion.translated(s) for _, _, sch in found for s in sch.segments)
        for occ, acc, sch in found:
            assert sum(sum(simulate(w, s).values()) for s in sch.segments) == acc


def _imperfect_over_translated(k_rank: str, via: tuple) -> Schedule:
    """``for e (tile 2 of 3) {for p (tile 1, via) {K; S}} | last e:1 | the same``."""
    k = Mapping(((k_rank, 1), ("e", 1), ("d", 1)), ("d", "e"))
    s = Mapping((("m", 1), ("e", 1), ("p", 1)), ("m", "e"))
    inner = Node("p", 1, (), (Leaf("K", k), Leaf("S", s)), (), via)
    return Schedule((Node(None, 0, (), (Node("e", 2, (), (inner,), rest=(inner,)),)),))


def test_translated_loop_under_an_imperfect_shared_tile():
    """An imperfect loop over ``e`` (3 = 2 + 1) above a translated loop: each phase cuts, in each
    Einsum, the rank the loop steps through there. By hand (m = p = 2, e = 3, d = 2): per phase
    (e tile t = 2, then 1) and per p: K's leaf reads I[p,d] once per d (2) and W t·2 words; S's
    leaf reads Q 2·t words and writes S[:,p] once per m (2). I 2·2·2 = 8, W (4 + 2)·2 = 12, Q
    (4 + 2)·2 = 12, S written 2·2·2 = 8 (4 of them read back: its e is split). 44 in all, at
    occupancy 4 (K's row of 2 and a word of each of the running leaf's two streamed tiles); and
    the same as the tree untranslated on the workload whose producer names its rank p."""
    w = bs.workload(K_BY_P, m=2, p=2, e=3, d=2)
    cost = fusion.evaluate(w, _imperfect_over_translated("m", (("K", "m"),)), imperfect=True)
    assert (cost.occupancy, cost.accesses) == (4, 44)
    assert dict(cost.reads) == {"I": 8, "W": 12, "Q": 12, "S": 4} and dict(cost.writes) == {"S": 8}
    w2 = bs.workload(["K[p,e] += I[p,d] * W[e,d]", K_BY_P[1]], m=2, p=2, e=3, d=2)
    assert fusion.evaluate(w2, _imperfect_over_translated("p", ()), imperfect=True) == cost
    assert "last e iteration" in _imperfect_over_translated("m", (("K", "m"),)).tree(w)


def test_a_translated_loop_with_a_partial_iteration_is_refused():
    """``via`` with ``rest`` on one node is not modelled (fusion._check_tile), and the brute
    force does not search translated loops with imperfect shared tiles."""
    w = bs.workload(K_BY_P, m=3, p=3, e=2, d=2)
    leaves = (Leaf("K", Mapping((), ())), Leaf("S", Mapping((), ())))
    loop = Node("p", 2, (), leaves, (), (("K", "m"),), rest=leaves)
    with pytest.raises(EinsumError, match="translated loop .via. with an imperfect tile"):
        fusion.check_schedule(w, Schedule((Node(None, 0, (), (loop,)),)), imperfect=True)
    with pytest.raises(EinsumError, match="proper divisor"):
        fusion.check_schedule(w, Schedule((Node(None, 0, (), (loop,)),)))
    with pytest.raises(EinsumError, match="not searched together"):
        enumerate_workload(w, True, "uniform/imperfect", max_depth=1, translate=True)


# ------------------------------------------------ the solver's translated loops (TreeSearch)

def one_name_renamings(w: bs.Workload, names: tuple[str, ...]) -> list[dict]:
    """Every renaming of the Einsums ``names`` (a segment) that the solver's mapspace allows,
    written here from docs/fusion.md's statement: link the writer's rank on each plain axis of
    an intermediate to the rank a reader in the segment indexes it with, plainly; name each
    linked group by its rank in the segment's last Einsum that has one; an Einsum whose ranks'
    group names differ from its own and are distinct may be renamed to them, together with
    every such Einsum an intermediate joins it to (any set of such blocks; the identity
    included); none that reads a moved tensor through equal axes in two Einsums that read it
    through different ones."""
    ctx = fusion.Context(w, names)
    group = {(n, r): {(n, r)} for n in names for r in w[n].ranks}
    for X in ctx.intermediates:
        writer = w.names[w.producer[X]]
        for i in ctx.users[X]:
            reader = w.names[i]
            if reader == writer:
                continue
            for a, b in zip(w[writer].output.axes, w[reader].tensor(X).axes):
                if a.is_plain and b.is_plain:
                    merged = group[(writer, a.ranks[0])] | group[(reader, b.ranks[0])]
                    for x in merged:
                        group[x] = merged
    label = {}
    for n in names:  # the last Einsum's rank names the group
        for r in w[n].ranks:
            label[frozenset(group[(n, r)])] = r
    matched = {}
    for n in names:
        m = {r: label[frozenset(group[(n, r)])] for r in w[n].ranks}
        if any(m[r] != r for r in m) and len(set(m.values())) == len(m):
            matched[n] = m
    block = {n: {n} for n in matched}  # matched Einsums joined by an intermediate
    for X in ctx.intermediates:
        writer = w.names[w.producer[X]]
        for i in ctx.users[X]:
            if writer in matched and w.names[i] in matched:
                joined = block[writer] | block[w.names[i]]
                for n in joined:
                    block[n] = joined
    blocks = {frozenset(b) for b in block.values()}
    out = []
    for chosen in itertools.product([False, True], repeat=len(blocks)):
        on = set().union(*(b for b, c in zip(blocks, chosen) if c))
        rho = {n: matched[n] if n in on else {r: r for r in w[n].ranks} for n in names}
        new = {n: {T.name: tuple(tuple(rho[n][t.rank] for t in a.terms) for a in T.axes)
                   for T in w[n].tensors} for n in names}
        if all(new[u][T] != new[v][T] or w[u].tensor(T).axes == w[v].tensor(T).axes
               for T in ctx.moved for u, v in itertools.combinations(
                   [n for n in names if T in new[n]], 2)):
            out.append(rho)
    return out


def renamed_text(w: bs.Workload, rho: dict) -> bs.Workload:
    texts, sizes = [], {}
    for e in w.einsums:
        m = rho.get(e.name, {r: r for r in e.ranks})
        t = [f"{T.name}[{','.join('+'.join(m[x] for x in a.ranks) for a in T.axes)}]"
             for T in (e.output, *e.inputs)]
        texts.append(f"{t[0]} += " + " * ".join(t[1:]))
        sizes |= {m[r]: n for r, n in e.sizes}
    return bs.workload(texts, name=w.name, **sizes)


def in_one_name_mapspace(w: bs.Workload):
    """The predicate on a segment's trees (treeref's, translated or not) that keeps those of the
    solver's mapspace: some allowed renaming makes every loop step one name in all its Einsums
    and makes the tree, without via, a valid untranslated tree of the renamed workload."""
    cache: dict = {}

    def keep(root: Node) -> bool:
        names = root.einsums()
        if names not in cache:
            cache[names] = [(rho, renamed_text(w, rho)) for rho in one_name_renamings(w, names)]
        for rho, w2 in cache[names]:
            def plain(node):
                if isinstance(node, Leaf):
                    return node
                kids = tuple(map(plain, node.children))
                if node.rank is None:
                    return Node(None, 0, node.keep, kids)
                bound = {rho[e][node.binds(e)] for e in node.einsums()}
                if len(bound) > 1:
                    raise ValueError
                return Node(bound.pop(), node.tile, node.keep, kids)
            try:
                tree = plain(root)
                whole = w2.names.index(names[0]), w2.names.index(names[-1])
                fusion.check_schedule(fusion.Workload(w2.einsums[whole[0]:whole[1] + 1]),
                                      Schedule((tree,)))
                return True
            except (ValueError, EinsumError):
                continue
        return False
    return keep


# I read by K's producer as I[m,e] and by S as I[p,e]: renaming K's m to p makes the two read
# it through equal axes, where the model (keep_agrees) refuses to keep it over both.
TRANSPOSED = ["K[m,e] += I[m,e] * A[e]", "S[m,p] += I[p,e] * K[p,e] * Q[m,e]"]


@st.composite
def small_chains(draw):
    """Chains with an intermediate read through another rank name (K's producer and QK, with
    Q's producer, V's producer and AV, or an input read by both), sizes 1 to 4."""
    m = draw(st.sampled_from([2, 4]))
    e, d = (draw(st.sampled_from([1, 2])) for _ in range(2))
    kind = draw(st.sampled_from(["kp", "qk", "kv", "shared", "transposed", "ffn"]))
    if kind == "kp":
        return bs.workload(K_BY_P, m=m, p=m, e=e, d=d)
    if kind == "qk":
        return bs.workload(["Q[m,e] += I[m,d] * U[e,d]", *K_BY_P[:1],
                            "S[m,p] += Q[m,e] * K[p,e]"], m=2, p=2, e=1, d=d)
    if kind == "kv":
        return bs.workload([*K_BY_P, "Z[m,f] += S[m,p] * V[p,f]"], m=2, p=2, e=1, d=d, f=e)
    if kind == "shared":  # I read by both as I[m,e]
        return bs.workload(["K[m,e] += I[m,e] * A[e]", "S[m,p] += I[m,e] * K[p,e]"],
                           m=m, p=m, e=e)
    if kind == "transposed":
        return bs.workload(TRANSPOSED, m=m, p=m, e=e)
    return bs.workload(["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"],
                       m=m, d=d, c=e, j=2)


def solver_points(w, **kw):
    from boundsolver.curves.fused import solve_workload
    sol = solve_workload(w, True, UNIFORM, max_depth=2, **kw)
    out = []
    for o, a in zip(sol.frontier.occ, sol.frontier.acc):
        sch = sol.schedule(int(o))
        cost = fusion.evaluate(w, sch)  # the re-cost in integers, with via
        assert (cost.occupancy, cost.accesses) == (int(o), int(a))
        out.append((int(o), int(a), sch))
    return out


@settings(max_examples=8, deadline=None)
@given(small_chains())
def test_solver_translate_equals_brute_force_over_its_mapspace(w):
    """``solve_workload`` by default (``translate=None``: translated loops where modelled, here
    perfect shared tiles): every breakpoint re-costs to its value through ``fusion.evaluate``
    with ``via``, and the staircase is the brute force's (translate=True) restricted to the
    stated mapspace (:func:`in_one_name_mapspace`), breakpoint by breakpoint; it is never
    above the untranslated solver's (``translate=False``)."""
    got = [(o, a) for o, a, _ in solver_points(w)]
    want = [(o, a) for o, a, _ in enumerate_workload(w, True, UNIFORM, max_depth=2,
                                                      translate=True,
                                                      trees=in_one_name_mapspace(w))]
    assert got == sorted(want)
    plain = [(o, a) for o, a, _ in solver_points(w, translate=False)]
    for o, a in got:
        assert min(x for y, x in plain if y <= o) >= a


def test_what_the_one_name_mapspace_leaves_out():
    """``I[m,e]`` read by ``K``'s producer and by ``S`` (m = p = 2, e = 2): a translated tree
    that keeps ``I`` whole at the root and steps ``K``'s ``m`` as ``S``'s ``p`` below it is a
    tree of the model (the full brute force finds it: 12 words at 7) but not of the solver's
    mapspace (the renamed producer reads ``I[p,e]``, ``S`` reads ``I[m,e]``, and a tensor read
    through different axes is never kept); the solver is the restricted brute force there,
    and no lower than the full one anywhere."""
    w = bs.workload(["K[m,e] += I[m,e] * A[e]", "S[m,p] += I[m,e] * K[p,e]"], m=2, p=2, e=2)
    got = [(o, a) for o, a, _ in solver_points(w, translate=True)]
    full = enumerate_workload(w, True, UNIFORM, max_depth=2, translate=True)
    restricted = enumerate_workload(w, True, UNIFORM, max_depth=2, translate=True,
                                    trees=in_one_name_mapspace(w))
    assert got == sorted((o, a) for o, a, _ in restricted)
    assert all(min(x for y, x, _ in full if y <= o) <= a for o, a in got)
    assert min(a for o, a, _ in full if o <= 7) == 12 < min(a for o, a in got if o <= 7)


ATTN_BLOCK = ["K{k}[m,e] += X{k}[m,e] * W{k}[e]", "S{k}[m,p] += Q{k}[m,e] * K{k}[p,e]",
              "X{n}[m,e] += S{k}[m,p] * V{k}[p,e]"]


def attn_blocks(copies: int, m: int, e: int) -> bs.Workload:
    """Copies of a block whose key producer is read through another name (K{k}[p,e]): equal
    segments (solved once, renamed) that hold translated loops."""
    return bs.workload([t.format(k=k, n=k + 1) for k in range(copies) for t in ATTN_BLOCK],
                       name="attn_blocks", m=m, p=m, e=e)


def test_search_rules_change_no_translated_curve(monkeypatch):
    """Each exact rule of the search (equal segments renamed, forgetting swept at every step,
    mirrors, the incumbent, local memo keys, shared states) off gives the same translated curve
    as all on, and every breakpoint's tree (translated ones renamed from an equal segment
    among them) re-costs with via; translation lowers this workload's curve."""
    import functools

    from boundsolver.curves import fused
    w = attn_blocks(2, 2, 2)

    def curve(**kw):
        with monkeypatch.context() as m:
            m.setattr(fused, "TreeSearch", functools.partial(fused.TreeSearch, **kw))
            m.setattr(fused.TreeSearch.func, "SWEEP", 0)
            sol = fused.solve_workload(w, True, UNIFORM, max_depth=1, translate=True)
        pts = list(zip(sol.frontier.occ.tolist(), sol.frontier.acc.tolist()))
        for o, a in pts:
            cost = fusion.evaluate(w, sol.schedule(o))
            assert (cost.occupancy, cost.accesses) == (o, a)
        return sol, pts
    on, want = curve()
    assert on.search.reused > 0
    assert any(fusion.translated(s) for o, _ in want for s in on.schedule(o).segments)
    for rules in [dict(repeats=False, forgetting=False), dict(mirrors=False),
                  dict(incumbent=False), dict(local_keys=False), dict(share=False)]:
        assert curve(**rules)[1] == want, rules
    plain = fused.solve_workload(w, True, UNIFORM, max_depth=1, translate=False)
    assert any(plain.value(o) > a for o, a in want)


def test_translated_loops_are_searched_only_where_modelled():
    """``translate=None`` searches translated loops with perfect shared tiles and without
    spill only (the model refuses via with rest or dram); ``True`` elsewhere is refused, not
    dropped; the default (None) searches them where modelled, the curve translate=True gives;
    the renamed searches take the asking search's shared tiles."""
    from boundsolver.curves import fused
    from boundsolver.errors import BoundsolverError
    w = bs.workload(K_BY_P, m=4, p=4, e=2, d=2)
    for kw in (dict(mapspace="uniform/imperfect"), dict(spill=True)):
        with pytest.raises(BoundsolverError, match="translated loops"):
            fused.solve_workload(w, True, max_depth=1, translate=True, **kw)
        sol = fused.solve_workload(w, True, max_depth=1, translate=None, **kw)
        assert not sol.search._translated
    sol = fused.solve_workload(w, True, "uniform/imperfect", max_depth=1, shared_imperfect=False,
                               translate=None)
    assert sol.search._translated
    # the renamed searches keep the perfect shared tiles of the search that asks them (with
    # imperfect leaves they would otherwise take the leaves' factors: via with a partial tile)
    assert not any(sub.imperfect for sub in sol.search._translated.values())
    default = fused.solve_workload(w, True, max_depth=1)
    assert default.search._translated  # on by default where modelled
    on = fused.solve_workload(w, True, max_depth=1, translate=True)
    off = fused.solve_workload(w, True, max_depth=1, translate=False)
    assert not off.search._translated
    assert default.frontier.acc.tolist() == on.frontier.acc.tolist()
    assert default.frontier.occ.tolist() == on.frontier.occ.tolist()
    assert any(off.value(o) > default.value(o) for o in default.frontier.occ.tolist())
    assert not fused.TreeSearch(w, fused.Curves(fused.WORKLOAD_MAPSPACE)).translate


def test_a_renaming_that_would_keep_what_the_model_refuses_is_dropped():
    """``TRANSPOSED``: the renaming that matches ``K``'s ``m`` to ``S``'s ``p`` makes ``I[p,e]``
    one tile for both, so its search would keep ``I`` over both under the key loop, a keep the
    model refuses (different axes in the workload): the renaming is dropped (without that, the
    re-cost of a breakpoint's tree is refused), and the solver is the restricted brute force."""
    from boundsolver.curves.fused import translations
    w = bs.workload(TRANSPOSED, m=2, p=2, e=2)
    assert translations(w, 0, 1) == []
    got = [(o, a) for o, a, _ in solver_points(w, translate=True)]
    want = enumerate_workload(w, True, UNIFORM, max_depth=2, translate=True,
                              trees=in_one_name_mapspace(w))
    assert got == sorted((o, a) for o, a, _ in want)


def test_translate_option_through_the_api_and_cli(tmp_path, capsys):
    """``translate`` on the public API: the default curve (None) is the translated one, below
    ``translate=False`` somewhere on ``K_BY_P``; every row re-costed (``_row``) and a translated
    tree printed with ``via``; a non-bool, a single Einsum, ``fusion=False`` and a hierarchy
    without ``fusion=True`` (unfused there) refused (on hierarchies:
    tests/test_fused_levels_translate.py); ``--no-translate`` gives the untranslated curve and is refused without --fusion."""
    import pandas as pd

    from boundsolver.cli import main
    from boundsolver.errors import BoundsolverError
    w = bs.workload(K_BY_P, name="kp", m=8, p=8, e=4, d=4)
    on, off = bs.pareto_frontier(w), bs.pareto_frontier(w, translate=False)
    assert on.equals(bs.pareto_frontier(w, translate=True))
    at = bs.solve_curve(w, list(on.occupancy), translate=False)
    assert all(a <= b for a, b in zip(on.accesses, at.accesses))
    assert any(a < b for a, b in zip(on.accesses, at.accesses))
    assert any("(via K.m)" in t for t in on.tree) and not any("via" in t for t in off.tree)
    for bad, kw in [("must be True, False or None", dict(translate=1)),
                    ("not to fusion=False", dict(translate=False, fusion=False)),
                    ("without fusion=True", dict(translate=False, arch="three_level"))]:
        with pytest.raises(BoundsolverError, match=bad):
            bs.solve_curve(w, [64], **kw)
    with pytest.raises(BoundsolverError, match="single Einsum"):
        bs.pareto_frontier(bs.gemm(4, 4, 4), translate=True)
    path = tmp_path / "kp.yaml"
    path.write_text("name: kp\nsizes: {m: 8, p: 8, e: 4, d: 4}\nworkload:\n"
                    + "".join(f"  - {e}\n" for e in K_BY_P))
    cap = int(on.occupancy[len(on) // 2])
    want = {False: int(at.accesses[len(on) // 2]), True: int(on.accesses[len(on) // 2])}
    for flag in (True, False):
        csv = tmp_path / f"{flag}.csv"
        assert main(["curve", str(path), "--fusion", "--capacities", str(cap), "--csv", str(csv),
                     *(["--no-translate"] if not flag else [])]) == 0
        got = pd.read_csv(csv)
        assert got[got.fusion].accesses.tolist() == [want[flag]], (flag, got)
    assert main(["curve", str(path), "--no-translate"]) != 0
    assert "--no-translate applies to --fusion" in capsys.readouterr().err
