"""An independent reference for ``cost.evaluate_levels`` with spatial fanout: it runs the loop nest
instance by instance and counts fills, instead of multiplying closed-form factors.

Uniform placement (boundary ``b`` is on-chip level ``b``), plain-axis Einsums only. The nest,
outermost first: segment 0's temporal loops, level 1's spatial loops, segment 1's temporal loops,
level 2's spatial loops, ... An instance of level ``c`` is its spatial coordinates at levels
``1..c``; all instances step through the temporal loops in lockstep.
"""

from __future__ import annotations

import math
from itertools import product

from boundsolver.model.cost import LevelCost


def simulate_levels(problem, nest, multicast=None, spatial=None) -> LevelCost:
    """Per-level occupancy, accesses and backing-store traffic of ``nest`` by running it.

    ``spatial`` (default: ``nest.spatial``, or none): per on-chip level, (rank, fanout) pairs.
    ``multicast[l-1]``: level ``l``'s parent sends one tile shared by several level-``l``
    instances (and reduces the output's) once; default True everywhere, as evaluate_levels.

    A copy (T, c) is filled into an instance whenever that instance's tile of T differs from the
    one it held at the previous step. Its source is T's nearest outer copy (level p, 0: backing
    store), so instances under different level-p instances are fed separately, and so are
    instances that differ at a level in (p, c] without multicast: one delivery per distinct
    (step, source instance, non-multicast coordinates, tile). The output is written back on every
    fill; it is read back once per (step, source instance, tile), since of several instances
    that share a partial-sum tile one reads the running sum and the others start from zero,
    except the first time a source instance's subtree sees a tile (it starts at zero).
    """
    size, ranks = problem.size, problem.ranks
    L = len(nest.levels)
    spatial = getattr(nest, "spatial", ()) if spatial is None else spatial
    mc = tuple(multicast) if multicast is not None else (True,) * L
    assert len(mc) == L and len(spatial) in (0, L)
    tops = [size] + [dict(lv) for lv in nest.levels]  # global tiles T_0..T_L
    fan = [None] + [{d: dict(spatial[lv] if spatial else ()).get(d, 1) for d in ranks} for lv in range(L)]
    tile, spread = [dict(size)], dict.fromkeys(ranks, 1)  # per-instance tiles t_0..t_L
    for b in range(1, L + 1):
        spread = {d: spread[d] * fan[b][d] for d in ranks}
        assert all(tops[b - 1][d] % tops[b][d] == 0 and tops[b][d] % spread[d] == 0 for d in ranks)
        tile.append({d: tops[b][d] // spread[d] for d in ranks})
    # Temporal loops (segment, rank, trips), outermost first; a rank not in an order must not loop.
    loops = [(s, d, tops[s][d] // tops[s + 1][d]) for s in range(L) for d in nest.orders[s]]
    assert all(tops[s][d] == tops[s + 1][d] for s in range(L) for d in ranks if d not in nest.orders[s])

    keeps: dict[str, list[int]] = {}
    for name, b in nest.storage:
        keeps.setdefault(name, []).append(b)
    occupancy, accesses, dram = [0] * L, [0] * L, 0
    for T in problem.tensors:
        chain = sorted(keeps[T.name])
        for i, c in enumerate(chain):
            p = chain[i - 1] if i else 0
            # Instances of level c: per level 1..c, the coordinate of every rank.
            coords = [list(product(*(range(fan[lv][d]) for d in ranks))) for lv in range(1, c + 1)]
            instances = list(product(*coords))
            # Loops of segments >= c never change a level-c tile: run only those above it.
            above = [(s, d, n) for s, d, n in loops if s < c]
            held, deliveries, reads, seen = {}, set(), set(), set()
            for step in product(*(range(n) for _, _, n in above)):
                index = {(s, d): v for (s, d, _), v in zip(above, step)}
                for x in instances:
                    at = tuple(sum(index.get((lv - 1, d), 0) * fan[lv][d] * tile[lv][d]
                                   + x[lv - 1][j] * tile[lv][d] for lv in range(1, c + 1))
                               for j, d in enumerate(ranks) if d in T.ranks)
                    if held.get(x) == at:
                        continue
                    held[x] = at
                    group = (x[:p], tuple(x[lv - 1] for lv in range(p + 1, c + 1) if not mc[lv - 1]))
                    deliveries.add((step, group, at))
                    reads.add((step, x[:p], at))  # one writer per source reads the sum back
                    seen.add((x[:p], at))
            footprint = math.prod(tile[c][d] for d in T.ranks)
            fills = len(deliveries) * footprint
            if T is problem.output:  # every writer writes; reads skip each first sighting
                words = fills + (len(reads) - len(seen)) * footprint
            else:
                words = fills
            occupancy[c - 1] += footprint
            accesses[c - 1] += words
            if i == 0:
                dram += words
    return LevelCost(tuple(occupancy), tuple(accesses), dram)


def simulate_copies(problem, nest, levels_of_copies, n_levels, fanout_at, multicast=None
                    ) -> LevelCost:
    """As :func:`simulate_levels` for per-tensor placement within levels: copy ``i`` of
    ``nest.storage`` belongs to level ``levels_of_copies[i]`` and sits at its own boundary;
    ``nest.spatial`` is indexed by boundary, and level ``l``'s fanout loop sits right above
    boundary ``fanout_at[l - 1]``. An instance of level ``l`` is its coordinates at the
    fanouts of levels ``1..l``; a copy's source is its tensor's copy at the nearest outer level
    (0: the backing store); deliveries and read-backs are counted as in simulate_levels."""
    size, ranks = problem.size, problem.ranks
    K = len(nest.levels)
    mc = tuple(multicast) if multicast is not None else (True,) * n_levels
    tops = [size] + [dict(lv) for lv in nest.levels]
    fan = [None] + [{d: dict(nest.spatial[b - 1] if nest.spatial else ()).get(d, 1) for d in ranks}
                    for b in range(1, K + 1)]
    owner = {fanout_at[lv - 1]: lv for lv in range(1, n_levels + 1)
             if any(v > 1 for v in fan[fanout_at[lv - 1]].values())}
    tile, spread = [dict(size)], dict.fromkeys(ranks, 1)
    for b in range(1, K + 1):
        spread = {d: spread[d] * fan[b][d] for d in ranks}
        tile.append({d: tops[b][d] // spread[d] for d in ranks})
    loops = [(s, d, tops[s][d] // tops[s + 1][d]) for s in range(K) for d in nest.orders[s]]
    chains: dict[str, list[tuple[int, int]]] = {}
    for (name, b), lv in zip(nest.storage, levels_of_copies):
        chains.setdefault(name, []).append((lv, b))
    occupancy, accesses, dram = [0] * n_levels, [0] * n_levels, 0
    for T in problem.tensors:
        chain = sorted(chains[T.name])
        for i, (lv, c) in enumerate(chain):
            p = chain[i - 1][0] if i else 0
            positions = [q for q in range(1, c + 1) if q in owner]
            coords = [list(product(*(range(fan[q][d]) for d in ranks))) for q in positions]
            above = [(s, d, n) for s, d, n in loops if s < c]
            held, deliveries, reads, seen = {}, set(), set(), set()
            for step in product(*(range(n) for _, _, n in above)):
                index = {(s, d): v for (s, d, _), v in zip(above, step)}
                for x in product(*coords):
                    sigma = dict(zip(positions, x))
                    at = tuple(sum(index.get((q - 1, d), 0) * fan[q][d] * tile[q][d]
                                   + (sigma[q][j] * tile[q][d] if q in sigma else 0)
                                   for q in range(1, c + 1))
                               for j, d in enumerate(ranks) if d in T.ranks)
                    if held.get(x) == at:
                        continue
                    held[x] = at
                    source = tuple(sigma[q] for q in positions if owner[q] <= p)
                    unicast = tuple(sigma[q] for q in positions
                                    if p < owner[q] <= lv and not mc[owner[q] - 1])
                    deliveries.add((step, source, unicast, at))
                    reads.add((step, source, at))
                    seen.add((source, at))
            footprint = math.prod(tile[c][d] for d in T.ranks)
            fills = len(deliveries) * footprint
            words = fills + (len(reads) - len(seen)) * footprint if T is problem.output else fills
            occupancy[lv - 1] += footprint
            accesses[lv - 1] += words
            if i == 0:
                dram += words
    return LevelCost(tuple(occupancy), tuple(accesses), dram)
