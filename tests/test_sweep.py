"""Precision sweep: variant names, agreement, recommendation, and a real sweep of the demo."""

from __future__ import annotations

import pytest

from core.sweep import (
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
