"""The exceptions boundsolver raises; every user-facing failure is one of these."""


class BoundsolverError(Exception):
    """Base class of all boundsolver errors."""


class EinsumError(BoundsolverError, ValueError):
    """A problem (Einsum string, rank sizes, YAML) breaks a modelling rule."""


class SpecError(BoundsolverError, ValueError):
    """A YAML problem or architecture file (or an imported model) that does not say what it
    must; the loaders of io/ raise it."""


class ArchError(BoundsolverError, ValueError):
    """An architecture (file or object) that does not say what it must, or that does not fit
    the problem it meets (a level keeping a tensor the problem lacks)."""


class OnnxError(SpecError):
    """An ONNX model boundsolver cannot read exactly; the message names the node and its op type."""


class SolverError(BoundsolverError):
    """A solver is unknown, unavailable, or returned a result that fails verification."""


class EnumerationTooLarge(BoundsolverError):
    """The exhaustive enumerator refuses a mapspace larger than its limit."""


class SamplingError(BoundsolverError):
    """Too few valid mappings were found (or none can exist)."""
