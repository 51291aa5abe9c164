"""AccelForge's fused mappings on the three-level arch against our fused joint curve
(docs/fusion.md, "On hierarchies", "Against AccelForge on three levels").

The files in benchmarks/data (``accelforge_fused_levels_*``) are AccelForge 1.0.467's Pareto
mappings of a fused two-Einsum chain (FFN pair, attention) on DRAM -> L2 (usage swept) -> L1 ->
MAC, every tensor kept in L2 and L1, DRAM keeping all but the intermediate (which it may keep),
made by benchmarks/af_fused_levels.py in AccelForge's venv; AccelForge is not needed here. They
are real mappings, so none may be below our exact fused curve with per-tensor leaves at its L2
words, on DRAM or on the whole key (DRAM, then L2 <-> L1 words: AccelForge's L2 reads + writes
less its DRAM words, each word crossing either boundary touching L2 once). Uniform leaves are a
smaller mapspace: AccelForge's per-tensor placements beat them (on the key, and at a few L2
sizes of the 8^4 FFN on DRAM)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import boundsolver as bs
from boundsolver.curves import fused_levels
from boundsolver.model.arch import Arch, Level

DATA = Path(__file__).parents[1] / "benchmarks" / "data"
FILES = sorted(p.name for p in DATA.glob("accelforge_fused_levels_*.csv"))
# the files every test reads (our per-tensor curve takes seconds there; larger ones are the
# benchmark's, benchmarks/fusion_levels_accelforge.py)
SMALL = [f for f in FILES
         if max(json.loads((DATA / f).with_suffix(".json").read_text())["params"].values()) <= 8]


def load(name: str):
    """(workload, arch, AccelForge's points as (L2 words, (DRAM, L2 <-> L1)), the frame)."""
    csv = DATA / name
    meta = json.loads(csv.with_suffix(".json").read_text())
    w = bs.workload(meta["einsums"], **{k.lower(): v for k, v in meta["params"].items()})
    arch = Arch("three_level", 8, (Level("DRAM"), Level("L2", sweep=True),
                                   Level("L1", meta["l1_words"])))
    af = pd.read_csv(csv)
    pts = [(int(x), (int(d), int(m) - int(d)))
           for x, d, m in zip(af["l2_words"], af["dram_words"], af["l2_moved_words"])]
    return w, arch, pts, af


def key_at(sol, capacity: int):
    i = int(sol.frontier.at(capacity))
    return tuple(int(v) for v in sol.frontier.key[i]) if i >= 0 else None


COMPULSORY = {  # every tensor but the intermediate moved once, by hand from the chains
    "ffn": lambda M, K, N, O: M * K + K * N + N * O + M * O,            # X, A, B, Y
    "attention": lambda M, P, E, F: M * E + P * E + P * F + M * F}      # Q, K, V, O


def test_files_are_the_chains_accelforge_mapped():
    """The files hold what their sidecars say: AccelForge's least DRAM traffic (L2 large
    enough) is every tensor but the intermediate moved once, and L2 <-> L1 is never negative."""
    assert len(SMALL) >= 2
    for name in FILES:
        meta = json.loads((DATA / name).with_suffix(".json").read_text())
        _, _, pts, af = load(name)
        assert af["dram_words"].min() == COMPULSORY[meta["chain"]](**meta["params"]), name
        assert all(moved >= 0 for _, (_, moved) in pts), name


@pytest.mark.parametrize("name", SMALL)
def test_no_accelforge_point_below_the_per_tensor_fused_key(name):
    w, arch, pts, af = load(name)
    sol = fused_levels.solve_workload(w, arch, mapspace="per_tensor/perfect")
    below = [(x, theirs, key_at(sol, x), af["mapping"][i]) for i, (x, theirs) in enumerate(pts)
             if key_at(sol, x) is None or theirs < key_at(sol, x)]
    assert not below
    # the accounting meets: some AccelForge point is one of our breakpoints, L2 words and key
    ours = set(zip(sol.frontier.occ.tolist(), map(tuple, sol.frontier.key.tolist())))
    assert any((x, theirs) in ours for x, theirs in pts)


@pytest.mark.parametrize("name", SMALL[:1])
def test_uniform_leaves_are_beaten_by_its_per_tensor_placements(name):
    """Uniform leaves (every tensor of a level at one depth) are a smaller mapspace: AccelForge
    places each tensor at its own depth and beats them on the key, so the comparison can fail."""
    w, arch, pts, _ = load(name)
    sol = fused_levels.solve_workload(w, arch, mapspace="uniform/perfect")
    assert any(theirs < key_at(sol, x) for x, theirs in pts)
