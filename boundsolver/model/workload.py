"""Workloads: Einsums run in the listed order that share tensors by name (docs/fusion.md).

A tensor produced by one Einsum and read by a later one is an *intermediate*; it may be read
through other rank names (``K[m,h,e]`` produced, ``K[p,h,e]`` read) as long as every axis has the
same extent. Tensors that no Einsum produces are the workload's inputs; produced tensors that no
Einsum reads are its outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from ..errors import EinsumError
from .einsum import Einsum, einsum, parse, positive_int


@dataclass(frozen=True)
class Workload:
    """Einsums in execution order, each with a distinct name. Build it with :func:`workload`."""

    einsums: tuple[Einsum, ...]
    name: str = ""
    word_bits: int = 8
    # Produced tensors that something outside the Einsums reads from the backing store (an ONNX
    # part or padded copy): written back once, even where every Einsum reading them shares
    # their fused segment (fusion.Context.exported).
    stored: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.einsums)

    def __getitem__(self, name: str) -> Einsum:
        for e in self.einsums:
            if e.name == name:
                return e
        raise EinsumError(f"workload {self.name!r} has no Einsum named {name!r} "
                          f"(Einsums: {', '.join(self.names)})")

    @cached_property
    def producer(self) -> dict[str, int]:
        """Index of the Einsum that writes each produced tensor."""
        return {e.output.name: i for i, e in enumerate(self.einsums)}

    @cached_property
    def consumers(self) -> dict[str, tuple[int, ...]]:
        """Indices of the Einsums that read each tensor."""
        out: dict[str, list[int]] = {}
        for i, e in enumerate(self.einsums):
            for T in e.inputs:
                out.setdefault(T.name, []).append(i)
        return {k: tuple(v) for k, v in out.items()}

    @property
    def intermediates(self) -> tuple[str, ...]:
        return tuple(n for n in self.producer if n in self.consumers)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(n for n in self.consumers if n not in self.producer)

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(n for n in self.producer if n not in self.consumers)

    def tensor_size(self, name: str) -> int:
        i = self.producer.get(name, self.consumers[name][0] if name in self.consumers else None)
        if i is None:
            raise EinsumError(f"no tensor named {name!r} in workload {self.name!r}")
        e = self.einsums[i]
        return e.tensor_size(e.tensor(name))

    @cached_property
    def size(self) -> dict[str, int]:
        """Every rank's size (one size per rank name throughout the workload)."""
        return {r: n for e in self.einsums for r, n in e.sizes}

    @property
    def macs(self) -> int:
        return sum(e.macs for e in self.einsums)

    @property
    def algorithmic_minimum(self) -> int:
        """Every workload input read once and every output written once (intermediates on chip,
        but for the ``stored`` ones, written once)."""
        kept = [n for n in self.stored if n not in self.outputs]
        return sum(self.tensor_size(n) for n in (*self.inputs, *self.outputs, *kept))

    @property
    def unfused_minimum(self) -> int:
        """Every Einsum's algorithmic minimum: each tensor of each Einsum moved once."""
        return sum(e.tensor_size(T) for e in self.einsums for T in e.tensors)

    def __str__(self) -> str:
        return "; ".join(f"{e.name}: {e}" for e in self.einsums)


def workload(einsums: Iterable[Einsum | str], name: str = "", word_bits: int = 8,
             **sizes: int) -> Workload:
    """A workload from Einsums or Einsum strings (then ``sizes`` gives every rank's size and each
    Einsum is named after its output tensor), e.g.
    ``workload(["Y[m,c] += X[m,d] * W1[d,c]", "Z[m,j] += Y[m,c] * W2[c,j]"], m=8, d=4, c=16, j=4)``.
    """
    if isinstance(einsums, (str, Einsum)) or not isinstance(einsums, Iterable):
        raise EinsumError(f"a workload needs a list of Einsums or Einsum strings, got {einsums!r}")
    built = []
    for item in einsums:
        if isinstance(item, Einsum):
            built.append(item if item.name else Einsum(item.output, item.inputs, item.sizes,
                                                       item.output.name))
        elif isinstance(item, str):
            built.append(_from_text(item, sizes))
        else:
            raise EinsumError(f"a workload entry must be an Einsum or a string, got {item!r}")
    used = {r for e in built for r in e.ranks}
    unused = [r for r in sizes if r not in used]
    if unused:
        raise EinsumError(f"sizes given for ranks no Einsum uses: {', '.join(unused)}")
    return Workload(tuple(built), name, positive_int(word_bits, "word_bits"))


def _from_text(text: str, sizes: dict[str, int]) -> Einsum:
    out, ins = parse(text)
    ranks = {r for T in (out, *ins) for r in T.ranks}
    missing = sorted(r for r in ranks if r not in sizes)
    if missing:
        raise EinsumError(f"rank {missing[0]!r} of {text.strip()} has no size")
    return einsum(text, out.name, **{r: sizes[r] for r in ranks})


def _validate(w: Workload) -> None:
    if not w.einsums:
        raise EinsumError("a workload needs at least one Einsum")
    names = [e.name for e in w.einsums]
    for e in w.einsums:
        if not isinstance(e, Einsum):
            raise EinsumError(f"a workload holds Einsums, got {e!r}")
        if not e.name:
            raise EinsumError(f"every Einsum of a workload needs a name: {e}")
        if names.count(e.name) > 1:
            raise EinsumError(f"two Einsums of workload {w.name!r} are named {e.name!r}")
    size: dict[str, tuple[int, str]] = {}
    for e in w.einsums:
        for r, n in e.sizes:
            if size.setdefault(r, (n, e.name))[0] != n:
                raise EinsumError(f"rank {r!r} has size {size[r][0]} in {size[r][1]} but {n} in "
                                  f"{e.name}: a rank name means one size throughout a workload")
    writer: dict[str, str] = {}
    for e in w.einsums:
        if e.output.name in writer:
            raise EinsumError(f"tensor {e.output.name} is written by both {writer[e.output.name]} "
                              f"and {e.name}")
        writer[e.output.name] = e.name
    for name in w.stored:
        if name not in writer:
            raise EinsumError(f"stored tensor {name!r} is written by no Einsum of workload "
                              f"{w.name!r}: only a produced tensor can be written back")
    done: set[str] = set()
    shape: dict[str, tuple[tuple[int, ...], str]] = {}
    for e in w.einsums:
        for T in e.inputs:
            if T.name in writer and T.name not in done:
                raise EinsumError(f"{e.name} reads {T.name} before {writer[T.name]} writes it "
                                  "(Einsums run in the listed order)")
        done.add(e.output.name)
        for T in e.tensors:
            extents = tuple(a.extent(e.size) for a in T.axes)
            old = shape.setdefault(T.name, (extents, e.name))
            if old[0] != extents:
                raise EinsumError(f"tensor {T.name} has shape {list(old[0])} in {old[1]} but "
                                  f"{list(extents)} in {e.name}")
