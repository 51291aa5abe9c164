"""The one MILP generator: the Orojenesis model is the nest MILP's one-boundary class.

test_milp.py checks ``Formulation``'s curves against the enumerator; these tests pin down that
the nest generator's one-boundary, perfect-factor case stays the small model of the hot path and
that its class formula is model.md's (symbolic.py) for the class's order.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import einsums

import boundsolver as bs
from boundsolver.milp.formulation import Formulation, NestFormulation
from boundsolver.model.cost import Mapping
from boundsolver.model.mapspace import (
    Mapspace,
    distinct_classes,
    divisors,
    looping_ranks,
    order_classes,
    uniform_class,
)
from boundsolver.model.symbolic import Symbolic


def _classes(p):
    ranks = looping_ranks(p)
    return ranks, distinct_classes(p, ranks, order_classes(p, ranks))


def _rows(form):
    return [(coefs, lo, hi) for _, coefs, lo, hi in form.m.rows]


@pytest.mark.parametrize("problem, size", [
    # (variables, rows, nonzeros) over the distinct order classes: those of the Orojenesis
    # builder the nest generator replaced (no count, nesting or choice variables).
    (bs.gemm(4096, 4096, 4096), (210, 24, 612)),
    (bs.bmm(4096, 512, 4096, H=8), (215, 24, 627)),
    (bs.conv(R=3, S=3, P=16, Q=16, C=64, K=64), (1618, 196, 5945)),
    (bs.conv(R=7, S=7, P=112, Q=112, C=3, K=64, Wstride=2, Hstride=2), (6541, 360, 31464)),
])
def test_orojenesis_model_size(problem, size):
    ranks, classes = _classes(problem)
    forms = [Formulation(problem, c, ranks) for c in classes]
    assert (sum(len(f.m.names) for f in forms), sum(len(f.m.rows) for f in forms),
            sum(len(r[1]) for f in forms for r in f.m.rows)) == size
    assert not any(f.m.presolve for f in forms)


@settings(max_examples=30)
@given(einsums)
def test_orojenesis_model_is_the_per_tensor_one_group_class(p):
    """The per-tensor mapspace's class with every tensor at one boundary is the same MILP."""
    ranks, classes = _classes(p)
    for c in classes:
        a = Formulation(p, c, ranks)
        b = NestFormulation(p, uniform_class(p, c), Mapspace("per_tensor", "perfect"), ranks)
        assert a.m.names == b.m.names and _rows(a) == _rows(b)
        assert (a.m.lower, a.m.upper, a.m.integer) == (b.m.lower, b.m.upper, b.m.integer)


@settings(max_examples=40)
@given(einsums, st.randoms(use_true_random=False))
def test_class_formula_is_the_symbolic_one(p, rnd: random.Random):
    """``value`` of a mapping under a class is model.md's formula for the class's order (loops
    of one iteration counted where the order puts them, ranks that never loop outermost), and
    never below the cost model."""
    ranks, classes = _classes(p)
    sym = Symbolic(p)
    for c in classes:
        form = Formulation(p, c, ranks)
        order = tuple(d for d in p.ranks if d not in c.order) + c.order
        for _ in range(5):
            tiles = tuple((d, rnd.choice(divisors(n))) for d, n in p.sizes)
            mapping = Mapping(tiles, c.order)
            want = tuple(int(sym.evaluate(e, mapping.tile)[0])
                         for e in (sym.occupancy(), sym.accesses(order)))
            assert form.value(mapping) == want
            cost = bs.evaluate(p, mapping)
            assert cost.occupancy == want[0] and cost.accesses <= want[1]
