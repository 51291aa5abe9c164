"""The fused search's shortcuts that change no curve (curves/fused.py; issue 23, speed).

``Curves`` finds a leaf's trace by the canonical key of its reduced problem computed from the
shape and the tiles alone (``canonical_key``), never building the sub-problem or the reduced
problem: it must give the key and the renamings that :func:`canonical_form` gives the problem
built the slow way (``fusion.sub_problem`` then ``fusion.reduced``), on random Einsums, tiles and
resident sets, including the rank order ``sub_problem`` changes when it cuts a rank (ties
between interchangeable ranks follow it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from boundsolver.curves import fused
from boundsolver.model import fusion
from boundsolver.model.einsum import Axis, Einsum, Tensor, Term
from boundsolver.model.mapspace import divisors


def tensor(name: str, ranks) -> Tensor:
    return Tensor(name, tuple(Axis((Term(r),)) for r in ranks))


@st.composite
def leaves(draw, ranks=("a", "b", "c", "d")):
    """An Einsum of plain axes (1-3 inputs, ranks in drawn orders, sizes with ties), tiles that
    divide its sizes, and a resident subset of its tensors."""
    size = {r: draw(st.sampled_from((1, 2, 4, 6))) for r in ranks}
    n_in = draw(st.integers(1, 3))
    ins = [tuple(draw(st.permutations(ranks)))[:draw(st.integers(0, len(ranks)))]
           for _ in range(n_in)]
    used = {r for t in ins for r in t}
    if not used:
        ins[0], used = (ranks[0],), {ranks[0]}
    out = tuple(r for r in draw(st.permutations(ranks)) if r in used)[:draw(st.integers(0, 3))]
    order = [r for r in draw(st.permutations(ranks)) if r in used]  # the Einsum's own order
    e = Einsum(tensor("Y", out), tuple(tensor(f"X{i}", t) for i, t in enumerate(ins)),
               tuple((r, size[r]) for r in order), "e")
    tiles = {r: draw(st.sampled_from(divisors(n))) for r, n in e.sizes}
    resident = frozenset(T.name for T in e.tensors if draw(st.booleans()))
    return e, tiles, resident


@settings(max_examples=400, deadline=None)
@given(leaves())
def test_the_key_without_the_problem_is_canonical_forms(case):
    e, tiles, resident = case
    red, _, _ = fusion.reduced(fusion.sub_problem(e, tiles), resident)
    curves = fused.Curves(fused.workload_mapspace(None))
    shape = curves._shape(e, resident)
    if red is None:
        assert shape is None
        return
    key, problem, ranks, tensors = fused.canonical_form(red)
    c = curves.curve(e, tiles, resident)  # the fast path, as the search calls it
    assert list(curves.traced) == [key] and c.traced is curves.traced[key]
    assert (c.ranks, c.tensors) == (ranks, tensors)
    inputs, output, cut, whole = shape.form
    order = cut if any(tiles[r] != n for r, n in e.sizes) else whole
    assert [r for r, _ in red.sizes] == list(order)  # the order ties follow is red's own
    assert fused.canonical_problem(key) == problem
