"""Curves: ``solve_curve`` and ``pareto_frontier`` and what they route to (one buffer, workloads,
hierarchies), batches of curves and their cache."""
