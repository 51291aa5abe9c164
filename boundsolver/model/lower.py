"""Any-schedule lower bounds: words that *every* schedule of an Einsum must move across the
boundary of a buffer of S words, tiled or not (recomputation excluded). docs/lower_bounds.md
gives the derivation; this module follows it step by step.

Two arguments, each sound on its own; the floor is their maximum:

* **compulsory**: every input element some MAC really uses is read at least once, every output
  element some MAC updates is written at least once (its first read is free, as in the cost
  model). Strided windows with holes count only the elements they touch.
* **segment** (Hong-Kung, Irony-Toledo-Tiskin): cut any schedule after every T-th transfer. A
  segment's MACs use input words resident at its start or read in it (<= S + T), and update
  output words that are resident at its end or written in it, so they touch <= 2S + T words
  (S + T on average over the segments: ``_amortised``). A set V of iterations within those
  budgets has |V| <= F, a Shearer (discrete HBL with loop-bound caps) bound evaluated in closed
  form for a *fractional cover*; any cover is sound, a numerically optimised one is tight.
  Counting segments then bounds the transfers, for every T >= 1.

Sliding windows (``s*p + l*r``) are not coordinate projections: injective changes of
coordinates that make a window a coordinate (``systems``) and *inflation* (a window plus all
its ranks but one fixes the last, ``_inflated``) are tried, each tensor keeping only the
coordinates its index (and the caps) determine, so the bound stays sound. Imports nothing of
the package but ``errors`` and the Einsum and architecture models.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import BoundsolverError
from .einsum import Axis, Einsum, Tensor, Term

# Relative slack on every floating-point F before it is floored to an integer: the closed form
# is a handful of logs and products of doubles (relative error ~1e-15 each), so 1e-9 covers it.
_SLACK = 1e-9
# More coordinate systems than this are not tried (random Einsums with many windows): fewer
# systems only loosen the bound, never break it.
_MAX_SYSTEMS = 32


# ----------------------------------------------------------------------------- compulsory traffic

def distinct_values(axis: Axis, size: dict[str, int]) -> int:
    """How many distinct values ``axis`` takes over the iteration box (holes excluded)."""
    reach = np.ones(1, dtype=bool)
    for term in axis.terms:
        n, c = size[term.rank], term.coef
        new = np.zeros(len(reach) + c * (n - 1), dtype=bool)
        for i in range(n):
            new[c * i:c * i + len(reach)] |= reach
        reach = new
    return int(reach.sum())


def touched(problem: Einsum, tensor: Tensor) -> int:
    """Words of ``tensor`` some iteration really reads or updates. Its axes use disjoint ranks, so
    the touched set is the product of the axes' value sets."""
    return math.prod(distinct_values(a, problem.size) for a in tensor.axes)


def compulsory(problem: Einsum) -> int:
    """Every touched input word read once, every touched output word written once."""
    return sum(touched(problem, t) for t in problem.tensors)


# ------------------------------------------------------------------------------ coordinate systems

@dataclass(frozen=True)
class System:
    """An injective linear change of iteration coordinates y = L x (``forms`` are L's rows) and,
    per tensor (inputs then the output), the coordinates its index determines."""

    forms: tuple[tuple[int, ...], ...]
    members: tuple[tuple[int, ...], ...]   # members[j]: coordinates tensor j determines
    log_caps: tuple[float, ...]            # log of the distinct values of each coordinate
    inflate: tuple[float, ...] = ()        # per tensor: log of the factor its projection grows by


def _form(axis: Axis, ranks: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(axis.coef(r) if r in axis.ranks else 0 for r in ranks)


def _rank(rows: list[tuple[int, ...]]) -> int:
    """Rank over the rationals, exactly (Gaussian elimination on Fractions)."""
    m = [[Fraction(v) for v in r] for r in rows]
    rank, cols = 0, len(m[0]) if m else 0
    for c in range(cols):
        piv = next((i for i in range(rank, len(m)) if m[i][c] != 0), None)
        if piv is None:
            continue
        m[rank], m[piv] = m[piv], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][c] != 0:
                f = m[i][c] / m[rank][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank])]
        rank += 1
    return rank


def _determines(tensor_forms: list[tuple[int, ...]], form: tuple[int, ...]) -> bool:
    """Whether ``form`` is a rational combination of the tensor's axis forms (then the tensor's
    index fixes the coordinate's value)."""
    return _rank(tensor_forms + [form]) == _rank(tensor_forms)


