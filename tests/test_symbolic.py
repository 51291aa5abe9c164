"""The symbolic front door (``bs.expressions``) and the MILP it describes.

Three views of one class at one tile assignment must agree: the sympy expressions with the tiles
substituted, the MILP's own value (every non-value variable set from the tiles, each value
one-hot set to the one value its rows admit, every row checked, the objective read off), and
``cost.evaluate`` of the decoded mapping (never above the class formula, equal to it where every
loop of the nest iterates). This is checked at every attainable tile assignment of every class.
The closed forms below are written from model.md's rules by hand, not from the code.
"""

from __future__ import annotations

import math
import re
from itertools import product

import pytest
import sympy as sp

import boundsolver as bs
from boundsolver.milp.formulation import Formulation, NestFormulation
from boundsolver.model.mapspace import (
    Mapspace,
    distinct_classes,
    divisors,
    looping_ranks,
    nest_classes,
    order_classes,
    tile_sizes,
    uniform_class,
    windowed_ranks,
)
from boundsolver.model.symbolic import prime_exponents

M, K, N, P, R = sp.symbols("M K N P R", positive=True, integer=True)
t_m, t_k, t_n, t_p, t_r = sp.symbols("t_m t_k t_n t_p t_r", positive=True, integer=True)


# ----------------------------------------------------------------------------- closed forms

def test_gemm_class_is_model_md_formula():
    """model.md: A's innermost relevant loop is m with n above it (irrelevant): M*K * N/t_n;
    B's is n with k above (relevant): K*N once; Z's is m with k above (irrelevant): M*N*K/t_k
    written, all but |Z| read back."""
    e = bs.expressions(bs.gemm(4, 4, 4), ("k", "n", "m"))
    assert e.occupancy == t_m * t_k + t_k * t_n + t_m * t_n
    assert e.tensor("A").fills == M * K * N / t_n
    assert e.tensor("B").fills == K * N
    assert e.tensor("Z").writes == M * N * K / t_k
    assert e.tensor("Z").reads == M * N * K / t_k - M * N
    assert e.accesses == M * K * N / t_n + K * N + 2 * M * N * K / t_k - M * N
    # model.md's worked example: tiles m:2, k:4, n:1 -> 96 accesses at 14 words.
    got = e.evaluate({"m": 2, "k": 4, "n": 1})
    assert (got["occupancy"], got["accesses"]) == (14, 96)
    assert (got["fills[A]"], got["fills[B]"], got["fills[Z]"]) == (64, 16, 16)


def test_strided_conv_sweep_is_model_md_delta():
    """``O[p] += I[2p + r] * W[r]`` with r looping above p: I's extent is 2(t_p - 1) + t_r, each
    of the R/t_r sweeps fetches one tile and then min(2 t_p, extent) new words per step of p."""
    e = bs.expressions(bs.conv(R=3, P=8, Wstride=2), "r p")
    ext = 2 * (t_p - 1) + t_r
    assert e.tensor("I").footprint == ext
    want = R / t_r * (ext + (P / t_p - 1) * sp.Min(2 * t_p, ext))
    assert sp.simplify(e.tensor("I").fills - want) == 0
    assert e.tensor("W").fills == R  # no relevant loop above r's tile of W: once
    assert e.tensor("O").writes == P * R / t_r
    # model.md's 1-D example (stride 1, P = 8, R = 3, tiles p:2, r:3): 21 accesses at 9 words.
    plain = bs.expressions(bs.conv(R=3, P=8), "r p").evaluate({"p": 2, "r": 3})
    assert (plain["occupancy"], plain["accesses"], plain["fills[I]"]) == (9, 21, 10)


def test_imperfect_counts_are_ceilings_and_windows_stay_perfect():
    e = bs.expressions(bs.gemm(6, 4, 5), "n m k", mapspace="uniform/imperfect")
    assert e.tensor("A").fills == M * K * sp.ceiling(N / t_n)
    conv = bs.expressions(bs.conv(R=3, P=8, K=5, Wstride=2), "k r p", mapspace="uniform/imperfect")
    assert conv.tensor("I").fills.atoms(sp.ceiling) == {sp.ceiling(K / t_k)}  # r, p: perfect


def test_numbers_instead_of_size_symbols():
    e = bs.expressions(bs.gemm(8, 4, 2), ("k", "n", "m"), sizes="numbers")
    assert e.tensor("A").fills == 64 / t_n and e.sizes == ()
    assert e.accesses.free_symbols == {t_n, t_k}


