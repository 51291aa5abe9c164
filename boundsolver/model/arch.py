"""Architectures: a chain of storage levels from the backing store inwards, then the MACs.

Each level has a capacity in words (a number, a parameter of the file, or ``sweep``: the
curve's x axis), the tensors it keeps (the others bypass it), its spatial fanout (``instances``,
the ranks that may be split across them, and whether a parent multicasts data several instances
share) and optionally its own word size. The packaged ``snowcat`` is the paper's two-level machine:
backing store, one swept buffer, one MAC.

Which tensors a level keeps is said by name or by role: ``all``, ``inputs``, ``output``, ``input``
(the first operand: activations in a conv, A in a GEMM) and ``weight`` (the second: W, B);
``none`` keeps nothing (a level only for its fanout). A name that is neither a role nor a
tensor of the problem is an error when the arch meets the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from ..errors import ArchError  # noqa: F401 - also importable from here, as before
from .einsum import positive_int, shown

INT64_MAX = 2**63 - 1

ROLES = ("all", "inputs", "output", "input", "weight", "none")
LEVEL_KEYS = {"name", "role", "capacity", "keeps", "instances", "spatial_ranks", "multicast",
              "word_bits", "note"}


@dataclass(frozen=True)
class Level:
    """One storage level. ``capacity`` is words per instance; None with ``sweep`` set means the
    curve's x axis; the backing store has no capacity."""

    name: str
    capacity: int | None = None
    sweep: bool = False
    keeps: tuple[str, ...] = ("all",)
    instances: int = 1
    spatial_ranks: tuple[str, ...] | None = None  # None: any rank may be split across instances
    multicast: bool = True
    word_bits: int | None = None

    def __post_init__(self) -> None:
        """An API-built level is checked as a file's is (sizes normalised to Python ints)."""
        at = f"level {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ArchError(f"a level's name must be a non-empty string, got {self.name!r}")
        for key in ("capacity", "word_bits"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, positive_int(getattr(self, key), f"{at}: {key}",
                                                           ArchError))
        if self.capacity is not None and self.capacity > INT64_MAX:
            raise ArchError(f"{at}: capacity {self.capacity:,} words is over the signed 64-bit "
                            f"limit ({INT64_MAX:,}) the solvers count in")
        object.__setattr__(self, "instances", positive_int(self.instances, f"{at}: instances",
                                                           ArchError))
        if isinstance(self.keeps, str) or not all(isinstance(k, str) for k in self.keeps) \
                or not self.keeps:
            raise ArchError(f"{at}: keeps must be a non-empty tuple of tensor names or roles "
                            f"({', '.join(ROLES)}), got {self.keeps!r}")
        object.__setattr__(self, "keeps", tuple(self.keeps))

    def keeps_tensor(self, problem, tensor) -> bool:
        """Whether this level holds ``tensor`` of ``problem`` (an Einsum). A name in ``keeps``
        that is neither a role nor a tensor of ``problem`` is an error: a misspelt tensor would
        otherwise make the level silently hold nothing."""
        self.check_keeps(problem)
        inputs = list(problem.inputs)
        for k in self.keeps:
            if k == "all" or k == tensor.name:
                return True
            if k == "output" and tensor is problem.output:
                return True
            if k == "inputs" and tensor is not problem.output:
                return True
            if k == "input" and inputs and tensor is inputs[0]:
                return True
            if k == "weight" and len(inputs) > 1 and tensor is inputs[1]:
                return True
        return False


    def check_keeps(self, problem) -> None:
        """Refuse a ``keeps`` entry that names no role and no tensor of ``problem``."""
        names = [T.name for T in problem.tensors]
        unknown = [k for k in self.keeps if k not in ROLES and k not in names]
        if unknown:
            raise ArchError(f"level {self.name!r} keeps {', '.join(map(repr, unknown))}, which "
                            f"is no tensor of {problem.name or problem} (tensors: "
                            f"{', '.join(names)}) and no role ({', '.join(ROLES)})")


