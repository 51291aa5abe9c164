"""The problem model: ranks, affine tensor axes, Einsums, and the Einsum-string parser.

An Einsum has one output tensor (read-modify-write) and any number of input tensors. Each tensor
axis is an affine sum of ranks with positive integer coefficients: ``m`` is a plain axis,
``2*p + r`` a sliding window (stride 2 over ``p``, window ``r``).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from ..errors import EinsumError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass(frozen=True, slots=True)
class Term:
    """``coef * rank`` inside an axis."""

    rank: str
    coef: int = 1

    def __str__(self) -> str:
        return self.rank if self.coef == 1 else f"{self.coef}*{self.rank}"


@dataclass(frozen=True, slots=True)
class Axis:
    """One tensor axis: a sum of terms. Its tile extent is ``sum(c * (t - 1)) + 1``."""

    terms: tuple[Term, ...]

    @property
    def ranks(self) -> tuple[str, ...]:
        return tuple(t.rank for t in self.terms)

    @property
    def is_plain(self) -> bool:
        return len(self.terms) == 1 and self.terms[0].coef == 1

    def coef(self, rank: str) -> int:
        return next(t.coef for t in self.terms if t.rank == rank)

    def extent(self, tiles: dict[str, int]) -> int:
        """Bounding-box extent of a tile (includes the holes of a stride > window)."""
        return sum(t.coef * (tiles[t.rank] - 1) for t in self.terms) + 1

    def __str__(self) -> str:
        return "+".join(str(t) for t in self.terms)


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    axes: tuple[Axis, ...]

    @property
    def ranks(self) -> tuple[str, ...]:
        return tuple(r for a in self.axes for r in a.ranks)

    def axis_of(self, rank: str) -> Axis:
        return next(a for a in self.axes if rank in a.ranks)

    def footprint(self, tiles: dict[str, int]) -> int:
        return math.prod(a.extent(tiles) for a in self.axes)

    def __str__(self) -> str:
        return f"{self.name}[{','.join(str(a) for a in self.axes)}]"


@dataclass(frozen=True, slots=True)
class Einsum:
    """A validated Einsum with concrete rank sizes. Build it with :func:`einsum` or a workload."""

    output: Tensor
    inputs: tuple[Tensor, ...]
    sizes: tuple[tuple[str, int], ...]
    name: str = ""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return (*self.inputs, self.output)

    @property
    def ranks(self) -> tuple[str, ...]:
        return tuple(r for r, _ in self.sizes)

    @property
    def size(self) -> dict[str, int]:
        return dict(self.sizes)

    @property
    def macs(self) -> int:
        return math.prod(n for _, n in self.sizes)

    def tensor_size(self, tensor: Tensor) -> int:
        """Number of words of ``tensor`` (full sliding extents)."""
        return tensor.footprint(self.size)

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise EinsumError(f"no tensor named {name!r} in {self}")

    def __str__(self) -> str:
        return f"{self.output} += {' * '.join(str(t) for t in self.inputs)}"

    def with_sizes(self, **sizes: int) -> Einsum:
        return Einsum(self.output, self.inputs, _sizes_for(self.output, self.inputs, sizes, str(self)),
                      self.name)


def _validate(e: Einsum) -> None:
    names = [t.name for t in e.tensors]
    for n in names:
        if names.count(n) > 1:
            raise EinsumError(f"tensor {n!r} appears more than once in {e}: tensor names must be unique")
    for t in e.tensors:
        seen = t.ranks
        for r in seen:
            if seen.count(r) > 1:
                raise EinsumError(
                    f"rank {r!r} appears more than once in tensor {t.name} of {e}: "
                    "each rank may index a tensor through one axis only")
    if not e.inputs:
        raise EinsumError(f"{e} has no input tensor")
    if not isinstance(e.sizes, tuple):
        raise EinsumError(f"sizes of {e} must be a tuple of (rank, size) pairs")
    _sizes_for(e.output, e.inputs, dict(e.sizes), str(e))


FLOAT_EXACT = 2**53  # past this a float no longer holds every integer: 1e30 is not 10**30


def whole(value: object) -> int | None:
    """``value`` as a Python int if it is an integer of any kind (int, numpy integers, any
    ``numbers.Integral``) or a float/Decimal/Fraction that is integral and exactly
    representable (``1e3``, ``4096.0``); None otherwise (booleans, 2.5, 1e30, NaN, text).
    Sizes never pass through float: a float above 2**53 may already be a different integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        try:
            n = int(value)
        except (ValueError, OverflowError):  # NaN, infinities
            return None
        if n == value and (not isinstance(value, float) or abs(n) <= FLOAT_EXACT):
            return n
    return None


def positive_int(value: object, what: str, error: type[Exception] = EinsumError) -> int:
    """``value`` as a positive Python int (see :func:`whole`), else ``error`` naming ``what``."""
    n = whole(value)
    if n is None or n < 1:
        hint = (" (a float past 2**53 is not exact: write it as an integer)"
                if isinstance(value, float) and n is None and value == value
                and abs(value) > FLOAT_EXACT and float(value).is_integer() else "")
        raise error(f"{what} must be a positive integer, got {shown(value)}{hint}")
    return n


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: error messages echo input, never all of it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}...({len(text):,} characters)"


