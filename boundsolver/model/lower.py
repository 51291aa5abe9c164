"""Any-schedule lower bounds: words that *every* schedule of an Einsum must move across the
boundary of a buffer of S words, tiled or not (recomputation excluded). docs/lower_bounds.md
gives the derivation; this module follows it step by step.

Arguments, each sound on its own; the floor is their maximum:

* **compulsory**: every input element some MAC really uses is read at least once, every output
  element some MAC updates is written at least once (its first read is free, as in the cost
  model). Strided windows with holes count only the elements they touch.
* **segment** (Hong-Kung, Irony-Toledo-Tiskin, Smith et al.): *events* are input reads and
  starts of an output word's updated episodes (each ended by a write), so a schedule moves at
  least as many words as it has events. Cut it after T1 events, then every T: a segment's MACs
  touch at most S + T words (the first, from an empty buffer, at most T1), so at most Phi(S + T)
  MACs, Phi a Shearer (discrete HBL with loop-bound caps) bound for a *fractional cover*,
  evaluated in closed form (any cover is sound, a numerically optimised one is tight) and, for
  small budgets, at every integer split. Counting segments exactly bounds the events
  (``segments``), for every T, T1 >= 1. The same with the inputs alone budgeted, plus the
  output's writes.
* **workloads**: per Einsum reading workload inputs only, and per producer-consumer pair
  (``chain``: the consumer reads complete intermediate words, whose producing MACs' fibres
  bound how many can appear inside one segment).
* **hierarchies**: the one-buffer floor at all the words inside a boundary (the backing
  store's, or the one above an inner level that keeps every tensor).

Sliding windows (``s*p + l*r``) are not coordinate projections: injective changes of
coordinates that make a window a coordinate (``systems``) and *inflation* (a window plus all
its ranks but one fixes the last, ``_inflated``) are tried, each tensor keeping only the
coordinates its index (and the caps) determine, so the bound stays sound. Imports nothing of
the package but ``errors`` and the Einsum and architecture models.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
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
_BARRIER_GAP = 1e-3
_NEWTON_TOL = 1e-8
_BARRIER_STEP = 30.0
_COVER_STEP = 2.0 ** 0.5


# ----------------------------------------------------------------------------- compulsory traffic

def distinct_values(axis: Axis, size: dict[str, int]) -> int:
    """How many distinct values ``axis`` takes over the iteration box (holes excluded)."""
    return distinct_sums(tuple((t.rank, t.coef) for t in axis.terms), size)


def distinct_sums(terms: tuple[tuple[str, int], ...], size: dict[str, int]) -> int:
    """The distinct values of ``sum c x_d`` over ``0 <= x_d < N_d`` (``terms``: (rank d, c >= 0)),
    as a bit set: per term the union of the set shifted by ``c x`` for ``x < N_d``, built by
    doubling (``O(log N_d)`` shifts of integers of the extent's bits). One rank: ``N_d``; unit
    coefficients: the extent; ``2 p + r`` with R < 2: fewer, the holes skipped."""
    if len(terms) == 1:
        return size[terms[0][0]]
    reach = 1
    for d, c in terms:
        n, union, m = size[d], 0, 0  # union: the shifts 0 .. m - 1 applied
        for bit in bin(n)[2:]:
            union |= union << (c * m)
            m *= 2
            if bit == "1":
                union |= reach << (c * m)
                m += 1
        reach = union
    return reach.bit_count()


def touched_in(tensor: Tensor, size: dict[str, int]) -> int:
    """Words of ``tensor`` some iteration really reads or updates when the ranks have sizes
    ``size`` (a slice's too). Its axes use disjoint ranks, so the touched set is the product of
    the axes' value sets. It is the least words any copy of ``tensor`` moves per re-fetch: the
    cost model moves tiles' bounding boxes, which cover every touched element; a strided
    window's holes (a 1x1 stride-2 input: P of its 2P - 1 rows) need not move, so its size
    ``Einsum.tensor_size`` (holes included) is no such floor (docs/hierarchy.md, "Strided
    windows")."""
    return math.prod(distinct_values(a, size) for a in tensor.axes)


def touched(problem: Einsum, tensor: Tensor) -> int:
    """:func:`touched_in` at the problem's rank sizes."""
    return touched_in(tensor, problem.size)


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
    """Rank over the rationals, exactly: fraction-free (Bareiss) elimination in Python
    integers."""
    m = [list(r) for r in rows]
    rank, prev = 0, 1
    for c in range(len(m[0]) if m else 0):
        piv = next((i for i in range(rank, len(m)) if m[i][c] != 0), None)
        if piv is None:
            continue
        m[rank], m[piv] = m[piv], m[rank]
        p = m[rank][c]
        for i in range(rank + 1, len(m)):
            m[i] = [(p * a - m[i][c] * b) // prev for a, b in zip(m[i], m[rank])]
        prev, rank = p, rank + 1
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


def _central_weights(items: list[tuple[System, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Tensor weights of near-optimal covers for each (system, budgets, use) item, one row per
    budget B: the multipliers of the continuous relaxation max sum(z) s.t.
    sum_j exp(a_j . z) <= B, 0 <= z <= log cap, solved by a log-barrier Newton method (only
    tensors in ``use`` count against the budget). All systems with as many free coordinates
    are solved as one batch. Budgets that leave no interior are dropped. The weights need not
    be optimal: _fix completes any weights to a valid cover, and log_bound evaluates it
    exactly."""
    J = len(items[0][0].members)
    out = [np.zeros((0, J)) for _ in items]
    groups: dict[int, list] = {}
    for idx, (system, budgets, use) in enumerate(items):
        free = [i for i, c in enumerate(system.log_caps) if c > 0]
        if not free or not use.any():
            continue
        A = np.array([[float(i in mem) for i in free] for mem in system.members])
        off = np.where(use, -np.array(system.inflate), -np.inf)
        start = off.max() + np.log(np.exp(off - off.max()).sum())
        L = np.log(np.asarray(budgets, float))
        L = L[start < L - 1e-9]
        if len(L):
            n = np.array([system.log_caps[i] for i in free])
            groups.setdefault(len(free), []).append((idx, A, off, n, L))
    for entries in groups.values():
        rows = [len(e[4]) for e in entries]
        A = np.concatenate([np.broadcast_to(e[1], (r, *e[1].shape)) for e, r in zip(entries, rows)])
        off = np.concatenate([np.broadcast_to(e[2], (r, J)) for e, r in zip(entries, rows)])
        n = np.concatenate([np.broadcast_to(e[3], (r, len(e[3]))) for e, r in zip(entries, rows)])
        weights = _newton(A, off, n, np.concatenate([e[4] for e in entries]))
        for e, part in zip(entries, np.split(weights, np.cumsum(rows)[:-1])):
            out[e[0]] = part
    return out


def _newton(A: np.ndarray, off: np.ndarray, n: np.ndarray, L: np.ndarray) -> np.ndarray:
    """The barrier method of :func:`_central_weights` on a batch of rows: A (rows, tensors,
    coordinates), off (rows, tensors; -inf for tensors left out), n (rows, coordinates: log
    caps), L (rows: log budgets). Returns the weights (rows, tensors)."""
    m = n.shape[1]
    eye = np.eye(m)

    def lse(z):
        v = np.einsum("rjk,rk->rj", A, z) + off
        top = v.max(axis=1, keepdims=True)
        e = np.exp(v - top)
        tot = e.sum(axis=1, keepdims=True)
        return top[:, 0] + np.log(tot[:, 0]), e / tot

    z = np.minimum(n / 2, (L - lse(np.zeros_like(n))[0])[:, None] / (2 * m))

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
            g_h = np.einsum("rj,rjk->rk", p, A)
            gap = (L - h)[:, None]
            H = np.einsum("rj,rjk,rjl->rkl", p, A, A) - g_h[:, :, None] * g_h[:, None, :]
            grad = -t + g_h / gap - 1 / z + 1 / (n - z)
            hess = (H / gap[:, :, None] + (g_h[:, :, None] * g_h[:, None, :]) / gap[:, :, None] ** 2
                    + (1 / z ** 2 + 1 / (n - z) ** 2)[:, :, None] * eye)
            dz = _solve(hess, grad)
            dec = -(grad * dz).sum(axis=1)
            live = dec > _NEWTON_TOL
            if not live.any():
                break
            f0, step = phi(z, t), np.where(live, 1.0, 0.0)
            for _ in range(40):
                bad = live & (phi(z + step[:, None] * dz, t) > f0 - 0.25 * step * dec)
                if not bad.any():
                    break
                step = np.where(bad, step / 2, step)
            z = z + step[:, None] * dz
        if (2 * m + 1) / t < _BARRIER_GAP:
            break
        t *= _BARRIER_STEP
    h, p = lse(z)
    return p / (t * (L - h))[:, None]


def _solve(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Newton steps -H^-1 g per row; a row whose H is singular does not move (any weights stay
    sound, only less tight)."""
    try:
        return -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        out = np.zeros_like(grad)
        for i in range(len(grad)):
            try:
                out[i] = -np.linalg.solve(hess[i], grad[i])
            except np.linalg.LinAlgError:
                pass
        return out


def covers(problem: Einsum, inputs_only: bool = False) -> tuple[Covers, ...]:
    """Candidate covers per coordinate system: the central-path cover at budgets from the number
    of tensors up to the total of all tensors (factor 2^(1/2) apart), and the all-caps cover
    (F = MACs). ``inputs_only``: the output's projection is left out of the budget (weight 0)."""
    return _all_covers(problem)[inputs_only]


@lru_cache(maxsize=256)
def _all_covers(problem: Einsum) -> tuple[tuple[Covers, ...], tuple[Covers, ...]]:
    """:func:`covers` with and without the output, from one batch of central paths."""
    J = len(problem.tensors)
    is_in = np.array([True] * len(problem.inputs) + [False])
    top = 2 * sum(problem.tensor_size(t) for t in problem.tensors) + 2
    items = []
    for use in (np.ones(J, dtype=bool), is_in):
        for system in systems(problem):
            use_s = use & np.array([len(m) > 0 for m in system.members])
            budgets = float(max(use_s.sum(), 2)) * 1.5 * _COVER_STEP ** np.arange(160)
            items.append((system, budgets[budgets < top], use_s))
    out = []
    for (system, _, _), w in zip(items, _central_weights(items)):
        s = np.vstack([np.zeros((1, J)), w])
        s = s[np.isfinite(s).all(axis=1) & (s >= 0).all(axis=1)]
        u = np.array([_fix(system, r) for r in s])
        out.append(Covers(s, u, np.array(system.log_caps), is_in, np.array(system.inflate)))
    half = len(out) // 2
    return tuple(out[:half]), tuple(out[half:])


def max_macs(problem: Einsum, b_in, b_all, inputs_only: bool = False, pool=None) -> np.ndarray:
    """Integer upper bounds on the MACs a segment can run, per budget pair (b_in, b_all): the
    least over the candidate covers (``pool``, default all of them), floored after the _SLACK
    margin, never above MACs. Fewer covers only loosen the bound."""
    b_in, b_all = np.atleast_1d(b_in), np.atleast_1d(b_all)
    best = np.full(len(b_in), math.log(problem.macs))
    for c in covers(problem, inputs_only) if pool is None else pool:
        best = np.fmin(best, np.nanmin(c.log_bound(b_in, b_all), axis=0))  # NaN: no bound
    return np.minimum(np.floor(np.exp(best) * (1 + _SLACK)), problem.macs).astype(np.int64)


def _budgets(B: np.ndarray, inputs_only: bool) -> tuple[np.ndarray, np.ndarray]:
    return B, (np.full(B.shape, np.inf) if inputs_only else B)


@lru_cache(maxsize=256)
def _pruned(problem: Einsum, inputs_only: bool) -> tuple[Covers, ...]:
    """The covers that give the least bound somewhere on a coarse budget grid (ratio 2^(1/16));
    the others are dropped for the fine table (dropping covers is always sound)."""
    total = sum(problem.tensor_size(t) for t in problem.tensors)
    coarse = np.geomspace(1, 8 * total + 8192, 16 * int(math.log2(8 * total + 8192)) + 2)
    pool = covers(problem, inputs_only)
    logs = [np.nan_to_num(c.log_bound(*_budgets(coarse, inputs_only)), nan=np.inf) for c in pool]
    best = np.min(np.vstack(logs), axis=0)
    return tuple(dataclasses.replace(c, s=c.s[keep], u=c.u[keep])
                 for c, v in zip(pool, logs)
                 if (keep := (v <= best[None, :] + 1e-12).any(axis=1)).any())


@lru_cache(maxsize=256)
def _table(problem: Einsum, inputs_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Phi on every integer up to 1023 and on a geometric grid (ratio 2^(1/1024)) from 1024 to
    four times all tensors' words, made nondecreasing by a running maximum (each value stays an
    upper bound, as the true most-MACs function is nondecreasing). Beyond the table the bound
    is MACs itself."""
    top = 4 * sum(problem.tensor_size(t) for t in problem.tensors) + 4096
    geo = np.unique(np.floor(1024 * _TABLE_STEP ** np.arange(
        int(math.log(top / 1024) / math.log(_TABLE_STEP)) + 2)))
    grid = np.concatenate([np.arange(1, 1024, dtype=float), geo])
    values = max_macs(problem, *_budgets(grid, inputs_only), inputs_only,
                      _pruned(problem, inputs_only))
    joint = _joint(problem, inputs_only)
    values[:len(joint)] = np.minimum(values[:len(joint)], joint)
    return grid.astype(np.int64), np.maximum.accumulate(values)


# Largest budget of the integer-split search, by the number of budgeted tensors (about 5,000
# splits at most; more tensors get none).
_JOINT_TOP = {1: 1023, 2: 96, 3: 32, 4: 12}


def _joint(problem: Einsum, inputs_only: bool) -> np.ndarray:
    """Phi(B) for B = 1, 2, ... small, with the covers combined at the *same* split: the most
    MACs of a set whose budgeted tensors touch b_j >= 1 words each, sum b_j = B, is at most
    min over covers of prod (b_j * inflate_j)^s_j * caps^u, so Phi(B) <= max over the integer
    splits of that minimum (tighter than the least over covers of each one's own best split,
    which the closed form gives; below one word per budgeted tensor no MAC runs). Every bound
    is monotone in every b_j, so splits summing to exactly B cover every set of at most B
    words once the table takes its running maximum."""
    budgeted = [j for j in range(len(problem.tensors))
                if not inputs_only or j < len(problem.inputs)]
    top = _JOINT_TOP.get(len(budgeted), 0)
    if not top:
        return np.zeros(0, dtype=np.int64)
    k = len(budgeted)
    b = np.indices((top,) * k).reshape(k, -1).T + 1.0
    b = b[b.sum(axis=1) <= top]
    logs = np.log(b)
    best = np.full(len(b), math.log(problem.macs))
    for c in covers(problem, inputs_only):
        value = c.s @ c.inflate + c.u @ c.log_caps            # (covers,), then + s_j log b_j:
        value = value[None, :] + sum(logs[:, i, None] * c.s[None, :, j]   # elementwise, no
                                     for i, j in enumerate(budgeted))     # BLAS threads
        best = np.minimum(best, value.min(axis=1))
    out = np.full(top, -np.inf)
    np.maximum.at(out, b.sum(axis=1).astype(int) - 1, best)
    return np.minimum(np.floor(np.exp(out) * (1 + _SLACK)), problem.macs).astype(np.int64)


def _phi_up(M: int, table, words: np.ndarray) -> np.ndarray:
    """Phi at ``words`` from the table: its value at the first tabulated budget at or above
    (sound, as Phi is nondecreasing), MACs beyond the table."""
    grid, values = table
    k = np.searchsorted(grid, words, side="left")
    return np.where(k < len(grid), values[np.minimum(k, len(grid) - 1)], M)


# T / S for the segment length T, 8 per octave from 2^-6 to 2^8 (refined around the best);
# (T1 - T) / S for the first segment's length T1. Any T and T1 are sound: the grids only
# decide how tight the bound is.
_RATIOS = 2.0 ** (np.arange(-6 * 8, 8 * 8 + 1) / 8)
_LEADS = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
# Ratio of the geometric grid of the tabulated Phi, above 1024 words.
_TABLE_STEP = 2.0 ** (1 / 1024)


def phi(problem: Einsum, words, inputs_only: bool = False) -> np.ndarray:
    """Phi(B): an integer upper bound on the MACs of any set of iterations whose tensors' words
    number at most B in all (``inputs_only``: whose *input* words number at most B, the output
    unbudgeted). Nondecreasing in B (each cover's bound is)."""
    B = np.asarray(words, float)
    flat = B.ravel()
    out = max_macs(problem, flat, np.full(flat.shape, np.inf) if inputs_only else flat, inputs_only)
    return out.reshape(B.shape)


def _least_words(table: tuple[np.ndarray, np.ndarray], macs) -> np.ndarray:
    """A lower bound on the least B with Phi(B) >= macs: every tabulated B below the first
    value reaching ``macs`` runs fewer MACs, and so does every B under it (monotone)."""
    grid, values = table
    k = np.searchsorted(values, np.asarray(macs), side="left")
    return np.where(k > 0, grid[np.maximum(k - 1, 0)] + 1, 1).astype(np.int64)


@dataclass(frozen=True)
class Segments:
    """The segment argument at one capacity: ``bound`` (events any schedule has), the block
    length ``T`` and first-segment length ``T1`` that gave it."""

    bound: int
    T: int
    T1: int


def segments(problem: Einsum, capacities, inputs_only: bool = False) -> list[Segments]:
    """The segment argument (docs/lower_bounds.md, "Argument 2") at every capacity at once.

    Events: reads of words of the budgeted inputs, and starts of an output word's *episodes*
    (a time it is on chip, in any number of accumulators) in which some MAC updates it; each
    such episode ends with a write of the word, so a schedule moves at least as many words as
    it has events. Cut any schedule after its first T1 events, then after every T further
    events. The first segment starts from an empty buffer, so its MACs touch at most T1 words
    and number at most Phi(T1); every later one touches at most S + T (on chip at its start,
    or an event in it); the last, with r < T events, at most S + r. So a schedule with R
    events runs at most Phi(T1) + n Phi(S + T) + Phi(S + r) MACs (n full blocks), and the least
    R reaching all MACs is T1 + n* T + r* with n* = ceil((MACs - Phi(T1)) / Phi(S + T)) - 1 and
    r* the least r with Phi(S + r) >= the MACs left (``_least_words``; at most T). A schedule
    that ends inside its first segment has R >= the least B with Phi(B) >= MACs. The best
    (T, T1) of the grids is kept: chosen in floats, recomputed in integers."""
    return _count(problem.macs, _table(problem, inputs_only), capacities,
                  lambda words: phi(problem, words, inputs_only))


def _count(M: int, table, capacities, exact=None) -> list[Segments]:
    """:func:`segments` for MACs ``M`` and a table of Phi; ``exact`` (optional) re-evaluates
    Phi at the chosen budgets more tightly than the table."""
    if not len(capacities):
        return []
    S = np.asarray(capacities, dtype=np.int64)[:, None]
    one = int(_least_words(table, M))
    rows = np.arange(len(S))
    ratio = np.broadcast_to(_RATIOS, (len(S), len(_RATIOS)))
    lead = np.broadcast_to(_LEADS, (len(S), len(_LEADS)))
    for fine in (False, True):
        if fine:   # 64 per octave around the coarse best, T1 - T in S/32 steps around its best
            ratio = ratio[rows, j][:, None] * 2.0 ** (np.arange(-8, 9) / 64)
            lead = np.maximum(0, lead[rows, k][:, None] + np.arange(-8, 9) / 32)
        T = np.maximum(1, np.round(S * ratio)).astype(np.int64)                 # (caps, ratios)
        T1 = T[:, :, None] + np.round(S[:, :, None] * lead[:, None, :]).astype(np.int64)
        A, P1, value = _candidates(table, M, S, T, T1)
        j, k = np.unravel_index(value.reshape(len(S), -1).argmax(axis=1), value.shape[1:])
    t, t1 = T[rows, j], T1[rows, j, k]
    small = S[:, 0] <= 32   # where rounding T to integers matters: every T <= 8S, T1 - T <= S
    if small.any():
        Ts = np.broadcast_to(np.arange(1, 257), (small.sum(), 256))
        T1s = Ts[:, :, None] + np.arange(33)[None, None, :]
        _, _, vs = _candidates(table, M, S[small], Ts, T1s)
        vs = np.where((Ts <= 8 * S[small])[:, :, None] & (T1s - Ts[:, :, None] <= S[small, :, None]),
                      vs, -np.inf)
        js, ks = np.unravel_index(vs.reshape(len(vs), -1).argmax(axis=1), vs.shape[1:])
        at = np.flatnonzero(small)
        better = vs[np.arange(len(at)), js, ks] > value[at, j[at], k[at]]
        t, t1 = t.copy(), t1.copy()
        t[at[better]] = Ts[better, js[better]]
        t1[at[better]] = T1s[better, js[better], ks[better]]
    a, p1 = _phi_up(M, table, S[:, 0] + t), _phi_up(M, table, t1)
    if exact is not None:
        tight = exact(np.concatenate([S[:, 0] + t, t1]))
        a, p1 = np.minimum(tight[:len(S)], a), np.minimum(tight[len(S):], p1)
    out = []
    for i, s in enumerate(S[:, 0].tolist()):
        v = _exact(M, int(a[i]), int(p1[i]), s, int(t[i]), int(t1[i]), table)
        out.append(Segments(v, int(t[i]), int(t1[i])) if v > one else Segments(one, 0, one))
    return out


def _candidates(table, M: int, S: np.ndarray, T: np.ndarray, T1: np.ndarray):
    """Phi(S + T) (caps, ratios, 1), Phi(T1) and the bound of every (T, T1) in floats (-inf
    where it gives none), Phi read from the table."""
    A = _phi_up(M, table, S + T)[:, :, None]
    P1 = _phi_up(M, table, T1)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.ceil((M - P1) / np.maximum(A, 1).astype(float)) - 1
        rem = M - P1.astype(float) - n * A
        r = np.minimum(np.maximum(0, _least_words(table, np.maximum(rem, 0)) - S[:, :, None]),
                       T[:, :, None])
        value = np.where((A > 0) & (P1 < M), T1 + n * T[:, :, None] + r, -np.inf)
    return A, P1, value


def _exact(M: int, A: int, P1: int, S: int, T: int, T1: int, table) -> int:
    """The bound of one (T, T1) in Python integers (the float pass only chose it)."""
    if A <= 0 or P1 >= M:
        return 0
    n = -(-(M - P1) // A) - 1
    r = min(max(0, int(_least_words(table, M - P1 - n * A)) - S), T)
    return T1 + n * T + r


def floors(problem: Einsum, capacities) -> list[tuple]:
    """Per capacity: (lower bound, argument, compulsory, segment, T). The bound is None below
    the number of tensors (a MAC needs one word of each in the buffer at once: no schedule).

    Two segment arguments: all tensors budgeted; inputs alone budgeted, plus every touched
    output word written once (writes are not events of that argument, so they add)."""
    comp = compulsory(problem)
    caps = [int(c) for c in capacities]
    # With every word on chip at once the optimum is the compulsory traffic, which no segment
    # bound exceeds: skip them there (capacities beyond 64-bit integers included).
    whole = sum(problem.tensor_size(t) for t in problem.tensors)
    ok = [c for c in caps if len(problem.tensors) <= c < whole]
    both = segments(problem, ok), segments(problem, ok, inputs_only=True)
    writes = touched(problem, problem.output)
    seg = {c: max((a.bound, a.T, "segment"), (b.bound + writes, b.T, "segment_inputs"))
           for c, a, b in zip(ok, *both)}
    return _rows(caps, whole, comp, {c: (v, by, t) for c, (v, t, by) in seg.items()})


def _rows(caps, whole: int, comp: int, best: dict) -> list[tuple]:
    """Per capacity (floor, the argument that gave it, compulsory, segment value, its T):
    the compulsory traffic where every word fits at once, none where no schedule fits, else
    the best of the compulsory traffic and ``best[c]`` = (value, argument, T)."""
    out = []
    for c in caps:
        if c >= whole:
            out.append((comp, "compulsory", comp, 0, 0))
        elif c not in best:
            out.append((None, "no schedule fits", comp, 0, 0))
        else:
            v, by, t = best[c]
            out.append((max(comp, v), by if v > comp else "compulsory", comp, v, t))
    return out


def floor(problem: Einsum, capacity: int) -> tuple:
    """:func:`floors` at one capacity."""
    return floors(problem, [capacity])[0]


@lru_cache(maxsize=64)
def _fibres(e1: Einsum) -> Covers | None:
    """Covers bounding G(B): the most words of e1's output X whose *every* MAC can run in a
    segment whose e1 input words number at most B (docs/lower_bounds.md, "Chains"). Such a
    set Y of X's indices needs the whole fibre Y x (reduction box) of iterations, whose
    projection on input j is pi_j(Y) x (j's reduction ranks, whole): |pi_j(Y)| * f_j words,
    f_j the product of those ranks' sizes. So Shearer's lemma on X's ranks, each input's
    budget divided by f_j (an ``inflate`` of 1/f_j). None where an axis is a window (the fibre
    is then not a product)."""
    if any(len(a.terms) > 1 for t in e1.tensors for a in t.axes):
        return None
    ranks = [a.terms[0].rank for a in e1.output.axes]
    size = e1.size
    members, inflate = [], []
    for t in e1.inputs:
        mine = {a.terms[0].rank for a in t.axes}
        members.append(tuple(i for i, r in enumerate(ranks) if r in mine))
        inflate.append(-sum(math.log(size[r]) for r in mine if r not in ranks))
    members.append(tuple(range(len(ranks))))
    inflate.append(0.0)
    d = len(ranks)
    system = System(tuple(tuple(int(i == k) for k in range(d)) for i in range(d)),
                    tuple(members), tuple(math.log(size[r]) for r in ranks), tuple(inflate))
    use = np.array([bool(m) for m in members[:-1]] + [False])
    if not use.any():
        return None
    top = 2 * sum(e1.tensor_size(t) for t in e1.tensors) + 2
    budgets = 3.0 * _COVER_STEP ** np.arange(160)
    (w,) = _central_weights([(system, budgets[budgets < top], use)])
    s = np.vstack([np.zeros((1, len(members))), w])
    s = s[np.isfinite(s).all(axis=1) & (s >= 0).all(axis=1)]
    return Covers(s, np.array([_fix(system, r) for r in s]), np.array(system.log_caps),
                  np.array([True] * len(e1.inputs) + [False]), np.array(inflate))


def complete_words(e1: Einsum, words) -> np.ndarray:
    """G(B) per budget: an integer upper bound on the words of e1's output whose every MAC
    can run with at most B words of e1's inputs (:func:`_fibres`; at most the output's size)."""
    B = np.atleast_1d(np.asarray(words, float))
    log_g = np.nan_to_num(_fibres(e1).log_bound(B, np.full(B.shape, np.inf)), nan=np.inf)
    return np.minimum(np.floor(np.exp(log_g.min(axis=0)) * (1 + _SLACK)),
                      e1.tensor_size(e1.output)).astype(np.int64)


@lru_cache(maxsize=64)
def _chain_table(e1: Einsum, e2: Einsum, keeps: bool) -> tuple[np.ndarray, np.ndarray]:
    """Phi of the chain e1 -> X -> e2 as a table like :func:`_table`: the MACs of e2 in a
    segment whose words (on chip at its start, or events) number at most B. e2's words of X
    are on chip at the start, read (events), or started from zero in the segment and then
    complete in it (e2 uses X's final values): at most G(B) of those (:func:`_fibres`). So
    e2's words number at most B + G(B), and its MACs at most Phi_2(B + G(B)) (all of e2's
    tensors budgeted if its output is a workload output, ``keeps``; its inputs only if not)."""
    top = 4 * sum(e2.tensor_size(t) for t in e2.tensors) + 4096
    geo = np.unique(np.floor(1024 * _TABLE_STEP ** np.arange(
        int(math.log(top / 1024) / math.log(_TABLE_STEP)) + 2)))
    grid = np.concatenate([np.arange(1, 1024, dtype=float), geo])
    values = _phi_up(e2.macs, _table(e2, not keeps), grid + complete_words(e1, grid))
    return grid.astype(np.int64), np.maximum.accumulate(values)


def _chains(w) -> list[tuple[Einsum, Einsum]]:
    """Pairs (e1, e2) of a workload where e1 reads only workload inputs and its output is read
    by e2 alone, whose other inputs are workload inputs, and e1 has no windows."""
    out = []
    for e1 in w.einsums:
        x = e1.output.name
        if any(t.name in w.producer for t in e1.inputs) or len(w.consumers.get(x, ())) != 1:
            continue
        e2 = w.einsums[w.consumers[x][0]]
        if all(t.name == x or t.name not in w.producer for t in e2.inputs) \
                and sum(t.name == x for t in e2.inputs) == 1 and _fibres(e1) is not None:
            out.append((e1, e2))
    return out


def workload_floors(w, capacities) -> list[tuple]:
    """The floor of a workload whose intermediates may stay on chip (docs/lower_bounds.md,
    "Workloads"), per capacity: compulsory traffic (every workload input word some Einsum
    touches read once, the most any one reader touches being a lower bound on their union;
    every output word written once); and, for each Einsum e whose inputs are all workload
    inputs, e's segment argument on the reads of its inputs (and, if its output is a workload
    output, that output's updated episodes, each ended by a write) plus the compulsory traffic
    of every tensor those events do not count. Whatever else runs in between, the events are
    distinct transfers."""
    read = {name: max(touched(w.einsums[i], w.einsums[i].tensor(name)) for i in w.consumers[name])
            for name in w.inputs}
    written = {name: touched(w.einsums[w.producer[name]], w.einsums[w.producer[name]].output)
               for name in w.outputs}
    comp = sum(read.values()) + sum(written.values())
    caps = [int(c) for c in capacities]
    J = max(len(e.tensors) for e in w.einsums)
    whole = sum(w.tensor_size(name) for name in {t.name for e in w.einsums for t in e.tensors})
    ok = [c for c in caps if J <= c < whole]   # above: compulsory is the optimum (floors)
    best = {c: (0, "", 0) for c in ok}
    for e in w.einsums:
        if any(t.name in w.producer for t in e.inputs):
            continue
        keeps = e.output.name in w.outputs
        mine = {t.name for t in e.inputs} | ({e.output.name} if keeps else set())
        rest = (sum(v for k, v in read.items() if k not in mine)
                + sum(v for k, v in written.items() if k != e.output.name or not keeps))
        for c, s in zip(ok, segments(e, ok, inputs_only=not keeps)):
            best[c] = max(best[c], (s.bound + rest, f"segment:{e.name}", s.T))
    for e1, e2 in _chains(w):
        keeps = e2.output.name in w.outputs
        mine = ({t.name for t in e1.inputs + e2.inputs} - {e1.output.name}
                | ({e2.output.name} if keeps else set()))
        rest = (sum(v for k, v in read.items() if k not in mine)
                + sum(v for k, v in written.items() if k not in mine))
        for c, s in zip(ok, _count(e2.macs, _chain_table(e1, e2, keeps), ok)):
            best[c] = max(best[c], (s.bound + rest, f"chain:{e1.name}>{e2.name}", s.T))
    return _rows(caps, whole, comp, best)


def workload_floor(w, capacity: int) -> tuple:
    """:func:`workload_floors` at one capacity."""
    return workload_floors(w, [capacity])[0]


def check_capacity(c: object) -> int:
    """A capacity as whole words: a real number from 1 to 2^62 (the frame's integer columns)."""
    import numbers
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c < 1:
        raise BoundsolverError(f"capacity must be a positive number of words (at least 1), got {c!r}")
    if c > 2 ** 62:
        raise BoundsolverError(f"capacity {c!r} words is too large (at most 2^62)")
    return int(math.floor(c))


# ------------------------------------------------------------------------------------ the API

COLUMNS = ["capacity", "lower_bound", "bound_by", "compulsory", "segment", "segment_T"]


def inside_words(arch, problem, capacity: int, level: str | None = None) -> int:
    """Words that fit inside a boundary of ``arch`` when its swept level holds ``capacity`` words
    per instance: the backing store's boundary (``level`` None) or the one above ``level`` (its
    parent's side outside). Every level inside counts its capacity times its instances, plus one
    operand word per tensor for each of the most numerous inside level's instances (a MAC fed
    straight past the levels still holds its operands somewhere). Any schedule of the hierarchy
    is a schedule of one buffer this large with at most the traffic across that boundary
    (docs/lower_bounds.md, "Hierarchies")."""
    J = max(len(e.tensors) for e in getattr(problem, "einsums", (problem,)))
    levels = arch.on_chip[_inner_index(arch, level):]
    total = 0
    for lv in levels:
        cap = capacity if lv.sweep else lv.capacity
        if cap is None:
            raise BoundsolverError(f"level {lv.name!r} of {arch.name} has no capacity: the floor "
                                   "needs the size of every level inside the boundary")
        total += int(cap) * lv.instances
    return total + J * max(lv.instances for lv in levels)


def _inner_index(arch, level: str | None) -> int:
    """Index in ``arch.on_chip`` of ``level`` (0 for the backing store's boundary)."""
    if level is None:
        return 0
    names = [lv.name for lv in arch.on_chip]
    if level not in names:
        raise BoundsolverError(f"lower_bound: {arch.name} has no on-chip level {level!r} "
                               f"(on-chip levels: {', '.join(names)})")
    return names.index(level)


def bounded_levels(arch, problem) -> list[str]:
    """The inner on-chip levels (not the first) whose upper boundary gets a floor: those that
    keep every tensor of the problem, so every word inside came in through them and their
    ``accesses_<level>`` is all the traffic across it. A tensor that bypasses a level would
    cross its boundary into a level below, counted there, not at it."""
    einsums = getattr(problem, "einsums", (problem,))
    return [lv.name for lv in arch.on_chip[1:]
            if all(lv.keeps_tensor(e, t) for e in einsums for t in e.tensors)]


def lower_bound(problem, capacities, arch=None, level: str | None = None) -> pd.DataFrame:
    """Words every schedule must move across the boundary of a buffer of each capacity (words),
    one row per capacity in the given order: ``lower_bound`` (an integer; <NA> where the buffer
    cannot hold one word of every tensor of an Einsum, so no schedule exists), ``bound_by``
    (``compulsory``, ``segment``, ``segment_inputs``, ``segment:<einsum>`` or
    ``chain:<e1>><e2>``), the compulsory traffic, the best segment argument's value and the
    segment length T that gave the segment bound. Capacities are floored to whole words.

    ``arch`` (an :class:`Arch`; ``bs.load_arch`` reads a name): the floor of the backing-store
    (DRAM) traffic of a hierarchy, capacities being the swept level's words per instance: the
    one-buffer floor at :func:`inside_words` (column ``inside_words``). With ``level`` (an
    on-chip level's name, one that keeps every tensor: :func:`bounded_levels`), the floor of the
    traffic into that level from its parent (``accesses_<level>``), from the words at or below
    it.

    A :class:`Workload` gets the floor of any schedule that keeps intermediates on chip:
    compulsory traffic of its inputs and outputs, the segment argument of each Einsum whose
    inputs are all workload inputs (its output budgeted only when it is a workload output), and
    the chain argument of each producer-consumer pair (``chain:<e1>><e2>``).
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
    if level is not None and arch is None:
        raise BoundsolverError(f"lower_bound: level={level!r} needs arch= (the hierarchy it "
                               "belongs to)")
    if arch is not None:
        from .arch import Arch
        if not isinstance(arch, Arch):
            raise BoundsolverError(f"lower_bound: arch must be an Arch (bs.load_arch reads a "
                                   f"name), got {arch!r}")
        if arch.swept is None:
            raise BoundsolverError(f"lower_bound: {arch.name} has no swept level, so capacities "
                                   "mean nothing there")
        index = _inner_index(arch, level)
        if index and level not in bounded_levels(arch, problem):
            raise BoundsolverError(
                f"lower_bound: level {level!r} of {arch.name} does not keep every tensor, so "
                "words cross its boundary into the levels below it too; floors are given at "
                f"the backing store and at {bounded_levels(arch, problem) or 'no inner level'}")
        inside = [inside_words(arch, problem, c, level) for c in caps]
    run = workload_floors if isinstance(problem, Workload) else floors
    rows = run(problem, inside)
    df = pd.DataFrame([(c, *r) for c, r in zip(caps, rows)], columns=COLUMNS)
    if arch is not None:
        df.insert(1, "inside_words", pd.array(inside, dtype="Int64"))
    for col in ("capacity", "lower_bound", "compulsory", "segment", "segment_T"):
        df[col] = df[col].astype("Int64")
    df.attrs |= {"problem": str(problem), "name": problem.name, "unit": "words",
                 "lower_bound": "words any schedule moves (docs/lower_bounds.md)"}
    return df


def with_lower_bound(frame: pd.DataFrame, problem, arch=None) -> pd.DataFrame:
    """``frame`` (a ``solve_curve`` or ``pareto_frontier`` result) with two more columns:
    ``lower_bound``, the floor at the row's capacity (a frontier row: at its occupancy, the
    least capacity its accesses answer), and ``gap`` = accesses / lower_bound (>= 1 always; NaN
    where a row has no accesses or no floor). The floor of a capacity is computed once however
    many rows share it. A hierarchy frame (``accesses_<level>`` columns) needs its ``arch``: its
    ``accesses`` are the backing store's, bounded at the words inside that boundary
    (:func:`inside_words`); it also gains ``lower_bound_<level>`` and ``gap_<level>`` for every
    inner level of :func:`bounded_levels` (the floor of ``accesses_<level>``). Without the
    arch it is refused, since the swept capacity alone leaves out the other levels' storage
    and would not give a bound."""
    hierarchy = any(c.startswith("accesses_") for c in frame.columns)
    if hierarchy and arch is None:
        raise BoundsolverError(
            "with_lower_bound: a hierarchy frame needs arch= (the swept level's capacity leaves "
            "out the other levels' storage; docs/lower_bounds.md)")
    at = frame["capacity"] if "capacity" in frame.columns else frame["occupancy"]
    caps = sorted({int(c) for c in at.dropna()})
    out = frame.copy()
    levels = [None] + (bounded_levels(arch, problem) if hierarchy else [])
    for level in levels:
        suffix = "" if level is None else f"_{level}"
        table = lower_bound(problem, caps, arch, level) if caps else pd.DataFrame(columns=COLUMNS)
        floor_of = dict(zip(table["capacity"].astype(int), table["lower_bound"]))
        out["lower_bound" + suffix] = pd.array(
            [floor_of.get(int(c), pd.NA) if pd.notna(c) else pd.NA for c in at], dtype="Int64")
        acc = pd.to_numeric(out["accesses" + suffix], errors="coerce").astype("float64")
        lb = out["lower_bound" + suffix].astype("float64")
        out["gap" + suffix] = (acc / lb).where(lb > 0)
    out.attrs = dict(frame.attrs) | {"gap": "accesses / lower_bound (docs/lower_bounds.md)"}
    return out
