"""Random valid mappings (sampling.py): each row is its nest's integers, every nest fits, and
no sample lies below the exact joint bound at its capacity."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.model.arch import Arch, Level
from boundsolver.model.cost import Copies, evaluate_levels
from boundsolver.reference import hierarchy
from boundsolver.reference.sampling import SamplingError, sample, sample_nests

SMALL = [  # GEMM 8x8x4 fits the enumerator; fanout at both levels, multicast or not, bypass
    Arch("sp", 8, (Level("DRAM"), Level("L2", sweep=True, instances=2, multicast=False),
                   Level("L1", 8, instances=4, keeps=("input", "output"),
                         spatial_ranks=("k", "n")))),
    Arch("sp2", 8, (Level("DRAM"), Level("L2", sweep=True),
                    Level("L1", 8, instances=4, multicast=False))),
]
CAPS = [6, 14, 30, 56, 500]


@pytest.mark.parametrize("problem,arch,cap", [
    (bs.gemm(256, 128, 64), bs.load_arch("simba"), 512),
    (bs.gemm(512, 256, 1024), bs.load_arch("a100"), 100_000),
    (bs.conv(R=3, P=16, C=8, K=8), SMALL[1], 40),
])
def test_rows_are_their_nests_and_fit(problem, arch, cap):
    df = sample(problem, arch, 150, capacity=cap, seed=3)
    found, _ = sample_nests(problem, arch, 150, capacity=cap, seed=3)
    names = tuple(lv.name for lv in arch.on_chip)
    assert len(df) == len(found) == 150 == len({n for n, _ in found})
    for (nest, cost), row in zip(found, df.itertuples(index=False)):
        again = evaluate_levels(problem, nest, multicast=arch.multicast)
        assert again == cost and hierarchy.fits(again, arch)
        assert row.accesses == cost.dram and row.occupancy <= cap
        assert row.mapping == nest.describe(problem, Copies.uniform(nest, names))
        r = row._asdict()
        for lv, occ, acc in zip(arch.on_chip, cost.occupancy, cost.accesses):
            assert (r[f"occupancy_{lv.name}"], r[f"accesses_{lv.name}"]) == (occ, acc)
        assert row.total_words == sum(o * lv.instances for lv, o in zip(arch.on_chip,
                                                                       cost.occupancy))
        for b, fan in enumerate(arch.fanouts, start=1):  # fanout budget and allowed ranks
            split = nest.fanout(b)
            assert math.prod(split.values()) <= fan
            assert set(split) <= set(arch.splits(problem, b))


@pytest.mark.parametrize("arch", SMALL)
def test_no_sample_below_the_exact_bound(arch):
    problem = bs.gemm(8, 8, 4)
    ref = bs.solve_curve(problem, CAPS, arch=arch, method="enumerate", mapspace="uniform/perfect")
    cols = ["accesses"] + [f"accesses_{lv.name}" for lv in arch.on_chip]
    for cap, bound in zip(CAPS, ref[cols].values.tolist()):
        df = sample(problem, arch, 300, capacity=cap, distinct=False)
        keys = sorted(map(tuple, df[cols].values.tolist()))
        assert keys[0] >= tuple(bound), (cap, keys[0], bound)  # lexicographic, DRAM first
        assert keys[0][0] == bound[0]  # and this seed's cloud reaches the bound's DRAM traffic


def test_deterministic_refusals_and_too_few():
    problem, arch = bs.gemm(8, 8, 4), SMALL[1]
    a, b = sample(problem, arch, 50, capacity=30, seed=7), sample(problem, arch, 50, 30, seed=7)
    assert a["mapping"].tolist() == b["mapping"].tolist()
    with pytest.raises(SamplingError, match="no mapping"):
        sample(problem, arch, 5, capacity=2)  # three tensors need three words
    with pytest.raises(SamplingError, match="found .* of 100000"):
        sample(bs.gemm(2, 2, 2), arch, 100_000, capacity=100, tries=2000)


def test_fig24b_check_refuses_a_sample_below_the_bound():
    """reproduce's Fig. 24b guard: a cloud at or above the bound passes, one below raises."""
    from boundsolver.report.reproduce import _check_above

    problem, arch = bs.gemm(4, 4, 2), SMALL[1]
    bound = bs.solve_curve(problem, [10], arch=arch, method="enumerate", mapspace="uniform/perfect")
    cloud = sample(problem, arch, 40, capacity=10, distinct=False)
    _check_above(bound, [cloud], arch)
    cloud.loc[0, "accesses"] = int(bound["accesses"].iloc[0]) - 1
    with pytest.raises(AssertionError, match="below the exact bound"):
        _check_above(bound, [cloud], arch)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.integers(1, 10**15)), max_size=8),
       st.lists(st.integers(0, 60), min_size=1, max_size=20))
def test_fig24b_reads_a_curve_at_many_sizes_as_at_each(rows, xs):
    """Fig. 24b reads the one-buffer curve at every sample's total words at once (_at_many): the
    least accesses among rows with occupancy at most x (inf below all), as a filter reads it,
    for any rows (unsorted, repeated occupancies, not a staircase)."""
    import pandas as pd

    from boundsolver.report.reproduce import _at_many

    front = pd.DataFrame(rows, columns=["occupancy", "accesses"])
    want = [min((float(a) for o, a in rows if o <= x), default=math.inf) for x in xs]
    assert _at_many(front, xs).tolist() == want
