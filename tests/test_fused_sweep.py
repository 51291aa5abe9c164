"""A small budget of benchmarks/fused_sweep.py (issues 22/23): the fused solver against the
independent brute forces on one hand-picked case per family, every check of the sweep (the
curve breakpoint by breakpoint, every breakpoint re-costed, the element-by-element causality
run, the tile-by-tile simulation, fused <= unfused, a one-Einsum workload = its single-Einsum
staircase, renaming), and the sweep's own checks shown able to fail."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from boundsolver.model import fusion
from boundsolver.model.arch import Arch, Level

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "fused_sweep.py"
_spec = importlib.util.spec_from_file_location("fused_sweep", _PATH)
sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sweep)

FFN = ["Y[m,c] += X[m,d] * A[d,c]", "Z[m,j] += Y[m,c] * B[c,j]"]
THIRD_READER = ["K[m,e] += I[m,d] * W[e,d]", "S[m,p] += I[m,d] * K[p,d]",
                "T[m,e] += K[m,e] * U[m,e]"]


def one(texts, sizes, ms, depth=1, split=False, spill=False) -> dict:
    return dict(texts=texts, sizes=sizes, ms=ms, depth=depth, split=split, spill=spill)


CASES = {
    "residual, a third reader": ("residual", one(THIRD_READER, dict(m=2, p=2, e=2, d=2),
                                                 "per_tensor/perfect", 2)),
    "K producer, imperfect": ("kv_attention", one(["K[m,e] += I[m,d] * W[e,d]",
                                                   "S[m,p] += Q[m,e] * K[p,e]"],
                                                  dict(m=3, p=3, e=1, d=2), "uniform/imperfect")),
    "strided conv": ("conv", one(["A[c,q] += I[e,2*q+s] * W[c,e,s]", "B[d,q] += A[c,q] * V[d,c]"],
                                 dict(c=2, e=1, q=2, s=3, d=2), "per_tensor/perfect", 2)),
    "twin blocks": ("twins", one([t.format(k=k, n=k + 1) for k in range(2) for t in sweep.BLOCK],
                                 dict(m=2, d=1, c0=1, c1=1), "uniform/perfect", 1)),
    "spill": ("gemm_chain", one(FFN, dict(m=2, d=1, c=2, j=1), "uniform/perfect", 1, spill=True)),
    "primes, split": ("primes", one(FFN, dict(m=7, d=1, c=2, j=1), "per_tensor/imperfect", 1,
                                    split=True)),
    "one Einsum": ("single", one(["A[c,q] += I[e,2*q+s] * W[c,e,s]"], dict(c=3, e=1, q=3, s=3),
                                 "per_tensor/perfect", 2)),
    "hierarchy, inner storage": ("hierarchy", dict(
        texts=FFN, sizes=dict(m=2, d=1, c=2, j=1), inner_storage=True, lazy=True,
        arch=Arch("t", 8, (Level("DRAM"), Level("L2", sweep=True),
                           Level("L1", 3, keeps=("inputs",)))))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sweep_case_agrees(name):
    fam, case = CASES[name]
    row = sweep.check_case(fam, case, random.Random(name), 40_000, 120)
    assert row["error"] == "" and row["timeout"] == 0, row
    assert row["mismatch"] == "", row["mismatch"]
    assert row["skipped"] == 0 and row["breakpoints"] > 1


def test_causality_check_catches_the_old_loop_rule(monkeypatch):
    """The loop rule as it was before 2026-12-07 (only intermediates whose readers *all* lie
    under the loop checked for alignment) lets the solver, the brute force and the evaluator
    all accept a loop over m around K's writer and S, which reads K through p: their curves
    agree, and only the element-by-element run catches it."""
    original = fusion.aligned

    def old_aligned(workload, ctx, X, r, via, inside):
        if not inside.issuperset(ctx.users[X]):
            return True
        return original(workload, ctx, X, r, via, inside)
    monkeypatch.setattr(fusion, "aligned", old_aligned)
    fam, case = CASES["residual, a third reader"]
    row = sweep.check_case(fam, case | {"ms": "uniform/perfect", "depth": 1,
                                        "sizes": dict(m=4, p=4, e=2, d=2)},
                           random.Random(0), 40_000, 120)
    assert "causal" in row["mismatch"] and "curve" not in row["mismatch"], row


def test_rename_check_can_fail():
    texts, sizes = sweep.rename(FFN, dict(m=2, d=3, c=4, j=5), random.Random(1))
    assert sorted(sizes.values()) == [2, 3, 4, 5] and set(sizes) == {"r0", "r1", "r2", "r3"}
    assert not any(x in " ".join(texts) for x in ("X", "Y", "Z", "A", "B"))
