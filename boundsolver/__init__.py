"""boundsolver: exact attainable data-movement bounds (Orojenesis curves) by integer programming."""

from .arch import Arch, ArchError, Level
from .batch import solve_curves
from .cost import Cost, Mapping, algorithmic_minimum, evaluate, op_intensity
from .einsum import Axis, Einsum, Tensor, Term, einsum, parse
from .enumerate import enumerate_frontier
from .errors import BoundsolverError, EinsumError, EnumerationTooLarge, SolverError
from .fusion import Leaf, Node, Schedule, Segment
from .metrics import effectual_ratio, max_effectual_buffer
from .nest import Mapspace, Nest
from .solve import PointSolver, pareto_frontier, solve_curve
from .specs import SpecError, load_arch, load_problem, load_problems
from .workload import Workload, workload
from .workloads import bmm, conv, gbmm, gemm

__version__ = "0.1.0"

__all__ = [
    "Arch", "ArchError", "Axis", "BoundsolverError", "Cost", "Einsum", "EinsumError",
    "EnumerationTooLarge", "Level",
    "Leaf", "Mapping", "Mapspace", "Nest", "Node", "PointSolver", "Schedule", "Segment", "SolverError",
    "SpecError",
    "Tensor", "Term", "Workload",
    "algorithmic_minimum",
    "bmm", "conv", "effectual_ratio", "einsum", "enumerate_frontier", "evaluate", "gbmm", "gemm", "load_arch",
    "load_problem", "load_problems", "max_effectual_buffer", "op_intensity", "pareto_frontier",
    "parse", "solve_curve", "solve_curves", "workload",
]
