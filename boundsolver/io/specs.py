"""Problems and architectures from YAML: our packaged problems and Timeloop ``cnn-layer`` problems.

A problem file holds one problem or a list under ``problems:``. Each problem has a ``name`` and
exactly one of ``gemm``, ``bmm``, ``gbmm``, ``conv`` (keyword arguments of the workload function)
or ``einsum`` (a string, with ``sizes``). A Timeloop problem (``problem: {shape, instance}``) is
read as a ``cnn-layer``. An AccelForge workload (``workload: {rank_sizes, bits_per_value,
einsums}``, Jinja variables as parameters) is read by :mod:`boundsolver.io.accelforge`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import os
from importlib import resources
from pathlib import Path

import yaml

from ..errors import EinsumError, SpecError
from ..model import workloads
from ..model.arch import Arch, ArchError, arch_from_dict
from ..model.einsum import Einsum, einsum, positive_int, shown, whole
from ..model.workload import Workload, workload

WORKLOADS = {"gemm": workloads.gemm, "bmm": workloads.bmm, "gbmm": workloads.gbmm,
             "conv": workloads.conv}
KINDS = (*WORKLOADS, "einsum")
FOLDERS = ("arch", "problems")  # boundsolver/data/<folder>/<name>.yaml, shipped in the wheel
_FILES = contextlib.ExitStack()  # keeps packaged files extracted (zip installs) until exit
atexit.register(_FILES.close)


def find(ref: str | Path, folder: str) -> Path:
    """A problem or arch file: ``ref`` names a packaged file (``snowcat``, ``fig12_convs``) or is
    a path.

    A name resolves only to the package's own ``data/<folder>`` (never to a file of the working
    directory, which would silently change answers depending on where a command runs). ``ref``
    is a path when it is a ``Path``, contains a ``/`` or ends with ``.yaml``/``.yml``, or, failing
    a packaged name, exists as a file.
    """
    text = str(ref)
    if isinstance(ref, Path) or "/" in text or os.sep in text or text.endswith((".yaml", ".yml")):
        path = Path(ref)
        if path.is_file():
            return path
        stem = Path(text).stem
        packaged = stem in named_files(folder)
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise SpecError(f"no file {text!r} ({what})"
                        + (f"; the packaged {_NOUN[folder]} is named {stem!r}" if packaged else ""))
    files = named_files(folder)
    if text in files:
        return files[text]
    if Path(text).is_file():
        return Path(text)
    raise SpecError(f"unknown {_NOUN[folder]} {text!r}: not a packaged name, and no file {text!r}"
                    f" here; packaged: {', '.join(files)}")


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's complaint on one line: where (line and column from 1) and what, without its
    multi-line excerpt of the file."""
    mark = getattr(err, "problem_mark", None)
    what = [getattr(err, "context", None), getattr(err, "problem", None)]
    what = ": ".join(str(w) for w in what if w)
    text = (f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark and what
            else " ".join(str(err).split()))
    return text if len(text) <= 500 else f"{text[:480]}... ({len(text):,} characters)"


_NOUN = {"arch": "architecture", "problems": "problem"}


def named_files(folder: str) -> dict[str, Path]:
    """The packaged YAML files of ``folder`` (``arch`` or ``problems``) by name."""
    if folder not in FOLDERS:
        raise ValueError(f"no packaged folder {folder!r}; folders: {', '.join(FOLDERS)}")
    return dict(_packaged(folder))


@functools.cache
def _packaged(folder: str) -> tuple[tuple[str, Path], ...]:
    root = resources.files("boundsolver").joinpath("data").joinpath(folder)
    names = sorted(e.name for e in root.iterdir() if e.name.endswith(".yaml") and e.is_file())
    return tuple((name.removesuffix(".yaml"), _real(root.joinpath(name))) for name in names)


def _real(entry) -> Path:
    """A file system path for a packaged file (itself on a normal install; extracted from a zip)."""
    return entry if isinstance(entry, Path) else Path(_FILES.enter_context(resources.as_file(entry)))


MAX_YAML_NODES = 100_000  # after aliases are expanded: problem and arch files hold hundreds


