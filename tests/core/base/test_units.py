"""One byte formatter, one unit convention (binary: 1 MB = 2**20 bytes)."""

from __future__ import annotations

from slm_wizard.core.base.units import GB, KB, MB, human_bytes


def test_binary_units_with_one_decimal() -> None:
    assert (KB, MB, GB) == (1024, 2**20, 2**30)
    assert human_bytes(None) == ""
    assert human_bytes(0) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1024) == "1.0 KB"
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(10**6) == "976.6 KB"  # a decimal megabyte is less than 1 MB here
    assert human_bytes(5 * MB) == "5.0 MB"
    assert human_bytes(1.5 * GB) == "1.5 GB"
    assert human_bytes(3 * 1024 * GB) == "3072.0 GB"
