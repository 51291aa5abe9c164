"""The exceptions boundsolver raises; every user-facing failure is one of these."""


class BoundsolverError(Exception):
    """Base class of all boundsolver errors."""


class EinsumError(BoundsolverError, ValueError):
    """A problem (Einsum string, rank sizes, YAML) breaks a modelling rule."""


class SpecError(BoundsolverError, ValueError):
    """A YAML problem or architecture file (or an imported model) that does not say what it
    must; the loaders of io/ raise it."""


class SolverError(BoundsolverError):
    """A solver is unknown, unavailable, or returned a result that fails verification."""


class EnumerationTooLarge(BoundsolverError):
    """The exhaustive enumerator refuses a mapspace larger than its limit."""


class CacheWarning(UserWarning):
    """The results cache could not be used as is (a damaged file moved aside, an unwritable
    cache); the run goes on and its answers are unaffected."""
