"""The exceptions boundsolver raises; every user-facing failure is one of these."""


MAX_MESSAGE = 10_000  # characters: a message echoes input, and input can be huge


class BoundsolverError(Exception):
    """Base class of all boundsolver errors. Its text is cut to ``MAX_MESSAGE`` characters: a
    message that echoes a hostile input (a YAML bomb, a megabyte of einsum) stays readable."""

    def __str__(self) -> str:
        text = super().__str__()
        if len(text) <= MAX_MESSAGE:
            return text
        return f"{text[:MAX_MESSAGE // 2]} ... ({len(text):,} characters) ... {text[-200:]}"


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


class ProofOutOfReach(BoundsolverError):
    """A hierarchy's frontier (a walk of proven points, each needed for the next) whose next
    point was not proven within its time: the message names the point, the stage left open and
    what to ask instead (capacities with a time limit, a longer limit, another mapspace)."""


class SamplingError(BoundsolverError):
    """Too few valid mappings were found (or none can exist)."""


class CacheWarning(UserWarning):
    """The results cache could not be used as is (a damaged file moved aside, an unwritable
    cache); the run goes on and its answers are unaffected."""


class ReportError(BoundsolverError, ValueError):
    """A report option that is missing, out of range or does not apply (a bandwidth without a
    peak, an output path that is no HTML file, the plotting library not installed)."""
