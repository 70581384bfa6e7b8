"""`make bench` writes results/ only; `make bench DOCS=1` (--docs) also rewrites its
section of docs/benchmarks.md (issue 12: a plain run left the tracked docs modified)."""

from __future__ import annotations

import json

from cimtrain import bench

TILE = {"s_per_vmm_with_polling": 0.125, "s_per_bus_read": 0.0005,
        "blocks_s_per_vmm": [0.125] * 5, "blocks_s_per_bus_read": [0.0005] * 5}


def _fake(monkeypatch, tmp_path):
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n\nhand-written text\n")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(bench, "DOCS_MD", md)
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setattr(bench, "bench_model_vmm", lambda: {
        "s_per_vmm": 0.0042, "vmms_per_block": 50, "blocks_s_per_vmm": [0.0042] * 5})
    monkeypatch.setattr(bench, "bench_icarus_vmm", lambda: {
        "rows": 256, "cols": 64, "vmms_per_block": 10, "blocks": 5,
        "noise_on": TILE, "noise_off": TILE})
    return md


def test_plain_bench_leaves_the_docs_alone(monkeypatch, tmp_path):
    md = _fake(monkeypatch, tmp_path)
    before = md.read_bytes()
    assert bench.main(["--only", "tile"]) == 0
    assert md.read_bytes() == before
    res = json.loads((tmp_path / "results" / "bench.json").read_text())
    assert res["model_full_tile_vmm"]["s_per_vmm"] == 0.0042


def test_docs_flag_writes_the_tile_section(monkeypatch, tmp_path):
    md = _fake(monkeypatch, tmp_path)
    assert bench.main(["--only", "tile", "--docs"]) == 0
    text = md.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written text\n")
    assert bench.TILE_BEGIN in text and bench.TILE_END in text
    assert "| bit-exact model (numpy, register level) | 0.0042 |" in text
    assert "medians of 5 blocks of 10 VMMs (Icarus) and 5 blocks of 50 (model)" in text
