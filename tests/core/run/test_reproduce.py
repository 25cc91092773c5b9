"""Reproduce commands that run when pasted (issue 25, item 6): written as reproduce.sh (and
reproduce.ps1 for Windows) beside the reports; pasted into bash, every command parses with the
real command line, argument for argument."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from slm_wizard.core.run.summary import (
    as_powershell,
    as_shell,
    reproduce_commands,
    reproduce_folder,
    write_reproduce,
)
from slm_wizard.core.steps import chat as chat_step
from tests.helpers import converted_record, record_deployment

SHIM = """#!{python}
import json, sys
from slm_wizard.cli.main import build_parser
build_parser().parse_args(sys.argv[1:])  # exits 2 on an argument the command does not take
with open({log!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def _record(tmp_path: Path):
    hf = tmp_path / "my model's folder"  # a space and a quote in a path
    onnx = tmp_path / "out dir" / "lumo-int8"
    record = converted_record(hf, onnx, "int8", block_size=64, symmetric=False)
    record_deployment(record, "lumo", "2", tmp_path / "foundry cache")
    log = chat_step.ChatLog()
    ort = chat_step.Options(str(onnx), system='You are "Lumo" support; say $HOME & `x`',
                            max_tokens=48)
    fdy = chat_step.Options("lumo:2", backend="foundry", cache_dir=str(tmp_path / "foundry cache"),
                            system="Be brief.")
    result = chat_step.Result(backend="ort", status=chat_step.Status.OK, text="hi")
    log.add(replace(ort, prompt="Who makes Lumo?\nTwo lines."), result)
    log.add(replace(fdy, prompt="It's 'quoted'"), replace(result, backend="foundry"))
    record.record(log.to_record())
    return record


def _shim(tmp_path: Path) -> tuple[dict, Path]:
    bindir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bindir.mkdir()
    shim = bindir / "slm-wizard"
    shim.write_text(SHIM.format(python=sys.executable, log=str(log)))
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    return env, log


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_script_and_the_pasted_text_run_in_bash(tmp_path: Path) -> None:
    record = _record(tmp_path)
    cmds = reproduce_commands(record)
    chats = [c for c in cmds if c[1] == "chat"]
    assert len(chats) == 2  # every prompt, each with its backend and system prompt
    assert chats[0][chats[0].index("--system") + 1].startswith('You are "Lumo"')
    assert chats[1][chats[1].index("--backend") + 1] == "foundry"
    written = write_reproduce(record, tmp_path / "reports", windows=True)
    assert [p.name for p in written] == ["reproduce.sh", "reproduce.ps1"]
    assert os.access(written[0], os.X_OK)
    env, log = _shim(tmp_path)
    res = subprocess.run(["bash", str(written[0])], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    ran = [json.loads(line) for line in log.read_text().splitlines()]
    assert ran == [c[1:] for c in cmds]  # argument for argument
    # The text the Summary shows, pasted into a shell as it is.
    log.unlink()
    res = subprocess.run(["bash", "-c", as_shell(cmds)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert [json.loads(line) for line in log.read_text().splitlines()] == [c[1:] for c in cmds]


def test_powershell_quoting_keeps_every_argument(tmp_path: Path) -> None:
    cmds = [["slm-wizard", "chat", "C:\\m y", "--prompt", "It's $HOME `x`"]]
    text = as_powershell(cmds)
    assert text.splitlines()[0] == \
        "& 'slm-wizard' 'chat' 'C:\\m y' '--prompt' 'It''s $HOME `x`'"
    assert "exit $LASTEXITCODE" in text
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        return
    env, log = _shim(tmp_path)  # pragma: no cover - where PowerShell is installed
    script = tmp_path / "r.ps1"
    script.write_text(text)
    assert subprocess.run([pwsh, "-NoProfile", "-File", str(script)], env=env,
                          timeout=120).returncode == 0


def test_the_scripts_go_beside_the_reports(tmp_path: Path) -> None:
    from slm_wizard.core.base.paths import data_dir

    record = _record(tmp_path)
    assert reproduce_folder(record).parent == data_dir() / "reports"
    written = write_reproduce(record, windows=False)
    assert [p.name for p in written] == ["reproduce.sh"]
    assert written[0].parent == reproduce_folder(record)
    assert write_reproduce(type(record)(model_dir=tmp_path)) == []  # nothing ran yet


async def test_summary_shows_the_commands_unwrapped_with_their_file(wizard,
                                                                    tmp_path: Path) -> None:
    from textual.widgets import Static, TextArea

    record = _record(tmp_path)
    async with wizard.run("summary", record, size=(80, 24)) as pilot:
        await pilot.pause()
        screen = pilot.app.screen
        commands = screen.query_one("#commands", TextArea)
        assert commands.soft_wrap is False
        assert commands.text == as_shell(reproduce_commands(record))
        shown = str(screen.query_one("#commands-file", Static).content)
        script = reproduce_folder(record) / "reproduce.sh"
        assert f"Also written to {script}" in shown and script.is_file()
        await pilot.press("c")
        await pilot.pause()
        said = [n.message for n in pilot.app._notifications]
        assert any("OSC 52" in m and str(script) in m for m in said)
