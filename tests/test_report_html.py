"""The HTML report (``bs.network_report``, ``boundsolver network --html``) and its roofline.

A two-GEMM workload built by hand: ``Hidden[m,n] += Input[m,k] * Weight1[k,n]`` (m=k=n=16:
4,096 MACs, three 256-word tensors) then ``Output[m,j] += Hidden[m,n] * Weight2[n,j]`` (j=2:
512 MACs, tensors of 256, 32 and 32 words). With a buffer that holds every tensor each tensor
moves once, so at 1,000,000 words their traffic is 768 and 320 words, counted here from the
sizes; and no mapping fits a buffer of 2 words, since one element of each of the three operands
must be on chip. The roofline's verdicts are worked out below from those counts.
"""

import json
import re
import sys
from fractions import Fraction
from html.parser import HTMLParser

import pandas as pd
import pytest

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.errors import ReportError
from boundsolver.report.network import canonical, named_mapping, network_table
from boundsolver.report.roofline import machine, rate, roofline

pytest.importorskip("bokeh")

BIG, TINY = 1_000_000, 2
FIRST = ("Hidden", 4096, 3 * 256)  # layer, MACs, words moved at BIG
SECOND = ("Output", 16 * 16 * 2, 256 + 16 * 2 + 16 * 2)


def two_gemms(word_bits=8):
    return bs.workload(["Hidden[m,n] += Input[m,k] * Weight1[k,n]",
                        "Output[m,j] += Hidden[m,n] * Weight2[n,j]"],
                       name="two_gemms", word_bits=word_bits, m=16, k=16, n=16, j=2)


@pytest.fixture(scope="module")
def workload():
    return two_gemms()


@pytest.fixture(scope="module")
def table(workload):
    return network_table(workload, [TINY, 600, BIG], cache=False, progress=False)


class Tags(HTMLParser):
    """Every tag with its attributes, and the JSON documents bokeh embeds."""

    def __init__(self):
        super().__init__()
        self.tags, self.docs, self._json = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._json = tag == "script" and dict(attrs).get("type") == "application/json"

    def handle_data(self, data):
        if self._json and data.strip():
            self.docs.append(json.loads(data))
        self._json = False


