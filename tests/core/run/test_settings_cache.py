"""The Foundry Local cache the user deployed to is remembered for the next model (issue 25)."""

from __future__ import annotations

from pathlib import Path

from slm_wizard.core.run.record import RunRecord
from slm_wizard.core.run.settings import (
    Settings,
    foundry_cache_choice,
    load_settings,
    remember,
    save_settings,
)
from tests.helpers import converted_record
from tests.helpers.folders import make_onnx


def test_the_cache_deployed_to_is_remembered_for_the_next_model(tmp_path: Path) -> None:
    chosen, found = tmp_path / "my-cache", tmp_path / "found-cache"
    first = converted_record(tmp_path / "a", tmp_path / "a-onnx", deployed="a",
                             foundry_cache=chosen)
    settings = Settings()
    remember(settings, first, "chat")
    assert settings.foundry_cache == str(chosen)
    save_settings(settings, tmp_path / "cfg")
    loaded, notice = load_settings(tmp_path / "cfg")
    assert notice is None and loaded.foundry_cache == str(chosen)
    # The next model: Prerequisites found the default cache, the user's choice wins.
    second = converted_record(tmp_path / "b", tmp_path / "b-onnx", foundry_cache=found)
    assert second.foundry_cache == found
    assert foundry_cache_choice(loaded, second) == chosen
    # A run that deployed elsewhere keeps its own, and becomes the remembered one.
    third = converted_record(tmp_path / "c", tmp_path / "c-onnx", deployed="c",
                             foundry_cache=tmp_path / "other")
    assert foundry_cache_choice(loaded, third) == tmp_path / "other"
    remember(loaded, third, "deploy")
    assert loaded.foundry_cache == str(tmp_path / "other")
    # Nothing remembered: what Prerequisites found.
    assert foundry_cache_choice(Settings(), second) == found
    assert foundry_cache_choice(Settings(), RunRecord()) is None


async def test_deploy_starts_with_the_cache_of_the_last_deployment(wizard, tmp_path: Path) -> None:
    chosen = tmp_path / "my-cache"
    settings = Settings(foundry_cache=str(chosen))
    save_settings(settings, wizard.config_dir)
    onnx = make_onnx(tmp_path / "onnx")
    record = converted_record(tmp_path / "hf", onnx, foundry_cache=tmp_path / "found")
    async with wizard.run("deploy", record) as pilot:
        await pilot.pause()
        assert pilot.app.screen.query_one("#cache-dir").value == str(chosen)
