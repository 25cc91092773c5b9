"""The Validate screen takes a domain file: a path field checked as it is typed (core's reader
says what is wrong), the file's prompt count shown, and the plan Run runs uses it (its headless
command carries `--domain`). No model runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from tests.helpers import converted_record, wait_until
from tests.helpers.folders import make_onnx
from tests.helpers.screens import shown


@pytest.mark.slow  # a real checklist plan with the runtime (about 8 s)
async def test_a_domain_file_is_checked_counted_and_planned(wizard, tmp_path: Path) -> None:
    onnx = make_onnx(tmp_path / "onnx")
    domain = tmp_path / "my-questions.jsonl"
    domain.write_text("".join(json.dumps({"prompt": f"Q{i}?", "expected": f"A{i}"}) + "\n"
                              for i in range(3)), encoding="utf-8")
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    async with wizard.run("validate", converted_record(None, onnx), size=(80, 24)) as pilot:
        screen = pilot.app.screen
        field = screen.query_one("#val-domain", Input)
        info = screen.query_one("#val-domain-info")
        await pilot.pause()
        assert "None: the domain and format checks are skipped" in str(info.render())
        for value, said in ((str(tmp_path / "missing.jsonl"), "does not exist"),
                            (str(broken), "broken.jsonl")):
            field.value = value
            await pilot.pause()
            assert said in str(info.render()) and info.has_class("-error")
            assert screen.plan is None and screen.query_one("#val-run", Button).disabled
            assert "Nothing to run: the domain file" in str(
                screen.query_one("#val-size-help").render())
        field.focus()
        field.value = ""
        await pilot.press(*str(domain))
        await wait_until(pilot, lambda: screen.plan is not None, 5, "the plan")
        assert f"3 prompts in {domain}" in str(info.render()) and not info.has_class("-error")
        assert "3 domain prompts" in str(screen.query_one("#val-size-help").render())
        assert screen.plan.checklist.domain_file == str(domain)
        argv = screen.plan.checklist.argv()
        assert argv[argv.index("--domain") + 1] == str(domain)
        assert shown(field) and shown(info)
