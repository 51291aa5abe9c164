"""Hypothesis strategies: small random Einsums of every kind the package accepts."""

from __future__ import annotations

import math

from hypothesis import strategies as st

import boundsolver as bs
from boundsolver.model.arch import Arch, Level

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


FFN_CHAIN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
ATTENTION_CHAIN = ["S[m,p] += Q[m,e] * K[p,e]", "Z[m,f] += S[m,p] * V[p,f]"]


def fused_arch(*inner: Level) -> Arch:
    """DRAM, a swept L2 and the given inner levels (the fused tests' hierarchies)."""
    return Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True), *inner))


@st.composite
def tiny_fused_hierarchies(draw, min_l1: int = 2, multicast: bool = False):
    """An FFN or attention chain with ranks of 1 or 2 (m = 2) on three or four levels: L1 of
    ``min_l1``..8 words, maybe keeping inputs only, fanout 1 or 2; maybe registers below it
    (fanout up to twice L1's, multicast drawn where ``multicast``)."""
    texts = draw(st.sampled_from([FFN_CHAIN, ATTENTION_CHAIN]))
    ranks = sorted({r for t in texts for r in t if r.islower() and r.isalpha()})
    sizes = {r: draw(st.sampled_from([1, 2])) for r in ranks} | {"m": 2}
    keeps = draw(st.sampled_from([{}, {"keeps": ("inputs",)}]))
    inner = [Level("L1", draw(st.integers(min_l1, 8)), instances=draw(st.sampled_from([1, 2])),
                   multicast=False, **keeps)]
    if draw(st.booleans()):
        inner.append(Level("L0", draw(st.integers(1, 4)),
                           instances=inner[0].instances * draw(st.sampled_from([1, 2])),
                           multicast=draw(st.booleans()) if multicast else False))
    return bs.workload(texts, **sizes), fused_arch(*inner)
