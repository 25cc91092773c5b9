"""Quantization advisor: variant names, the rule, the Pareto front, and real sweeps of the demo
(quick preset, conversions cached once per session)."""

from __future__ import annotations

import csv
import json
import shutil
import threading
from pathlib import Path

import pytest

from slm_wizard.core.evaluate.sweep_result import (
    VariantResult,
    limit_problem,
    pareto_front,
    rank_and_front,
    recommend,
)
from slm_wizard.core.evaluate.sweep_variants import (
    PRESETS,
    SweepError,
    parse_variant,
    parse_variants,
)
from tests.helpers import converted_record
from tests.helpers.onnx import damage


def test_variant_names():
    v = parse_variant("int4-b128-asym")
    assert (v.precision, v.block_size, v.symmetric, v.algo) == ("int4", 128, False, "default")
    assert parse_variant(" INT4 ").block_size == 32 and parse_variant("int4").symmetric
    k = parse_variant("int4-k_quant_mixed-b64")
    assert (k.algo, k.block_size, k.name) == ("k_quant_mixed", 64, "int4-k_quant_mixed-b64")
    assert parse_variant("int4-b32-sym").name == "int4"  # canonical names
    assert parse_variant("int4-embfp32").quantize_embedding is False
    assert [x.name for x in parse_variants("fp32,int8,,int8,int4")] == ["fp32", "int8", "int4"]
    # What the builder is given: algorithm, block, symmetry, accuracy level 4, op types.
    opts = parse_variant("int4-b64-asym").builder_options()["builder"]
    assert opts["int4_block_size"] == 64 and opts["int4_is_symmetric"] is False
    assert opts["int4_accuracy_level"] == 4 and opts["int4_algo_config"] == "default"
    assert opts["int4_op_types_to_quantize"] == ["MatMul", "Gather"]
    kq = parse_variant("int4-k_quant_last").builder_options()["builder"]
    assert kq["int4_algo_config"] == "k_quant_last" and "int4_op_types_to_quantize" not in kq
    assert "quantize_int8" in parse_variant("int8").builder_options()
    for name in PRESETS["full"]:
        assert parse_variant(name).name == name
    assert len(PRESETS["quick"]) == 4
    with pytest.raises(SweepError, match="unknown variant"):
        parse_variant("q4_k_m")
    with pytest.raises(SweepError, match="not an int4 option"):
        parse_variant("int4-gptq")
    with pytest.raises(SweepError, match="int4 only"):
        parse_variant("int8-b128")
    with pytest.raises(SweepError, match="block size must be"):
        parse_variant("int4-b100")
    with pytest.raises(SweepError, match="default algorithm only"):
        parse_variant("int4-rtn-embfp32")
    with pytest.raises(SweepError, match="at least one"):
        parse_variants(" , ")


def _row(name, size, kld, top1, tps=100.0, precision="int4"):
    return VariantResult(name, name, precision, ok=True, size_bytes=size, decode_tps=tps,
                         mean_kld=kld, top1_agreement=top1)


def test_pareto_front_and_rank():
    rows = [_row("fp32", 4000, 0.0, 1.0, precision="fp32"), _row("int8", 1100, 0.001, 0.99),
            _row("int4", 700, 0.01, 0.97), _row("int4-b128", 800, 0.02, 0.95),  # dominated
            VariantResult("bad", "bad", "int4", ok=False, error="boom")]
    assert pareto_front(rows) == {"fp32", "int8", "int4"}
    rank_and_front(rows)
    assert [r.rank for r in rows] == [1, 2, 3, 4, None]
    assert [r.pareto for r in rows] == [True, True, True, False, False]


def test_recommendation_follows_the_rule():
    rows = [_row("fp32", 4000, 0.0, 1.0, precision="fp32"), _row("int8", 1100, 0.001, 0.99),
            _row("int4", 700, 0.01, 0.97), _row("int4-b128-asym", 650, 0.2, 0.80)]
    name, runner, text = recommend(rows)
    assert (name, runner) == ("int4", "int8")  # int4-b128-asym is smaller but over the limits
    assert "Runner-up: int8" in text and "int4-b128-asym: mean KLD 0.2 > 0.05" in text
    # The limits are the user's: stricter limits pick the larger, closer variant.
    assert recommend(rows, max_kld=0.005)[0] == "int8"
    assert recommend(rows, min_top1=0.995)[0] == "fp32"
    assert recommend(rows, max_kld=1.0, min_top1=0.5)[:2] == ("int4-b128-asym", "int4")
    assert limit_problem(rows[2], 0.05, 0.98) == "top-1 agreement 97.0% < 98%"
    # Ties on size: the faster one.
    tie = [_row("fp32", 4000, 0.0, 1.0), _row("a", 700, 0.01, 0.99, 100),
           _row("b", 700, 0.01, 0.99, 150)]
    assert recommend(tie)[0] == "b"
    # No measured reference: nothing to recommend, and it says why.
    name, runner, text = recommend(rows[1:])
    assert name is None and "reference" in text


