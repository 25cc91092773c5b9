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
