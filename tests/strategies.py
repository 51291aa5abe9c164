"""Hypothesis strategies: small random Einsums of every kind the package accepts."""

from __future__ import annotations

import math

from hypothesis import strategies as st

import boundsolver as bs

SIZES = st.sampled_from([1, 2, 3, 4, 6, 8])
SMALL = st.sampled_from([1, 2, 3, 4])


@st.composite
def gemms(draw):
    return bs.gemm(draw(SIZES), draw(SIZES), draw(SIZES))


@st.composite
def bmms(draw):
    return bs.bmm(draw(SMALL), draw(SMALL), draw(SMALL), draw(SMALL))


@st.composite
def gbmms(draw):
    G = draw(st.sampled_from([1, 2]))
    H = G * draw(st.sampled_from([1, 2, 3]))
    return bs.gbmm(draw(SMALL), draw(SMALL), draw(SMALL), H, G)


@st.composite
def convs(draw):
    coef = st.integers(1, 3)
    return bs.conv(R=draw(st.integers(1, 3)), S=draw(st.integers(1, 3)),
                   P=draw(st.sampled_from([1, 2, 4])), Q=draw(st.sampled_from([1, 2, 3])),
                   C=draw(st.sampled_from([1, 2])), K=draw(st.sampled_from([1, 2, 4])),
                   Wstride=draw(coef), Hstride=draw(coef), Wdilation=draw(coef),
                   Hdilation=draw(coef))


@st.composite
def general_einsums(draw, max_macs: int = 1500):
    """4-6 ranks, 2-4 inputs, axes plain or sliding (``a*x+b*y``), tensors of one rank allowed."""
    n = draw(st.integers(4, 6))
    ranks = [f"r{i}" for i in range(n)]
    sizes = {d: draw(st.sampled_from([1, 2, 3, 4, 6])) for d in ranks}
    while math.prod(sizes.values()) > max_macs:
        big = max(ranks, key=sizes.get)
        sizes[big] = max(1, sizes[big] // 2)
    inputs = []
    for i in range(draw(st.integers(2, 4))):
        chosen = draw(st.lists(st.sampled_from(ranks), min_size=1, max_size=3, unique=True))
        axes = []
        k = 0
        while k < len(chosen):
            if k + 1 < len(chosen) and draw(st.booleans()):
                a, b = draw(st.integers(1, 2)), draw(st.integers(1, 2))
                axes.append(f"{a}*{chosen[k]}+{b}*{chosen[k + 1]}")
                k += 2
            else:
                axes.append(chosen[k])
                k += 1
        inputs.append((f"T{i}", axes))
    used = {d for _, axes in inputs for a in axes
            for d in ranks if d in a.replace("+", " ").replace("*", " ").split()}
    for d in ranks:
        if d not in used:
            inputs[draw(st.integers(0, len(inputs) - 1))][1].append(d)
            used.add(d)
    out = draw(st.lists(st.sampled_from(ranks), min_size=1, max_size=3, unique=True))
    text = (f"Out[{','.join(out)}] += "
            + " * ".join(f"{name}[{','.join(axes)}]" for name, axes in inputs))
    return bs.einsum(text, **sizes)


einsums = st.one_of(gemms(), bmms(), gbmms(), convs(), general_einsums())