def test_sizes_are_in_binary_units_in_the_table_the_plot_and_the_text():
    from slm_wizard.core.base.units import MB
    from slm_wizard.core.evaluate.sweep_result import SweepResult, plot_points

    rows = [_row("fp32", 8 * MB, 0.0, 1.0, precision="fp32"), _row("int4", 3 * MB, 0.01, 0.99)]
    rank_and_front(rows)
    result = SweepResult("m", rows)
    table = result.table()
    size = table.columns.index("size (MB)")
    assert [r[size] for r in table.rows] == [8.0, 3.0]
    assert [p["size_mb"] for p in plot_points(result)] == [8.0, 3.0]
    assert recommend(rows)[2].startswith("Recommended: int4 (int4): 3.0 MB, 2.7× smaller")


# --------------------------------------------------------------------- on the demo model (real)


@pytest.fixture(scope="session")
def quick_sweep(demo_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """The quick preset on the demo, once per session: (cache root, SweepResult)."""
    from slm_wizard.core.evaluate.sweep import run_sweep

    root = tmp_path_factory.mktemp("sweep-cache")
    result = run_sweep(demo_model, PRESETS["quick"], output_root=root, max_prompts=3,
                       fidelity_tokens=512)
    return root, result


def test_quick_sweep_of_the_demo(quick_sweep):
    root, result = quick_sweep
    rows = {v.name: v for v in result.variants}
    assert list(rows) == list(PRESETS["quick"])
    for v in rows.values():
        assert v.ok, v.error
        assert not v.cached
        assert v.decode_tps > 0 and v.ttft_s > 0 and v.peak_rss_bytes > 10 * 2**20
        assert v.fidelity_tokens == 512 and v.perplexity > 1
        assert Path(v.output_dir, "genai_config.json").is_file()
    assert rows["fp32"].mean_kld == 0 and rows["fp32"].top1_agreement == 1
    for name in ("int8", "int4", "int4-k_quant_mixed"):
        v = rows[name]
        assert 0 < v.mean_kld < 0.05 and v.p99_kld >= v.mean_kld and v.top1_agreement > 0.95
    # INT4 with its embedding quantized is smaller than INT8 on this tied-embedding model.
    assert rows["int4"].size_bytes < rows["int8"].size_bytes < rows["fp32"].size_bytes
    assert "int4" in rows["int4"].embedding_type
    assert rows["int8"].mean_kld < rows["int4"].mean_kld  # 8 bits stay closer to fp32
    assert result.domain_source.startswith("domain set ")
    # The rule: the smallest variant within the limits.
    fit = [v for v in result.variants
           if v.mean_kld <= result.max_kld and v.top1_agreement >= result.min_top1]
    assert result.recommended == min(fit, key=lambda v: v.size_bytes).name
    assert result.runner_up == sorted(fit, key=lambda v: v.size_bytes)[1].name


def test_sweep_cli_json_report_and_stable_order(quick_sweep, demo_model: Path, tmp_path: Path,
                                                capsys):
    """A second run (the CLI, conversions from the cache) gives the same KLD order."""
    from slm_wizard.cli.main import main

    root, first = quick_sweep
    code = main(["sweep", str(demo_model), "--preset", "quick", "--max-prompts", "3",
                 "--fidelity-tokens", "512", "--output", str(root), "--report-dir",
                 str(tmp_path / "rep"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    obj = json.loads(out.out)
    for key in ("reference", "recommended", "rule", "domain_source", "runner_up"):
        assert obj[key], key
    assert obj["reference"] == "fp32" and "at most 0.05" in obj["rule"]
    keys = {"name", "options", "size_bytes", "decode_tps", "ttft_s", "peak_rss_bytes",
            "mean_kld", "p99_kld", "top1_agreement", "perplexity", "domain_score"}
    for v in obj["variants"]:
        assert keys <= set(v) and v["cached"], v
    assert obj["variants"][3]["options"]["builder"]["int4_algo_config"] == "k_quant_mixed"
    again = {v["name"]: v["mean_kld"] for v in obj["variants"]}
    before = {v.name: v.mean_kld for v in first.variants}
    assert sorted(again, key=again.get) == sorted(before, key=before.get)
    for name, kld in before.items():
        assert again[name] == pytest.approx(kld, rel=1e-3, abs=1e-9)
    assert obj["recommended"] == first.recommended
    # The report: a Pareto table row per variant, the plot in the Markdown and as an SVG.
    report = json.loads((tmp_path / "rep" / "sweep.json").read_text(encoding="utf-8"))
    rows = report["tables"]["variants"]["rows"]
    assert {r["variant"] for r in rows} == set(PRESETS["quick"])
    assert report["data"]["domain_source"] == obj["domain_source"]
    with (tmp_path / "rep" / "sweep-variants.csv").open(encoding="utf-8", newline="") as f:
        assert {r["variant"] for r in csv.DictReader(f)} == set(PRESETS["quick"])
    md = (tmp_path / "rep" / "sweep.md").read_text(encoding="utf-8")
    assert "Size against mean KLD" in md and "tok/s" in md and "sweep-plot.svg" in md
    assert obj["domain_source"] in md
    assert (tmp_path / "rep" / "sweep-plot.svg").read_text().startswith("<svg")


def test_damaged_variant_is_ranked_last(quick_sweep, demo_model: Path, tmp_path: Path):
    from slm_wizard.core.evaluate.sweep import run_sweep
    from slm_wizard.core.evaluate.sweep_cache import variant_folder
    from slm_wizard.core.evaluate.sweep_variants import parse_variant

    root, first = quick_sweep
    copy = tmp_path / "cache"
    shutil.copytree(root, copy)
    mhash = Path(first.variant("int4").output_dir).parent.name
    damage(variant_folder(copy, mhash, parse_variant("int4")))
    result = run_sweep(demo_model, PRESETS["quick"], output_root=copy, max_prompts=2,
                       fidelity_tokens=512)
    damaged = result.variant("int4")
    assert damaged.ok and damaged.cached
    assert result.ranked()[-1].name == "int4"
    assert damaged.rank == len(result.variants)
    assert damaged.mean_kld > 10 * max(v.mean_kld for v in result.variants if v is not damaged)
    assert result.recommended not in (None, "int4")
    assert result.status_of(damaged).startswith("over limit")


def test_cancel_stops_within_a_variant(quick_sweep, demo_model: Path):
    from slm_wizard.core.evaluate.sweep import run_sweep

    root, _ = quick_sweep
    cancel = threading.Event()

    def on_progress(p):
        if p.text.startswith("int8: measuring"):
            cancel.set()

    result = run_sweep(demo_model, PRESETS["quick"], output_root=root, max_prompts=2,
                       fidelity_tokens=512, on_progress=on_progress, cancel=cancel)
    assert result.cancelled and [v.name for v in result.variants] == ["fp32", "int8"]
    assert result.variant("int8").error == "cancelled while measuring"
    assert result.recommendation.startswith("Cancelled")


def test_sweep_cli_explains_bad_input(tmp_path: Path, capsys):
    from slm_wizard.cli.main import main

    assert main(["sweep", str(tmp_path), "--variants", "fp32,q4"]) == 2
    assert "unknown variant 'q4'" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path), "--preset", "quick"]) == 2
    assert "no config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", str(tmp_path), "--max-kld", "-1"])
    assert "must be above 0" in capsys.readouterr().err


