"""How a curve is traced: the one list of methods, the one default, and the choice "auto" makes.

Every path (an Einsum on one buffer, ``solve_curves``, a workload's per-Einsum curves, a
hierarchy, a network and the CLI's ``--method``) takes its names from :data:`METHODS` and its
default from :data:`DEFAULT`, so that the same call means the same thing everywhere. Both exact
methods give the same staircase; they differ only in time, so the default is the one expected
to be faster: enumeration while its estimated work is small, the integer program beyond
(``benchmarks/scaling.py`` measures both, and the default, on every case).
"""

from __future__ import annotations

from ..errors import BoundsolverError
from ..model.einsum import Einsum
from ..model.mapspace import mapspace_of, windowed_ranks

METHODS = ("auto", "milp", "enumerate")
DEFAULT = "auto"

# Estimated enumeration steps (enumerate._work: tilings x 2^ranks x ranks) up to which "auto"
# enumerates the Orojenesis mapspace. Enumeration runs about 3e6 steps a second and the MILP's
# frontier takes seconds to minutes, so enumeration wins up to here by a wide margin
# (benchmarks/scaling.py: GEMM 55440^3, 4.1e7 steps, 14 s against 28 s for the MILP's 16
# capacities and minutes for its frontier). Explicit method="enumerate" refuses past it too.
AUTO_ENUMERATION = 50_000_000


def check_method(method: str | None) -> str:
    """``method`` checked against :data:`METHODS`; None is the default."""
    if method is None:
        return DEFAULT
    if not isinstance(method, str) or method not in METHODS:
        raise BoundsolverError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def choose_method(problem: Einsum, mapspace, method: str | None = DEFAULT,
                  time_limit: float | None = None, capacities: int | None = None) -> str:
    """"milp" or "enumerate" for one Einsum on one buffer: ``method``, or for "auto" the
    enumerator where it covers the mapspace cheaply, else the MILP. A ``time_limit`` only the
    MILP can honour (enumeration runs to the end), so "auto" with one is the MILP; where an
    enumerator still refuses the problem at run time, the caller falls back to the MILP.

    ``capacities``: how many capacities a curve asks (None: the whole frontier). Enumeration
    costs the same however few are asked, the MILP one solve each; see :func:`_few_capacities`."""
    method = check_method(method)
    if method != "auto":
        return method
    if time_limit is not None:
        return "milp"
    from ..reference.enumerate import _work

    space = mapspace_of(mapspace)
    if space.is_orojenesis:
        if _work(problem) > AUTO_ENUMERATION or _few_capacities(problem, capacities):
            return "milp"
        return "enumerate"
    # The nest mapspaces' vectorised enumerator (fastnest) bounds its own work: the caller asks
    # it first and takes the MILP where it refuses.
    return "enumerate"


# Tilings one capacity of the MILP is worth, on an Einsum without sliding windows: measured
# (benchmarks/scaling.py, quiet machine) GEMM 55440^3, 1.73 M tilings: enumeration 11.6 s, the
# MILP's 16 capacities 8.4 s; GEMM 5040^3, 216,000 tilings: 3.4 s against 6.2 s.
TILINGS_PER_CAPACITY = 62_500


def _few_capacities(problem: Einsum, capacities: int | None) -> bool:
    """Whether a curve of ``capacities`` points is faster by the MILP than by enumerating the
    whole staircase: only for Einsums without sliding windows (their MILP per capacity is
    measured; windows make it much slower) whose tilings exceed ``TILINGS_PER_CAPACITY`` per
    capacity asked."""
    if capacities is None or windowed_ranks(problem):
        return False
    from ..reference.enumerate import tiling_count

    return tiling_count(problem) > TILINGS_PER_CAPACITY * max(capacities, 1)


def enumeration(problem: Einsum, mapspace) -> list:
    """The staircase's (mapping, cost) points by enumeration, in increasing occupancy, under
    the limits every path shares: the Orojenesis enumerator up to :data:`AUTO_ENUMERATION`
    steps, the nest mapspaces' fast path (or the nest enumerator where it refuses) up to their
    own. Past them :class:`EnumerationTooLarge` (the MILP's turn, where "auto" chose)."""
    from ..reference.enumerate import frontier_points

    space = mapspace_of(mapspace)
    if space.is_orojenesis:
        return frontier_points(problem, space, limit=AUTO_ENUMERATION)
    return frontier_points(problem, space)
