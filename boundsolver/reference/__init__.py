"""The exhaustive references: enumerators over the same nests, costed by the same evaluator, that
every MILP answer is tested against (small problems; they refuse large ones)."""
