"""Which layers are memory-bound: the roofline of each layer at a buffer capacity.

A layer with ``M`` MACs that moves ``A`` words of ``b`` bits at capacity ``C`` needs at least
``M / peak`` seconds of compute and ``A·b/8 / bandwidth`` seconds of data movement (``peak`` in
MAC/s, ``bandwidth`` in bytes/s). It is *memory-bound* when moving its data takes strictly longer
than computing, i.e. when its intensity ``8·M / (A·b)`` (MACs per byte) is below the ridge
``peak / bandwidth``. ``A`` is the layer's exact least traffic (network_table's frontier), so the
verdict is exact: it is decided in integers and fractions, never in floats. A pass (Relu, Add,
0 MACs) that moves data is memory-bound; a layer with no mapping at ``C`` (its least buffer is
larger) has no verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import pandas as pd

from ..errors import ReportError


@dataclass(frozen=True)
class Machine:
    """A roofline: memory ``bandwidth`` (bytes/s) and compute ``peak`` (MAC/s), exact."""

    bandwidth: Fraction
    peak: Fraction

    @property
    def ridge(self) -> Fraction:
        """MACs per byte at which compute and data movement take equally long."""
        return self.peak / self.bandwidth

    def __str__(self) -> str:
        return (f"bandwidth {float(self.bandwidth):.4g} bytes/s, peak {float(self.peak):.4g} "
                f"MAC/s, ridge {float(self.ridge):.4g} MACs/byte")


def rate(value, what: str) -> Fraction:
    """``value`` (int, float, Decimal, Fraction or a decimal string such as ``"1.5e12"``) as an
    exact positive Fraction between 1e-60 and 1e60 (the exponent is checked before the number is
    expanded: ``"1e999999999"`` is refused, not built); anything else is a ReportError."""
    bad = ReportError(f"{what} must be a positive number from 1e-60 to 1e60, got "
                      f"{str(value)[:60]!r}")
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > 100):
        raise bad
    try:
        if isinstance(value, (str, Decimal)):
            number = Decimal(value.strip()) if isinstance(value, str) else value
            if not number.is_finite() or not -60 <= number.adjusted() <= 60:
                raise bad
            value = number
        exact = Fraction(value)
    except (TypeError, ValueError, InvalidOperation, OverflowError):
        raise bad from None
    if not Fraction(1, 10**60) <= exact <= 10**60:
        raise bad
    return exact


def machine(bandwidth, peak) -> Machine | None:
    """Both rates (a Machine) or neither (None): one without the other is a ReportError."""
    if bandwidth is None and peak is None:
        return None
    if bandwidth is None or peak is None:
        given, missing = ("bandwidth", "peak") if peak is None else ("peak", "bandwidth")
        raise ReportError(f"{given} needs {missing} too: a roofline needs both the memory "
                          "bandwidth (bytes/s) and the compute peak (MAC/s)")
    return Machine(rate(bandwidth, "bandwidth (bytes/s)"), rate(peak, "peak (MAC/s)"))


def exact_accesses(table: pd.DataFrame, capacity: int) -> list[int | None]:
    """Each row's least traffic at ``capacity`` in Python integers, read from the layers'
    frontiers (``table.attrs["frontiers"]``) rather than the float column; None: no mapping."""
    fronts = table.attrs.get("frontiers")
    if fronts is None:
        raise ReportError("the table has no frontiers: build it with network_table")
    out = []
    for name in table["solved_as"]:
        fit = [a for o, a in fronts[name] if o <= capacity]
        out.append(fit[-1] if fit else None)  # breakpoints rise in occupancy, fall in accesses
    return out


def roofline(table: pd.DataFrame, machine: Machine, word_bits: int) -> pd.DataFrame:
    """``table`` (network_table's) with, per capacity ``C`` of its ``accesses_at_C`` columns:
    ``macs_per_byte_at_C`` (inf for a layer that moves nothing), ``seconds_at_C`` (the roofline's
    least time, max(compute, data movement)) and ``memory_bound_at_C`` (nullable boolean; <NA>
    where the layer has no mapping at ``C``). A copy; ``attrs`` kept."""
    out = table.copy()
    byte = Fraction(word_bits, 8)
    for col in [c for c in table.columns if c.startswith("accesses_at_")]:
        cap = col.removeprefix("accesses_at_")
        intensity, seconds, bound = [], [], []
        for macs, acc in zip(table["macs"], exact_accesses(table, int(cap))):
            if acc is None:
                intensity.append(math.nan)
                seconds.append(math.nan)
                bound.append(pd.NA)
                continue
            moved, work = acc * byte / machine.bandwidth, int(macs) / machine.peak
            intensity.append(float(int(macs) / (acc * byte)) if acc else math.inf)
            seconds.append(float(max(moved, work)))
            bound.append(moved > work)
        out[f"macs_per_byte_at_{cap}"] = intensity
        out[f"seconds_at_{cap}"] = seconds
        out[f"memory_bound_at_{cap}"] = pd.array(bound, dtype="boolean")
    out.attrs.update(table.attrs)
    out.attrs["machine"] = machine
    return out
