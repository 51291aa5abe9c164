"""The search's staircase arithmetic (curves/fused.py: ``plus_shifted``, ``merge``) against a
pointwise brute force: a staircase's value at a capacity is the least accesses among its points
that fit, and the Pareto staircase of a set of points is the set of capacities where that value
drops."""

from hypothesis import given, settings
from hypothesis import strategies as st

from boundsolver.curves.fused import LONG, ZERO, Stairs, merge, plus_shifted

INF = float("inf")


def value(points, c):
    """Least accesses among ``(occupancy, accesses)`` points with occupancy <= c."""
    return min((a for o, a in points if o <= c), default=INF)


def pareto(points, capacities):
    """The (capacity, value) pairs at which the pointwise least value drops."""
    out = []
    for c in sorted(set(capacities)):
        v = value(points, c)
        if v < INF and (not out or v < out[-1][1]):
            out.append((c, v))
    return out


def stairs_from(points, tag=0):
    """A valid staircase (occupancy ascending, accesses strictly descending) of arbitrary points."""
    ps = pareto(points, [o for o, _ in points])
    return Stairs([o for o, _ in ps], [a for _, a in ps], [tag] * len(ps))


point_lists = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 60)), min_size=1, max_size=8)
# long staircases take numpy's path (fused.LONG points in all)
long_lists = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 600)), min_size=1, max_size=90)


@settings(max_examples=300, deadline=None)
@given(st.one_of(point_lists, long_lists), st.integers(0, 15), st.one_of(point_lists, long_lists))
def test_plus_shifted_adds_pointwise(a_pts, shift, b_pts):
    a, b = stairs_from(a_pts), stairs_from(b_pts)
    got = plus_shifted(a, shift, b, 7)
    caps = [o + shift for o in a.occ] + list(b.occ)
    want = []
    for c in sorted(set(caps)):
        v = value(zip([o + shift for o in a.occ], a.acc), c) + value(zip(b.occ, b.acc), c)
        if v < INF and (not want or v < want[-1][1]):
            want.append((c, v))
    assert list(zip(got.occ, got.acc)) == want
    assert got.tag == [7] * len(want)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(point_lists, long_lists), min_size=1, max_size=4))
def test_merge_is_the_pareto_staircase_of_the_union(lists):
    parts = [stairs_from(p, tag=k) for k, p in enumerate(lists)]
    got = merge([None, *parts])
    union = [pt for p in parts for pt in zip(p.occ, p.acc)]
    assert list(zip(got.occ, got.acc)) == pareto(union, [o for o, _ in union])
    for o, a, t in zip(got.occ, got.acc, got.tag):  # each point keeps the tag of a part holding it
        assert (o, a) in zip(parts[t].occ, parts[t].acc)


def test_merge_keeps_the_first_of_equal_points_and_handles_nothing():
    assert merge([None]) is None
    got = merge([Stairs([1, 3], [5, 2], [0, 0]), Stairs([1, 2], [5, 4], [1, 1])])
    assert (got.occ, got.acc, got.tag) == ([1, 2, 3], [5, 4, 2], [0, 1, 0])
    n = LONG  # the same on numpy's path
    got = merge([Stairs([1, 3], [5, 2], [0, 0]), Stairs([1, 2], [5, 4], [1, 1]),
                 Stairs(list(range(10, 10 + n)), list(range(n, 0, -1)), [2] * n)])
    assert (got.occ[:3], got.acc[:3], got.tag[:3]) == ([1, 2, 3], [5, 4, 2], [0, 1, 0])


def test_plus_shifted_by_hand():
    # a = {(2,10),(5,4)} raised by 1 -> {(3,10),(6,4)}; b = {(0,7),(4,1)}
    got = plus_shifted(Stairs([2, 5], [10, 4], [0, 0]), 1, Stairs([0, 4], [7, 1], [0, 0]), 3)
    assert (got.occ, got.acc) == ([3, 4, 6], [17, 11, 5])
    flat = plus_shifted(Stairs([2, 5], [10, 4], [0, 0]), 0, ZERO, 1)
    assert (flat.occ, flat.acc, flat.tag) == ([2, 5], [10, 4], [1, 1])
    assert Stairs([2, 5], [10, 4], [0, 0]).at(4) == 0 and ZERO.at(-1) == -1
