"""Architecture files: levels, capacities (numbers, parameters, sweep), keeps, fanout; clear errors."""

from __future__ import annotations

import pytest

import boundsolver as bs
from boundsolver.io.specs import SpecError, load_arch


def test_shipped_architectures():
    snow = load_arch("snowcat")
    assert snow.is_single_buffer and snow.swept.name == "Buffer" and snow.word_bits == 8
    three = load_arch("three_level")
    assert [lv.name for lv in three.levels] == ["DRAM", "L2", "L1"]
    assert three.swept.name == "L2" and three.levels[2].capacity == 4096
    assert load_arch("three_level", L1=8192).levels[2].capacity == 8192
    a100 = load_arch("a100")
    assert a100.word_bits == 32 and a100.levels[2].instances == 108
    assert a100.levels[2].capacity == 164 * 1024 // 4
    simba = load_arch("simba")
    assert [lv.name for lv in simba.on_chip][:2] == ["GlobalBuffer", "InputBuffer"]
    assert simba.swept.keeps == ("input", "output") and simba.levels[-1].instances == 1024
    assert simba.levels[4].word_bits == 24
    h100 = load_arch("h100")
    assert h100.levels[2].capacity == 228 * 1024 // 4 and h100.levels[3].instances == 132


def test_keeps_by_name_and_role():
    p = bs.conv(R=3, S=3, P=8, Q=8, C=4, K=4)
    names = {T.name: T for T in p.tensors}
    lv = bs.Level("GLB", 100, keeps=("input", "output"))
    assert [T.name for T in p.tensors if lv.keeps_tensor(p, T)] == [p.inputs[0].name, p.output.name]
    assert bs.Level("W", 10, keeps=("weight",)).keeps_tensor(p, p.inputs[1])
    assert bs.Level("X", 10, keeps=(p.inputs[1].name,)).keeps_tensor(p, names[p.inputs[1].name])
    assert not bs.Level("X", 10, keeps=("output",)).keeps_tensor(p, p.inputs[0])
    assert not any(bs.Level("F", 10, keeps=("none",)).keeps_tensor(p, T) for T in p.tensors)
    with pytest.raises(bs.ArchError, match="level 'T' keeps 'Wt', which is no tensor"):
        bs.Level("T", 10, keeps=("Wt",)).keeps_tensor(p, p.inputs[1])


@pytest.mark.parametrize("text,message", [
    ("word_bits: 8\nlevels: [{name: DRAM}]\n", "at least a backing store and one buffer"),
    ("word_bits: 8\nlevels: [{name: DRAM}, {name: L1}]\n", "level 'L1': capacity is required"),
    ("word_bits: 8\nlevels: [{name: DRAM}, {name: L1, capacity: -3}]\n",
     "level 'L1': capacity must be a positive integer"),
    ("word_bits: 8\nlevels: [{name: DRAM}, {name: L1, capacity: X}]\n",
     "level 'L1': capacity names the parameter 'X', which is not given"),
    ("word_bits: 8\nlevels: [{name: DRAM}, {name: L1, capacity: sweep, size: 3}]\n",
     "level 'L1': unknown key 'size'"),
    ("word_bits: 8\nlevels: [{name: DRAM}, {name: L1, capacity: 8, instances: 0}]\n",
     "level 'L1': instances must be a positive integer"),
    ("word_bits: 8\nlevels: [{name: DRAM}, {name: L1, capacity: sweep}, {name: L1, capacity: 4}]\n",
     "level names must be distinct"),
    ("word_bits: 8\nlevels: [{name: DRAM, capacity: 5}, {name: L1, capacity: 4}]\n",
     "level 'DRAM': the backing store has no capacity"),
    ("word_bits: 8\nlevels: [{name: DRAM}, {name: L1, capacity: 4, multicast: maybe}]\n",
     "level 'L1': multicast must be true or false"),
])
def test_bad_files_name_the_level_and_key(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_arch(bad)


def test_unknown_size_is_named():
    with pytest.raises(SpecError, match="no level's capacity is named 'L3'"):
        load_arch("three_level", L3=5)
