"""Benchmark: inputs that used to hang, and factorisation by trial division against sympy.

    python benchmarks/bad_inputs.py [--out benchmarks/results/bad_inputs.csv]

Part 1 factorises primes of growing size both ways: the package's old ``divisors`` (trial
division up to sqrt(n), kept here as the baseline) and today's (sympy's ``factorint``). Trial
division is run only where it ends within seconds; its time grows as sqrt(n): 2**61 - 1 (a prime
whose GEMM fits int64) takes minutes per call, and the solvers factorised each size many times. Part 2 runs the command
lines of issue 21 that hung or crashed, each in a fresh process, and records how long the
answer (a curve or a one-line error) took, start-up included (about 1.5 s of imports).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

from common import report

from boundsolver.model.mapspace import divisors

PRIMES = [1_000_003, 10_000_000_019, 1_000_000_000_039, 100_000_000_000_031,
          1_000_000_000_000_037, 2**61 - 1]
TRIAL_LIMIT = 10**16  # trial division past this takes more than a few seconds
COMMANDS = [
    ["curve", "gemm", str(2**61 - 1), "1", "1", "-q", "--no-cache"],
    ["curve", "ffn", "--tokens", "1e30", "-q"],
    ["curve", "gemm", "8", "8", "8", "--range", "10", "100", "1000000000", "-q"],
    ["curve", "gemm", "8", "8", "8", "-c", str(2**63), "-q"],
    ["curve", "gemm", "8", "8", "8", "--csv", "/nonexistent/x.csv", "-q"],
]


def trial_divisors(n: int) -> list[int]:
    """The package's divisors before issue 21 (the baseline)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "bad_inputs.csv")
    args = ap.parse_args()
    rows = []
    for p in PRIMES:
        new, got = timed(divisors, p)
        old = timed(trial_divisors, p)[0] if p < TRIAL_LIMIT else math.nan
        assert got == [1, p]
        rows.append({"case": f"divisors of prime {p}", "ms": new * 1e3,
                     "trial_division_ms": old * 1e3, "answer": "[1, n]"})
    for argv in COMMANDS:
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "boundsolver", *argv], capture_output=True,
                             text=True, timeout=600)
        seconds = time.perf_counter() - start
        answer = (run.stderr.strip().splitlines() or ["curve written"])[-1][:70]
        rows.append({"case": " ".join(argv[1:])[:60], "ms": seconds * 1e3,
                     "trial_division_ms": math.nan, "answer": f"rc={run.returncode} {answer}"})
    report(rows, args.out)


if __name__ == "__main__":
    main()
