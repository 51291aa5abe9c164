"""AccelForge workload files (``workload: {rank_sizes, bits_per_value, einsums}``) as Einsums.

AccelForge (the LoopTree / FFM tool) writes a workload as Einsums over *rank variables* (lower
case: ``m``, ``p``) that index the *ranks* of tensors (upper case: ``M``, ``P``):
``"QK[b, m, p, h] = Q[b, m, h, e] * K[b, M: p, h, e]"`` reads tensor ``K``'s rank ``M`` with the
variable ``p``. boundsolver's ranks are the loop indices, so they are AccelForge's rank variables;
AccelForge's ranks only size them. A rank variable's size is the tightest bound on it from

* ``rank_sizes`` (workload-wide, or per Einsum, which overrides): a tensor rank of size ``S``
  indexed by ``c*v`` alone bounds ``0 <= v <= (S - 1) // c`` (AccelForge intersects the
  iteration space with ``0 <= projection < S`` for every sized rank);
* ``iteration_space_shape`` (workload: ``{v: "0 <= v < N"}``; Einsum: a list of such strings).

Projections are AccelForge's list (``[m, k]``: rank ``M`` by ``m``) or dict form
(``{H: 2*p + r}``), and the same in Einsum strings (``I[n, c, H: p*2 + r]``); sums of rank
variables with positive integer coefficients become boundsolver's sliding-window axes
(``2*p+r``), counting the elements AccelForge counts: a common factor of the coefficients is
dropped (``2*p`` is ``p``) and a sum with holes whose terms never collide (``4*p + r``, ``r < 3``)
becomes one axis per variable; only a strided sum whose terms do collide (``3*p + 2*r``, ``r < 3``) keeps
holes in its bounding box, where boundsolver's tensor is larger than AccelForge's (docs/model.md).
AccelForge *skips* iterations whose projection leaves a sized rank; where that clips
a sliding window (an input rank smaller than its window's extent) the iteration space is not a
box, and the file is refused with the size the rank would need.

Everything on the right of ``=`` that looks like ``NAME[...]`` is an input (AccelForge's rule:
``+``, ``*`` and functions are all "an Einsum reads these tensors"); a tensor read twice at the
same indices is one input. Copy operations (``is_copy_operation``) load as one-input Einsums,
counted as AccelForge counts them (one compute per element). One Einsum gives an
:class:`Einsum`, several a :class:`Workload` named after the file.

``bits_per_value`` (workload-wide set-expression dict, or per tensor access) must give every
tensor one width, which becomes the workload's ``word_bits``; boundsolver counts traffic in words
of that width. An :class:`Einsum` has no word size, so a one-Einsum file's width is checked and
dropped (traffic in words). ``renames``, ``persistent_tensors``, ``persistent`` and
``backing_storage_size_scale`` steer AccelForge's mapper and storage reservations, not the traffic
a mapping moves: they are accepted and ignored. ``n_instances`` other than 1 is refused.

Jinja: the files are Jinja templates; :func:`render` substitutes the subset AccelForge's examples
use (``{{ NAME }}`` and integer arithmetic on names, ``{% set X = X | default(V) %}``,
``{% set X = V %}``, ``{# comments #}``) from keyword parameters, without Jinja: any other tag
(``for``, ``if``, other filters) is an error naming it.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from pathlib import Path

from ..errors import EinsumError, SpecError
from ..model.einsum import Einsum, einsum, shown, whole
from ..model.workload import Workload, workload

SPEC_KEYS = {"workload", "renames", "variables", "arch", "mapping", "config", "mapper", "model"}
WORKLOAD_KEYS = {"einsums", "iteration_space_shape", "rank_sizes", "n_instances",
                 "bits_per_value", "persistent_tensors"}
EINSUM_KEYS = {"name", "einsum", "tensor_accesses", "iteration_space_shape", "rank_sizes",
               "is_copy_operation", "renames", "n_instances"}
ACCESS_KEYS = {"name", "projection", "output", "persistent", "backing_storage_size_scale",
               "bits_per_value"}
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def is_accelforge(data: object) -> bool:
    """An AccelForge spec: ``workload`` is a mapping (ours is a list of Einsum strings)."""
    return isinstance(data, dict) and isinstance(data.get("workload"), dict)


def has_jinja(text: str) -> bool:
    return any(tag in text for tag in ("{{", "{%", "{#"))


# ------------------------------------------------------------------------------------ Jinja subset

_TAG = re.compile(r"\{\{-?(?P<expr>.*?)-?\}\}|\{%-?(?P<stmt>.*?)-?%\}|\{#.*?#\}", re.S)
_SET = re.compile(rf"^set\s+(?P<name>{_IDENT})\s*=\s*(?P<value>.+)$", re.S)
_DEFAULT = re.compile(rf"^(?P<name>{_IDENT})\s*\|\s*default\s*\((?P<value>.*)\)$", re.S)


def render(path: Path, text: str, params: dict[str, int]) -> str:
    """``text`` with its Jinja tags replaced from ``params``; every parameter must be a variable
    the template reads or sets."""
    for k, v in params.items():
        if whole(v) is None:
            raise SpecError(f"{path}: Jinja variable {k!r} must be an integer, got {shown(v)}")
    env = {k: whole(v) for k, v in params.items()}
    names: set[str] = set()
    out, pos = [], 0
    for m in _TAG.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        where = f"{path}, line {line}"
        _check_closed(path, text, pos, m.start())
        inner = m.group("expr") if m.group("expr") is not None else m.group("stmt")
        if inner is not None and any(t in inner for t in ("{{", "{%", "{#")):
            _check_closed(path, text, m.start(), m.start() + 2)  # this tag ran into the next
        out.append(text[pos:m.start()])
        pos = m.end()
        if m.group("expr") is not None:
            expr = m.group("expr").strip()
            names |= _names(expr)
            out.append(str(_jinja_value(expr, env, where)))
        elif m.group("stmt") is not None:
            stmt = m.group("stmt").strip()
            s = _SET.match(stmt)
            if not s:
                word = stmt.split()[0] if stmt.split() else ""
                raise SpecError(f"{where}: Jinja tag {{% {stmt} %}} is not supported (only "
                            f"{{% set X = X | default(V) %}}, {{% set X = V %}} and {{{{ X }}}}; "
                            f"'{word}' needs Jinja: expand the file by hand)")
            name, value = s.group("name"), s.group("value").strip()
            names.add(name)
            d = _DEFAULT.match(value)
            if d and d.group("name") == name:
                if name not in env:
                    names |= _names(d.group("value"))
                    env[name] = _jinja_value(d.group("value").strip(), env, where)
            else:
                names |= _names(value)
                env[name] = _jinja_value(value, env, where)
    rest = text[pos:]
    for tag in ("{{", "{%", "{#"):
        if tag in rest:
            line = text.count("\n", 0, pos + rest.index(tag)) + 1
            raise SpecError(f"{path}, line {line}: unclosed Jinja tag {tag!r}")
    unknown = [k for k in params if k not in names]
    if unknown:
        raise SpecError(f"{path} has no Jinja variable {', '.join(map(repr, unknown))} "
                    f"(variables: {', '.join(sorted(names)) or 'none'})")
    return "".join(out) + rest


def _check_closed(path: Path, text: str, start: int, end: int) -> None:
    """An opening tag between ``start`` and ``end`` (before the next complete tag, or inside
    one) was never closed: say so and where, not what the misparse would say next."""
    found = [(text.find(tag, start, end), tag) for tag in ("{{", "{%", "{#")]
    found = sorted((i, tag) for i, tag in found if i >= 0)
    if found:
        i, tag = found[0]
        close = {"{{": "}}", "{%": "%}", "{#": "#}"}[tag]
        line = text.count("\n", 0, i) + 1
        raise SpecError(f"{path}, line {line}: malformed Jinja template: the tag {tag!r} opened "
                        f"here is not closed by {close!r} before the next tag")


def _names(expr: str) -> set[str]:
    return set(re.findall(_IDENT, expr))


def _jinja_value(expr: str, env: dict[str, int], where: str) -> int:
    if "|" in expr:
        raise SpecError(f"{where}: Jinja filter in {{{{ {expr} }}}} is not supported (only "
                    "X | default(V) in a set)")
    try:
        return arith(expr, env)
    except NameError as err:
        name = str(err)
        raise SpecError(f"{where}: Jinja variable {name!r} is not given and has no default: pass "
                    f"it, e.g. load_problem(path, {name}=...)") from None
    except ValueError as err:
        raise SpecError(f"{where}: {{{{ {expr} }}}} is not an integer expression ({err})") from None


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}


def arith(expr: object, env: dict[str, int] | None = None) -> int:
    """An integer or integer arithmetic (``+ - * / // % **``, parentheses, names in ``env``),
    evaluated without ``eval``. Raises NameError (the name) or ValueError."""
    if not isinstance(expr, str):
        n = whole(expr)  # numpy integers and exact integral floats (1.0e+3) too
        if n is None:
            raise ValueError(f"{shown(expr)} is not an integer")
        return n
    if len(expr) > 1000:
        raise ValueError(f"{shown(expr)} is too long for an integer expression")
    try:
        tree = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"{expr!r} is not an expression") from None
    return _arith(tree, env or {}, expr)


def _arith(node: ast.AST, env: dict[str, int], expr: str) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise NameError(node.id)
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _arith(node.operand, env, expr)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _arith(node.left, env, expr), _arith(node.right, env, expr)
        if isinstance(node.op, ast.Pow):
            if not 0 <= b <= 256 or abs(a).bit_length() * b > 4096:
                raise ValueError(f"{shown(a, 40)} ** {b} out of range in {shown(expr)}")
            return a ** b
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and b == 0:
            raise ValueError(f"division by zero in {expr!r}")
        if isinstance(node.op, ast.Div):
            if a % b:
                raise ValueError(f"{a}/{b} is not an integer in {expr!r}")
            return a // b
        if type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](a, b)
    raise ValueError(f"{expr!r} is not integer arithmetic")


# ----------------------------------------------------------------------------------- the workload

class _Access:
    """One tensor access: name, output flag, projection {rank: [(variable, coef), ...]}."""

    def __init__(self, name: str, output: bool, projection: dict[str, list[tuple[str, int]]],
                 bits: object):
        self.name, self.output, self.projection, self.bits = name, output, projection, bits

    def axes(self, sizes: dict[str, int] | None = None) -> str:
        return ",".join(_axes(terms, sizes) for terms in self.projection.values())

    def text(self, sizes: dict[str, int] | None = None) -> str:
        return f"{self.name}[{self.axes(sizes)}]"

    __str__ = text


def _axes(terms: list[tuple[str, int]], sizes: dict[str, int] | None) -> str:
    """Our axes for one projection: ``c*v+...`` over the variables' sizes. The coefficients'
    common factor is dropped (``2*p`` touches as many elements as ``p``), and a sum with holes
    whose terms never collide (mixed radix: ``3*p + r`` with ``r < 3``) becomes one plain axis per
    variable, so that a tensor counts the elements AccelForge counts (the image of the iteration
    space). Sums without holes (sliding windows) stay as written."""
    if sizes is not None:
        g = math.gcd(*(c for _, c in terms))
        terms = [(v, c // g) for v, c in terms]
        reach, injective, contiguous = 1, True, True
        for v, c in sorted(terms, key=lambda t: t[1]):
            if sizes[v] > 1:
                injective &= c >= reach
                contiguous &= c <= reach
                reach += c * (sizes[v] - 1)
        if injective and not contiguous:
            return ",".join(v for v, _ in terms)
    return "+".join(v if c == 1 else f"{c}*{v}" for v, c in terms)


def load(path: Path, data: dict) -> Einsum | Workload:
    """The Einsum (one) or Workload (several) of an AccelForge spec already read from YAML."""
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise SpecError(f"{path}: unknown top-level key {', '.join(map(repr, unknown))} of an "
                    f"AccelForge spec (keys: {', '.join(sorted(SPEC_KEYS))})")
    wl = data["workload"]
    where = f"{path}: workload"
    unknown = [k for k in wl if k not in WORKLOAD_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key {', '.join(map(repr, unknown))} (keys: "
                    f"{', '.join(sorted(WORKLOAD_KEYS))})")
    _instances(wl, where)
    sizes = _rank_sizes(wl.get("rank_sizes"), f"{where}.rank_sizes")
    shape = wl.get("iteration_space_shape") or {}
    if not isinstance(shape, dict):
        raise SpecError(f"{where}.iteration_space_shape must map rank variables to ISL bounds, e.g. "
                    f"{{m: '0 <= m < 128'}}, got {shape!r}")
    for var in shape:
        if not isinstance(var, str) or not re.fullmatch(_IDENT, var) or var[0].isupper():
            raise SpecError(f"{where}.iteration_space_shape: key {var!r} must be a rank variable "
                        "(lower case, e.g. m); rank names (upper case) are sized in rank_sizes")
    bits = wl.get("bits_per_value")
    if bits is not None and not isinstance(bits, dict):
        raise SpecError(f"{where}.bits_per_value must map tensor sets to bits, e.g. {{All: 8}}, "
                    f"got {bits!r}")
    widths: dict[str, str] = {}
    for key, value in (bits or {}).items():
        widths.setdefault(str(_bits(value, f"{where}.bits_per_value[{key}]")),
                          f"bits_per_value[{key}]")
    entries = wl.get("einsums")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{where}.einsums must be a non-empty list of Einsums")
    flat: list[object] = []
    stack = list(reversed(entries))
    while stack:
        e = stack.pop()
        if isinstance(e, list):
            stack.extend(reversed(e))
        else:
            flat.append(e)
    built: list[Einsum] = []
    for i, entry in enumerate(flat):
        name, accesses, local_shape, local_sizes = _entry(path, i, entry)
        ewhere = f"{path}: einsum {name!r}"
        if name in [e.name for e in built]:
            raise SpecError(f"{ewhere}: two Einsums are named {name!r}")
        for a in accesses:
            if a.bits is not None:
                b = _bits(a.bits, f"{ewhere}: tensor {a.name}: bits_per_value")
                widths.setdefault(str(b), f"{name}'s {a.name}")
            elif bits is None:
                raise SpecError(f"{ewhere}: tensor {a.name} has no bits_per_value (AccelForge needs "
                            "every tensor's, e.g. workload.bits_per_value: {All: 8})")
        text, rank_sizes = _einsum(ewhere, accesses, sizes | local_sizes, shape, local_shape)
        try:
            built.append(einsum(text, name, **rank_sizes))
        except EinsumError as err:
            raise SpecError(f"{ewhere} ({text}): {err}") from None
    if len(widths) > 1:
        raise SpecError(f"{where}: bits_per_value gives tensors different widths ("
                    + ", ".join(f"{b} in {src}" for b, src in widths.items())
                    + "); boundsolver counts traffic in words of one width")
    word_bits = int(next(iter(widths)))
    if len(built) == 1:
        return built[0]
    try:
        return workload(built, path.stem, word_bits)
    except EinsumError as err:
        raise SpecError(f"{path}: {err}") from None


def _instances(d: dict, where: str) -> None:
    n = d.get("n_instances", 1)
    if n != 1:
        raise SpecError(f"{where}: n_instances {n!r} is not supported (boundsolver bounds one "
                    "instance; multiply its traffic)")


def _bits(value: object, where: str) -> int:
    try:
        b = arith(value)
    except (NameError, ValueError) as err:
        raise SpecError(f"{where}: {value!r} is not a number of bits ({err})") from None
    if b < 1:
        raise SpecError(f"{where}: bits per value must be positive, got {b}")
    return b


def _rank_sizes(sizes: object, where: str) -> dict[str, int]:
    if sizes is None:
        return {}
    if not isinstance(sizes, dict):
        raise SpecError(f"{where} must map rank names to sizes, got {sizes!r}")
    out = {}
    for rank, value in sizes.items():
        if not isinstance(rank, str) or not re.fullmatch(_IDENT, rank) or rank[0].islower():
            raise SpecError(f"{where}: {rank!r} is not a rank name: ranks are upper case (M); "
                        "rank variables (m) are sized by the ranks they index or by "
                        "iteration_space_shape")
        try:
            n = arith(value)
        except (NameError, ValueError) as err:
            raise SpecError(f"{where}.{rank}: {value!r} is not an integer ({err})") from None
        if n < 1:
            raise SpecError(f"{where}.{rank}: size must be positive, got {n}")
        out[rank] = n
    return out


def _entry(path: Path, i: int, entry: object
           ) -> tuple[str, list[_Access], list[str], dict[str, int]]:
    """(name, accesses, iteration_space_shape list, rank_sizes) of einsums[i]."""
    where = f"{path}: einsums[{i}]"
    if isinstance(entry, str):
        entry = {"einsum": entry}
    if not isinstance(entry, dict):
        raise SpecError(f"{where} must be an Einsum string or a mapping, got {entry!r}")
    unknown = [k for k in entry if k not in EINSUM_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key {', '.join(map(repr, unknown))} (keys: "
                    f"{', '.join(sorted(EINSUM_KEYS))})")
    given = entry.get("tensor_accesses", [])
    if not isinstance(given, list) or not all(isinstance(a, dict) for a in given):
        raise SpecError(f"{where}.tensor_accesses must be a list of mappings")
    if "einsum" in entry:
        text = entry["einsum"]
        if not isinstance(text, str):
            raise SpecError(f"{where}.einsum must be a string, got {text!r}")
        name, accesses = _parse_string(text, where)
        where = f"{path}: einsum {name!r}"  # AccelForge names it after its output, as here
        by_name = {a.name: a for a in accesses}
        for ta in given:
            if ta.get("name") not in by_name:
                raise SpecError(f"{where}.tensor_accesses: tensor {ta.get('name')!r} is not in "
                            f"{text!r}")
            extra = [k for k in ta if k not in ("name", "bits_per_value", "persistent",
                                                 "backing_storage_size_scale")]
            if extra:
                raise SpecError(f"{where}.tensor_accesses[{ta['name']}]: {', '.join(extra)} is "
                            f"already set by the Einsum string")
            if "bits_per_value" in ta:
                by_name[ta["name"]].bits = ta["bits_per_value"]
    else:
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where} needs 'name' (or an 'einsum' string)")
        where = f"{path}: einsum {name!r}"
        if not given:
            raise SpecError(f"{where} needs 'tensor_accesses' (or an 'einsum' string)")
        accesses = [_access(ta, f"{where}.tensor_accesses[{j}]")
                    for j, ta in enumerate(given)]
    if name == "Total":
        raise SpecError(f"{where}: the Einsum name 'Total' is reserved by AccelForge")
    if entry.get("is_copy_operation") and len([a for a in accesses if not a.output]) != 1:
        raise SpecError(f"{where}: a copy operation reads exactly one tensor")
    _instances(entry, where)
    local_shape = entry.get("iteration_space_shape") or []
    if isinstance(local_shape, str):
        local_shape = [local_shape]
    if not isinstance(local_shape, list) or not all(isinstance(s, str) for s in local_shape):
        raise SpecError(f"{where}.iteration_space_shape must be a list of ISL bounds, e.g. "
                    f"['0 <= r < 3'], got {local_shape!r}")
    return name, accesses, local_shape, _rank_sizes(entry.get("rank_sizes"),
                                                    f"{where}.rank_sizes")


_TENSOR = re.compile(r"([A-Za-z_]\w*)\s*\[([^\]]*)\]")


def _parse_string(text: str, where: str) -> tuple[str, list[_Access]]:
    """``"Z[m, n] = A[m, k] * B[k, n]"`` (AccelForge's notation; ``+=`` accepted too)."""
    lhs, eq, rhs = text.partition("+=") if "+=" in text else text.partition("=")
    if not eq or "=" in rhs:
        raise SpecError(f"{where}: Einsum {text!r} needs exactly one '=' between the output and "
                    "its inputs")
    out = _TENSOR.fullmatch(lhs.strip())
    if not out:
        raise SpecError(f"{where}: Einsum {text!r}: the left of '=' must be one tensor, NAME[...]")
    name = out.group(1)
    where = f"{where.rsplit(': einsums[', 1)[0]}: einsum {name!r}"
    inputs = list(_TENSOR.finditer(rhs))
    if not inputs:
        raise SpecError(f"{where}: Einsum {text!r} reads no tensor (inputs are NAME[...])")
    left = _TENSOR.sub(" ", rhs)
    stray = (re.search(r"[\[\]]", left)  # an unclosed or stray bracket first
             or re.search(r"\b[A-Za-z_]\w*\b(?!\s*\()|[^\s\w()*+\-/.]", left))
    if stray:
        raise SpecError(f"{where}: Einsum {text!r}: unexpected {stray.group(0)!r} on the right of "
                    "'=' (inputs are NAME[...], joined by operators)")
    accesses: list[_Access] = []
    for m in inputs:
        a = _Access(m.group(1), False, _projection(m.group(2), f"{where}: {m.group(0)}"),
                    None)
        old = next((b for b in accesses if b.name == a.name), None)
        if old is None:
            accesses.append(a)
        elif old.projection != a.projection:
            raise SpecError(f"{where}: tensor {a.name} is read at two different indices "
                        f"({old} and {a})")
    if name in [a.name for a in accesses]:
        raise SpecError(f"{where}: tensor {name} is both read and written")
    accesses.append(_Access(name, True, _projection(out.group(2), f"{where}: {out.group(0)}"), None))
    return name, accesses


def _projection(text: str, where: str
                ) -> dict[str, list[tuple[str, int]]]:
    """``"b, M: p, H: 2*p + r"`` → {rank: [(variable, coef), ...]}."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise SpecError(f"{where}: empty projection entry")
    items: list[tuple[str, str]] = []
    for part in parts:
        if ":" in part:
            rank, _, expr = part.partition(":")
            items.append((rank.strip(), expr.strip()))
        else:
            items.append(("", part))
    return _projection_items(items, where)


def _projection_items(items: list[tuple[str, object]], where: str
                      ) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for rank, expr in items:
        if not rank:  # shorthand: the variable indexes the rank of its upper-case name
            if not isinstance(expr, str) or not re.fullmatch(_IDENT, expr):
                raise SpecError(f"{where}: {expr!r} is not a rank variable (write RANK: expression "
                            "for an expression)")
            if expr[0].isupper():
                raise SpecError(f"{where}: {expr!r}: rank variables are lower case (m); rank names "
                            f"are upper case (M): write {expr.lower()} or {expr}: <variable>")
            rank = expr.upper()
        if not re.fullmatch(_IDENT, rank) or rank[0].islower():
            raise SpecError(f"{where}: {rank!r} is not a rank name: ranks are upper case (M: m)")
        if rank in out:
            raise SpecError(f"{where}: rank {rank} is indexed twice")
        out[rank] = _affine(expr, f"{where}: {rank}")
    return out


_TERM = re.compile(rf"^(?:(?P<c1>\d+)\s*\*\s*(?P<v1>{_IDENT})|(?P<v2>{_IDENT})"
                   rf"(?:\s*\*\s*(?P<c2>\d+))?|(?P<k>\d+))$")


def _affine(expr: object, where: str) -> list[tuple[str, int]]:
    """``2*p + r`` → [("p", 2), ("r", 1)]: rank variables with positive coefficients."""
    if isinstance(expr, bool) or not isinstance(expr, (str, int)):
        raise SpecError(f"{where}: projection {expr!r} is not an expression")
    text = str(expr)
    if "-" in text:
        raise SpecError(f"{where}: projection {text!r}: subtraction (an offset window) is not "
                    "supported; write sums of rank variables with positive coefficients")
    terms: dict[str, int] = {}
    for raw in text.split("+"):
        m = _TERM.match(raw.strip())
        if not m:
            raise SpecError(f"{where}: projection {text!r}: {raw.strip()!r} is not a term "
                        "(variable, or coefficient * variable)")
        if m.group("k") is not None:
            raise SpecError(f"{where}: projection {text!r}: a constant offset ({m.group('k')}) is not "
                        "supported")
        var = m.group("v1") or m.group("v2")
        coef = int(m.group("c1") or m.group("c2") or 1)
        if var[0].isupper():
            raise SpecError(f"{where}: projection {text!r}: {var!r} is upper case, a rank name; "
                        "index with rank variables (lower case)")
        if coef < 1:
            raise SpecError(f"{where}: projection {text!r}: coefficients must be positive")
        terms[var] = terms.get(var, 0) + coef
    return list(terms.items())


def _access(ta: dict, where: str) -> _Access:
    unknown = [k for k in ta if k not in ACCESS_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key {', '.join(map(repr, unknown))} (keys: "
                    f"{', '.join(sorted(ACCESS_KEYS))})")
    name = ta.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where} needs a tensor 'name'")
    where = f"{where} ({name})"
    proj = ta.get("projection")
    if isinstance(proj, list):
        items = [("", p) for p in proj]
    elif isinstance(proj, dict):
        items = [(str(k), v) for k, v in proj.items()]
        for k, _ in items:
            if not k:
                raise SpecError(f"{where}: empty rank name in projection")
    else:
        raise SpecError(f"{where}.projection must be a list of rank variables or a mapping of "
                    f"ranks to expressions, got {proj!r}")
    if not items:
        raise SpecError(f"{where}.projection is empty")
    output = ta.get("output", False)
    if not isinstance(output, bool):
        raise SpecError(f"{where}.output must be true or false, got {output!r}")
    return _Access(name, output, _projection_items(items, f"{where}.projection"),
                   ta.get("bits_per_value"))


_CMP = re.compile(r"(<=|>=|==|<|>|=)")


def _bounds(isl: str, where: str
            ) -> list[tuple[str, int | None, int | None]]:
    """``"0 <= m < 128"`` → [(m, 0, 128)]: per-variable bounds [lo, hi), None if absent."""
    out = []
    for conj in re.split(r"\band\b", isl):
        pieces = _CMP.split(conj)
        operands, ops = [p.strip() for p in pieces[::2]], pieces[1::2]
        if not ops or not all(operands):
            raise SpecError(f"{where}: {isl!r} is not a bound like '0 <= m < 128'")
        for a, op, b in zip(operands, ops, operands[1:]):
            av, bv = re.fullmatch(_IDENT, a), re.fullmatch(_IDENT, b)
            if av and not bv:
                var, k, rel = a, b, op
            elif bv and not av:
                var, k = b, a
                rel = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            else:
                raise SpecError(f"{where}: {isl!r}: '{a} {op} {b}' must bound one rank variable by a "
                            "number (boundsolver's iteration spaces are boxes)")
            try:
                n = arith(k)
            except (NameError, ValueError) as err:
                raise SpecError(f"{where}: {isl!r}: {k!r} is not an integer ({err})") from None
            lo = n if rel in (">=", "=", "==") else n + 1 if rel == ">" else None
            hi = n if rel == "<" else n + 1 if rel in ("<=", "=", "==") else None
            out.append((var, lo, hi))
    return out


def _einsum(where: str, accesses: list[_Access], sizes: dict[str, int], shape: dict,
            local_shape: list[str]) -> tuple[str, dict[str, int]]:
    """Our Einsum string and the rank variables' sizes, from AccelForge's bounds."""
    outputs = [a for a in accesses if a.output]
    inputs = [a for a in accesses if not a.output]
    if len(outputs) != 1:
        raise SpecError(f"{where}: boundsolver's Einsums write exactly one tensor; this one writes "
                    f"{', '.join(a.name for a in outputs) or 'none'}")
    if not inputs:
        raise SpecError(f"{where}: reads no tensor")
    variables: list[str] = []
    for a in accesses:
        variables += [v for terms in a.projection.values() for v, _ in terms
                      if v not in variables]
    lo: dict[str, list[tuple[int, str]]] = {v: [] for v in variables}
    hi: dict[str, list[tuple[int, str]]] = {v: [] for v in variables}
    for a in accesses:
        for rank, terms in a.projection.items():
            if rank in sizes and len(terms) == 1:
                (v, c), = terms
                lo[v].append((0, f"rank {rank} of {a.name}"))
                hi[v].append(((sizes[rank] - 1) // c + 1, f"rank {rank} of {a.name} "
                              f"(size {sizes[rank]})"))
    isl = [(f"iteration_space_shape[{v}]", shape[v]) for v in variables if v in shape]
    isl += [("iteration_space_shape", s) for s in local_shape]
    for key, text in isl:
        if not isinstance(text, str):
            raise SpecError(f"{where}: {key}: {text!r} is not an ISL bound like '0 <= m < 128'")
        for v, low, high in _bounds(text, f"{where}: {key}"):
            if v not in lo:
                if key == "iteration_space_shape":
                    raise SpecError(f"{where}: {key}: {text!r} bounds {v!r}, which no tensor of "
                                f"this Einsum uses (rank variables: {', '.join(variables)})")
                continue
            if low is not None:
                lo[v].append((low, f"{key} {text!r}"))
            if high is not None:
                hi[v].append((high, f"{key} {text!r}"))
    out: dict[str, int] = {}
    for v in variables:
        if not hi[v] or not lo[v]:
            raise SpecError(f"{where}: rank variable {v!r} has no size: it indexes no sized rank "
                        f"alone (give the rank it indexes a size in rank_sizes, e.g. "
                        f"{v.upper()}: 128) and iteration_space_shape gives it no "
                        f"{'upper' if not hi[v] else 'lower'} bound")
        low = max(lo[v])
        if low[0] != 0:
            raise SpecError(f"{where}: rank variable {v!r} starts at {low[0]} ({low[1]}); "
                        "boundsolver's rank variables run from 0")
        high = min(hi[v])
        if high[0] < 1:
            raise SpecError(f"{where}: rank variable {v!r} has no values ({high[1]})")
        out[v] = high[0]
    for a in accesses:
        for rank, terms in a.projection.items():
            if rank in sizes and len(terms) > 1:
                need = sum(c * (out[v] - 1) for v, c in terms) + 1
                if need > sizes[rank]:
                    expr = "+".join(f"{c}*{v}" if c > 1 else v for v, c in terms)
                    raise SpecError(f"{where}: tensor {a.name}'s rank {rank} (size {sizes[rank]}) "
                                f"is indexed by {expr}, which reaches {need - 1}: AccelForge "
                                "skips the iterations outside the rank (padding), so the "
                                "iteration space is not a box, which boundsolver needs; give "
                                f"{rank} size {need} or more")
    text = f"{outputs[0].text(out)} += {' * '.join(a.text(out) for a in inputs)}"
    return text, out
