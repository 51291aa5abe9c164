"""The single-Einsum notebook runs headless (quick mode: two problems per figure)."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "single_einsum.ipynb"


def test_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("BOUNDSOLVER_QUICK", "1")
    monkeypatch.setenv("BOUNDSOLVER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed clean
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()


def test_fusion_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("BOUNDSOLVER_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = NOTEBOOK.parent / "fusion.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed clean
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