def test_per_tensor_nest_uses_a_tile_per_boundary():
    """A stored at boundary 3, B at 2, Z at 1 (docs/mapspaces.md's 4-word example's shape)."""
    p = bs.gemm(4, 4, 4)
    classes = bs.expressions(p, mapspace="per_tensor/perfect")
    deep = [c for c in classes if [t.boundary for t in c.tensors] == [3, 2, 1]]
    assert deep
    t_m1, t_k2, t_n2 = sp.symbols("t_m1 t_k2 t_n2", positive=True, integer=True)
    assert deep[0].tensor("B").footprint == t_k2 * t_n2
    whole = [c for c in classes if c.tensor("B").boundary == 0][0]
    assert whole.tensor("B").fills == K * N and whole.tensor("B").footprint == K * N


def test_lists_the_classes_the_milp_solves():
    p = bs.conv(R=3, P=4, C=2, K=2, Wstride=2)
    ranks = looping_ranks(p)
    got = bs.expressions(p)
    want = distinct_classes(p, ranks, order_classes(p, ranks))
    assert [c.order_class for c in got] == want
    per = bs.expressions(bs.gemm(2, 3, 4), mapspace="per_tensor/imperfect")
    assert [c.nest for c in per] == nest_classes(bs.gemm(2, 3, 4), ["m", "k", "n"],
                                                 Mapspace("per_tensor", "imperfect"))
    assert len(per) == 37


def test_readable_text_and_latex():
    e = bs.expressions(bs.gemm(4, 4, 4), "k n m")
    text = str(e)
    assert "K*M*N/t_n" in text and "occupancy = " in text and "accesses  = " in text
    latex = e._repr_latex_()
    assert latex.startswith("$") and latex.endswith("$") and r"\frac{K M N}{t_{n}}" in latex
    both = bs.expressions(bs.gemm(4, 4, 4))
    assert str(both).count("occupancy = ") == len(both) == 2
    assert both._repr_latex_().count(r"\begin{array}") == 2


@pytest.mark.parametrize("order, mapspace, match", [
    (("m", "k"), None, "lacks the looping ranks n"),
    (("m", "k", "x", "n"), None, "distinct ranks"),
    (("m", "m", "k", "n"), None, "distinct ranks"),
    (42, None, "loop order"),
    ("n m k", "per_tensor/perfect", "pass a NestClass"),
    ("n m k", "tiled/perfect", "placement must be one of"),
])
def test_bad_orders_are_refused(order, mapspace, match):
    with pytest.raises(bs.BoundsolverError, match=match):
        bs.expressions(bs.gemm(4, 4, 4), order, mapspace=mapspace)


def test_other_bad_input_is_refused():
    p = bs.gemm(4, 4, 4)
    with pytest.raises(bs.BoundsolverError, match="sizes must be one of"):
        bs.expressions(p, sizes="letters")
    with pytest.raises(bs.EinsumError, match="expected an Einsum"):
        bs.expressions("Z[m,n] += A[m,k] * B[k,n]")
    deep = bs.expressions(p, mapspace="per_tensor/perfect")[-1].nest
    with pytest.raises(bs.BoundsolverError, match="needs mapspace='per_tensor"):
        bs.expressions(p, deep)
    other = order_classes(bs.bmm(2, 2, 2, H=2), ["h", "m", "k", "n"])[0]
    with pytest.raises(bs.BoundsolverError, match="not one of"):
        bs.expressions(p, other)
    e = bs.expressions(p, "n m k")
    with pytest.raises(bs.EinsumError, match="no tile given for k@1"):
        e.evaluate({"m": 2, "n": 2})
    with pytest.raises(bs.EinsumError, match="must be an integer in 1..4"):
        e.evaluate({"m": 2, "n": 2, "k": 8})
    with pytest.raises(bs.EinsumError, match=r"tiles \[\('x', 1\)\] name no rank"):
        e.evaluate({"m": 2, "n": 2, "k": 1, "x": 1})
    with pytest.raises(bs.EinsumError, match="no rank"):
        bs.expressions(p, mapspace="per_tensor/perfect")[-1].evaluate({("m", 4): 1})
    with pytest.raises(bs.EinsumError, match="not an integer"):
        e.evaluate({"m": 3, "n": 2, "k": 1})  # 3 does not divide 4: no perfect tile