def _read(path: Path, text: str | None = None) -> object:
    """Safe YAML, refusing a document whose aliases expand it past ``MAX_YAML_NODES`` nodes (a
    few hundred bytes of nested anchors, "billion laughs", would otherwise be built and echoed)."""
    loader = yaml.SafeLoader(path.read_text() if text is None else text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise SpecError(f"{path}: YAML aliases (&anchor, *alias) expand it past "
                            f"{MAX_YAML_NODES:,} nodes; write the values out")
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes of the document with every alias expanded, each shared node counted once (memo)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_YAML_NODES + 1  # a recursive alias expands without end
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size = min(size, 10 * MAX_YAML_NODES)
    return size


def load_problems(ref: str | Path, **params: int) -> list[Einsum | Workload]:
    """Every problem of a YAML file (a path, or a packaged name); a workload file gives
    its one workload, with ``params`` (e.g. ``tokens=1024``) replacing its defaults. An
    AccelForge workload gives its Einsum (one) or workload (several), ``params`` setting its
    Jinja variables (e.g. ``N_TOKENS=512``)."""
    from . import accelforge

    path = find(ref, "problems")
    text = path.read_text()
    if accelforge.has_jinja(text):
        data = _read(path, accelforge.render(path, text, params))
        if not accelforge.is_accelforge(data):
            raise SpecError(f"{path}: Jinja templates are read only in AccelForge workload files "
                            "(workload: {einsums: ...})")
        return [accelforge.load(path, data)]
    data = _read(path, text)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping with 'problems' or one problem, got "
                        f"{type(data).__name__}")
    if accelforge.is_accelforge(data):
        if params:
            raise SpecError(f"{path} has no Jinja variable {', '.join(map(repr, params))} "
                            "(variables: none)")
        return [accelforge.load(path, data)]
    if "workload" in data:
        return [_workload(path, data, params)]
    if params:
        raise SpecError(f"{path} takes no parameters (got {', '.join(params)}); only workload "
                        "files declare 'params'")
    if "problem" in data and isinstance(data["problem"], dict):
        return [_timeloop(path, data["problem"])]
    entries = data.get("problems", [data])
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{path}: 'problems' must be a non-empty list")
    return [_problem(path, i, e) for i, e in enumerate(entries, 1)]


def load_problem(ref: str | Path, **params: int) -> Einsum | Workload:
    """The one problem (an Einsum or a workload) of a YAML file; an error if it holds several.
    ``params`` set a workload's parameters, e.g. ``load_problem("gpt3_6.7b", tokens=1024)``."""
    problems = load_problems(ref, **params)
    if len(problems) != 1:
        raise SpecError(f"{ref} holds {len(problems)} problems "
                        f"({', '.join(p.name for p in problems)}); use load_problems")
    return problems[0]


def _workload(path: Path, data: dict, given: dict) -> Workload:
    """``workload:`` a list of Einsum strings, ``sizes:`` rank sizes (numbers or expressions in
    ``params:``, e.g. ``m: tokens``), optional ``name`` and ``word_bits``."""
    defaults = data.get("params", {}) or {}
    sizes = data.get("sizes")
    if not isinstance(defaults, dict) or not isinstance(sizes, dict):
        raise SpecError(f"{path}: a workload needs 'sizes' (and optionally 'params') as mappings")
    unknown = [k for k in given if k not in defaults]
    if unknown:
        raise SpecError(f"{path} has no parameter {', '.join(map(repr, unknown))} "
                        f"(parameters: {', '.join(defaults) or 'none'})")
    params = {k: _positive(path, k, v) for k, v in (defaults | given).items()}
    values = {str(rank): _size_expression(path, rank, expr, params)
              for rank, expr in sizes.items()}
    einsums = data["workload"]
    if not isinstance(einsums, list) or not all(isinstance(e, str) for e in einsums):
        raise SpecError(f"{path}: 'workload' must be a list of Einsum strings")
    try:
        return workload(einsums, str(data.get("name", path.stem)), data.get("word_bits", 8),
                        **{k: v for k, v in values.items()})
    except EinsumError as err:
        raise SpecError(f"{path}: {err}") from None


