"""Shared fixtures. Tests never touch the real home folders: all slm-wizard dirs are temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point config, cache and data folders at a session temp dir, and keep tools offline."""
    root = tmp_path_factory.mktemp("slm-home")
    for name in ("CONFIG", "CACHE", "DATA"):
        os.environ[f"SLM_WIZARD_{name}_DIR"] = str(root / name.lower())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    return root


@pytest.fixture(scope="session")
def demo_model(isolated_dirs: Path) -> Path:
    """The demo model's Hugging Face folder, built once per session by core.demo (cached).

    It lands in <session temp>/cache/demo-<hash> (SLM_WIZARD_CACHE_DIR set by isolated_dirs).
    """
    from slm_wizard.core.model.demo import build_demo_model

    return build_demo_model()


@pytest.fixture(scope="session")
def demo_onnx(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model converted to INT4 ONNX once per session (Olive auto-opt, core.convert)."""
    from slm_wizard.core.convert.options import ConvertOptions
    from slm_wizard.core.convert.run import run_conversion

    out = tmp_path_factory.mktemp("demo-onnx-int4") / "model"
    result = run_conversion(ConvertOptions(demo_model, out, precision="int4", method="auto-opt"))
    assert result.ok, result.error
    assert (out / "genai_config.json").is_file()
    return out


# Fixtures that train the demo (torch) or convert it (Olive): a test using one, directly or
# through another fixture, is slow whatever its marks say.
HEAVY_FIXTURES = {"demo_model", "demo_onnx"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that needs the trained or converted demo, so `make test-fast`
    (`pytest -m "not slow"`) never trains, converts or loads a runtime."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


class Wizard:
    """Makes the wizard app for a test: `wizard("convert", record)` is the app opened on that
    step's screen with that run record, its settings in the test's own config folder
    (`wizard.config_dir`, empty until the app saves); `wizard.run("chat", record, size=(80, 24))`
    is the same app's headless run (`async with ... as pilot`, the app is `pilot.app`)."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    def __call__(self, start: str = "welcome", record=None):
        from slm_wizard.core.run.record import RunRecord
        from slm_wizard.tui.app import WizardApp

        return WizardApp(state=RunRecord() if record is None else record, start=start,
                         config_dir=self.config_dir)

    def run(self, start: str = "welcome", record=None, size: tuple[int, int] = (100, 32)):
        return self(start, record).run_test(size=size)


@pytest.fixture
def wizard(tmp_path: Path) -> Wizard:
    """The app factory of the TUI tests (see Wizard), with an isolated config folder."""
    return Wizard(tmp_path / "cfg")
