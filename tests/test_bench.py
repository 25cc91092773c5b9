"""Benchmark: statistics, length planning, report exports, and a real run on the demo model."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from core.bench import (
    BenchError,
    filler_text,
    load_prompts,
    plan_lengths,
    summarize,
)
from core.reports import Report, Table, default_report_dir, export_report, slug


def test_summarize_matches_textbook_values():
    s = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert s.n == 8 and s.mean == 5 and s.median == 4.5 and s.min == 2 and s.max == 9
    assert math.isclose(s.stdev, 2.138, rel_tol=1e-3)  # sample standard deviation
    assert math.isclose(s.cv, s.stdev / 5)
    one = summarize([3.0])
    assert one.stdev == 0 and one.median == 3
    assert summarize([]) is None


def test_plan_lengths_caps_by_max_length():
    # 512 context, 64 new tokens: at most 447 prompt tokens; 1024 is left out, the cap is run.
    keep, skipped = plan_lengths((16, 64, 256, 1024), 512, 64)
    assert keep == [16, 64, 256, 447] and skipped == [1024]
    keep, skipped = plan_lengths((1024, 16, 16), None, 64)
    assert keep == [16, 1024] and skipped == []
    keep, skipped = plan_lengths((16, 64), 4096, 256)
    assert keep == [16, 64] and skipped == []
    with pytest.raises(BenchError, match="positive"):
        plan_lengths((0, 16), 512, 64)


def test_filler_text_is_deterministic_and_sized():
    assert filler_text(10) == filler_text(10)
    assert len(filler_text(300).split()) == 300
    assert len(filler_text(0).split()) == 1


def test_load_prompts_accepts_objects_and_strings_and_explains_errors(tmp_path: Path):
    good = tmp_path / "p.jsonl"
    good.write_text('{"prompt": "Hi", "system": "Be brief."}\n\n"Hello there"\n', encoding="utf-8")
    assert load_prompts(good) == [{"prompt": "Hi", "system": "Be brief."},
                                  {"prompt": "Hello there"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n', encoding="utf-8")
    with pytest.raises(BenchError, match=r"line 2: .*\"prompt\""):
        load_prompts(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{nope\n", encoding="utf-8")
    with pytest.raises(BenchError, match="line 1: not valid JSON"):
        load_prompts(broken)
    with pytest.raises(BenchError, match="cannot read"):
        load_prompts(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(BenchError, match="no prompts"):
        load_prompts(empty)


def parse_markdown_tables(text: str) -> list[list[list[str]]]:
    """Markdown tables as rows of cells (the separator row dropped)."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not all(set(c) <= {"-"} for c in line.strip("|").split("|")):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def test_report_exports_parse_back(tmp_path: Path):
    table = Table("runs", "Runs", ["name", "value", "ok"],
                  [["a|b", 1.5, True], ["ünï 😀", None, False]])
    report = Report("bench", "Benchmark", {"model": "demo"}, [table], ["a note"],
                    data={"nan": float("nan"), "path": tmp_path})
    paths = export_report(report, tmp_path / "out")
    assert [p.name for p in paths.all()] == ["bench.md", "bench.json", "bench-runs.csv"]
    obj = json.loads(paths.json.read_text(encoding="utf-8"))
    assert obj["tables"]["runs"]["rows"][0] == {"name": "a|b", "value": 1.5, "ok": True}
    assert obj["data"]["nan"] is None and obj["data"]["path"] == str(tmp_path)
    with paths.csv[0].open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["name", "value", "ok"], ["a|b", "1.5", "True"], ["ünï 😀", "", "False"]]
    md = parse_markdown_tables(paths.markdown.read_text(encoding="utf-8"))
    assert md[0][0] == ["name", "value", "ok"]
    assert md[0][1] == ["a\\|b", "1.5", "yes"] and len(md[0]) == 3
    assert not list((tmp_path / "out").glob("*.tmp"))  # atomic writes leave no temp files


def test_default_report_dir_is_under_data_dir():
    folder = default_report_dir("my model/v1", when=0)
    assert folder.parent.name == "reports"
    assert folder.name.endswith("-my-model-v1")
    assert slug("") == "model"
