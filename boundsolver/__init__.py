"""boundsolver: exact attainable data-movement bounds (Orojenesis curves) by integer programming."""

from .curves.batch import solve_curves
from .curves.cache import Cache
from .curves.solve import PointSolver, pareto_frontier, solve_curve
from .errors import BoundsolverError, EinsumError, EnumerationTooLarge, ProofOutOfReach, SolverError
from .io.onnx import OnnxError, OnnxWorkload, from_onnx  # onnx itself is imported on call
from .io.specs import SpecError, load_arch, load_problem, load_problems
from .model.arch import Arch, ArchError, Level
from .model.cost import Cost, Mapping, Nest, algorithmic_minimum, evaluate, op_intensity
from .model.einsum import Axis, Einsum, Tensor, Term, einsum, parse
from .model.fusion import Leaf, Node, Schedule, Segment
from .model.lower import lower_bound, with_lower_bound
from .model.mapspace import Mapspace
from .model.symbolic import ClassExpressions, Expressions, expressions
from .model.workload import Workload, workload
from .model.workloads import bmm, conv, gbmm, gemm
from .reference.enumerate import enumerate_frontier
from .report import plots
from .report.html import network_report  # bokeh itself is imported on call
from .report.metrics import effectual_ratio, max_effectual_buffer

__version__ = "0.2.0"

__all__ = [
    "Arch", "ArchError", "Axis", "BoundsolverError", "Cache", "ClassExpressions", "Cost", "Einsum",
    "EinsumError", "EnumerationTooLarge", "Expressions", "Level",
    "Leaf", "Mapping", "Mapspace", "Nest", "Node", "OnnxError", "OnnxWorkload", "PointSolver",
    "ProofOutOfReach",
    "Schedule", "Segment", "SolverError",
    "SpecError",
    "Tensor", "Term", "Workload",
    "algorithmic_minimum",
    "bmm", "conv", "effectual_ratio", "einsum", "enumerate_frontier", "evaluate", "expressions", "from_onnx", "gbmm", "gemm",
    "load_arch",
    "load_problem", "load_problems", "lower_bound", "max_effectual_buffer", "op_intensity", "pareto_frontier",
    "network_report",
    "parse", "plots", "solve_curve", "solve_curves", "with_lower_bound", "workload",
]
