"""The CLI skeleton: --version and --help are fast and never load the heavy toolchain."""

from __future__ import annotations

import subprocess
import sys

from slm_wizard.cli.main import main
from slm_wizard.core import __version__

HEAVY = ("torch", "transformers", "olive", "onnxruntime", "onnxruntime_genai", "foundry_local_sdk",
         "textual")


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`code` run by this Python in a fresh interpreter (what it imports is its own)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def test_version(capsys) -> None:
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"slm-wizard {__version__}"


def test_help_lists_subcommands(capsys) -> None:
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "usage: slm-wizard" in out
    assert "demo" in out


def test_help_and_version_do_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from slm_wizard.cli.main import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('LOADED=' + ','.join(loaded), file=sys.stderr)\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED=\n" in proc.stderr or proc.stderr.rstrip().endswith("LOADED="), proc.stderr


def test_core_does_not_load_textual() -> None:
    code = (
        "import sys, pkgutil, importlib, slm_wizard.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('slm_wizard.core.' + m.name)\n"
        "print('textual' in sys.modules)\n"
    )
    proc = _python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_plain_command_opens_the_wizard_without_loading_subcommands(tmp_path) -> None:
    """`slm-wizard [--config-dir DIR]` goes straight to the app: no subcommand module is imported
    first (building the full parser cost 0.2 s before the first screen), and the folder given is
    the one the app uses."""
    code = (
        "import os, sys\n"
        "import slm_wizard.tui.app as app\n"
        "app.run_app = lambda config_dir=None, **kw: "
        "print('APP', os.environ['SLM_WIZARD_CONFIG_DIR']) or 0\n"
        "from slm_wizard.cli.main import main\n"
        f"code = main(['--config-dir', {str(tmp_path)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('slm_wizard.cli.commands'))\n"
        "print('CODE', code, 'LOADED', loaded)\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert f"APP {tmp_path}" in proc.stdout
    assert "CODE 0 LOADED []" in proc.stdout


def test_plain_command_refuses_an_empty_config_dir(capsys) -> None:
    assert main(["--config-dir", ""]) == 2
    assert main(["--config-dir="]) == 2
    err = capsys.readouterr().err
    assert err.count("--config-dir: the path is empty") == 2


def test_plain_command_pauses_gc_only_until_the_first_screen(tmp_path) -> None:
    """The start-up runs without cyclic garbage collection; it is on again once the first screen
    is painted (checked from inside the running app), and the app gets the settings folder."""
    code = (
        "import gc, sys\n"
        "from textual.app import App\n"
        "seen = {}\n"
        "run = App.run\n"
        "def headless(self, **kw):\n"
        "    async def look(pilot):\n"
        "        seen['at_start'] = gc.isenabled()\n"
        "        await pilot.pause()\n"
        "        await pilot.pause(0.2)\n"
        "        seen['screen'] = type(pilot.app.screen).__name__\n"
        "        seen['after_paint'] = gc.isenabled()\n"
        "        pilot.app.exit()\n"
        "    return run(self, headless=True, size=(100, 32), auto_pilot=look)\n"
        "App.run = headless\n"
        "from slm_wizard.cli.main import main\n"
        f"code = main(['--config-dir', {str(tmp_path)!r}])\n"
        "print('SEEN', code, seen['at_start'], seen['screen'], seen['after_paint'], "
        "gc.isenabled())\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert "SEEN 0 False WelcomeScreen True True" in proc.stdout, proc.stdout + proc.stderr


def test_every_step_refusal_is_one_type_mapped_to_exit_2_in_one_place(monkeypatch, capsys) -> None:
    import json

    from slm_wizard.cli.commands import inspect as inspect_cmd
    from slm_wizard.core.base.owned import FolderRefused
    from slm_wizard.core.base.status import Refused
    from slm_wizard.core.evaluate.bench import BenchError
    from slm_wizard.core.evaluate.sweep_variants import SweepError
    from slm_wizard.core.evaluate.validate import ValidateError
    from slm_wizard.core.model.demo import DemoRefused
    from slm_wizard.core.model.model_info import ModelFolderError
    from slm_wizard.core.steps import chat, checklist, convert, deploy, prereqs, template

    for kind in (chat.ChatInputError, checklist.PlanError, convert.ConvertRefused,
                 deploy.DeployInputError, prereqs.PrereqsInputError, template.TemplateInputError,
                 ModelFolderError, BenchError, ValidateError, SweepError, DemoRefused,
                 FolderRefused):
        assert issubclass(kind, Refused), kind

    def refuse(args):
        raise convert.ConvertRefused("the block size 7 is not one of 16, 32, 64, 128, 256")

    monkeypatch.setattr(inspect_cmd, "run", refuse)
    assert main(["inspect", "somewhere", "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "error": "the block size 7 is not one of 16, 32, "
                               "64, 128, 256", "issues": []}
    assert err.strip() == "error: the block size 7 is not one of 16, 32, 64, 128, 256"
