"""The model: Einsums and workloads, architectures, the mapspaces, the one mapping object (a loop
nest with storage points) and its one evaluator in Python integers. Imports nothing of the
package but ``errors``."""
