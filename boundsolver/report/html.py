"""A network's bounds as one self-contained HTML page (``bs.network_report``, and
``boundsolver network MODEL --html report.html``).

Bokeh draws the page and its JavaScript is embedded inline (``bokeh.resources.INLINE``), so the
file opens in any browser with no network access; bokeh is imported only when a page is written
(the optional extra ``report``). The page holds

* a summary (MACs, algorithmic minima, the roofline's machine),
* the network's curves, traffic against buffer capacity on log axes: unfused (every layer alone
  with the whole buffer) and, on request, fused. Hovering a breakpoint shows what it is made of:
  for the unfused curve the layers whose mapping changes there, with their new mappings; for the
  fused curve the loop tree,
* with a bandwidth and a peak, the layers on a roofline at one capacity (report/roofline.py),
* the per-layer table (bokeh's DataTable: click a header to sort by it), memory-bound rows
  highlighted.

Numbers on the page are JavaScript doubles (exact below 2⁵³); the tooltips and the returned
table carry the exact integers.
"""

from __future__ import annotations

import bisect
import html
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..curves.cache import Cache
from ..curves.methods import DEFAULT
from ..curves.solve import pareto_frontier
from ..errors import ReportError
from ..model.mapspace import Mapspace
from ..model.workload import Workload
from .network import network_frontier, network_table
from .plots import UNITS, scale
from .roofline import Machine, exact_accesses, machine, roofline

DEFAULT_CAPACITIES = (1024, 16384, 262144, 4194304)
MEMORY, COMPUTE, PLAIN = "#f6c3bb", "#cfe3f3", "#ffffff"  # row and point colours
TREE_LINES = 40  # lines of a fused loop tree shown on hover
LAYERS_SHOWN = 8  # layers listed on hover of an unfused breakpoint
SUFFIXES = (".html", ".htm")
CELLS = ".slick-cell { padding: 0; } .slick-cell > div { padding: 0 4px; height: 100%; }"


def network_report(workload: Workload, path: str | Path,
                   capacities: Sequence[int] = DEFAULT_CAPACITIES, *,
                   bandwidth=None, peak=None, at: int | None = None,
                   fused: bool | pd.DataFrame = False, table: pd.DataFrame | None = None,
                   unit: str = "words", title: str | None = None,
                   mapspace: Mapspace | str | None = None, method: str = DEFAULT,
                   solver: str = "highs", cache: bool | Cache = True,
                   progress: bool = False) -> pd.DataFrame:
    """Write ``workload``'s report (an :class:`OnnxWorkload` or any workload) to ``path`` (an
    ``.html`` file) and return its per-layer table.

    ``capacities`` (words) are the table's columns. ``bandwidth`` (bytes/s) and ``peak`` (MAC/s),
    both or neither, add the roofline at capacity ``at`` (default: the largest capacity; added to
    the capacities if missing): a ``memory_bound_at_C`` column, a highlight and a roofline plot.
    ``fused``: True traces the fused frontier (``bs.pareto_frontier(workload, fusion=True)``,
    slow on big networks), or pass that frontier if already traced. ``table``: a
    ``network_table`` of ``workload`` at these capacities, reused instead of solving again.
    ``unit`` ("words", "bytes" or "bits") is the curves' axes' unit. The solve options
    (``mapspace``, ``method``, ``solver``, ``cache``) are as in ``network_table``.
    """
    path = Path(path)
    check_path(path)
    bokeh_or_error()
    if unit not in UNITS:
        raise ReportError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    box = machine(bandwidth, peak)
    if at is not None and box is None:
        raise ReportError("at (the capacity the roofline is read at) needs bandwidth and peak")
    caps = sorted({int(c) for c in capacities} | ({int(at)} if at is not None else set()))
    if not caps or caps[0] < 1:
        raise ReportError(f"capacities must be positive whole numbers of words, got {capacities}")
    at = caps[-1] if at is None else int(at)
    opts = dict(mapspace=mapspace, method=method, solver=solver)
    if table is None:
        table = network_table(workload, caps, cache=cache, progress=progress, **opts)
    missing = [c for c in caps if f"accesses_at_{c}" not in table.columns]
    if missing or "frontiers" not in table.attrs:
        raise ReportError(f"the table given has no column accesses_at_{missing[0]}: build it "
                          "with network_table at these capacities" if missing else
                          "the table given has no frontiers: build it with network_table")
    if isinstance(fused, pd.DataFrame):
        front = fused
    elif fused is True:
        front = pareto_frontier(workload, fusion=True, progress=progress, **opts)
    elif fused is False:
        front = None
    else:
        raise ReportError(f"fused must be True, False or a fused frontier, got {fused!r}")
    if box is not None:
        table = roofline(table, box, workload.word_bits)
    page = _page(workload, table, front, caps, box, at, unit,
                 title or f"{workload.name or 'network'}: data-movement bounds")
    path.write_text(page, encoding="utf-8")
    return table