async def test_use_this_variant_continues_to_deploy_with_it(wizard, quick_sweep, demo_model: Path,
                                                            tmp_path: Path):
    """The Validate screen shows the advisor's table, rule and plot; "Use this variant" takes
    the highlighted variant's folder to Deploy."""
    from textual.widgets import Button, DataTable, Static


    _, result = quick_sweep
    state = converted_record(demo_model, Path(result.variant("fp32").output_dir), is_demo=True)
    app = wizard("validate", state)
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        assert screen.query_one("#sweep-use", Button).disabled  # nothing measured yet
        screen.show_sweep(result)
        await pilot.pause()
        table = screen.query_one("#sweep-table", DataTable)
        assert table.row_count == 4
        names = [str(table.get_row_at(i)[0]) for i in range(4)]
        assert names[table.cursor_row] == result.recommended  # highlighted first
        reco = str(screen.query_one("#sweep-reco", Static).content)
        assert result.domain_source in reco and "Rule: the smallest variant" in reco
        plot = str(screen.query_one("#sweep-plot", Static).content)
        assert "mean KLD" in plot and "tok/s" in plot
        table.move_cursor(row=names.index("int8"))
        await pilot.pause()
        screen.query_one("#sweep-use", Button).press()
        await pilot.pause()
        await pilot.pause()
        assert app.current_step == "deploy"
        assert app.state.onnx_dir == Path(result.variant("int8").output_dir)
        assert app.state.precision == "int8"
        # A step was recorded (not a field set beside the records), after the conversion.
        assert list(app.state.steps)[-2:] == ["convert", "variant"]
        assert app.state.get("variant").command[:2] == ["slm-wizard", "sweep"]
