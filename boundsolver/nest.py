"""Kept so that imports keep working: the nest model and its evaluator live in :mod:`.cost`,
the one place that evaluates a concrete mapping (a Mapping, a per-tensor nest and a hierarchy
are all nests costed by one core, ``cost.traffic``)."""

from .cost import (  # noqa: F401
    FACTORS,
    PLACEMENTS,
    Copies,
    LevelCost,
    Mapspace,
    Nest,
    check_nest,
    check_spatial,
    copy_words,
    evaluate,
    evaluate_levels,
    mapspace_of,
    moved,
    moved_at,
    replicas,
    storage_points,
    tile_sizes,
    windowed_ranks,
)
