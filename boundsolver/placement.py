"""Kept so that ``from boundsolver.placement import ...`` keeps working: the nest classes and
their MILP now live in formulation.py, the one generator of every mapspace's MILP."""

from .formulation import NestClass, NestFormulation, nest_classes, storage_groups

__all__ = ["NestClass", "NestFormulation", "nest_classes", "storage_groups"]