def _size_expression(path: Path, rank: object, expr: object, params: dict[str, int]) -> int:
    """A rank size: an integer, or integer arithmetic on the parameters (``tokens``,
    ``tokens // 2``), evaluated by accelforge.arith's whitelist of integer operations (sympify
    would ``eval`` the text: a file could run code)."""
    from .accelforge import arith

    value = whole(expr)
    if value is not None:
        return value
    try:
        return arith(expr, params)
    except NameError as err:
        raise SpecError(f"{path}: size of rank {rank!r} ({shown(expr)}) names {str(err)!r}, "
                        f"which is no parameter (parameters: {', '.join(params) or 'none'})"
                        ) from None
    except ValueError as err:
        raise SpecError(f"{path}: size of rank {rank!r} is not an integer or integer arithmetic "
                        f"on the parameters: {shown(expr)} ({shown(str(err), 200)})") from None


def _positive(path: Path, name: str, value: object) -> int:
    return positive_int(value, f"{path}: parameter {name!r}", SpecError)


def _problem(path: Path, i: int, entry: object) -> Einsum:
    where = f"{path}: problem {i}"
    if not isinstance(entry, dict):
        raise SpecError(f"{where} must be a mapping, got {entry!r}")
    name = entry.get("name", "")
    where += f" ({name!r})" if name else ""
    kinds = [k for k in KINDS if k in entry]
    if len(kinds) != 1:
        raise SpecError(f"{where} needs exactly one of {', '.join(KINDS)}; "
                        f"found {', '.join(kinds) or 'none'} (keys: {', '.join(map(str, entry))})")
    kind = kinds[0]
    try:
        if kind == "einsum":
            sizes = entry.get("sizes")
            if not isinstance(sizes, dict):
                raise SpecError(f"{where}: an einsum needs 'sizes', a mapping of rank sizes")
            return einsum(str(entry["einsum"]), name, **sizes)
        args = entry[kind]
        if not isinstance(args, dict):
            raise SpecError(f"{where}: '{kind}' must map argument names to values, got {args!r}")
        return call_workload(kind, args, name)
    except EinsumError as err:
        raise SpecError(f"{where}: {err}") from None


def call_workload(kind: str, args: dict, name: str = "") -> Einsum:
    """``gemm``/``bmm``/``gbmm``/``conv`` with keyword arguments, unknown keywords named."""
    fn = WORKLOADS[kind]
    params = [p for p in inspect.signature(fn).parameters if p != "name"]
    unknown = [k for k in args if k not in params]
    if unknown:
        raise EinsumError(f"{kind} has no argument {', '.join(map(repr, unknown))} "
                          f"(arguments: {', '.join(params)})")
    missing = [p for p, v in inspect.signature(fn).parameters.items()
               if v.default is inspect.Parameter.empty and p not in args]
    if missing:
        raise EinsumError(f"{kind} needs {', '.join(missing)}")
    return fn(**args, name=name)


# Timeloop cnn-layer instance keys; M is Timeloop's name for output channels in newer configs.
_TIMELOOP = {"R": "R", "S": "S", "P": "P", "Q": "Q", "C": "C", "K": "K", "M": "K", "N": "N",
             "Wstride": "Wstride", "Hstride": "Hstride", "Wdilation": "Wdilation",
             "Hdilation": "Hdilation"}


def _timeloop(path: Path, problem: dict) -> Einsum:
    shape = problem.get("shape")
    shape_name = shape.get("name", "") if isinstance(shape, dict) else str(shape or "cnn-layer")
    if "cnn" not in shape_name.lower().replace("_", "-"):
        raise SpecError(f"{path}: only Timeloop cnn-layer problems are read (shape {shape_name!r});"
                        " write other shapes as an einsum")
    instance = problem.get("instance")
    if not isinstance(instance, dict):
        raise SpecError(f"{path}: a Timeloop problem needs 'instance' with the layer's dimensions")
    unknown = [k for k in instance if k not in _TIMELOOP]
    if unknown:
        raise SpecError(f"{path}: unknown cnn-layer dimensions {', '.join(map(str, unknown))}")
    args = {_TIMELOOP[k]: v for k, v in instance.items()}
    try:
        return workloads.conv(**args, name=path.stem)
    except EinsumError as err:
        raise SpecError(f"{path}: {err}") from None


def load_arch(ref: str | Path = "snowcat", **sizes: int) -> Arch:
    """An architecture file (a path, or a packaged name), its named capacities filled from
    ``sizes`` (e.g. ``load_arch("three_level", L1=4096)``); see :mod:`boundsolver.model.arch`."""
    path = find(ref, "arch")
    try:
        return arch_from_dict(_read(path), str(path), sizes)
    except ArchError as err:
        raise SpecError(str(err)) from None