# ------------------------------------------------------------ the MILP's values, every tile

class _Recording:
    """Keeps each product's linear expression (one per footprint and traffic term) by name."""

    def _footprint(self, tensor, b):
        lin = super()._footprint(tensor, b)
        self.__dict__.setdefault("products", {})[f"footprint[{tensor.name}]"] = lin
        return lin

    def _moved(self, tensor, b, pos):
        lin = super()._moved(tensor, b, pos)
        self.__dict__.setdefault("products", {})[f"fills[{tensor.name}]"] = lin
        return lin


class RecordingFormulation(_Recording, Formulation):
    pass


class RecordingNest(_Recording, NestFormulation):
    pass


_VALUE = re.compile(r"^(.*)\.value\[(\d+)\]$")
_PAIR = re.compile(r"\.pair\[(\d+),(\d+)\]$")


def _row_holds(row, x) -> bool:
    _, coefs, lo, hi = row
    total = sum(c * x[i] for i, c in coefs.items())
    return lo <= total <= hi


def milp_point(form, tiles: dict) -> list[int]:
    """The MILP's solution at these tiles: tile variables from the tiles, pairs from their
    selectors, each value one-hot at the one value whose rows hold (asserted unique), every row
    of the model checked."""
    m = form.m
    x: list = [None] * len(m.names)
    x[0] = 1
    for (d, b), exps in form.exp.items():
        for p, v in exps.items():
            x[v] = prime_exponents(tiles[d, b]).get(p, 0)
    for (d, b), sel in form.pick.items():
        for v, u in sel:
            x[v] = int(u == tiles[d, b])
    for keys, sel in form._combos.items():
        for v, t in sel:
            x[v] = int(all(t[k] == tiles[k] for k in keys))
    for i, name in enumerate(m.names):
        if pair := _PAIR.search(name):
            x[i] = x[int(pair[1])] * x[int(pair[2])]
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(m.names):
        if value := _VALUE.match(name):
            groups.setdefault(value[1], []).append(i)
    own: dict[str, list] = {}  # a product's rows: its choice and one exponent row per prime
    for row in m.rows:
        own.setdefault(row[0].rsplit(".", 1)[0], []).append(row)
    for prefix, members in groups.items():
        rows = own[prefix]
        fits = []
        for chosen in members:
            for i in members:
                x[i] = int(i == chosen)
            if all(_row_holds(r, x) for r in rows):
                fits.append(chosen)
        assert len(fits) == 1, [m.names[i] for i in fits]
        for i in members:
            x[i] = int(i == fits[0])
    assert None not in x, [m.names[i] for i, v in enumerate(x) if v is None]
    bad = [r[0] for r in m.rows if not _row_holds(r, x)]
    assert not bad, bad
    return x


def _value(lin, x) -> int:
    return lin.const + sum(c * x[i] for i, c in lin.coefs.items())


def _chains(problem, d, depth, imperfect):
    """Every tile chain of rank d the MILP admits: each from the candidate sizes, each deeper
    tile dividing the one above."""
    sizes = tile_sizes(problem.size[d], imperfect)
    chains = [(u,) for u in sizes]
    for _ in range(depth - 1):
        chains = [c + (u,) for c in chains for u in sizes if c[-1] % u == 0]
    return chains


def _all_tiles(problem, ranks, depth, space):
    windowed = windowed_ranks(problem)
    per_rank = [_chains(problem, d, depth, space.factors == "imperfect" and d not in windowed)
                for d in ranks]
    for choice in product(*per_rank):
        yield {(d, b): c[b - 1] for d, c in zip(ranks, choice) for b in range(1, depth + 1)}