def _form_axis(form: tuple[int, ...], ranks: tuple[str, ...]) -> Axis:
    return Axis(tuple(Term(r, c) for r, c in zip(ranks, form) if c))


@lru_cache(maxsize=256)
def systems(problem: Einsum) -> tuple[System, ...]:
    """The original coordinates, and every choice of replacing, for some windows, one of the
    window's ranks by the window itself (kept when the rows stay independent: then L is
    injective on Z^d, so |L V| = |V|)."""
    ranks = problem.ranks
    d = len(ranks)
    windows = sorted({_form(a, ranks) for t in problem.tensors for a in t.axes if len(a.terms) > 1})
    tensor_forms = [[_form(a, ranks) for a in t.axes] for t in problem.tensors]
    options = [[None] + [i for i in range(d) if w[i]] for w in windows]
    out: list[System] = []
    for choice in itertools.product(*options):
        if len(out) >= _MAX_SYSTEMS:
            break
        picked = [i for i in choice if i is not None]
        if len(set(picked)) < len(picked):
            continue
        rows = [tuple(int(i == k) for k in range(d)) for i in range(d)]
        for w, i in zip(windows, choice):
            if i is not None:
                rows[i] = w
        if _rank(rows) < d:
            continue
        members = tuple(tuple(i for i, f in enumerate(rows) if _determines(tf, f))
                        for tf in tensor_forms)
        caps = tuple(math.log(distinct_values(_form_axis(f, ranks), problem.size)) for f in rows)
        out.append(System(tuple(rows), members, caps, (0.0,) * len(problem.tensors)))
    return tuple(out[:1] + _inflated(problem) + out[1:])


def _inflated(problem: Einsum) -> list[System]:
    """Original coordinates, each window of each tensor either dropped or *inflated*: the
    tensor's index plus the values of all the window's ranks but its largest p fix p too (p's
    coefficient is nonzero), so |pi_{K u G}(V)| <= |phi_j(V)| * prod_{r in G - p} N_r: the
    tensor covers all of G at log-cost sum log N_r more (the convolution's sqrt(R*S) factor)."""
    ranks, size = problem.ranks, problem.size
    d = len(ranks)
    wins = [(j, a) for j, t in enumerate(problem.tensors) for a in t.axes if len(a.terms) > 1]
    if not wins or len(wins) > 5:
        return []
    caps = tuple(math.log(size[r]) for r in ranks)
    out = []
    for choice in itertools.product((False, True), repeat=len(wins)):
        if not any(choice):
            continue  # all dropped: the original system already covers it
        members = [set() for _ in problem.tensors]
        inflate = [0.0] * len(problem.tensors)
        for j, t in enumerate(problem.tensors):
            for a in t.axes:
                if len(a.terms) == 1:
                    members[j].add(ranks.index(a.terms[0].rank))
        for (j, a), keep in zip(wins, choice):
            if keep:
                members[j] |= {ranks.index(r) for r in a.ranks}
                inflate[j] += sum(math.log(size[r]) for r in a.ranks) - max(
                    math.log(size[r]) for r in a.ranks)
        rows = tuple(tuple(int(i == k) for k in range(d)) for i in range(d))
        out.append(System(rows, tuple(tuple(sorted(m)) for m in members), caps, tuple(inflate)))
    return out


# ------------------------------------------------------------------------------- covers and F

