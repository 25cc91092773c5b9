"""The Chat step in a headless app: a real model streams into the conversation, the metrics panel
moves, Esc stops a reply, settings are validated, backends switch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import wait_until
from textual.widgets import Input, RadioButton, Static, TextArea

from slm_wizard.core.chat import GenerationSettings
from slm_wizard.core.demo import load_domain_eval
from slm_wizard.core.state import WizardState
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.screens.chat import NO_MODEL, ChatScreen
from slm_wizard.tui.widgets.chat_settings import ChatSettingsScreen
from slm_wizard.tui.widgets.message import ChatMessage
from slm_wizard.tui.widgets.metrics_panel import MetricsPanel

SIZE = (100, 32)


@pytest.fixture(scope="module")
def domain(demo_model: Path) -> list[dict]:
    return load_domain_eval(demo_model / "domain_eval.jsonl")


def make_app(onnx: Path | None, **kw) -> WizardApp:
    state = WizardState(model_dir=Path("/models/lumo"), is_demo=True, onnx_dir=onnx, **kw)
    return WizardApp(state=state, start="chat")


async def loaded(pilot) -> ChatScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await wait_until(pilot, lambda: screen.session is not None, 60, "the model to load")
    return screen


async def ask(pilot, screen: ChatScreen, text: str, replies: int) -> None:
    screen.query_one("#prompt", Input).focus()
    await pilot.press(*text)
    await pilot.press("enter")
    await wait_until(pilot, lambda: not screen.generating and screen.replies >= replies, 60,
                     "the reply")
    await pilot.pause()


def messages(screen: ChatScreen) -> list[ChatMessage]:
    return list(screen.query(ChatMessage))


async def test_question_streams_answer_and_moves_metrics(demo_onnx, domain) -> None:
    row = domain[0]
    app = make_app(demo_onnx)
    chunks: dict[int, str] = {}  # the hook may see a message more than once

    def hook(message) -> None:
        if isinstance(message, ChatScreen.Chunk):
            chunks[id(message)] = message.text

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = await loaded(pilot)
        panel = screen.query_one(MetricsPanel)
        assert panel.figure("tps") == "--" and panel.figure("ttft") == "--"
        screen.session.system_prompt = row["system"]
        await ask(pilot, screen, row["prompt"], 1)
        user, reply = messages(screen)
        assert user.text == row["prompt"]
        assert reply.markdown.source.strip() == row["expected"]
        assert "".join(chunks.values()) == reply.markdown.source  # it arrived through the stream
        assert "tokens" in reply.stats_text and "tok/s" in reply.stats_text
        assert "TTFT" in reply.stats_text
        tps, ttft = panel.figure("tps"), panel.figure("ttft")
        assert float(tps) > 0 and float(ttft) >= 0
        await wait_until(pilot, lambda: panel.figure("rss") != "--", 5, "process figures")
        assert float(panel.figure("rss")) > 10
        assert "chat" in app.state.done
        # New chat clears the conversation and the history; the figures history restarts.
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert messages(screen) == [] and screen.session.history == []
        assert panel.figure("tps") == "--"


async def test_escape_stops_a_long_reply(demo_onnx) -> None:
    app = make_app(demo_onnx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        # The demo model answers in ~20 tokens; forbid the end for 1900 to have time to stop.
        screen.session.settings = GenerationSettings(max_tokens=1900, min_tokens=1900)
        prompt = screen.query_one("#prompt", Input)
        prompt.focus()
        await pilot.press(*"What is Lumo?")
        # pilot.press waits for the CPU to be idle, i.e. for the whole reply: during the reply
        # submit and press Esc as the terminal would, through the app's message queue.
        await prompt.action_submit()
        await wait_until(pilot, lambda: screen.generating and screen._live[0] > 0, 30,
                         "the first streamed tokens")
        app.simulate_key("escape")
        await wait_until(pilot, lambda: not screen.generating, 60, "the reply to stop")
        await pilot.pause()
        reply = messages(screen)[-1]
        assert "stopped" in reply.stats_text
        generated = int(reply.stats_text.split()[0])
        assert generated < 1900
        assert str(screen.query_one("#chat-status", Static).content).startswith("Stopped")
        assert screen.session.history[-1]["role"] == "assistant"


async def test_empty_prompt_is_refused_and_nothing_sent(demo_onnx) -> None:
    app = make_app(demo_onnx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        screen.query_one("#prompt", Input).focus()
        await pilot.press("space", "space", "enter")
        await pilot.pause()
        status = screen.query_one("#chat-status", Static)
        assert "empty" in str(status.content) and status.has_class("-error")
        assert messages(screen) == [] and not screen.generating


async def test_without_a_converted_model_it_says_where_to_get_one() -> None:
    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        await pilot.pause()
        assert str(screen.query_one("#chat-status", Static).content) == NO_MODEL
        assert "Convert step" in NO_MODEL
        assert screen.query_one("#prompt", Input).disabled
        assert screen.query_one("#backend-foundry", RadioButton).disabled


async def test_settings_modal_validates_and_applies(demo_onnx) -> None:
    app = make_app(demo_onnx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen), 5, "modal")
        modal = app.screen
        temp = modal.query_one("#cs-temperature", Input)
        temp.value = "9"
        await pilot.pause()
        modal.query_one("#cs-save").press()
        await pilot.pause()
        assert app.screen is modal  # refused
        assert "temperature" in str(modal.query_one("#cs-error", Static).content)
        temp.value = "0.5"
        modal.query_one("#cs-max_tokens", Input).value = "40"
        modal.query_one("#cs-system", TextArea).text = "Answer in one word."
        modal.query_one("#cs-save").press()
        await wait_until(pilot, lambda: app.screen is screen, 5, "the modal to close")
        s = screen.session.settings
        assert (s.temperature, s.max_tokens) == (0.5, 40)
        assert screen.session.system_prompt == "Answer in one word."
        assert "temperature 0.5" in str(screen.query_one("#chat-status", Static).content)
        # Escape cancels without changing anything.
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen), 5, "modal")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, 5, "the modal to close")
        assert screen.session.settings.max_tokens == 40


async def test_switch_to_foundry_and_answer(demo_onnx, domain, tmp_path) -> None:
    from slm_wizard.core import foundry
    from slm_wizard.core.inference_model import ModelConfig
    from slm_wizard.core.templates import template_for

    src = tmp_path / "onnx"
    shutil.copytree(demo_onnx, src)
    result = foundry.deploy(src, "lumo-chat-tui", "1", template_for("qwen"), ModelConfig(),
                            tmp_path / "cache", max_tokens=8)
    assert result.ok
    row = domain[3]
    app = make_app(demo_onnx, deployed_name=result.model_id, foundry_cache=tmp_path / "cache")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        first = screen.session.backend
        radio = screen.query_one("#backend-foundry", RadioButton)
        assert not radio.disabled
        await pilot.click("#backend-foundry")
        await wait_until(pilot, lambda: screen.session is not None
                         and screen.session.backend is not first, 60, "Foundry Local to load")
        assert screen.session.backend.name == "foundry"
        screen.session.system_prompt = row["system"]
        await ask(pilot, screen, row["prompt"], 1)
        assert messages(screen)[-1].markdown.source.strip() == row["expected"]
        assert "lumo-chat-tui:1" in screen.query_one("#conversation").border_title


def test_snapshot_before_any_reply(demo_onnx, snap_compare) -> None:
    async def settle(pilot) -> None:
        screen = await loaded(pilot)
        # Live figures vary from run to run: freeze them with fixed values.
        screen.metrics_timer.pause()
        screen.sampler.stop()
        screen.query_one(MetricsPanel).set_process(
            150 * 2**20, 12.0, 160 * 2**20, 20 * 2**30, [140 * 2**20, 150 * 2**20])
        await pilot.pause()

    assert snap_compare(make_app(demo_onnx), terminal_size=SIZE, run_before=settle)
