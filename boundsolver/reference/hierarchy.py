"""The exact joint bound of a multi-level hierarchy, by exhaustive enumeration (the reference).

A mapping of an Einsum onto a hierarchy (arch.py) is a :class:`~boundsolver.model.cost.Nest` with one
storage boundary per on-chip level, outermost first: every rank's tile at each level divides the
one above, each segment of loops between two levels runs in its own order, and every tensor is
stored at each level that keeps it (the others bypass it). ``cost.evaluate_levels`` costs it in
Python integers. The objective is lexicographic: least backing-store traffic, then least traffic
into the next level inwards, and so on, with every fixed level's capacity respected and the swept
level's occupancy as the curve's x axis.

Unlike reading the one-buffer curve at each level's capacity (the Orojenesis paper's reading,
valid but possibly loose), one mapping has to attain every level's value at once. This module
enumerates every such nest (small problems only), the reference; ``levels.py`` is the exact MILP
of the same bound for problems of any size (``method="milp"``; "auto" enumerates where that is
small). Spatial fanout (``instances > 1``): ``Nest.spatial`` splits ranks across a level's
instances, costed by ``cost.evaluate_levels`` (docs/hierarchy.md, "Spatial fanout").
"""

from __future__ import annotations

import math
from bisect import bisect_right
from functools import cache
from itertools import permutations, product

from ..errors import EnumerationTooLarge
from ..model.arch import Arch, ArchError
from ..model.cost import Copies, LevelCost, Nest, check_level_tiles, evaluate_levels, moved_at
from ..model.einsum import Einsum
from ..model.lower import touched_in
from ..model.mapspace import (  # noqa: F401 - joint.py reads PLACEMENTS from here
    PLACEMENTS,
    divisors,
    tile_sizes,
    windowed_ranks,
)

LIMIT = 300_000  # nests evaluated in Python: about half a minute
PER_TENSOR_LIMIT = 3_000_000  # per-tensor search nodes (see per_tensor_points): about a minute


def check(problem: Einsum, arch: Arch) -> None:
    """Refuse what the hierarchy model does not cover, naming the level."""
    _ = arch.fanouts  # raises unless instances nest: each instance feeds a whole number of inner ones
    for T in problem.tensors:
        if not any(lv.keeps_tensor(problem, T) for lv in arch.on_chip):
            raise ArchError(f"no on-chip level of {arch.name} keeps {T.name}; every tensor needs "
                            "a level to be read from (the MACs read no backing store directly)")


def _chains(n: int, k: int, imperfect: bool = False) -> list[tuple[int, ...]]:
    """Every tile sequence over k boundaries: divisors of n, each dividing the one above; with
    ``imperfect`` (docs/hierarchy.md), the rank's outermost split, its first tile below ``n``,
    is any size (``tile_sizes``: the least tile of each number of tiles) and deeper ones divide
    it."""
    return list(_chains_of(n, k, imperfect))


@cache
def _chains_of(n: int, k: int, imperfect: bool) -> tuple[tuple[int, ...], ...]:
    def below(last: int) -> tuple[int, ...]:
        return tile_sizes(n, True) if imperfect and last == n else tuple(divisors(last))

    chains = [(t,) for t in below(n)]
    for _ in range(k - 1):
        chains = [c + (t,) for c in chains for t in below(c[-1])]
    return tuple(chains)


def fanout_choices(problem: Einsum, arch: Arch) -> list[tuple[tuple[tuple[str, int], ...], ...]]:
    """Every assignment of spatial factors to the levels with fanout: per level, factors of
    the ranks it may split (each dividing the rank), their product at most its fanout.
    ``[()]`` on a temporal hierarchy (no fanout)."""
    if all(f == 1 for f in arch.fanouts):
        return [()]
    per_level = [[tuple(o.items()) for o in arch.split_options(problem, b)]
                 for b in range(1, len(arch.on_chip) + 1)]
    return list(product(*per_level))


