"""Precision sweep: variant names, agreement, recommendation, and a real sweep of the demo."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from slm_wizard.core.sweep import (
    SweepError,
    VariantResult,
    agreement,
    parse_variant,
    parse_variants,
    prefix_agreement,
    recommend,
)


def test_variant_names():
    v = parse_variant("int4-b128-asym")
    assert (v.precision, v.block_size, v.symmetric) == ("int4", 128, False)
    assert parse_variant(" INT4 ").block_size == 32 and parse_variant("int4").symmetric
    assert [x.name for x in parse_variants("fp32,int8,,int8,int4")] == ["fp32", "int8", "int4"]
    with pytest.raises(SweepError, match="unknown precision"):
        parse_variant("q4_k_m")
    with pytest.raises(SweepError, match="int4 only"):
        parse_variant("int8-b128")
    with pytest.raises(SweepError, match="block size must be"):
        parse_variant("int4-b100")
    with pytest.raises(SweepError, match="at least one"):
        parse_variants(" , ")


def test_agreement_counts_the_common_prefix():
    assert prefix_agreement(list("abcd"), list("abxd")) == 0.5
    assert prefix_agreement([], []) == 1.0
    assert prefix_agreement(list("ab"), list("abcd")) == 0.5
    mean, exact = agreement([list("ab"), list("xy")], [list("ab"), list("xz")])
    assert mean == 0.75 and exact == 0.5
    assert agreement([], []) is None


def _row(name, precision, size, tps, score, agree):
    return VariantResult(name, name, precision, ok=True, size_bytes=size, decode_tps=tps,
                         domain_score=score, agreement=agree)


def test_recommendation_follows_the_numbers():
    rows = [
        _row("fp32", "fp32", 4000, 100, 1.0, 1.0),
        _row("int8", "int8", 1100, 200, 1.0, 1.0),
        _row("int4", "int4", 700, 250, 0.99, 0.95),
        _row("int4-b128-asym", "int4", 650, 260, 0.6, 0.5),  # smallest, but quality fell
    ]
    name, text = recommend(rows)
    assert name == "int4"
    assert "5.7× smaller than fp32" in text and "int4-b128-asym" in text
    assert "Left out" in text
    # When every quantized variant loses quality, fp32 it is.
    rows[1].domain_score, rows[2].agreement = 0.5, 0.2
    assert recommend(rows[:3])[0] == "fp32"
    # Ties on size: the faster one.
    tie = [_row("a", "int4", 700, 100, None, None), _row("b", "int4", 700, 150, None, None)]
    name, text = recommend(tie)
    assert name == "b" and "no fp32 reference" in text
    # Smaller but slower than fp32: left out.
    slow = [_row("fp32", "fp32", 4000, 100, 1.0, 1.0), _row("int8", "int8", 1000, 20, 1.0, 1.0),
            _row("int4", "int4", 1200, 150, 1.0, 1.0)]
    name, text = recommend(slow)
    assert name == "int4" and "int8: decodes slower than fp32" in text
    failed = VariantResult("fp32", "fp32", "fp32", ok=False, error="boom")
    assert recommend([failed])[0] is None


# --------------------------------------------------------------------- on the demo model (real)


def test_sweep_of_the_demo_via_the_cli(demo_model: Path, tmp_path: Path, capsys):
    """fp32, int8, int4 converted with Olive and measured: a row each, sizes in order."""
    from slm_wizard.cli.main import main

    code = main(["sweep", str(demo_model), "--precisions", "fp32,int8,int4", "--max-prompts",
                 "5", "--output", str(tmp_path / "variants"), "--report-dir",
                 str(tmp_path / "rep"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    obj = json.loads(out.out)
    rows = {v["name"]: v for v in obj["variants"]}
    assert list(rows) == ["fp32", "int8", "int4"]
    for v in rows.values():
        assert v["ok"], v["error"]
        assert v["load_s"] > 0 and v["ttft_s"] > 0 and v["decode_tps"] > 0
        assert v["peak_rss_mb"] > 10
        assert v["domain_score"] == 1.0  # the demo memorized its FAQ, at every precision
        assert (tmp_path / "variants" / v["name"] / "genai_config.json").is_file()
    assert rows["fp32"]["agreement"] == 1.0
    assert rows["int8"]["agreement"] >= 0.9 and rows["int4"]["agreement"] >= 0.9
    # On disk: fp32 is the largest. The quantized layers shrink in the expected order; the
    # embedding table (int8 quantizes it, int4 keeps it fp32) decides the total between them.
    size = {n: v["size_bytes"] for n, v in rows.items()}
    layers = {n: v["size_bytes"] - (v["embedding_bytes"] or 0) for n, v in rows.items()}
    assert size["fp32"] > size["int8"] and size["fp32"] > size["int4"]
    assert layers["fp32"] > layers["int8"] > layers["int4"]
    assert size["int8"] < 0.5 * size["fp32"] and size["int4"] < 0.5 * size["fp32"]
    assert rows["int4"]["embedding_type"] == "float" and rows["fp32"]["embedding_type"] == "float"
    assert obj["recommended"] in rows and obj["recommendation"].startswith("Recommended: ")
    # The report parses back: a table row per precision.
    report = json.loads((tmp_path / "rep" / "sweep.json").read_text(encoding="utf-8"))
    assert [r["variant"] for r in report["tables"]["variants"]["rows"]] == list(rows)
    with (tmp_path / "rep" / "sweep-variants.csv").open(encoding="utf-8", newline="") as f:
        assert [r["variant"] for r in csv.DictReader(f)] == list(rows)
    md = (tmp_path / "rep" / "sweep.md").read_text(encoding="utf-8")
    assert sum(1 for line in md.splitlines() if line.startswith("| int")) == 2


def test_sweep_cli_explains_bad_input(tmp_path: Path, capsys):
    from slm_wizard.cli.main import main

    assert main(["sweep", str(tmp_path), "--precisions", "fp32,q4"]) == 2
    assert "unknown precision 'q4'" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path), "--precisions", "fp32"]) == 2
    assert "no config.json" in capsys.readouterr().err