def objects(node):
    """Every bokeh model in a serialized document, as (name, attributes)."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node.get("name"), node.get("attributes", {})
        for v in node.values():
            yield from objects(v)
    elif isinstance(node, list):
        for v in node:
            yield from objects(v)


def sources(docs) -> dict[str, dict]:
    """ColumnDataSources by name: {column: values}."""
    out = {}
    for name, attrs in objects(docs):
        if name == "ColumnDataSource" and "name" in attrs:
            out[attrs["name"]] = dict(attrs["data"]["entries"])
    return out


@pytest.fixture(scope="module")
def page(workload, table, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    fused = bs.pareto_frontier(workload, fusion=True)
    out = bs.network_report(workload, path, [TINY, 600, BIG], bandwidth=1000, peak=4000, at=BIG,
                            fused=fused, table=table)
    parsed = Tags()
    text = path.read_text()
    parsed.feed(text)
    return text, parsed, out


# --------------------------------------------------------------------------------- the roofline

def test_memory_bound_matches_a_hand_count(table):
    """Ridge 4000/1000 = 4 MACs/byte, 1-byte words: the first GEMM does 4096/768 = 5.33 MACs per
    byte (compute-bound, 4096/4000 s), the second 512/320 = 1.6 (memory-bound, 320/1000 s)."""
    box = machine(1000, 4000)
    out = roofline(table, box, 8)
    rows = out.set_index("layer")
    for (name, macs, words), bound in [(FIRST, False), (SECOND, True)]:
        assert rows.loc[name, f"accesses_at_{BIG}"] == words
        assert rows.loc[name, f"memory_bound_at_{BIG}"] == bound
        assert rows.loc[name, f"macs_per_byte_at_{BIG}"] == pytest.approx(macs / words)
        assert rows.loc[name, f"seconds_at_{BIG}"] == pytest.approx(max(macs / 4000, words / 1000))
    assert out[f"memory_bound_at_{TINY}"].isna().all()  # no mapping fits 2 words
    assert out.attrs["frontiers"] == table.attrs["frontiers"]


def test_words_are_converted_to_bytes():
    """16-bit words: the first GEMM moves 768·2 bytes, 4096/1536 = 2.67 MACs/byte, below a ridge
    of 4 (memory-bound), where with 8-bit words it was compute-bound."""
    w = two_gemms(word_bits=16)
    t = network_table(w, [BIG], cache=False, progress=False)
    out = roofline(t, machine(1000, 4000), w.word_bits)
    first = out.set_index("layer").loc["Hidden"]
    assert first[f"macs_per_byte_at_{BIG}"] == pytest.approx(4096 / 1536)
    assert bool(first[f"memory_bound_at_{BIG}"])


def test_a_tie_is_decided_exactly(table):
    """Bandwidth 3.3 bytes/s and peak 17.6 MAC/s put the ridge at 16/3, exactly the first GEMM's
    4096/768: moving 768 bytes and doing 4096 MACs take 2560/11 s each, so it is not memory-bound
    (strictly longer is). Floats get this wrong: 768/3.3 > 4096/17.6 in doubles."""
    assert 768 / 3.3 > 4096 / 17.6  # the trap an inexact comparison falls into
    out = roofline(table, machine("3.3", "17.6"), 8)
    assert not out.set_index("layer").loc["Hidden", f"memory_bound_at_{BIG}"]


@pytest.mark.parametrize("bandwidth, peak", [(0, 1), (-1, 1), ("abc", 1), (float("nan"), 1),
                                             (True, 1), ("1e999999999", 1), (1, "inf")])
def test_bad_rates_are_refused(bandwidth, peak):
    with pytest.raises(ReportError, match="positive number"):
        machine(bandwidth, peak)


def test_one_rate_without_the_other_is_refused():
    with pytest.raises(ReportError, match="bandwidth needs peak"):
        machine(1e12, None)
    assert machine(None, None) is None


# ------------------------------------------------------------------------------------ the page

def test_page_is_self_contained(page):
    text, parsed, _ = page
    for tag, attrs in parsed.tags:  # nothing is fetched: no script, style or image from a URL
        for key in ("src", "href"):
            assert not str(attrs.get(key, "")).startswith(("http:", "https:", "//")), (tag, attrs)
    assert any(tag == "script" and not attrs for tag, attrs in parsed.tags)  # bokeh, inline
    assert "Bokeh" in text and len(text) > 500_000  # the library's code is in the file


def test_page_holds_every_layer_and_both_curves(page, workload):
    text, parsed, _ = page
    for name in ("Hidden", "Output"):
        assert name in text
    data = sources(parsed.docs)
    for fusion, name in [(False, "unfused"), (True, "fused")]:
        front = bs.pareto_frontier(workload, fusion=fusion)  # traced again, independently
        assert data[name]["occupancy"] == [f"{int(o):,}" for o in front["occupancy"]]
        assert data[name]["accesses"] == [f"{int(a):,}" for a in front["accesses"]]
    first = data["unfused"]["detail"][0]
    assert "Hidden" in first and "Output" in first  # every layer's mapping at the first point
    assert "for " in first and "r0" not in first and "T0" not in first  # in the layers' names
    assert "segment" in data["fused"]["detail"][-1]  # a fused point shows its loop tree


def test_table_is_sortable_and_highlights_memory_bound_rows(page):
    text, parsed, out = page
    assert "1 of 2 layers memory-bound" in text  # the summary
    tables = [a for n, a in objects(parsed.docs) if n == "DataTable"]
    assert len(tables) == 1 and tables[0].get("sortable", True) is True  # bokeh's default: True
    rows = sources(parsed.docs)["layers"]
    assert rows["layer"] == ["Hidden", "Output"]
    assert rows["bound"] == ["compute", "memory"]
    assert rows["row_colour"][0] != rows["row_colour"][1]
    assert list(out[f"memory_bound_at_{BIG}"]) == [False, True]  # the table returned


def test_named_mapping_renames_in_one_pass():
    """Ranks and tensors already called like canonical names are renamed once, not chained."""
    e = bs.einsum("T0[r1,x] += A[r1,k] * B[k,x]", r1=4, k=4, x=4)
    c = canonical(e)
    assert str(c) == "T2[r0,r2] += T0[r0,r1] * T1[r1,r2]"
    assert named_mapping("for r1 in [0,4): [T0{r0:1,r1:2}] [T2{r2:4}]", e) == \
        "for k in [0,4): [A{r1:1,k:2}] [T0{x:4}]"


def test_report_refuses_what_does_not_apply(workload, table, tmp_path):
    path = tmp_path / "r.html"
    cases = [(dict(bandwidth=1e12), "bandwidth needs peak"), (dict(at=600), "at .* needs"),
             (dict(fused="yes"), "fused must be"), (dict(unit="furlongs"), "unit must be"),
             (dict(capacities=[4096]), "no column accesses_at_4096")]
    for kwargs, message in cases:
        with pytest.raises(ReportError, match=message):
            bs.network_report(workload, path, **({"capacities": [TINY, 600, BIG]} | kwargs),
                              table=table)
    for bad in (tmp_path / "r.txt", tmp_path / "missing" / "r.html", tmp_path):
        with pytest.raises(ReportError, match="html"):
            bs.network_report(workload, bad, [BIG], table=table)
    assert not path.exists()


# -------------------------------------------------------------------------------------- the CLI

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    np = pytest.importorskip("numpy")
    weight = numpy_helper.from_array(np.zeros((16, 16), np.float32), "w1")
    weight2 = numpy_helper.from_array(np.zeros((16, 2), np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="proj"),
         helper.make_node("Relu", ["h"], ["r"], name="act"),
         helper.make_node("MatMul", ["r", "w2"], ["y"], name="head")],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 2])], [weight, weight2])
    path = tmp_path_factory.mktemp("onnx") / "mlp.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_cli_writes_the_report(model, tmp_path, capsys):
    """float32: 4-byte words. proj moves 768 words = 3072 bytes for 4096 MACs (1.33 MACs/byte),
    act 512 words for no MACs, head 320 words = 1280 bytes for 512 MACs (0.4): at a ridge of 1
    MAC/byte proj is compute-bound and the other two memory-bound."""
    out, csv = tmp_path / "mlp.html", tmp_path / "mlp.csv"
    rc = main(["network", str(model), "-c", "64,1000000", "--bandwidth", "1e12", "--peak",
               "1e12", "--fusion", "--no-cache", "--html", str(out), "--csv", str(csv),
               "--unit", "bytes"])
    assert rc == 0
    text = out.read_text()
    assert all(name in text for name in ("proj", "act", "head"))
    table = pd.read_csv(csv)
    assert list(table["memory_bound_at_1000000"]) == [False, True, True]
    assert "2 of 3 layers memory-bound" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--bandwidth", "1e12"], "--bandwidth needs --peak"),
    (["--peak", "1e12"], "--peak needs --bandwidth"),
    (["--at", "4096"], "--at applies to --bandwidth and --peak"),
    (["--bandwidth", "-5", "--peak", "1"], "--bandwidth .* positive number"),
    (["--bandwidth", "1", "--peak", "1", "--at", "0"], "capacity"),
    (["--html", "report.pdf"], "name an .html file"),
    (["--html", "no/such/folder/r.html"], "no folder"),
])
def test_cli_refuses_bad_report_options(model, args, message, capsys, monkeypatch):
    from boundsolver.report import network

    monkeypatch.setattr(network, "network_table", lambda *a, **k: pytest.fail("solved"))
    assert main(["network", str(model), "-q", "--no-cache", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(message, err), err


def test_cli_without_bokeh_says_how_to_install_it(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "bokeh", None)  # import bokeh fails
    assert main(["network", str(model), "-q", "--html", str(tmp_path / "r.html")]) == 2
    assert "pip install 'boundsolver[report]'" in capsys.readouterr().err


def test_exact_rates_stay_exact():
    assert rate("0.1", "x") == Fraction(1, 10)
    assert rate(2, "x") == 2
