"""Leaf traces shared up to renaming (curves/fused.py, ``canonical_form``, ``Curves``).

A reduced problem and its canonical form must have the same staircase (traced independently
here, each by the enumerator), a canonical mapping renamed back must cost on the original what
it costs on the canonical problem, and two problems with one key must have one staircase: the
last is checked on pairs drawn from a space small enough that keys collide often, so a key that
forgot what the cost depends on (a rank's size, which tensor is the output, which ranks a
tensor uses) fails it. The whole search with shared traces gives the curve it gives with every
reduced problem traced itself, with every breakpoint's tree re-costed in integers."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.curves import fused
from boundsolver.curves.fused import _renamed, canonical_form
from boundsolver.model.cost import evaluate
from boundsolver.model.einsum import Axis, Einsum, Tensor, Term
from boundsolver.reference.enumerate import frontier_points

SPACES = ["per_tensor/perfect", "uniform/perfect"]


def tensor(name: str, ranks) -> Tensor:
    return Tensor(name, tuple(Axis((Term(r),)) for r in ranks))


@st.composite
def problems(draw, ranks=("a", "b", "c"), sizes=(1, 2, 4)):
    """A small Einsum of plain axes: 1-2 inputs, each tensor a subset of the ranks (in a drawn
    order), every rank used by some input."""
    size = {r: draw(st.sampled_from(sizes)) for r in ranks}
    n_in = draw(st.integers(1, 2))
    ins = [draw(st.permutations(ranks).map(lambda p: p[:draw(st.integers(0, len(ranks)))]))
           for _ in range(n_in)]
    used = {r for t in ins for r in t}
    if not used:
        ins[0] = (ranks[0],)
        used = {ranks[0]}
    out = tuple(r for r in draw(st.permutations(ranks)) if r in used)[:draw(st.integers(0, 3))]
    inputs = tuple(tensor(f"A{i}", t) for i, t in enumerate(ins))
    return Einsum(tensor("O", out), inputs, tuple((r, size[r]) for r in ranks if r in used), "p")


def staircase(problem: Einsum, space: str) -> list:
    return [(c.occupancy, c.accesses) for _, c in frontier_points(problem, space)]


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from(SPACES))
def test_canonical_form_has_the_same_staircase(p, space):
    key, canon, ranks, tensors = canonical_form(p)
    assert staircase(canon, space) == staircase(p, space)
    for m, cost in frontier_points(canon, space):  # renamed back, each mapping costs the same
        back = evaluate(p, _renamed(m, ranks, tensors))
        assert (back.occupancy, back.accesses) == (cost.occupancy, cost.accesses)


@st.composite
def renamings(draw):
    """A problem and the same problem with ranks renamed, inputs reordered, axes permuted."""
    p = draw(problems())
    new = dict(zip(p.ranks, draw(st.permutations(["x", "y", "z"]))))
    shuffled = [tensor(T.name, [new[r] for r in draw(st.permutations(T.ranks))])
                for T in p.inputs]
    ins = tuple(draw(st.permutations(shuffled)))
    out = tensor("O", [new[r] for r in draw(st.permutations(p.output.ranks))])
    return p, Einsum(out, ins, tuple((new[r], n) for r, n in p.sizes), "q")


@settings(max_examples=150, deadline=None)
@given(renamings())
def test_renamed_problems_share_a_key(pair):
    p, q = pair
    assert canonical_form(p)[0] == canonical_form(q)[0]


@settings(max_examples=300, deadline=None)
@given(problems(ranks=("a", "b"), sizes=(1, 2, 3)), problems(ranks=("a", "b"), sizes=(1, 2, 3)),
       st.sampled_from(SPACES))
def test_one_key_one_staircase(p, q, space):
    if canonical_form(p)[0] == canonical_form(q)[0]:
        assert staircase(p, space) == staircase(q, space)


def test_a_window_keeps_its_names():
    p = Einsum(Tensor("O", (Axis((Term("p"),)),)),
               (Tensor("I", (Axis((Term("p"), Term("r"))),)), tensor("W", "r")),
               (("p", 4), ("r", 3)), "conv")
    assert canonical_form(p) is None


CHAINS = [["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"],
          ["S[m,p] += Q[m,e] * K[p,e]", "P[m,p] = S[m,p]", "Z[m,f] += P[m,p] * V[p,f]"],
          ["Y[m,d] += X[m,e] * A[e,d]", "Z[m,d] += Y[m,d] * W[m,d]"]]


@st.composite
def chains(draw):
    texts = draw(st.sampled_from(CHAINS))
    ranks = sorted({r for t in texts for part in t.split("[")[1:] for r in part.split("]")[0].split(",")})
    return bs.workload(texts, **{r: draw(st.sampled_from((1, 2, 4, 6))) for r in ranks})


def solve(w, renamed: bool, depth: int, space: str, monkeypatch):
    monkeypatch.setattr(fused, "Curves", functools.partial(fused.Curves, renamed=renamed))
    return fused.solve_workload(w, True, space, max_depth=depth)


@settings(max_examples=30, deadline=None)
@given(chains(), st.sampled_from([1, 2]), st.sampled_from(SPACES))
def test_shared_traces_change_no_curve(w, depth, space):
    with pytest.MonkeyPatch.context() as mp:
        shared = solve(w, True, depth, space, mp)
        alone = solve(w, False, depth, space, mp)
    curve = list(zip(shared.frontier.occ.tolist(), shared.frontier.acc.tolist()))
    assert curve == list(zip(alone.frontier.occ.tolist(), alone.frontier.acc.tolist()))
    assert shared.traced <= alone.traced
    for occ, acc in curve:  # every breakpoint's tree, its leaves renamed back, re-costed
        cost = bs.model.fusion.evaluate(w, shared.schedule(occ))
        assert (cost.occupancy, cost.accesses) == (occ, acc)


def test_attention_shares_its_two_einsums_traces():
    """QK and AV of attention are one problem up to renaming where their tiles agree: fewer
    traces, the same curve."""
    w = bs.workload(CHAINS[1], m=8, p=8, e=4, f=4)
    with pytest.MonkeyPatch.context() as mp:
        shared = solve(w, True, 2, "per_tensor/perfect", mp)
        alone = solve(w, False, 2, "per_tensor/perfect", mp)
    assert shared.traced < alone.traced
    assert shared.frontier.acc.tolist() == alone.frontier.acc.tolist()


def _key_over_every_order(inputs: tuple, output: tuple, sizes) -> tuple:
    """canonical_key as it was, every order of the inputs tried (the reference)."""
    from itertools import permutations
    best = None
    for order in permutations(range(len(inputs))):
        ts = [inputs[i] for i in order] + [output]
        sets = [set(T[1]) for T in ts]
        sig = {d: (n, tuple(d in s for s in sets)) for d, n in sizes}
        rorder = sorted(sig, key=sig.__getitem__)
        idx = {d: i for i, d in enumerate(rorder)}
        key = (tuple(tuple(sorted(idx[r] for r in s)) for s in sets),
               tuple(sig[d][0] for d in rorder))
        if best is None or key < best[0]:
            best = (key, [T[0] for T in ts], rorder)
    return best


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3, unique=True),
                min_size=1, max_size=5),
       st.lists(st.sampled_from("abcd"), min_size=1, max_size=3, unique=True),
       st.lists(st.sampled_from((1, 2, 3)), min_size=4, max_size=4))
def test_canonical_key_skips_only_orders_it_has_seen(ins, out, ns):
    """Orders of the inputs that put tensors of the same ranks in the same places are tried
    once (a folded norm's four vectors: 5 orders of 120): the same key, names and rank order as
    trying every order (a dedup by something coarser than the ranks in place fails this)."""
    inputs = tuple((f"X{k}", tuple(r)) for k, r in enumerate(ins))
    output = ("O", tuple(out))
    used = {r for _, rs in inputs for r in rs} | set(out)
    sizes = [(r, n) for r, n in zip("abcd", ns) if r in used]
    assert fused.canonical_key(inputs, output, sizes) == _key_over_every_order(inputs, output,
                                                                                 sizes)
