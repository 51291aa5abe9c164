"""The package's layering (docs/architecture.md): imports only run downwards.

``model`` (Einsums, architectures, the one mapping model and its evaluator) imports nothing of
the package but ``errors``; ``milp`` (the one formulation generator, the backends, the tracer's
core) and ``reference`` (the enumerators) build on ``model``; ``io`` reads files into ``model``
objects; ``curves`` (solve_curve, the walk, workloads, hierarchies) builds on all of those;
``report`` and the CLI sit on top. A function-level (lazy) import
counts: it is still a dependency, and the layering is what lets one evaluator, one formulation
and one tracer serve every mapspace without loops between them.
"""

import ast
from pathlib import Path

import boundsolver

PACKAGE = Path(boundsolver.__file__).parent
BELOW = {
    "model": {"model"},
    "milp": {"model", "milp"},
    "reference": {"model", "reference"},
    "io": {"model", "io"},
    "curves": {"model", "milp", "reference", "io", "curves"},
    "report": {"model", "milp", "reference", "io", "curves", "report"},
}
SHARED = {"errors", "__init__"}  # errors: every layer raises them; __init__: the version string


def layer(module: str) -> str:
    """``model.cost`` -> ``model``; top-level modules (cli, errors) are their own layer."""
    return module.split(".")[0]


def imports(path: Path) -> set[str]:
    """Package modules imported by ``path`` (relative imports resolved), lazy ones included."""
    here = path.relative_to(PACKAGE).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(here[:len(here) - node.level])
            target = base + (node.module.split(".") if node.module else [])
            if node.module:
                found.add(".".join(target))
            else:  # ``from .. import name``: a module, or a name of the package (the version)
                found |= {".".join(target + [a.name]) if (PACKAGE.joinpath(*target, a.name)).exists()
                          or PACKAGE.joinpath(*target, a.name + ".py").exists() else "__init__"
                          for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("boundsolver."):
            found.add(node.module.removeprefix("boundsolver."))
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mod = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        src = layer(mod)
        if src not in BELOW:
            continue  # cli, errors, __init__, __main__: the top and the shared base
        for target in imports(path):
            dst = layer(target)
            if dst not in SHARED and target not in SHARED and dst not in BELOW[src]:
                bad.append(f"{mod} imports {target} ({src} -> {dst})")
    return bad


def test_imports_run_downwards():
    assert violations() == []


def test_every_module_sits_in_a_layer():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= {"__init__", "__main__", "cli", "errors"}, top


def test_the_check_can_fail(tmp_path, monkeypatch):
    """A model module importing a solver module is reported."""
    assert imports(PACKAGE / "model" / "cost.py")  # it does read the package
    monkeypatch.setitem(BELOW, "model", set())
    assert any("model" in v for v in violations())
