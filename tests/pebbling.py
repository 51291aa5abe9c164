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
"""

from __future__ import annotations

import itertools
from collections import deque

import boundsolver as bs


def instance(problem: bs.Einsum):
    """(number of input words, number of output words, MACs as (input-word mask, output word))."""
    size = problem.size
    ranks = problem.ranks
    ids: dict[tuple, int] = {}
    n_in = 0
    macs = []
    points = list(itertools.product(*(range(size[r]) for r in ranks)))
    for t in problem.inputs:
        for x in points:
            key = (t.name, _index(t, dict(zip(ranks, x))))
            if key not in ids:
                ids[key] = len(ids)
    n_in = len(ids)
    out_ids: dict[tuple, int] = {}
    for x in points:
        at = dict(zip(ranks, x))
        mask = 0
        for t in problem.inputs:
            mask |= 1 << ids[(t.name, _index(t, at))]
        o = out_ids.setdefault(_index(problem.output, at), len(out_ids))
        macs.append((mask, o))
    return n_in, len(out_ids), macs


def _index(tensor: bs.Tensor, at: dict[str, int]) -> tuple[int, ...]:
    return tuple(sum(term.coef * at[term.rank] for term in axis.terms) for axis in tensor.axes)


def least_traffic(problem: bs.Einsum, S: int) -> int | None:
    """The optimum over all schedules with a buffer of S words; None if none exists."""
    n_in, n_out, macs = instance(problem)
    words = n_in + n_out
    out_bit = [1 << (n_in + o) for o in range(n_out)]
    macs_of = [0] * n_out
    for k, (_, o) in enumerate(macs):
        macs_of[o] |= 1 << k
    all_done = (1 << len(macs)) - 1
    start = (0, 0, 0)
    best = {start: 0}
    queue = deque([(0, start)])
    while queue:
        cost, state = queue.popleft()
        if best.get(state, 1 << 60) < cost:
            continue
        fast, done, dirty = state
        if done == all_done and not dirty:
            return cost
        moves = []
        for k, (need, o) in enumerate(macs):
            if not done >> k & 1 and fast & need == need and fast & out_bit[o]:
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
                if fast & vb and not dirty & vb:
                    moves.append((price, ((fast & ~vb) | bit, done, dirty)))
        for price, nxt in moves:
            c = cost + price
            if c < best.get(nxt, 1 << 60):
                best[nxt] = c
                (queue.appendleft if price == 0 else queue.append)((c, nxt))
    return None