def _iterates(problem, ranks, tiles, depth) -> bool:
    """Whether every loop of the nest runs more than once."""
    above = problem.size
    for b in range(1, depth + 1):
        if any(-(-above[d] // tiles[d, b]) < 2 for d in ranks):
            return False
        above = {d: tiles[d, b] for d in ranks}
    return True


def check_every_tile(problem, space) -> tuple[int, int]:
    """Expressions == MILP value >= cost.evaluate (equal where every loop iterates), at every
    tile of every class of ``space`` (uniform: every undominated order class, not only the
    distinct ones the MILP solves). Returns (assignments checked, of them exact)."""
    ranks = looping_ranks(problem)
    if space.is_orojenesis:
        classes = [(uniform_class(problem, c), RecordingFormulation(problem, c, ranks))
                   for c in order_classes(problem, ranks)]
    else:
        classes = [(c, RecordingNest(problem, c, space, ranks))
                   for c in nest_classes(problem, ranks, space)]
    checked = exact = 0
    for cls, form in classes:
        sym = bs.expressions(problem, cls, mapspace=space)
        for tiles in _all_tiles(problem, ranks, cls.depth, space):
            full = {(d, b): tiles.get((d, b), 1) for d in problem.ranks for b in range(1, cls.depth + 1)}
            want = sym.evaluate(full)
            x = milp_point(form, tiles)
            for name, lin in form.products.items():
                assert _value(lin, x) == want[name], (cls, tiles, name)
            assert _value(form.occupancy, x) == want["occupancy"]
            assert _value(form.accesses, x) == want["accesses"]
            mapping = form.decode(x)
            cost = (bs.evaluate(problem, mapping) if isinstance(mapping, bs.Mapping) else
                    bs.evaluate(problem, mapping, imperfect=space.factors == "imperfect"))
            assert cost.occupancy == want["occupancy"]
            assert cost.accesses <= want["accesses"]
            checked += 1
            if _iterates(problem, ranks, tiles, cls.depth):
                exact += 1
                assert cost.accesses == want["accesses"], (cls, tiles)
                reads, writes = dict(cost.reads), dict(cost.writes)
                for T in problem.tensors:
                    assert reads[T.name] == want[f"reads[{T.name}]"]
                    assert writes.get(T.name, 0) == want[f"writes[{T.name}]"]
    return checked, exact


@pytest.mark.parametrize("problem, mapspace", [
    (bs.gemm(4, 6, 8), "uniform/perfect"),
    (bs.bmm(2, 3, 4, H=2), "uniform/perfect"),
    (bs.conv(R=3, P=4, C=2, K=2, Wstride=2), "uniform/perfect"),
    (bs.conv(R=2, S=2, P=2, Q=4, C=2, Hstride=2, Wdilation=2), "uniform/perfect"),
    (bs.gemm(5, 6, 7), "uniform/imperfect"),
    (bs.conv(R=3, P=4, C=3, K=5, Wstride=2), "uniform/imperfect"),
    (bs.gemm(2, 4, 3), "per_tensor/perfect"),
    (bs.conv(R=2, P=4, C=2, Wstride=2), "per_tensor/perfect"),
    (bs.gemm(3, 4, 2), "per_tensor/imperfect"),
])
def test_expressions_are_the_milp_values_at_every_tile(problem, mapspace):
    checked, exact = check_every_tile(problem, Mapspace(*mapspace.split("/")))
    assert checked and exact  # the equality with cost.evaluate was exercised


# ----------------------------------------------------------------------------- hierarchies

FANOUT = bs.Arch("fanout", 8, (bs.Level("DRAM"), bs.Level("L2", sweep=True, keeps=("A", "Z")),
                               bs.Level("L1", capacity=64, instances=4, multicast=False)))


def _nested_tiles(problem, ranks, depth, rnd):
    tiles = []
    above = dict(problem.size)
    for _ in range(depth):
        level = {d: 1 if d not in ranks else above[d] if rnd.random() < 0.4 else  # pins hold often
                 rnd.choice(divisors(above[d])) for d in problem.ranks}
        tiles.append(level)
        above = level
    return tiles


def _spatial(problem, arch, tiles, rnd):
    """Fanout factors per level whose product per rank divides its innermost tile."""
    k = len(arch.on_chip)
    for _ in range(50):
        split = [rnd.choice(arch.split_options(problem, b)) if arch.fanouts[b - 1] > 1 else {}
                 for b in range(1, k + 1)]
        if all(tiles[-1][d] % math.prod(s.get(d, 1) for s in split) == 0 for d in problem.ranks):
            return split
    return [{} for _ in range(k)]


@pytest.mark.parametrize("problem, arch", [
    (bs.gemm(8, 12, 6), bs.load_arch("three_level")),
    (bs.conv(R=3, P=8, C=4, K=4, Wstride=2), bs.load_arch("three_level")),
    (bs.gemm(8, 4, 6), FANOUT),
    (bs.conv(R=3, P=4, C=4, K=4, Wstride=2), bs.load_arch("simba")),
])
def test_level_expressions_are_the_hierarchy_formulas(problem, arch):
    """Each level's expressions, at random nests, fanouts and every pin-consistent choice, equal
    milp/levels.py's numeric restatement of its objectives (``LevelFormulation.value``, which
    counts replicas with ``cost.replicas``)."""
    import random

    from boundsolver.milp.levels import LevelFormulation, kept, level_classes

    rnd = random.Random(7)
    ranks = looping_ranks(problem)
    classes = level_classes(problem, arch, ranks)
    stored = kept(problem, arch)
    names = [lv.name for lv in arch.on_chip]
    k = len(names)
    checked = 0
    for cls in rnd.sample(classes, min(4, len(classes))):
        form = LevelFormulation(problem, arch, cls, ranks)
        levels = bs.expressions(problem, cls, arch=arch)
        assert [e.level for e in levels] == names
        for _ in range(6):
            tiles = _nested_tiles(problem, ranks, k, rnd)
            split = _spatial(problem, arch, tiles, rnd)
            spatial = tuple(tuple((d, s) for d, s in sp_.items() if s > 1) for sp_ in split)
            nest = bs.Nest(tuple(tuple(t.items()) for t in tiles), tuple(c.order for c in cls.segments),
                           tuple((T.name, b) for i, T in enumerate(problem.tensors) for b in stored[i]),
                           spatial if any(spatial) else ())
            chosen = {}
            for i, T in enumerate(problem.tensors):
                for b in stored[i]:
                    at = [problem.size] + tiles
                    ok = [g for g in range(b + 1) if all(at[g][d] == at[b][d] for d in T.ranks)]
                    chosen[i, b] = rnd.choice(ok)
            want = form.value(nest, chosen)
            for b, e in enumerate(levels, start=1):
                pick = {T.name: chosen[i, b] for i, T in enumerate(problem.tensors) if b in stored[i]}
                got = e.evaluate(nest, pick)
                assert got["occupancy"] == want[f"occupancy:{e.level}"], (cls, nest, e.level)
                assert got["accesses"] == want[f"accesses:{e.level}"], (cls, nest, e.level, pick)
                checked += 1
    assert checked


def test_level_expressions_show_replicas_and_instance_tiles():
    """L1 has 4 instances under a parent that does not multicast: a rank Z does not use (k)
    split across them multiplies Z's words (each instance writes its own partial sums), and
    every instance holds its share of a split tile."""
    e = bs.expressions(bs.gemm(8, 4, 6), bs.expressions(bs.gemm(8, 4, 6), arch=FANOUT)[0].cls,
                       arch=FANOUT, level="L1")
    s_k2, s_m2, t_m2, t_k2 = sp.symbols("s_k2 s_m2 t_m2 t_k2", positive=True, integer=True)
    assert e.copy("A").footprint == t_m2 * t_k2 / (s_m2 * s_k2)
    assert e.copy("B").source == "DRAM" and e.copy("Z").source == "L2"
    words = dict(e.copy("Z").words)
    assert words[0] == s_k2 * M * N + M * N - M * N  # whole, written by every k-instance once
    assert "Piecewise" in str(e.accesses) and "g_Z" in str(e.accesses)
    assert r"\begin{array}" in e._repr_latex_()


def test_hierarchy_input_is_checked():
    p = bs.gemm(8, 4, 6)
    with pytest.raises(bs.BoundsolverError, match="pass arch= too"):
        bs.expressions(p, level="L1")
    with pytest.raises(bs.BoundsolverError, match="arch must be a bs.Arch"):
        bs.expressions(p, arch="three_level")
    with pytest.raises(bs.BoundsolverError, match="no on-chip level 'L3'.*L2, L1"):
        bs.expressions(p, arch=FANOUT, level="L3")
    with pytest.raises(bs.BoundsolverError, match="uniform placement with perfect factors"):
        bs.expressions(p, arch=FANOUT, mapspace="per_tensor/perfect")
    with pytest.raises(bs.BoundsolverError, match="one of its LevelClasses"):
        bs.expressions(p, ("m", "k", "n"), arch=FANOUT)
    one = bs.expressions(p, ("m", "k", "n"), arch=bs.Arch())  # one buffer: the model above
    assert one.tensor("Z").writes == bs.expressions(p, ("m", "k", "n")).tensor("Z").writes
