"""The Serve screen at 80x24: opened from Chat (ctrl+o), it starts the endpoint, a request made by
an outside client (the real openai client, on loopback) appears in its table with its figures,
the serving process's memory shows, the test request answers, and Stop records the serve step
and leaves no process and a free port behind."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path

import psutil
import pytest
from textual.widgets import Button, DataTable, Input, Label, Static

from slm_wizard.tui.screens.serve import ServeScreen
from tests.helpers import converted_record, wait_until


@pytest.fixture(scope="module")
def deployed(demo_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.deploy.foundry_sdk import close_manager
    from slm_wizard.core.deploy.inference_model import ModelConfig
    from slm_wizard.core.deploy.templates import template_for

    root = tmp_path_factory.mktemp("serve-tui")
    shutil.copytree(demo_onnx, root / "onnx")
    result = foundry.deploy(root / "onnx", "lumo-serve-tui", "1", template_for("qwen"),
                            ModelConfig(), root / "cache", max_tokens=16)
    assert result.ok
    close_manager()
    return "lumo-serve-tui", root / "cache"


def _outside_request(base_url: str, model_id: str) -> str:
    """A streamed chat request from the real openai client, as the user's app makes it."""
    from openai import OpenAI

    with OpenAI(base_url=base_url, api_key="x", timeout=60, max_retries=0) as client:
        stream = client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "How do I descale it?"}],
            max_tokens=12, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


async def test_outside_request_shows_in_the_table(wizard, demo_onnx: Path, deployed) -> None:
    name, cache = deployed
    state = converted_record(Path("/models/lumo"), demo_onnx, is_demo=True, deployed=name,
                             foundry_cache=cache)
    app = wizard("chat", state)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ServeScreen), 10, "Serve")
        screen = app.screen
        screen.query_one("#serve-port", Input).value = "0"  # any free port (tests run in parallel)
        start = screen.query_one("#serve-start", Button)
        start.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.ready is not None, 120, "the endpoint")
        ready = screen.ready
        assert ready.base_url in str(screen.query_one("#serve-status", Static).content)
        text = await asyncio.to_thread(_outside_request, ready.base_url, ready.model_id)
        assert text
        table = screen.query_one("#requests", DataTable)
        await wait_until(pilot, lambda: table.row_count >= 1, 20, "the request's row")
        row = [str(c) for c in table.get_row_at(table.row_count - 1)]
        assert row[1].startswith("/chat/completions") and row[-1] == "200"
        assert int(row[2]) > 0 and int(row[3]) > 0  # prompt and reply tokens
        assert float(row[4]) >= 0  # time to first token, ms
        await wait_until(pilot, lambda: "--" not in str(
            screen.query_one("#serve-rss", Label).content), 10, "the process's memory")
        await pilot.press("ctrl+t")  # the test request, with the openai client
        await wait_until(pilot, lambda: "Test reply" in str(
            screen.query_one("#serve-status", Static).content), 60, "the test reply")
        await wait_until(pilot, lambda: table.row_count >= 2, 20, "the test request's row")
        start.focus()
        await pilot.press("enter")  # Stop
        await wait_until(pilot, lambda: not screen.step_running("serve"), 60, "the stop")
        rec = app.state.get("serve")
        assert rec is not None and rec.done and rec.figures["requests served"] == "2"
        assert rec.command[:3] == ["slm-wizard", "serve", f"{name}:1"]
    with contextlib.suppress(psutil.NoSuchProcess):  # gone, or a zombie awaiting its reaper
        assert psutil.Process(ready.pid).status() == psutil.STATUS_ZOMBIE
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", ready.port))  # free again


async def test_not_deployed_says_so_and_start_is_off(wizard, tmp_path: Path) -> None:
    onnx = tmp_path / "onnx"
    onnx.mkdir()
    (onnx / "genai_config.json").write_text("{}")
    app = wizard("serve", converted_record(Path("/models/lumo"), onnx))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#serve-start", Button).disabled
        assert "Deploy step" in str(app.screen.query_one("#serve-status", Static).content)
