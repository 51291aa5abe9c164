"""What the HTML report costs on top of the solves: bs.network_report with the table (and the
fused frontier) already traced, for the light ResNet-50 that the onnx package ships (unfused
only: its fused frontier takes minutes) and the packaged GPT-3 6.7B block at 2,048 tokens
(fused too, traced first and not timed here), with a roofline. Columns: layers, breakpoints
drawn (unfused, fused), solve seconds (network_table, empty cache; fused frontier), page
seconds, and the page's size.

    python benchmarks/report_html.py           # writes benchmarks/results/report_html.csv
    python benchmarks/report_html.py --no-fused   # skip the GPT block's fused frontier
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import onnx
from common import report

import boundsolver as bs
from boundsolver.report.network import network_frontier, network_table

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def one(name, w, caps, fused: bool, at: int, bandwidth: str, peak: str) -> dict:
    began = time.perf_counter()
    table = network_table(w, caps, cache=False, progress=False)
    solve = time.perf_counter() - began
    front, fused_s = None, 0.0
    if fused:
        began = time.perf_counter()
        front = bs.pareto_frontier(w, fusion=True)
        fused_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        began = time.perf_counter()
        bs.network_report(w, path, caps, bandwidth=bandwidth, peak=peak, at=at,
                          fused=front if front is not None else False, table=table)
        page = time.perf_counter() - began
        size = path.stat().st_size
    return {"model": name, "layers": len(table), "unfused_points": len(network_frontier(table)),
            "fused_points": 0 if front is None else len(front), "table_s": solve,
            "fused_s": fused_s, "page_s": page, "page_mb": size / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-fused", action="store_true", help="skip the GPT block's fused frontier")
    args = ap.parse_args()
    rows = [one("light_resnet50", bs.from_onnx(LIGHT / "light_resnet50.onnx"),
                [1024, 16384, 262144, 4194304], False, 262144, "1e12", "1e13"),
            one("gpt3_6.7b t=2048", bs.load_problem("gpt3_6.7b", tokens=2048),
                [16384, 262144, 1 << 20, 1 << 24], not args.no_fused, 1 << 20, "3.35e12",
                "4.95e14")]
    report(rows, Path(__file__).parent / "results" / "report_html.csv")


if __name__ == "__main__":
    main()
