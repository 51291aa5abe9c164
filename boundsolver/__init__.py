"""boundsolver: exact attainable data-movement bounds (Orojenesis curves) by integer programming."""

from .cost import Cost, Mapping, algorithmic_minimum, evaluate, op_intensity
from .einsum import Axis, Einsum, Tensor, Term, einsum, parse
from .enumerate import enumerate_frontier
from .errors import BoundsolverError, EinsumError, EnumerationTooLarge, SolverError
from .solve import pareto_frontier, solve_curve
from .workloads import bmm, conv, gbmm, gemm

__version__ = "0.1.0"

__all__ = [
    "Axis", "BoundsolverError", "Cost", "Einsum", "EinsumError", "EnumerationTooLarge", "Mapping",
    "SolverError", "Tensor", "Term", "algorithmic_minimum", "bmm", "conv", "einsum",
    "enumerate_frontier", "evaluate", "pareto_frontier", "solve_curve", "gbmm", "gemm", "op_intensity", "parse",
]
