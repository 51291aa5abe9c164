"""boundsolver: exact attainable data-movement bounds (Orojenesis curves) by integer programming."""

from .curves.batch import solve_curves
from .curves.cache import Cache
from .curves.solve import PointSolver, pareto_frontier, solve_curve
from .errors import BoundsolverError, EinsumError, EnumerationTooLarge, SolverError
from .io.onnx import OnnxError, OnnxWorkload, from_onnx  # onnx itself is imported on call
from .io.specs import SpecError, load_arch, load_problem, load_problems
from .model.arch import Arch, ArchError, Level
from .model.cost import Cost, Mapping, Nest, algorithmic_minimum, evaluate, op_intensity
from .model.einsum import Axis, Einsum, Tensor, Term, einsum, parse
from .model.fusion import Leaf, Node, Schedule, Segment
from .model.mapspace import Mapspace
from .model.workload import Workload, workload
from .model.workloads import bmm, conv, gbmm, gemm
from .reference.enumerate import enumerate_frontier
from .report import plots
from .report.metrics import effectual_ratio, max_effectual_buffer

__version__ = "0.1.0"

__all__ = [
    "Arch", "ArchError", "Axis", "BoundsolverError", "Cache", "Cost", "Einsum", "EinsumError",
    "EnumerationTooLarge", "Level",
    "Leaf", "Mapping", "Mapspace", "Nest", "Node", "OnnxError", "OnnxWorkload", "PointSolver",
    "Schedule", "Segment", "SolverError",
    "SpecError",
    "Tensor", "Term", "Workload",
    "algorithmic_minimum",
    "bmm", "conv", "effectual_ratio", "einsum", "enumerate_frontier", "evaluate", "from_onnx", "gbmm", "gemm",
    "load_arch",
    "load_problem", "load_problems", "max_effectual_buffer", "op_intensity", "pareto_frontier",
    "parse", "plots", "solve_curve", "solve_curves", "workload",
]
