"""An exhaustive red-blue pebbling search with partial sums: the least words ANY schedule of a
tiny Einsum moves with a buffer of S words (no recomputation), independent of the package's
cost model and of the lower-bound code.

State: which words are in the buffer, which MACs are done, which output words in the buffer
are dirty (changed since last written). Moves: a MAC whose operands and output word are all in
the buffer (free); write a dirty output word (1); load a word (1; an output word none of whose
MACs is done starts from zero for free: the cost model's first-read elision). A full buffer
evicts a clean word to load another (a dirty one would lose work); evicting only when space is
needed loses nothing, since keeping a word longer costs nothing. Goal: every MAC done and no
output dirty. 0-1 BFS over the states.

A workload (fused chain) adds intermediates: produced like outputs, and read by a later
Einsum's MAC only once complete (all its MACs done); an intermediate need never be written, so
a dirty one may be dropped once every MAC that reads it is done.
"""

from __future__ import annotations

import itertools
from collections import deque

import boundsolver as bs


def instance(problem):
    """(number of input words, number of produced words, MACs as (input-word mask, produced
    word), masks of the produced words each MAC needs complete, mask of the produced words
    that must be written: the workload's outputs). Input words come first."""
    einsums = getattr(problem, "einsums", (problem,))
    produced = {e.output.name for e in einsums}
    ids: dict[tuple, int] = {}
    out_ids: dict[tuple, int] = {}
    per_mac = []
    for e in einsums:
        ranks, size = e.ranks, e.size
        for x in itertools.product(*(range(size[r]) for r in ranks)):
            at = dict(zip(ranks, x))
            reads = [(t.name, _index(t, at)) for t in e.inputs]
            for key in reads:
                if key[0] not in produced:
                    ids.setdefault(key, len(ids))
            per_mac.append((reads, out_ids.setdefault((e.output.name, _index(e.output, at)),
                                                      len(out_ids))))
    n_in = len(ids)
    macs, needs = [], []
    for reads, o in per_mac:
        mask = need = 0
        for key in reads:
            if key in ids:
                mask |= 1 << ids[key]
            else:
                mask |= 1 << (n_in + out_ids[key])
                need |= 1 << out_ids[key]
        macs.append((mask, o))
        needs.append(need)
    consumed = {t.name for e in einsums for t in e.inputs}
    final = sum(1 << o for (name, _), o in out_ids.items() if name not in consumed)
    return n_in, len(out_ids), macs, needs, final


def _index(tensor: bs.Tensor, at: dict[str, int]) -> tuple[int, ...]:
    return tuple(sum(term.coef * at[term.rank] for term in axis.terms) for axis in tensor.axes)


def least_traffic(problem, S: int) -> int | None:
    """The optimum over all schedules with a buffer of S words; None if none exists. An
    Einsum or a Workload (intermediates as described above)."""
    n_in, n_out, macs, needs, final = instance(problem)
    words = n_in + n_out
    out_bit = [1 << (n_in + o) for o in range(n_out)]
    macs_of = [0] * n_out
    readers = [0] * n_out
    for k, ((_, o), need) in enumerate(zip(macs, needs)):
        macs_of[o] |= 1 << k
        for p in range(n_out):
            if need >> p & 1:
                readers[p] |= 1 << k
    all_done = (1 << len(macs)) - 1
    final_bits = sum(out_bit[o] for o in range(n_out) if final >> o & 1)
    start = (0, 0, 0)
    best = {start: 0}
    queue = deque([(0, start)])
    while queue:
        cost, state = queue.popleft()
        if best.get(state, 1 << 60) < cost:
            continue
        fast, done, dirty = state
        if done == all_done and not dirty & final_bits:
            return cost
        moves = []
        for k, ((need, o), complete) in enumerate(zip(macs, needs)):
            if not done >> k & 1 and fast & need == need and fast & out_bit[o] and all(
                    done & macs_of[p] == macs_of[p] for p in range(n_out) if complete >> p & 1):
                moves.append((0, (fast, done | 1 << k, dirty | out_bit[o])))
        for o in range(n_out):
            if dirty & out_bit[o]:
                moves.append((1, (fast, done, dirty & ~out_bit[o])))
        full = bin(fast).count("1") >= S
        for w in range(words):
            bit = 1 << w
            if fast & bit:
                continue
            price = 1 if w < n_in or done & macs_of[w - n_in] else 0
            if not full:
                moves.append((price, (fast | bit, done, dirty)))
                continue
            for v in range(words):
                vb = 1 << v
                droppable = v >= n_in and not final_bits & vb and done & macs_of[v - n_in] == \
                    macs_of[v - n_in] and done & readers[v - n_in] == readers[v - n_in]
                if fast & vb and (not dirty & vb or droppable):
                    moves.append((price, ((fast & ~vb) | bit, done, dirty & ~vb)))
        for price, nxt in moves:
            c = cost + price
            if c < best.get(nxt, 1 << 60):
                best[nxt] = c
                (queue.appendleft if price == 0 else queue.append)((c, nxt))
    return None
