"""The integer programs: the one formulation generator (a class of nests as a MILP), the
hierarchy's constraints on it, the solver backends and the tracer's class-solving loop."""
