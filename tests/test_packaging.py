"""The shipped YAML files are package data: names resolve to them wherever the process runs.

A name (``snowcat``, ``fig12_convs``) reads only ``boundsolver/data/<folder>``; a folder ``arch/``
or ``problems/`` in the working directory must not replace a packaged file (answers would depend
on where a command runs). Local files are read when named as paths. ``.ci/wheel`` checks the same
from an installed wheel.
"""

import fnmatch
from pathlib import Path

import pytest

import boundsolver as bs
from boundsolver.cli import main
from boundsolver.io.specs import named_files

DATA = Path(bs.__file__).parent / "data"
ROOT = Path(__file__).parents[1]
DECOY_ARCH = "name: decoy\nword_bits: 16\nlevels:\n  - {name: DRAM, role: backing_store}\n" \
             "  - {name: Buffer, capacity: sweep}\n"
DECOY_PROBLEM = "problems:\n- name: decoy\n  gemm: {M: 2, K: 2, N: 2}\n"


@pytest.fixture
def decoys(tmp_path, monkeypatch):
    """A working directory whose arch/ and problems/ hold valid files under packaged names."""
    (tmp_path / "arch").mkdir()
    (tmp_path / "problems").mkdir()
    for name in ("snowcat", "a100"):
        (tmp_path / "arch" / f"{name}.yaml").write_text(DECOY_ARCH)
    for name in ("fig12_convs", "fig01_gemm"):
        (tmp_path / "problems" / f"{name}.yaml").write_text(DECOY_PROBLEM)
    (tmp_path / "snowcat").write_text(DECOY_ARCH)  # a bare file named like a packaged arch
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_names_resolve_to_packaged_files_not_the_working_directory(decoys):
    arch = bs.load_arch("snowcat")
    assert (arch.name, arch.word_bits) == ("snowcat", 8)  # the decoy says decoy, 16
    assert bs.load_arch().name == "snowcat"
    assert bs.load_arch("a100").name == "a100"
    # fig12_convs.yaml's five layers (the paper's Fig. 12), not the decoy's one GEMM
    names = [p.name for p in bs.load_problems("fig12_convs")]
    assert names[:4] == ["conv1x1", "conv3x3", "conv5x5", "conv3x3_stride2"] and len(names) == 5
    assert bs.load_problem("fig01_gemm").size == {"m": 16384, "k": 1024, "n": 1024}


def test_paths_load_local_files(decoys):
    for ref in ("arch/snowcat.yaml", "./arch/snowcat.yaml", Path("arch/snowcat.yaml"),
                decoys / "arch" / "snowcat.yaml", str(decoys / "arch" / "a100.yaml"),
                Path("snowcat")):
        assert bs.load_arch(ref).name == "decoy", ref
    (decoys / "mine.yaml").write_text(DECOY_PROBLEM)
    (decoys / "mine").write_text(DECOY_PROBLEM)
    assert bs.load_problem("mine.yaml").name == "decoy"
    assert bs.load_problem("mine").name == "decoy"  # not a packaged name, a file here: a path
    assert bs.load_problem("problems/fig12_convs.yaml").name == "decoy"


def test_unknown_names_and_missing_paths_are_clear_errors(decoys):
    with pytest.raises(bs.SpecError, match=r"unknown architecture 'snocat'.*a100, h100, simba, "
                                           r"snowcat, three_level"):
        bs.load_arch("snocat")
    with pytest.raises(bs.SpecError, match="unknown problem 'fig99'.*fig12_convs"):
        bs.load_problems("fig99")
    # a .yaml name is a path: not found here, and the packaged file's name is suggested
    with pytest.raises(bs.SpecError, match=r"no file 'three_level.yaml' \(does not exist\); the packaged architecture "
                                           "is named 'three_level'"):
        bs.load_arch("three_level.yaml")
    with pytest.raises(bs.SpecError, match=r"no file 'nowhere/x.yaml' \(does not exist\)$"):
        bs.load_problems("nowhere/x.yaml")


def test_cli_reads_packaged_files_from_any_folder(decoys, capsys):
    assert main(["curve", "fig01_gemm", "--capacities", "1000000000", "--method", "enumerate"]) == 0
    out = capsys.readouterr().out
    assert "gemm_16384x1024x1024" in out and "decoy" not in out
    assert main(["problems"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted(p.stem for p in (DATA / "problems").glob("*.yaml"))


def test_every_data_file_is_declared_package_data():
    """A YAML file added under boundsolver/data must match pyproject's package-data, or a wheel
    would leave it out while the source tree (and the other tests) still find it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["boundsolver"]
    files = [p.relative_to(DATA.parent).as_posix() for p in DATA.rglob("*") if p.is_file()
             and "__pycache__" not in p.parts]
    assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files), files
    assert set(named_files("arch")) == {"a100", "h100", "simba", "snowcat", "three_level"}