def nests(problem: Einsum, arch: Arch, limit: int = LIMIT, imperfect: bool = False):
    """Every nest of ``problem`` on ``arch``'s on-chip levels (perfect factors, or with
    ``imperfect`` each rank's outermost split of any size, :func:`_chains`; with fanout, global
    tiles and every spatial split keeping each instance's tile whole)."""
    k = len(arch.on_chip)
    ranks = list(problem.ranks)
    storage = tuple((T.name, b) for T in problem.tensors
                    for b, lv in enumerate(arch.on_chip, start=1) if lv.keeps_tensor(problem, T))
    chains = [_chains(problem.size[d], k, _imperfect(problem, d, imperfect)) for d in ranks]
    splits = fanout_choices(problem, arch)
    work = 0
    for combo in product(*chains):
        levels = [{d: combo[i][b] for i, d in enumerate(ranks)} for b in range(k)]
        tops = [problem.size] + levels
        looping = [[d for d in ranks if tops[s][d] > levels[s][d]] for s in range(k)]
        fitting = [sp for sp in splits if _whole(sp, levels[-1])]
        work += math.prod(math.factorial(len(x)) for x in looping) * len(fitting)
        if work > limit:
            raise EnumerationTooLarge(f"enumerating {problem.name or problem} on {arch.name} "
                                      f"needs over {limit:,} nests; only small problems")
        frozen = tuple(tuple(lv.items()) for lv in levels)
        for sp in fitting:
            for orders in product(*(permutations(x) for x in looping)):
                yield Nest(frozen, tuple(orders), storage, sp)


def _imperfect(problem: Einsum, d: str, imperfect: bool) -> bool:
    """Whether rank ``d`` takes imperfect tiles: ranks of sliding windows stay perfect."""
    return imperfect and d not in windowed_ranks(problem)


def _whole(spatial: tuple, inner: dict[str, int]) -> bool:
    """Every rank's fanouts together divide its innermost global tile."""
    cover: dict[str, int] = {}
    for level in spatial:
        for d, s in level:
            cover[d] = cover.get(d, 1) * s
    return all(inner[d] % c == 0 for d, c in cover.items())


def lex_staircase(points: list) -> list:
    """The (occupancy, key, item) points whose key is lexicographically below that of every
    point of smaller or equal occupancy."""
    out, record = [], None
    for occ, key, item in sorted(points, key=lambda p: (p[0], p[1])):
        if record is None or key < record:
            out.append((occ, key, item))
            record = key
    return out


def fits(cost: LevelCost, arch: Arch) -> bool:
    """Every level with a fixed capacity holds its tiles."""
    return all(lv.capacity is None or occ <= lv.capacity
               for lv, occ in zip(arch.on_chip, cost.occupancy))


def frontier_points(problem: Einsum, arch: Arch, limit: int = LIMIT, imperfect: bool = False
                    ) -> list[tuple[Nest, LevelCost]]:
    """The staircase over the swept level's occupancy: each point's objective vector is
    lexicographically below that of every point of smaller or equal occupancy. Without a
    swept level, the one lexicographically least point. ``imperfect``: over the nests of
    imperfect factors (:func:`nests`)."""
    check(problem, arch)
    swept = arch.swept_index
    best: dict[int, tuple[tuple[int, ...], Nest, LevelCost]] = {}
    multicast = arch.multicast
    for nest in nests(problem, arch, limit, imperfect):
        cost = evaluate_levels(problem, nest, multicast=multicast)
        if not fits(cost, arch):
            continue
        x = cost.occupancy[swept] if swept is not None else 0
        if x not in best or cost.key < best[x][0]:
            best[x] = (cost.key, nest, cost)
    out = [item for _, _, item in
           lex_staircase([(x, key, (nest, cost)) for x, (key, nest, cost) in best.items()])]
    for nest, _ in out:
        check_level_tiles(problem, nest, "imperfect" if imperfect else "perfect")
    return out