@dataclass(frozen=True)
class Covers:
    """Fractional covers of one system: weights ``s`` (covers x tensors) and cap weights ``u``
    (covers x coordinates), every coordinate covered with total weight >= 1. ``inputs`` marks
    which tensors are inputs (the rest: the output)."""

    s: np.ndarray
    u: np.ndarray
    log_caps: np.ndarray
    inputs: np.ndarray
    inflate: np.ndarray

    def log_bound(self, b_in: np.ndarray, b_all: np.ndarray) -> np.ndarray:
        """log of max prod (x_j * inflate_j)^s_j * prod cap_i^u_i over x >= 0 with the inputs'
        sum of x <= b_in and the sum of all x <= b_all (weighted AM-GM inside the inputs, then
        the best split between the inputs and the output in closed form). Shape (covers,
        budgets); any cover is an upper bound on log |V| (Shearer's lemma, fractional form)."""
        s_in = self.s[:, self.inputs]
        sig = s_in.sum(axis=1)[:, None]
        s_out = self.s[:, ~self.inputs].sum(axis=1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = np.where(s_in > 0, s_in * np.log(s_in / np.where(sig > 0, sig, 1)), 0).sum(axis=1)
            b1, b2 = np.asarray(b_in, float)[None, :], np.asarray(b_all, float)[None, :]
            share = np.where(sig + s_out > 0, sig / (sig + s_out), 1)
            x = np.minimum(b1, b2 * share)
            val = np.where(sig > 0, sig * np.log(x), 0) + np.where(
                s_out > 0, s_out * np.log(np.maximum(b2 - x, 1e-300)), 0)
        return ent[:, None] + val + (self.u @ self.log_caps + self.s @ self.inflate)[:, None]


def _fix(system: System, s: np.ndarray) -> np.ndarray:
    """The cheapest cap weights that complete tensor weights ``s`` to a cover (a hair above, so
    float rounding never leaves a coordinate covered by less than 1)."""
    cover = np.zeros(len(system.forms))
    for j, mem in enumerate(system.members):
        for i in mem:
            cover[i] += s[j]
    return np.maximum(0.0, 1.0 - cover) + 1e-12


def _central_weights(system: System, budgets: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Tensor weights of near-optimal covers, one row per budget B (batched): the multipliers
    of the continuous relaxation max sum(z) s.t. sum_j exp(a_j . z) <= B, 0 <= z <= log cap,
    solved by a log-barrier Newton method (only tensors in ``use`` count against the budget).
    Budgets that leave no interior are dropped. The weights need not be optimal: _fix completes
    any weights to a valid cover, and log_bound evaluates it exactly."""
    free = [i for i, c in enumerate(system.log_caps) if c > 0]
    n = np.array([system.log_caps[i] for i in free])
    m = len(free)
    if m == 0:
        return np.zeros((0, len(system.members)))
    A = np.array([[float(i in mem) for i in free] for mem in system.members])[use]
    off = -np.array(system.inflate)[use]

    def lse(z):
        v = z @ A.T + off
        top = v.max(axis=1, keepdims=True)
        e = np.exp(v - top)
        tot = e.sum(axis=1, keepdims=True)
        return top[:, 0] + np.log(tot[:, 0]), e / tot

    L = np.log(np.asarray(budgets, float))
    L = L[lse(np.zeros((1, m)))[0][0] < L - 1e-9]
    if not len(L):
        return np.zeros((0, len(system.members)))
    z = np.minimum(n / 2, (L[:, None] - lse(np.zeros((1, m)))[0][0]) / (2 * m))

    def phi(z, t):
        h, _ = lse(z)
        ok = (h < L) & (z > 0).all(axis=1) & (z < n).all(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            val = (-t * z.sum(axis=1) - np.log(L - h) - np.log(z).sum(axis=1)
                   - np.log(n - z).sum(axis=1))
        return np.where(ok, val, np.inf)

    t = 1.0
    for _ in range(12):
        for _ in range(30):
            h, p = lse(z)
            g_h = p @ A
            gap = (L - h)[:, None]
            H = np.einsum("bj,jk,jl->bkl", p, A, A) - g_h[:, :, None] * g_h[:, None, :]
            grad = -t + g_h / gap - 1 / z + 1 / (n - z)
            hess = (H / gap[:, :, None] + (g_h[:, :, None] * g_h[:, None, :]) / gap[:, :, None] ** 2
                    + np.einsum("bk,kl->bkl", 1 / z ** 2 + 1 / (n - z) ** 2, np.eye(m)))
            try:
                dz = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                break  # near-singular: keep the current centre (any weights stay sound)
            dec = -(grad * dz).sum(axis=1)
            live = dec > 1e-8
            if not live.any():
                break
            f0, step = phi(z, t), np.where(live, 1.0, 0.0)
            for _ in range(40):
                bad = live & (phi(z + step[:, None] * dz, t) > f0 - 0.25 * step * dec)
                if not bad.any():
                    break
                step = np.where(bad, step / 2, step)
            z = z + step[:, None] * dz
        if (2 * m + 1) / t < 1e-6:
            break
        t *= 30
    h, p = lse(z)
    weights = np.zeros((len(L), len(system.members)))
    weights[:, use] = p / (t * (L - h))[:, None]
    return weights


@lru_cache(maxsize=256)
def covers(problem: Einsum, inputs_only: bool = False) -> tuple[Covers, ...]:
    """Candidate covers per coordinate system: the central-path cover at budgets from the number
    of tensors up to the total of all tensors (factor 2^(1/2) apart), and the all-caps cover
    (F = MACs). ``inputs_only``: the output's projection is left out of the budget (weight 0)."""
    out = []
    J = len(problem.tensors)
    is_in = np.array([True] * len(problem.inputs) + [False])
    use = is_in.copy() if inputs_only else np.ones(J, dtype=bool)
    top = 2 * sum(problem.tensor_size(t) for t in problem.tensors) + 2
    for system in systems(problem):
        use_s = use & np.array([len(m) > 0 for m in system.members])
        rows = [np.zeros((1, J))]
        if use_s.any():
            budgets = float(max(use_s.sum(), 2)) * 1.5 * np.sqrt(2.0) ** np.arange(80)
            rows.append(_central_weights(system, budgets[budgets < top], use_s))
        s = np.vstack(rows)
        s = s[np.isfinite(s).all(axis=1) & (s >= 0).all(axis=1)]
        u = np.array([_fix(system, r) for r in s])
        out.append(Covers(s, u, np.array(system.log_caps), is_in, np.array(system.inflate)))
    return tuple(out)


def max_macs(problem: Einsum, b_in, b_all, inputs_only: bool = False) -> np.ndarray:
    """Integer upper bounds on the MACs a segment can run, per budget pair (b_in, b_all): the
    least over all candidate covers, floored after the _SLACK margin, never above MACs."""
    b_in, b_all = np.atleast_1d(b_in), np.atleast_1d(b_all)
    best = np.full(len(b_in), math.log(problem.macs))
    for c in covers(problem, inputs_only):
        best = np.fmin(best, np.nanmin(c.log_bound(b_in, b_all), axis=0))  # NaN: no bound
    return np.minimum(np.floor(np.exp(best) * (1 + _SLACK)), problem.macs).astype(np.int64)


def _t_grid(top: int) -> np.ndarray:
    grid = set(range(1, 65))
    x = 64.0
    while x < top:
        grid.add(int(x))
        x *= 2 ** (1 / 16)
    grid.add(int(top))
    return np.array(sorted(grid), dtype=np.int64)


def segment(problem: Einsum, capacity: int, inputs_only: bool = False) -> tuple[int, int]:
    """(bound, T): the better of the two segment bounds, each over a grid of T (any T is sound):
    the per-segment count T * (ceil(MACs / F) - 1) and the amortised one (``_amortised``).
    ``inputs_only`` budgets the inputs alone (S + T words), for Einsums whose output need not
    persist (fused chains)."""
    return max(_per_segment(problem, capacity, inputs_only),
               _amortised(problem, capacity, inputs_only))


def _per_segment(problem: Einsum, capacity: int, inputs_only: bool) -> tuple[int, int]:
    """Every segment of T transfers touches <= S + T input words and <= 2S + T words in all, so
    runs <= F MACs; h = floor(Q / T) + 1 segments run all MACs, so Q >= T (ceil(MACs/F) - 1).
    T on a grid 16 per octave."""
    S = int(capacity)
    top = 2 * sum(problem.tensor_size(t) for t in problem.tensors) + 4 * S
    T = _t_grid(top)
    inf = np.full(len(T), np.inf)
    F = max_macs(problem, S + T, inf if inputs_only else 2 * S + T, inputs_only)
    best, arg = 0, 0
    M = problem.macs
    for t, f in zip(T.tolist(), F.tolist()):
        if f <= 0:
            continue  # no MAC fits a segment this short: skipping a T is always sound
        v = t * (-(-M // f) - 1)
        if v > best:
            best, arg = v, t
    return best, arg


def _amortised(problem: Einsum, capacity: int, inputs_only: bool) -> tuple[int, int]:
    """Segment i (between boundaries i-1 and i) touches a_i <= I_{i-1} + R_i input words and
    b_i <= O_i + W_i output words (I_j, O_j: input and output words resident at boundary j,
    I_j + O_j <= S, I_0 = 0). Summed, sum (a_i + b_i) <= Q + h S: the 2S per segment is S on
    average. With beta >= Phi(B) / B for every B <= 2S + T (Phi: MACs of a segment touching B
    words, <= S + T of them inputs), MACs <= beta (Q + h S) and h <= Q / T + 1 give
    Q >= T (MACs / beta - S) / (T + S). beta: Phi is nondecreasing, so on a geometric grid
    B_0 > B_1 > ... Phi(B) <= Phi(B_k) on [B_(k+1), B_k]; below the number of tensors no MAC
    fits (Phi = 0). More generally any line alpha + beta B (alpha >= 0) above those steps gives
    MACs <= h alpha + beta (Q + h S), so Q >= T (MACs - alpha - beta S) / (alpha + beta (S + T));
    the slopes tried run down from the line through the origin. T = S 2^(k/2), S/16..64 S."""
    S = int(capacity)
    M = problem.macs
    J = len(problem.inputs) if inputs_only else len(problem.tensors)
    best, arg = 0, 0
    for k in range(-8, 13):
        T = max(1, int(round(S * 2 ** (k / 2))))
        top = float(S + T if inputs_only else 2 * S + T)
        grid = np.geomspace(top, 1.0, max(2, int(math.log(top) / math.log(1.02)) + 2))
        b_in = np.minimum(grid, S + T)
        b_all = np.full(len(grid), np.inf) if inputs_only else grid
        phi = max_macs(problem, b_in, b_all, inputs_only).astype(float)
        xs, ys = np.maximum(grid[1:], J), phi[:-1]      # left corners of Phi's upper steps
        beta0 = float(np.max(ys / xs))
        if beta0 <= 0:
            continue
        beta = beta0 * 1.05 ** -np.arange(60.0)
        alpha = np.maximum(0.0, (ys[None, :] - beta[:, None] * xs[None, :]).max(axis=1))
        v = float(np.max(T * (M - alpha - beta * S) / (alpha + beta * (S + T))))
        v = math.ceil(v * (1 - 1e-9)) if v > 0 else 0
        if v > best:
            best, arg = v, T
    return best, arg


def floor(problem: Einsum, capacity: int) -> tuple:
    """(lower bound, argument, compulsory, segment, T) at one capacity; the bound is None below
    the number of tensors (a MAC needs one word of each in the buffer at once: no schedule)."""
    comp = compulsory(problem)
    if capacity < len(problem.tensors):
        return None, "no schedule fits", comp, 0, 0
    seg, T = segment(problem, capacity)
    return max(comp, seg), ("segment" if seg > comp else "compulsory"), comp, seg, T


def workload_floor(w, capacity: int) -> tuple:
    """The floor of a workload whose intermediates may stay on chip (docs/lower_bounds.md):
    every workload input word some Einsum touches is read once (the most any one reader
    touches: a lower bound on their union), every output word written once; and for an Einsum
    whose inputs are all workload inputs, its segment argument (its input words in a segment
    are resident at the start or read in it, whatever else runs; its output words are budgeted
    only if the output is a workload output, which must persist: an intermediate may be
    consumed and dropped inside a segment)."""
    comp = 0
    for name in w.inputs:
        comp += max(touched(w.einsums[i], w.einsums[i].tensor(name)) for i in w.consumers[name])
    for name in w.outputs:
        e = w.einsums[w.producer[name]]
        comp += touched(e, e.output)
    if capacity < max(len(e.tensors) for e in w.einsums):
        return None, "no schedule fits", comp, 0, 0
    best, by, arg = 0, "", 0
    for e in w.einsums:
        if any(t.name in w.producer for t in e.inputs):
            continue
        seg, T = segment(e, capacity, inputs_only=e.output.name not in w.outputs)
        if seg > best:
            best, by, arg = seg, f"segment:{e.name}", T
    return max(comp, best), (by if best > comp else "compulsory"), comp, best, arg


def check_capacity(c: object) -> int:
    import numbers
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c < 1:
        raise BoundsolverError(f"capacity must be a positive number of words (at least 1), got {c!r}")
    return int(math.floor(c))


# ------------------------------------------------------------------------------------ the API

COLUMNS = ["capacity", "lower_bound", "bound_by", "compulsory", "segment", "segment_T"]


def inside_words(arch, problem, capacity: int) -> int:
    """Words that fit inside the backing store's boundary of ``arch`` when its swept level holds
    ``capacity`` words per instance: every on-chip level's capacity times its instances, plus
    one operand word per tensor for each of the most numerous level's instances (a MAC fed
    straight past every level still holds its operands somewhere). Any schedule of the hierarchy
    is a schedule of one buffer this large with the same backing-store traffic."""
    J = max(len(e.tensors) for e in getattr(problem, "einsums", (problem,)))
    total = 0
    for lv in arch.on_chip:
        cap = capacity if lv.sweep else lv.capacity
        if cap is None:
            raise BoundsolverError(f"level {lv.name!r} of {arch.name} has no capacity: the floor "
                                   "needs every on-chip level's size")
        total += int(cap) * lv.instances
    return total + J * max(lv.instances for lv in arch.on_chip)


def lower_bound(problem, capacities, arch=None) -> pd.DataFrame:
    """Words every schedule must move across the boundary of a buffer of each capacity (words),
    one row per capacity in the given order: ``lower_bound`` (an integer; <NA> where the buffer
    cannot hold one word of every tensor of an Einsum, so no schedule exists), ``bound_by``
    (``compulsory``, ``segment`` or ``segment:<einsum>``), the two arguments' values and the
    segment length T that gave the segment bound. Capacities are floored to whole words.

    ``arch`` (an :class:`Arch`; ``bs.load_arch`` reads a name): the floor of the backing-store
    (DRAM) traffic of a hierarchy, capacities being the swept level's words per instance: the
    one-buffer floor at :func:`inside_words` (column ``inside_words``). Inner boundaries are not
    bounded yet.

    A :class:`Workload` gets the floor of any schedule that keeps intermediates on chip:
    compulsory traffic of its inputs and outputs, and the segment argument of each Einsum whose
    inputs are all workload inputs (its output budgeted only when it is a workload output).
    docs/lower_bounds.md says why each step is sound and where it is loose.
    """
    from collections.abc import Iterable

    from .workload import Workload
    if isinstance(capacities, (str, bytes)) or not isinstance(capacities, Iterable):
        raise BoundsolverError(f"capacities must be a sequence of numbers, got {capacities!r}")
    caps = [check_capacity(c) for c in capacities]
    if not isinstance(problem, (Workload, Einsum)):
        raise BoundsolverError(f"lower_bound takes an Einsum or a Workload, got {problem!r}")
    inside = caps
    if arch is not None:
        from .arch import Arch
        if not isinstance(arch, Arch):
            raise BoundsolverError(f"lower_bound: arch must be an Arch (bs.load_arch reads a "
                                   f"name), got {arch!r}")
        if arch.swept is None:
            raise BoundsolverError(f"lower_bound: {arch.name} has no swept level, so capacities "
                                   "mean nothing there")
        inside = [inside_words(arch, problem, c) for c in caps]
    run = workload_floor if isinstance(problem, Workload) else floor
    rows = [run(problem, s) for s in inside]
    df = pd.DataFrame([(c, *r) for c, r in zip(caps, rows)], columns=COLUMNS)
    if arch is not None:
        df.insert(1, "inside_words", pd.array(inside, dtype="Int64"))
    for col in ("capacity", "lower_bound", "compulsory", "segment", "segment_T"):
        df[col] = df[col].astype("Int64")
    df.attrs |= {"problem": str(problem), "name": problem.name, "unit": "words",
                 "lower_bound": "words any schedule moves (docs/lower_bounds.md)"}
    return df


def with_lower_bound(frame: pd.DataFrame, problem, arch=None) -> pd.DataFrame:
    """``frame`` (a ``solve_curve`` or ``pareto_frontier`` result of one buffer) with two more
    columns: ``lower_bound``, the floor at the row's capacity (a frontier row: at its
    occupancy, the least capacity its accesses answer), and ``gap`` = accesses / lower_bound
    (>= 1 always; NaN where a row has no accesses or no floor). The floor of a capacity is
    computed once however many rows share it. A hierarchy frame (``accesses_<level>`` columns)
    needs its ``arch``: its ``accesses`` are the backing store's, bounded at the words inside
    that boundary (:func:`inside_words`); without the arch it is refused, since the swept
    capacity alone leaves out the other levels' storage and would not give a bound."""
    if any(c.startswith("accesses_") for c in frame.columns) and arch is None:
        raise BoundsolverError(
            "with_lower_bound: a hierarchy frame needs arch= (the swept level's capacity leaves "
            "out the other levels' storage; docs/lower_bounds.md)")
    at = frame["capacity"] if "capacity" in frame.columns else frame["occupancy"]
    caps = sorted({int(c) for c in at.dropna()})
    table = lower_bound(problem, caps, arch) if caps else pd.DataFrame(columns=COLUMNS)
    floor_of = dict(zip(table["capacity"].astype(int), table["lower_bound"]))
    out = frame.copy()
    out["lower_bound"] = pd.array([floor_of.get(int(c), pd.NA) if pd.notna(c) else pd.NA
                                   for c in at], dtype="Int64")
    acc = pd.to_numeric(out["accesses"], errors="coerce").astype("float64")
    lb = out["lower_bound"].astype("float64")
    out["gap"] = (acc / lb).where(lb > 0)
    out.attrs = dict(frame.attrs) | {"gap": "accesses / lower_bound (docs/lower_bounds.md)"}
    return out
