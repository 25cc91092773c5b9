"""Internal temporary names never make a legal path too long (core.base.paths.temp_name, the one
helper): a 250-character output folder works in convert and demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from slm_wizard.core.base.lock import Lock
from slm_wizard.core.base.owned import clean_leftovers, temp_sibling
from slm_wizard.core.base.paths import NAME_MAX, short_stem, temp_name

LONG = "a" * 250  # a legal name (at most 255 bytes)


@pytest.mark.parametrize("name", [LONG, "é" * 127, "x", "ü" * 10 + "b" * 240])
def test_temp_names_fit_the_limit_and_keep_whole_characters(name: str) -> None:
    for tail in ("slm-wizard-4194304-0123abcd", "old-0123abcd", "deploy.lock", "tmp"):
        made = temp_name(name, tail)
        assert len(made.encode()) <= NAME_MAX and made.endswith(tail)
    assert short_stem("ab") == "ab" and short_stem("é" * 200, 5) == "éé"


def test_leftovers_of_a_long_target_are_found_and_the_lock_fits(tmp_path: Path) -> None:
    target = tmp_path / LONG
    left = temp_sibling(target, "tmp")
    left.mkdir()  # a leftover whose process is gone: its pid is rewritten to a dead one
    dead = left.with_name(left.name.replace(f"tmp-{left.name.split('tmp-')[1].split('-')[0]}",
                                            "tmp-999999999"))
    left.rename(dead)
    assert clean_leftovers(tmp_path, LONG, "tmp") == [dead]
    with Lock(target, "a conversion") as lock:
        assert lock.path.exists() and len(lock.path.name.encode()) <= NAME_MAX


def test_a_250_character_output_folder_converts(tmp_path: Path, monkeypatch) -> None:
    """Olive itself is replaced by a stand-in writing its model: what is tested is every name
    slm-wizard makes around it (work folder, log, marker, rename)."""
    from slm_wizard.core.convert import run as convert_run
    from slm_wizard.core.convert.options import ConvertOptions
    from tests.helpers.folders import make_model

    def olive(argv, work, log, parser, emit, cancel, timeout_s):
        model = work / "output" / "model"
        model.mkdir(parents=True)
        (model / "genai_config.json").write_text("{}")
        return 0, "finished"

    monkeypatch.setattr(convert_run, "_run_olive", olive)
    model = make_model(tmp_path / ("m" * 250))  # its name makes the log's name too
    out = tmp_path / LONG
    result = convert_run.run_conversion(ConvertOptions(model, out, method="auto-opt"),
                                        verify=False)
    assert result.ok, result.error
    assert (out / "genai_config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([model.name, LONG])


def test_a_250_character_demo_folder_builds(tmp_path: Path, monkeypatch) -> None:
    from slm_wizard.core.model import demo

    def build(folder, wanted, say, cancel):
        (folder / demo.MARKER_NAME).write_text("{}")

    monkeypatch.setattr(demo, "_build_into", build)
    out = demo.build_demo_model(tmp_path / LONG)
    assert out == tmp_path / LONG and (out / demo.MARKER_NAME).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [LONG]


@pytest.mark.parametrize("error", [
    OSError(28, "No space left on device"),
    RuntimeError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                 '"No space left on device" })'),
    Exception("No space left on device (os error 28)")])
def test_demo_on_a_full_disk_is_a_clear_message(error: Exception, tmp_path: Path,
                                                monkeypatch, capsys) -> None:
    """However the writer reports it (OSError, safetensors, tokenizers): one line, exit 1, no
    "bug" and nothing left behind."""
    from slm_wizard.cli.main import main
    from slm_wizard.core.model import demo

    def build(folder, wanted, say, cancel):
        (folder / "half.bin").write_bytes(b"x")
        raise error

    monkeypatch.setattr(demo, "_build_into", build)
    assert main(["demo", "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "is full: free some space" in err and "bug" not in err
    assert list(tmp_path.iterdir()) == []