def check_path(path: Path) -> None:
    """The report can be written there: an .html name in a folder that exists and is writable
    (checked before any solve, which may take minutes)."""
    import os

    if path.suffix.lower() not in SUFFIXES:
        raise ReportError(f"--html {path}: name an .html file (the report is one HTML page)")
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ReportError(f"--html {path} is a folder; name a file")
    if not folder.is_dir():
        raise ReportError(f"--html {path}: no folder {folder} (create it first)")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ReportError(f"--html {path}: not writable")


def bokeh_or_error() -> None:
    """bokeh is an optional extra: say how to get it rather than fail with an ImportError."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        raise ReportError("the HTML report needs bokeh: pip install 'boundsolver[report]'") \
            from None


# ------------------------------------------------------------------------------------- the page

def _page(w: Workload, table: pd.DataFrame, fused: pd.DataFrame | None, caps: list[int],
          box: Machine | None, at: int, unit: str, title: str) -> str:
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Div
    from bokeh.resources import INLINE

    bare = table.copy(deep=False)  # pandas deep-copies attrs (every frontier) on each access
    bare.attrs = {}
    parts = [Div(text=_summary(w, table, fused, box, at, title), width=1100),
             _curves(w, table, fused, box, at, unit)]
    if box is not None:
        parts.append(_roofline_plot(bare, box, at))
    parts += [Div(text=f"<h3>Layers</h3><p>Traffic in words at each capacity; click a header to "
                       f"sort.{_legend(box, at)}</p>", width=1100),
              _layer_table(bare, caps, box, at)]
    return file_html(column(*parts), INLINE, title)


def _summary(w, table, fused, box, at, title) -> str:
    moved = exact_accesses(table, at)
    unfused = None if None in moved else sum(moved)
    lines = [f"{len(table)} layers ({table.attrs.get('distinct', len(table))} distinct), "
             f"{int(table['macs'].sum()):,} MACs, {w.word_bits}-bit words",
             f"algorithmic minimum: {w.unfused_minimum:,} words with every layer alone, "
             f"{w.algorithmic_minimum:,} words for the whole network"]
    if unfused is not None:
        lines.append(f"at {at:,} words: {unfused:,} words moved unfused"
                     + (f", {_fused_at(fused, at)} fused" if fused is not None else ""))
    if box is not None:
        col = table[f"memory_bound_at_{at}"]
        lines.append(f"roofline at {at:,} words ({html.escape(str(box))}): "
                     f"<b>{int(col.sum(skipna=True))} of {len(table)} layers memory-bound</b>"
                     + (f", {int(col.isna().sum())} with no mapping there" if col.isna().any()
                        else ""))
    items = "".join(f"<li>{t}</li>" for t in lines)
    return f"<h2>{html.escape(title)}</h2><ul>{items}</ul>"


def _fused_at(fused: pd.DataFrame, at: int) -> str:
    fit = fused[(fused["status"] == "optimal") & (fused["occupancy"] <= at)]
    return "no mapping" if fit.empty else f"{int(fit['accesses'].iloc[-1]):,} words"


def _legend(box, at) -> str:
    if box is None:
        return " Give a bandwidth and a peak to see which layers are memory-bound."
    return (f" Rows in <span style='background:{MEMORY}'>red</span> are memory-bound at "
            f"{at:,} words: moving their least traffic takes longer than their MACs at peak.")


def _curves(w, table, fused, box, at, unit):
    from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter, Span
    from bokeh.plotting import figure

    k = scale(unit, w.word_bits)
    fig = figure(width=1100, height=460, x_axis_type="log", y_axis_type="log",
                 title="Least backing-store traffic against on-chip buffer capacity",
                 x_axis_label=f"buffer capacity ({unit})", y_axis_label=f"traffic ({unit})",
                 tools="pan,wheel_zoom,box_zoom,reset,save")
    unfused = network_frontier(table)
    details = _unfused_details(table, [int(c) for c in unfused["occupancy"]])
    curves = [("unfused", unfused, details, "#1f77b4", w.unfused_minimum, 4)]
    if fused is not None:
        ok = fused[fused["status"] == "optimal"].reset_index(drop=True)
        curves.append(("fused", ok, [_tree(t) for t in ok.get("tree", [""] * len(ok))],
                       "#d62728", w.algorithmic_minimum, 2))
    end = 2 * max(int(c["occupancy"].max()) for _, c, *_ in curves)
    hovered = []
    for name, front, details, colour, minimum, width in curves:
        occ = [int(o) for o in front["occupancy"]]
        acc = [int(a) for a in front["accesses"]]
        fig.step([o * k for o in occ] + [end * k], [a * k for a in acc] + [acc[-1] * k],
                 mode="after", color=colour, line_width=width, alpha=0.8, legend_label=name)
        src = ColumnDataSource({"x": [o * k for o in occ], "y": [a * k for a in acc],
                                "occupancy": [f"{o:,}" for o in occ],
                                "accesses": [f"{a:,}" for a in acc],
                                "curve": [name] * len(occ), "detail": details}, name=name)
        size = (2 + width) * (1 if len(occ) < 300 else 0.6)  # thousands of points: smaller
        hovered.append(fig.scatter("x", "y", source=src, size=size, color=colour,
                                   legend_label=name))
        fig.add_layout(Span(location=minimum * k, dimension="width", line_color=colour,
                            line_dash="dotted", line_width=1))
    if box is not None:
        fig.add_layout(Span(location=at * k, dimension="height", line_color="#555555",
                            line_dash="dashed", line_width=1))
    fig.add_tools(HoverTool(renderers=hovered, tooltips=(
        "<div style='width:520px'><b>@curve</b>: buffer @occupancy words, traffic "
        "@accesses words<pre style='white-space:pre-wrap;word-break:break-all;font-size:10px;"
        "margin:4px 0'>@detail</pre></div>")))
    fig.yaxis.formatter = NumeralTickFormatter(format="0.[00]a")
    fig.xaxis.formatter = NumeralTickFormatter(format="0.[00]a")
    fig.legend.location = "top_right"
    fig.legend.click_policy = "hide"
    return fig


def _unfused_details(table: pd.DataFrame, caps: list[int]) -> list[str]:
    """For each breakpoint ``caps`` of the unfused staircase: the layers whose mapping changes
    there (at the first one, every layer), each with its mapping from there on."""
    fronts, maps = table.attrs["frontiers"], table.attrs.get("mappings", {})
    bare = table.copy(deep=False)
    bare.attrs = {}
    counts = bare["solved_as"].value_counts()
    ops = dict(zip(bare["layer"], bare["op_type"]))
    steps: dict[int, list[tuple[str, int]]] = {}  # occupancy -> (layer, its breakpoint there)
    for name, front in fronts.items():
        for i, (occ, _) in enumerate(front):
            steps.setdefault(occ, []).append((name, i))
    first = [(name, bisect.bisect_right([o for o, _ in front], caps[0]) - 1)
             for name, front in fronts.items()]
    out = []
    for n, cap in enumerate(caps):
        lines = []
        for name, i in first if n == 0 else steps.get(cap, []):
            same = int(counts[name]) - 1
            who = f"{name} ({ops.get(name, '')}" + (
                f", and {same} identical layer{'s' if same > 1 else ''})" if same else ")")
            mapping = maps.get(name, [])
            lines.append(f"{who}: {mapping[i] if i < len(mapping) else ''}")
        head = ("every layer at its least buffer" if not n else
                "layers whose mapping changes here (the others keep theirs)")
        more = len(lines) - LAYERS_SHOWN
        out.append("\n".join([head + ":", *lines[:LAYERS_SHOWN]]
                             + ([f"... and {more} more layers"] if more > 0 else [])))
    return out


def _tree(text) -> str:
    lines = str(text).splitlines()
    more = len(lines) - TREE_LINES
    return "\n".join(lines[:TREE_LINES] + ([f"... ({more} more lines)"] if more > 0 else []))


def _roofline_plot(table: pd.DataFrame, box: Machine, at: int):
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    ridge = float(box.ridge)
    rows = table[(table["macs"] > 0) & table[f"memory_bound_at_{at}"].notna()]
    xs = rows[f"macs_per_byte_at_{at}"].astype(float).clip(upper=1e300)
    lo = min([ridge / 100, *xs[xs > 0]]) / 2
    hi = max([ridge * 100, *xs[xs < math.inf]]) * 2
    fig = figure(width=1100, height=380, x_axis_type="log", y_axis_type="log",
                 title=f"Roofline at {at:,} words ({box})",
                 x_axis_label="MACs per byte moved", y_axis_label="attainable MAC/s",
                 tools="pan,wheel_zoom,box_zoom,reset,save")
    fig.line([lo, ridge, hi], [lo * float(box.bandwidth), float(box.peak), float(box.peak)],
             color="#333333", line_width=2)
    bound = rows[f"memory_bound_at_{at}"].astype(bool)
    src = ColumnDataSource({
        "x": [min(x, hi) for x in xs], "y": [min(float(box.peak), x * float(box.bandwidth))
                                            for x in xs],
        "layer": list(rows["layer"]), "op": list(rows["op_type"]),
        "intensity": [f"{x:.4g}" for x in xs],
        "seconds": [f"{s:.4g}" for s in rows[f"seconds_at_{at}"]],
        "bound": ["memory-bound" if b else "compute-bound" for b in bound],
        "colour": [MEMORY if b else COMPUTE for b in bound]}, name="roofline")
    dots = fig.scatter("x", "y", source=src, size=9, fill_color="colour", line_color="#333333")
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[
        ("layer", "@layer (@op)"), ("MACs/byte", "@intensity"), ("least time", "@seconds s"),
        ("", "@bound")]))
    return fig


def _layer_table(table: pd.DataFrame, caps: list[int], box: Machine | None, at: int):
    from bokeh import models as bm

    verdicts = ([pd.NA] * len(table) if box is None else list(table[f"memory_bound_at_{at}"]))
    words = {True: "memory", False: "compute"}
    colour = [MEMORY if v is not pd.NA and v else PLAIN for v in verdicts]
    cols = [("layer", "layer", 150, "text"), ("op_type", "op", 70, "text"),
            ("kind", "kind", 50, "text"), ("macs", "MACs", 100, "int"),
            ("algorithmic_minimum", "minimum (words)", 110, "int"),
            ("max_effectual_buffer", "max. effectual buffer", 120, "int")]
    cols += [(f"accesses_at_{c}", f"traffic @ {c:,}", 110, "int") for c in caps]
    cols.append((f"op_intensity_at_{at}", f"ops/word @ {at:,}", 100, "float"))
    if box is not None:
        cols += [(f"macs_per_byte_at_{at}", f"MACs/byte @ {at:,}", 100, "float"),
                 (f"seconds_at_{at}", f"least time (s) @ {at:,}", 120, "sci"),
                 ("bound", f"bound @ {at:,}", 90, "text")]
    cols += [("shape", "shape", 220, "text"), ("einsum", "einsum", 420, "text")]
    data = {"row_colour": colour}
    for field, *_ in cols:
        data[field] = ([words[bool(v)] if v is not pd.NA else "no mapping" for v in verdicts]
                       if field == "bound" else [_cell(v) for v in table[field]])
    bg = "row_colour" if box is not None else None

    def number(form: str):
        return bm.NumberFormatter(format=form, background_color=bg, nan_format="—",
                                  text_align="right")

    formats = {"text": lambda: bm.StringFormatter(background_color=bg),
               "int": lambda: number("0,0"), "float": lambda: number("0,0.00"),
               "sci": lambda: number("0.000e+0")}
    columns = [bm.TableColumn(field=f, title=t, width=wd, formatter=formats[kind]())
               for f, t, wd, kind in cols]
    return bm.DataTable(source=bm.ColumnDataSource(data, name="layers"), columns=columns,
                        sortable=True, width=1100, height=min(600, 28 + 25 * len(table)),
                        index_position=None, fit_columns=False, name="layer table",
                        stylesheets=[bm.InlineStyleSheet(css=CELLS)])


def _cell(v):
    """A JSON-friendly cell: None and <NA> as NaN (shown as a dash), numpy numbers as Python
    ones."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return math.nan
    return v.item() if hasattr(v, "item") else v

