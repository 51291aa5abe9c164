"""Reading the field's files into model objects: YAML problems and architectures, Timeloop
problem files."""