@dataclass(frozen=True)
class Arch:
    """A chain of levels, the backing store first. ``word_bits`` is the default word size."""

    name: str = "snowcat"
    word_bits: int = 8
    levels: tuple[Level, ...] = (Level("DRAM"), Level("Buffer", sweep=True))

    def __post_init__(self) -> None:
        object.__setattr__(self, "word_bits", positive_int(self.word_bits,
                                                           f"{self.name}: word_bits", ArchError))
        if isinstance(self.levels, (str, bytes)) or not all(isinstance(lv, Level)
                                                            for lv in self.levels):
            raise ArchError(f"{self.name}: levels must be a sequence of bs.Level, got "
                            f"{shown(self.levels)}")
        object.__setattr__(self, "levels", tuple(self.levels))

    @property
    def backing_store(self) -> str:
        return self.levels[0].name

    @property
    def buffer(self) -> str:
        """The first on-chip level (the one buffer of a two-level machine)."""
        return self.levels[1].name if len(self.levels) > 1 else ""

    @property
    def on_chip(self) -> tuple[Level, ...]:
        return self.levels[1:]

    @property
    def swept(self) -> Level | None:
        return next((lv for lv in self.levels if lv.sweep), None)

    @cached_property
    def fanouts(self) -> tuple[int, ...]:
        """Per on-chip level, how many instances each instance of the level above feeds:
        ``instances`` over the level above's (the backing store has one)."""
        out, above = [], 1
        for lv in self.on_chip:
            if lv.instances % above:
                raise ArchError(f"{self.name}: level {lv.name!r} has {lv.instances} instances, "
                                f"not a multiple of the {above} of the level above; each "
                                "instance must feed a whole number of inner instances")
            out.append(lv.instances // above)
            above = lv.instances
        return tuple(out)

    @property
    def multicast(self) -> tuple[bool, ...]:
        """Per on-chip level, whether its parent multicasts data several instances share."""
        return tuple(lv.multicast for lv in self.on_chip)

    def splits(self, problem, level: int) -> list[str]:
        """The ranks of ``problem`` that on-chip level ``level`` (1 = outermost) may split across
        its instances: its ``spatial_ranks`` (any rank if unset) except sliding-window ranks."""
        from .mapspace import windowed_ranks

        lv = self.on_chip[level - 1]
        if self.fanouts[level - 1] == 1:
            return []
        allowed = lv.spatial_ranks
        windowed = windowed_ranks(problem)
        return [d for d in problem.ranks if (allowed is None or d in allowed)
                and d not in windowed and problem.size[d] > 1]

    def split_options(self, problem, level: int, extent: dict[str, int] | None = None,
                      ranks=None) -> list[dict[str, int]]:
        """Every way on-chip level ``level`` may split ``ranks`` (default: :meth:`splits`)
        across its instances: factors dividing ``extent`` (default: the rank sizes), their
        product at most its fanout; factors of 1 left out (``{}``: no split)."""
        fan = self.fanouts[level - 1]
        extent = problem.size if extent is None else extent
        options: list[dict[str, int]] = [{}]
        for d in self.splits(problem, level) if ranks is None else ranks:
            options = [o | {d: v} for o in options for v in _divisors(extent[d])
                       if math.prod(o.values()) * v <= fan]
        return [{d: v for d, v in o.items() if v > 1} for o in options]

    @property
    def swept_index(self) -> int | None:
        """The index of the swept level among :attr:`on_chip` (None: no level is swept)."""
        return next((i for i, lv in enumerate(self.on_chip) if lv.sweep), None)

    @property
    def is_single_buffer(self) -> bool:
        """Backing store and one buffer that keeps everything, no fanout: the paper's machine,
        where every curve of the package applies unchanged."""
        return (len(self.levels) == 2 and self.levels[1].keeps == ("all",)
                and self.levels[1].instances == 1)


def _divisors(n: int) -> list[int]:
    from .mapspace import divisors

    return divisors(n)


def arch_from_dict(data: object, where: str, sizes: dict | None = None) -> Arch:
    """An :class:`Arch` from parsed YAML; ``sizes`` fill (or override) the file's parameters.
    Every error names the file, the level and the key."""
    if not isinstance(data, dict):
        raise ArchError(f"{where}: an architecture is a mapping with 'word_bits' and 'levels'")
    if "word_bits" not in data:
        raise ArchError(f"{where}: an architecture needs 'word_bits' (bits per word)")
    bits = _positive(data["word_bits"], f"{where}: word_bits")
    params = data.get("parameters", {}) or {}
    if not isinstance(params, dict):
        raise ArchError(f"{where}: 'parameters' must map names to sizes in words")
    params = dict(params) | dict(sizes or {})
    raw = data.get("levels")
    if not isinstance(raw, list) or len(raw) < 2:
        raise ArchError(f"{where}: 'levels' must list at least a backing store and one buffer, "
                        "outermost first")
    levels = tuple(_level(lv, i, where, params) for i, lv in enumerate(raw))
    names = [lv.name for lv in levels]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ArchError(f"{where}: level names must be distinct, {', '.join(sorted(dup))} repeats")
    if sum(lv.sweep for lv in levels) > 1:
        raise ArchError(f"{where}: at most one level may have capacity 'sweep'")
    named = {lv_raw["capacity"] for lv_raw in raw if isinstance(lv_raw.get("capacity"), str)
             and lv_raw["capacity"] != "sweep"}
    unknown = [k for k in (sizes or {}) if k not in named]
    if unknown:
        raise ArchError(f"{where}: no level's capacity is named {', '.join(map(repr, unknown))}"
                        f" (named capacities: {', '.join(sorted(named)) or 'none'})")
    return Arch(str(data.get("name", where)), bits, levels)


def _level(raw: object, i: int, where: str, params: dict) -> Level:
    if not isinstance(raw, dict) or "name" not in raw:
        raise ArchError(f"{where}: level {i + 1} must be a mapping with a 'name'")
    name = str(raw["name"])
    at = f"{where}: level {name!r}"
    unknown = [k for k in raw if k not in LEVEL_KEYS]
    if unknown:
        raise ArchError(f"{at}: unknown key {', '.join(map(repr, unknown))} "
                        f"(keys: {', '.join(sorted(LEVEL_KEYS))})")
    backing = i == 0
    role = raw.get("role", "backing_store" if backing else "buffer")
    if role != ("backing_store" if backing else "buffer"):
        raise ArchError(f"{at}: role must be 'backing_store' for the first level and 'buffer' "
                        f"for the others, got {role!r}")
    capacity, sweep = None, False
    cap = raw.get("capacity")
    if backing:
        if cap is not None:
            raise ArchError(f"{at}: the backing store has no capacity")
    elif cap == "sweep":
        sweep = True
    elif isinstance(cap, str):
        if cap not in params:
            raise ArchError(f"{at}: capacity names the parameter {cap!r}, which is not given "
                            f"(pass it to load_arch, e.g. load_arch(..., {cap}=4096), or set it "
                            "under 'parameters')")
        capacity = _positive(params[cap], f"{at}: capacity ({cap})")
    elif cap is None:
        raise ArchError(f"{at}: capacity is required (words, a parameter name, or 'sweep')")
    else:
        capacity = _positive(cap, f"{at}: capacity")
    keeps = raw.get("keeps", ["all"])
    if isinstance(keeps, str):
        keeps = [keeps]
    if not isinstance(keeps, list) or not keeps or not all(isinstance(k, str) for k in keeps):
        raise ArchError(f"{at}: keeps must list tensor names or roles ({', '.join(ROLES)})")
    instances = _positive(raw.get("instances", 1), f"{at}: instances")
    spatial = raw.get("spatial_ranks")
    if spatial is not None and (not isinstance(spatial, list)
                                or not all(isinstance(d, str) for d in spatial)):
        raise ArchError(f"{at}: spatial_ranks must list rank names")
    multicast = raw.get("multicast", True)
    if not isinstance(multicast, bool):
        raise ArchError(f"{at}: multicast must be true or false, got {multicast!r}")
    bits = raw.get("word_bits")
    try:
        return Level(name, capacity, sweep, tuple(keeps), instances,
                     tuple(spatial) if spatial is not None else None, multicast,
                     _positive(bits, f"{at}: word_bits") if bits is not None else None)
    except ArchError as err:
        raise ArchError(f"{where}: {err}") if not str(err).startswith(where) else err from None


def _positive(value: object, what: str) -> int:
    return positive_int(value, what, ArchError)