def per_tensor_points(problem: Einsum, arch: Arch, limit: int = PER_TENSOR_LIMIT,
                      imperfect: bool = False) -> list[tuple[Nest, LevelCost, Copies]]:
    """The staircase (as :func:`frontier_points`) over **per-tensor placement within each level**:
    every copy (tensor T, level l keeping T) sits at its own boundary ``b(T, l)`` of a nest with
    any number K >= 1 of boundaries, ``b(T, l)`` non-decreasing inwards, copies of different
    tensors unconstrained (:class:`~boundsolver.model.cost.Copies`; perfect factors, one loop per rank
    per segment, every order). Uniform nests are among them, so this is at or below
    :func:`frontier_points` everywhere.

    A depth-first search builds the nest a boundary at a time, outermost first: the tiles at
    boundary b, the copies stored there, then the order of segment b - 1; a copy's fills depend
    only on the loops above it, so each copy is costed (``nest.moved_at`` on the prefix) when it
    is placed, and a partial nest over a fixed capacity is cut (occupancy only grows). It visits
    only *canonical* nests:

    1. every boundary stores a copy;
    2. every copy at a boundary b >= 2 has a rank of its tensor iterating in segment b - 1;
    3. a rank used by no copy at boundaries >= b does not iterate in segment b - 1 or below;
    4. each segment's order is the first permutation (itertools order) of its *signature*: for
       each tensor stored right below it, its innermost relevant loop there and the set of
       irrelevant loops of the segment above that loop.

    **Every skipped nest N is matched or beaten (no level's occupancy or traffic higher, so no
    key higher at any capacity) by a visited one.** ``moved_at``'s count for a copy at boundary c
    depends on the loops above c only through its innermost relevant loop j (its rank, trips,
    segment s_j, and the tile there) and, per irrelevant rank e with loops above j, the tile
    below the deepest segment holding one (the distinct e-tiles stepped through); the footprint
    only on the copy's tile. Rewrite N in four steps:

    (a) *Empty boundary b* (stores nothing): if b = K, drop it and segment K - 1 (loops below
        the deepest copy change nothing). Else merge segments b - 1 and b into one, each rank
        once at its last occurrence (trips multiplied), removing boundary b. Copies above are
        untouched; tiles at the other boundaries are kept. For a copy below whose j lies deeper,
        nothing changes (e's deepest tile is the same tile whichever of the two segments held
        e). If j lies in the merged segment, j's rank is the same, and every irrelevant e counted
        after the merge was counted before with the same or a larger tile count (an e that also
        loops after j is no longer counted at all); on a sliding axis the merged j loop of
        ``f' = f_o f`` trips under ``outer / f_o`` outer tiles fetches
        ``outer (ext/f_o + (f - 1/f_o) step) <= outer (ext + (f - 1) step)`` as ``step <= ext``.
        So every count is at most N's.
    (b) *A copy at c >= 2 with no relevant loop in segment c - 1*: move it up to the boundary
        right below the segment holding its j (boundary 1 if it has none): its relevant tiles,
        hence footprint, and every loop above j are the same, so its cost is equal; the copies of
        its tensor move up together and stay ordered (an outer copy's j is at or above an inner
        one's). Repeat (a) and (b) until neither applies (each step lowers K or lifts a copy).
    (c) *A rank d used by no copy at boundaries >= b but iterating in segment b - 1 or below*:
        keep d's tile from boundary b - 1 down. Copies above b are untouched; for the others d is
        irrelevant and its loops only multiply counts, so removing them lowers or keeps every
        count. Boundaries keep their copies and (2) keeps holding (it names relevant ranks).
    (d) *Orders*: after (a)-(c) every copy at c >= 2 has its j in segment c - 1, so segment s's
        order matters only to the copies right below it, and to them only through the signature
        of (4); the first permutation of the same signature costs exactly the same.
    The result is visited, and its cost vector is at most N's in every component (the output's
    ``2m - |Z|`` grows with m).

    **Fanout** (``nest.Copies.fanout_at``). Each level with fanout puts its loop right above a
    boundary, below every copy of the outer levels, and the search puts it right above the first
    boundary holding a copy of that level or an inner one: a fanout above no copy moves down to
    the next copy without changing any count (the global nest, hence every ``moved_at``, and the
    instance tiles below are the same), after which (a) removes the empty boundary. Its splits
    range over the ranks the remaining copies use (splitting another only repeats traffic) and
    keep every instance's tile whole. Copies right below a fanout are exempt from (2), since
    they cannot move up past it; and as their innermost relevant loop may then lie in a higher
    segment, (4) is dropped with fanout: every order of every segment is visited.

    **Imperfect factors** (``imperfect``): a rank's outermost split, its first tile below its
    size, takes any size (``tile_sizes``), deeper tiles divide it, counts are ``ceil(N / tile)``.
    The rewrites keep that rule: (a) and (c) only drop a boundary's tile or repeat the one
    above (a tile dividing the one above, or the rank's first split, is still one), (b) changes
    no tile; every count the argument compares is a ``ceil(N_e / tile)`` of the same tiles.

    Refuses (``EnumerationTooLarge``) past ``limit`` search nodes; small problems only."""
    check(problem, arch)
    tensors = problem.tensors
    fanned = [lv for lv, f in enumerate(arch.fanouts, start=1) if f > 1]
    idle = [arch.on_chip[lv - 1].name for lv in fanned
            if not any(arch.on_chip[lv - 1].keeps_tensor(problem, T) for T in tensors)]
    if idle:
        raise ArchError(f"{arch.name}: level(s) {', '.join(idle)} have fanout but keep no tensor "
                        "of this problem; the per-tensor search needs each fanout below a copy")
    multicast = arch.multicast
    ranks = list(problem.ranks)
    names = tuple(lv.name for lv in arch.on_chip)
    nl = len(names)
    caps = [lv.capacity for lv in arch.on_chip]
    fixed = [i for i, c in enumerate(caps) if c is not None]
    swept = arch.swept_index
    keeps = [[lv for lv, level in enumerate(arch.on_chip, start=1)
              if level.keeps_tensor(problem, T)] for T in tensors]
    uses = [frozenset(T.ranks) for T in tensors]
    total = [problem.tensor_size(T) for T in tensors]
    out_i = next(i for i, T in enumerate(tensors) if T is problem.output)
    reps: dict[tuple, list[tuple[str, ...]]] = {}

    def orders(looping: tuple[str, ...], here: tuple[int, ...]) -> list[tuple[str, ...]]:
        if fanned:  # a copy right below a fanout may have its j higher up: every order
            return list(permutations(looping))
        key = (looping, here)
        if key not in reps:
            seen: dict[tuple, tuple[str, ...]] = {}
            for order in permutations(looping):
                sig = []
                for t in here:
                    idx = [i for i, d in enumerate(order) if d in uses[t]]
                    last = idx[-1] if idx else -1
                    sig.append((order[last] if idx else None,
                                frozenset(order[:last + 1]) - uses[t]))
                seen.setdefault(tuple(sig), order)
            reps[key] = list(seen.values())
        return reps[key]

    plain = [all(a.is_plain for a in T.axes) for T in tensors]
    size = dict(problem.size)
    free = {d for d in ranks if _imperfect(problem, d, imperfect)}

    def sizes(d: str, above: int):
        """Rank ``d``'s tiles below ``above``: its divisors, or any size at its first split."""
        if d in free and above == size[d]:
            return tile_sizes(above, True)
        return divisors(above)

    flat: list[tuple[int, str]] = []  # the loops so far, outermost first: (segment, rank)
    tiles_at: list[dict[str, int]] = [size]  # the tile at each boundary so far (0: whole)

    def fills(t: int) -> int:
        """``moved_at`` of tensor ``t`` (plain axes) right below the loops so far, in short:
        |T| times, per irrelevant rank looping above its innermost relevant loop, the number
        of tiles below the deepest such loop (the final points are re-costed by moved_at).
        With no relevant loop above, the tensor is moved once, whatever loops above (moved_at's
        rule). (That case once fell through to ``flat[:-1]``, counting every irrelevant loop
        but the last. A canonical nest has a copy under two or more irrelevant loops and no
        relevant one only at boundary 1, where the nest with the copy lifted above those loops
        is also visited and costs the same, or right below a fanout (rule 2's exemption), so
        with fanout the search missed points or tripped its re-costing check, e.g. on an
        output's L1 copy below a fanout under loops over a conv's C and R.)"""
        rel = uses[t]
        i = len(flat) - 1
        while i >= 0 and flat[i][1] not in rel:
            i -= 1
        if i < 0:
            return total[t]  # no relevant loop above: the whole tensor, once
        deepest: dict[str, int] = {}
        for s, d in flat[:i]:
            if d not in rel:
                deepest[d] = s
        count = total[t]
        for d, s in deepest.items():
            count *= -(-size[d] // tiles_at[s + 1][d])
        return count

    fans: list[tuple[int, int, dict[str, int]]] = []  # placed fanouts: (level, boundary, split)

    may_split = {lv: arch.splits(problem, lv) for lv in fanned}

    def splits(lv: int, tile: dict[str, int], spread: dict[str, int], live: set[str]):
        """Level ``lv``'s splits of the ranks remaining copies use (splitting another only
        repeats traffic), each instance's tile whole."""
        return arch.split_options(problem, lv, {d: tile[d] // spread[d] for d in ranks},
                                  [d for d in may_split[lv] if d in live])

    def repeat(t: int, source: int, lv: int) -> tuple[int, int]:
        """``nest.replicas`` over the fanouts placed so far."""
        above = unicast = 1
        for flv, _, split in fans:
            if flv > lv:
                continue
            for d, v in split.items():
                if d in uses[t]:
                    continue
                if flv <= source:
                    above *= v
                elif not multicast[flv - 1]:
                    unicast *= v
        return above, unicast

    best: dict[int, tuple] = {}
    levels: list[tuple[tuple[str, int], ...]] = []
    segs: list[tuple[str, ...]] = []
    storage: list[tuple[str, int]] = []
    where: list[int] = []
    occ, acc = [0] * nl, [0] * nl
    nodes = 0

    xs: list[int] = []  # the staircase so far: occupancies, increasing, keys strictly falling
    keys: list[tuple[int, ...]] = []

    def leaf(dram: int) -> None:
        x = occ[swept] if swept is not None else 0
        key = (dram, *acc)
        i = bisect_right(xs, x)
        if i and keys[i - 1] <= key:
            return  # matched at this or a smaller occupancy
        best[x] = (key, tuple(levels), tuple(segs), tuple(storage), tuple(where), tuple(fans))
        j = i
        while j < len(xs) and keys[j] >= key:
            j += 1
        if i and xs[i - 1] == x:
            i -= 1
        xs[i:j], keys[i:j] = [x], [key]

    # The least a copy of each tensor moves: every element its windows touch, once
    # (lower.touched_in; |T| but for a strided window's holes, which tiled fills skip: a 1x1
    # stride-2 input of extent 2P - 1 moves P words per channel when its copy loops over p.
    # |T| here once cut nests below the staircase, e.g. DRAM 28 at occupancy 4 for a 1x1
    # stride-2 conv, K=1, C=4, P=4, on three_level with L1 = 3.)
    least = [touched_in(T, size) for T in tensors]

    def hopeless(placed: tuple[int, ...], dram: int) -> bool:
        """No completion can enter the staircase: lower bounds on its occupancy of the swept
        level (a word per copy still to place) and its key (a copy is filled at least once
        with every element of the tensor its windows touch) are already matched."""
        if not xs:
            return False
        x, lo, extra = occ[swept] if swept is not None else 0, list(acc), dram
        for t, n in enumerate(placed):
            for lv in keeps[t][n:]:
                lo[lv - 1] += least[t]
                x += lv - 1 == swept
            extra += least[t] if n == 0 else 0
        i = bisect_right(xs, x)
        return bool(i) and keys[i - 1] <= (extra, *lo)

    def dfs(b: int, above: dict[str, int], placed: tuple[int, ...], dram: int,
            spread: dict[str, int]) -> None:
        left = [t for t in range(len(tensors)) if placed[t] < len(keeps[t])]
        if not left:
            leaf(dram)
            return
        if hopeless(placed, dram):
            return
        live = set().union(*(uses[t] for t in left))
        choices = [[v for v in sizes(d, above[d]) if v % spread[d] == 0] if d in live
                   else [above[d]] for d in ranks]
        nxt = fanned[len(fans)] if len(fans) < len(fanned) else None
        ready = nxt is not None and all(
            placed[t] >= sum(lv < nxt for lv in keeps[t]) for t in range(len(tensors)))
        for combo in product(*choices):
            tile = dict(zip(ranks, combo))
            looping = tuple(d for d in ranks if tile[d] < above[d])
            # The next level with fanout may put its loop right above b (then a copy of it or
            # an inner level sits at b: a fanout above no copy moves down to the first one
            # without changing any count).
            for split in [None] + (splits(nxt, tile, spread, live) if ready else []):
                if split is not None:
                    fans.append((nxt, b, split))
                now_spread = {d: spread[d] * (split or {}).get(d, 1) for d in ranks}
                after = fanned[len(fans)] if len(fans) < len(fanned) else nl + 1
                place(b, above, placed, dram, tile, looping, left, live, now_spread,
                      after, split is not None)
                if split is not None:
                    fans.pop()

    def place(b, above, placed, dram, tile, looping, left, live, spread, after, fanout):
        """The copies stored at ``b`` (levels below ``after``, the next unplaced fanout; with a
        fanout at ``b``, at least one of its level or inner), then each segment order."""
        nonlocal nodes
        if b >= 2 and not looping and not fanout:
            return
        ok = [t for t in left if b == 1 or uses[t] & set(looping) or fanout]
        if not ok:
            return
        inst = {d: tile[d] // spread[d] for d in ranks}
        foot = {t: tensors[t].footprint(inst) for t in ok}
        frozen = tuple(tile.items())
        limits = [sum(lv < after for lv in keeps[t][placed[t]:]) for t in ok]
        for counts in product(*(range(n + 1) for n in limits)):
            here = tuple(t for t, n in zip(ok, counts) if n)
            if not here:
                continue
            if fanout and not any(keeps[t][placed[t] + n - 1] >= fans[-1][0]
                                  for t, n in zip(ok, counts) if n):
                continue
            # occupancy does not depend on the order: cut over-full levels first
            add = [0] * nl
            for t, n in zip(ok, counts):
                for lv in keeps[t][placed[t]:placed[t] + n]:
                    add[lv - 1] += foot[t] if n else 0
            if any(occ[i] + add[i] > caps[i] for i in fixed):
                continue
            now = list(placed)
            for t, n in zip(ok, counts):
                now[t] += n
            for order in orders(looping, here):
                nodes += 1
                if nodes > limit:
                    raise EnumerationTooLarge(
                        f"enumerating per-tensor placements of {problem.name or problem} on "
                        f"{arch.name} needs over {limit:,} search nodes; only small problems")
                levels.append(frozen)
                segs.append(order)
                flat.extend((b - 1, d) for d in order)
                tiles_at.append(tile)
                nest = None
                gain, mark = dram, len(storage)
                delta = []
                for t, n in zip(ok, counts):
                    if not n:
                        continue
                    if plain[t]:
                        m = fills(t)
                    else:
                        nest = nest or Nest(tuple(levels), tuple(segs), ())
                        m = moved_at(problem, tensors[t], nest, b)
                    for i, lv in enumerate(keeps[t][placed[t]:placed[t] + n]):
                        k = placed[t] + i
                        up, uni = repeat(t, keeps[t][k - 1] if k else 0, lv)
                        words = (up * (m * uni + m - total[t]) if t == out_i
                                 else up * uni * m)
                        if placed[t] == 0 and i == 0:
                            gain += words
                        storage.append((tensors[t].name, b))
                        where.append(lv)
                        delta.append((lv - 1, foot[t], words))
                for i, f, w in delta:
                    occ[i] += f
                    acc[i] += w
                dfs(b + 1, tile, tuple(now), gain, spread)
                for i, f, w in delta:
                    occ[i] -= f
                    acc[i] -= w
                del storage[mark:], where[mark:], flat[len(flat) - len(order):]
                tiles_at.pop()
                levels.pop()
                segs.pop()

    dfs(1, dict(problem.size), (0,) * len(tensors), 0, dict.fromkeys(ranks, 1))
    out, record = [], None
    for x in sorted(best):
        key, lv, sg, st, wh, fs = best[x]
        if record is None or key < record:
            spatial = ()
            if fanned:
                at = {b: split for _, b, split in fs}
                spatial = tuple(tuple(at.get(b, {}).items()) for b in range(1, len(lv) + 1))
            where_fan = tuple(next((b for f, b, _ in fs if f == level), 0)
                              for level in range(1, nl + 1)) if fanned else None
            nest, copies = Nest(lv, sg, st, spatial), Copies(wh, names, where_fan)
            check_level_tiles(problem, nest, "imperfect" if imperfect else "perfect")
            cost = evaluate_levels(problem, nest, copies, multicast)
            if cost.key != key or (swept is not None and cost.occupancy[swept] != x):
                raise AssertionError(f"per-tensor search costed {nest.describe(problem, copies)} "
                                     f"as {key} at {x}, evaluate_levels says {cost}")
            out.append((nest, cost, copies))
            record = key
    return out


def work(problem: Einsum, arch: Arch, limit: int = LIMIT, imperfect: bool = False) -> int:
    """The nests ``nests`` would evaluate, counted up to just past ``limit`` (cheap)."""
    k = len(arch.on_chip)
    ranks = list(problem.ranks)
    total = 0
    splits = len(fanout_choices(problem, arch))
    for combo in product(*(_chains(problem.size[d], k, _imperfect(problem, d, imperfect))
                           for d in ranks)):
        tops = [problem.size] + [{d: combo[i][b] for i, d in enumerate(ranks)} for b in range(k)]
        total += splits * math.prod(math.factorial(sum(tops[s][d] > tops[s + 1][d] for d in ranks))
                                    for s in range(k))
        if total > limit:
            break
    return total