def _check_size(rank: str, n: object, where: str) -> int:
    return positive_int(n, f"size of rank {rank!r} (in {where})")


def _sizes_for(output: Tensor, inputs: tuple[Tensor, ...], sizes: dict[str, object],
               where: str) -> tuple[tuple[str, int], ...]:
    used: list[str] = []
    for t in (*inputs, output):
        used += [r for r in t.ranks if r not in used]
    for r in sizes:
        if r not in used:
            raise EinsumError(f"size given for rank {r!r}, which no tensor of {where} uses "
                              f"(ranks: {', '.join(used)})")
    for r in used:
        if r not in sizes:
            where_t = next(t.name for t in (output, *inputs) if r in t.ranks)
            role = "output" if where_t == output.name else "tensor " + where_t
            raise EinsumError(f"rank {r!r} appears in {role} but has no size (in {where})")
    return tuple((r, _check_size(r, sizes[r], where)) for r in used)


# ---------------------------------------------------------------------------------------- parsing

_TOKEN = re.compile(rf"\s*(?:(?P<name>{_NAME})|(?P<int>\d+)|(?P<op>\+=|[\[\],*+=]))")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m:
                self.fail(pos + len(text[pos:]) - len(text[pos:].lstrip()), "unexpected character")
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    def fail(self, pos: int, why: str):
        raise EinsumError(f"{why} at position {pos} in Einsum\n  {self.text}\n  {' ' * pos}^")

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self, kind: str, value: str | None = None, what: str = "") -> str:
        k, v, pos = self.peek()
        if k != kind or (value is not None and v != value):
            self.fail(pos, f"expected {what or value or kind}, found {v!r}" if v else
                      f"expected {what or value or kind}, found the end")
        self.i += 1
        return v

    def tensor(self) -> Tensor:
        name = self.take("name", what="a tensor name")
        self.take("op", "[", what="'['")
        axes = [self.axis()]
        while self.peek()[1] == ",":
            self.i += 1
            axes.append(self.axis())
        self.take("op", "]", what="',' or ']'")
        return Tensor(name, tuple(axes))

    def axis(self) -> Axis:
        terms = [self.term()]
        while self.peek()[1] == "+" and self.peek()[0] == "op":
            self.i += 1
            terms.append(self.term())
        ranks = [t.rank for t in terms]
        if len(set(ranks)) < len(ranks):
            self.fail(self.peek()[2], "a rank appears twice in one axis")
        return Axis(tuple(terms))

    def term(self) -> Term:
        k, v, pos = self.peek()
        if k == "int":
            self.i += 1
            self.take("op", "*", what="'*' after a coefficient")
            return Term(self.take("name", what="a rank name"), self.coefficient(v, pos))
        rank = self.take("name", what="a rank name or coefficient")
        if self.peek()[1] == "*" and self.i + 1 < len(self.tokens) and self.tokens[self.i + 1][0] == "int":
            self.i += 1
            _, c, cpos = self.peek()
            self.i += 1
            return Term(rank, self.coefficient(c, cpos))
        return Term(rank)

    def coefficient(self, text: str, pos: int) -> int:
        """A stride or dilation: a positive integer that fits in int64 (the solvers' limit)."""
        if len(text) > 18 or int(text) < 1:
            self.fail(pos, "axis coefficients must be positive integers below 10**18")
        return int(text)

    def einsum(self) -> tuple[Tensor, tuple[Tensor, ...]]:
        out = self.tensor()
        k, v, pos = self.peek()
        if v not in ("+=", "="):
            self.fail(pos, "expected '+=' after the output tensor")
        self.i += 1
        ins = [self.tensor()]
        while self.peek()[1] == "*":
            self.i += 1
            ins.append(self.tensor())
        k, v, pos = self.peek()
        if k != "end":
            self.fail(pos, f"expected '*' or the end, found {v!r}")
        return out, tuple(ins)


def parse(text: str) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Parse ``"Z[m,n] += A[m,k] * B[k,n]"`` into (output, inputs) without sizes."""
    if not isinstance(text, str) or not text.strip():
        raise EinsumError(f"an Einsum must be a non-empty string, got {text!r}")
    return _Parser(text).einsum()


def einsum(text: str, name: str = "", **sizes: int) -> Einsum:
    """An Einsum from a string and rank sizes, e.g. ``einsum("Z[m,n] += A[m,k] * B[k,n]", m=8, k=4, n=2)``."""
    out, ins = parse(text)
    input_ranks = {r for t in ins for r in t.ranks}
    for r in out.ranks:
        if r not in input_ranks:
            raise EinsumError(f"rank {r!r} appears in output {out.name} of {text.strip()} but in no "
                              "input tensor")
    return Einsum(out, ins, _sizes_for(out, ins, sizes, text.strip()), name)
