"""The Chat step in a headless app: a real model streams into the conversation, the metrics panel
moves, Esc stops a reply, settings are validated, backends switch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, RadioButton, Static, TextArea

from slm_wizard.core.base.status import Status
from slm_wizard.core.model.demo import load_domain_eval
from slm_wizard.core.run.record import RunRecord
from slm_wizard.core.runtime.chat import GenerationSettings
from slm_wizard.core.steps import chat as chat_step
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.screens.chat import NO_MODEL, ChatScreen
from slm_wizard.tui.widgets.chat_settings import ChatSettingsScreen
from slm_wizard.tui.widgets.message import ChatMessage
from slm_wizard.tui.widgets.metrics_panel import MetricsPanel
from tests.helpers import converted_record, wait_until

SIZE = (100, 32)


@pytest.fixture(scope="module")
def domain(demo_model: Path) -> list[dict]:
    return load_domain_eval(demo_model / "domain_eval.jsonl")


def make_app(onnx: Path | None, **kw) -> WizardApp:
    state = (converted_record(Path("/models/lumo"), onnx, is_demo=True, **kw) if onnx
             else RunRecord(model_dir=Path("/models/lumo"), is_demo=True))
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
        rec = app.state.get("chat")
        assert rec.outcome.startswith("1 reply with onnxruntime-genai")
        # Reproduce: the one-shot command of this prompt, never the interactive chat.
        assert rec.command[:3] == ["slm-wizard", "chat", str(demo_onnx)]
        assert rec.command[rec.command.index("--prompt") + 1] == row["prompt"]
        assert rec.command[rec.command.index("--system") + 1] == row["system"]
        assert "--backend" not in rec.command
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
    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.deploy.inference_model import ModelConfig
    from slm_wizard.core.deploy.templates import template_for

    src = tmp_path / "onnx"
    shutil.copytree(demo_onnx, src)
    result = foundry.deploy(src, "lumo-chat-tui", "1", template_for("qwen"), ModelConfig(),
                            tmp_path / "cache", max_tokens=8)
    assert result.ok
    row = domain[3]
    app = make_app(demo_onnx, deployed="lumo-chat-tui", foundry_cache=tmp_path / "cache")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        screen.session.system_prompt = row["system"]
        await ask(pilot, screen, row["prompt"], 1)  # a first reply from onnxruntime-genai
        first = screen.session.backend
        radio = screen.query_one("#backend-foundry", RadioButton)
        assert not radio.disabled
        await pilot.click("#backend-foundry")
        await wait_until(pilot, lambda: screen.session is not None
                         and screen.session.backend is not first, 60, "Foundry Local to load")
        assert screen.session.backend.name == "foundry"
        screen.session.system_prompt = row["system"]
        await pilot.press("ctrl+r")  # a new chat (the tiny model answers best without history)
        await ask(pilot, screen, row["prompt"], 2)
        assert messages(screen)[-1].markdown.source.strip() == row["expected"]
        assert "lumo-chat-tui:1" in screen.query_one("#conversation").border_title
        # The record tells which backend gave which reply (a known bug said "2 with foundry").
        rec = app.state.get("chat")
        assert rec.outcome.startswith(
            "2 replies: 1 with onnxruntime-genai, 1 with Foundry Local"), rec.outcome
        assert rec.figures["replies (onnxruntime-genai)"] == "1"
        assert rec.figures["replies (Foundry Local)"] == "1"
        assert "decode (onnxruntime-genai)" in rec.figures
        assert "decode (Foundry Local)" in rec.figures
        assert rec.command[:3] == ["slm-wizard", "chat", str(demo_onnx)]  # the first reply's
        assert "--backend" not in rec.command
        # A reply after the switch back is counted with onnxruntime-genai again.
        second = screen.session.backend
        await pilot.click("#backend-ort")
        await wait_until(pilot, lambda: screen.session is not None
                         and screen.session.backend is not second, 60, "ort to load again")
        await pilot.press("ctrl+r")
        await ask(pilot, screen, row["prompt"], 3)
        assert messages(screen)[-1].markdown.source.strip() == row["expected"]
        rec = app.state.get("chat")
        assert rec.outcome.startswith(
            "3 replies: 2 with onnxruntime-genai, 1 with Foundry Local"), rec.outcome


async def test_open_failure_is_shown_and_loading_again_works(demo_onnx, domain,
                                                              monkeypatch) -> None:
    real = chat_step.open_backend
    calls: list[chat_step.Options] = []

    def flaky(options):
        calls.append(options)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(options)

    monkeypatch.setattr(chat_step, "open_backend", flaky)
    app = make_app(demo_onnx)
    async with app.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        status = screen.query_one("#chat-status", Static)
        await wait_until(pilot, lambda: "boom" in str(status.content), 30, "the failure shown")
        assert app.is_running and app.screen is screen
        assert status.has_class("-error") and "ctrl+l" in str(status.content)
        assert screen.session is None and screen.query_one("#prompt", Input).disabled
        await pilot.press("ctrl+l")
        screen = await loaded(pilot)
        assert len(calls) == 2
        row = domain[0]
        screen.session.system_prompt = row["system"]
        await ask(pilot, screen, row["prompt"], 1)
        assert messages(screen)[-1].markdown.source.strip() == row["expected"]
        assert app.state.get("chat").status == Status.OK


async def test_generate_failure_is_shown_and_another_reply_works(demo_onnx, domain) -> None:
    app = make_app(demo_onnx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        backend = screen.session.backend

        def boom(*args, **kw):
            del backend.generate  # only once: the next reply uses the real method
            raise RuntimeError("boom")

        backend.generate = boom
        row = domain[0]
        screen.session.system_prompt = row["system"]
        prompt = screen.query_one("#prompt", Input)
        prompt.focus()
        await pilot.press(*row["prompt"])
        await pilot.press("enter")
        status = screen.query_one("#chat-status", Static)
        await wait_until(pilot, lambda: not screen.generating
                         and "failed" in str(status.content), 30, "the failure shown")
        await pilot.pause()
        assert app.is_running and app.screen is screen and status.has_class("-error")
        failed = messages(screen)[-1]
        assert "RuntimeError: boom" in failed.stats_text
        assert prompt.value == row["prompt"]  # the message is back in the box
        assert screen.session.history == [] and screen.replies == 0
        assert app.state.get("chat").status == Status.FAIL
        # Another reply is possible.
        await prompt.action_submit()
        await wait_until(pilot, lambda: not screen.generating and screen.replies >= 1, 60,
                         "the reply")
        await pilot.pause()
        assert messages(screen)[-1].markdown.source.strip() == row["expected"]
        rec = app.state.get("chat")
        assert rec.status == Status.OK and rec.outcome.startswith("1 reply with")
        assert "1 reply failed" in rec.notes


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


@pytest.mark.parametrize("size", [(80, 24), (110, 36)], ids=["80x24", "110x36"])
def test_snapshot_sizes(demo_onnx, snap_compare, size) -> None:
    """Issue 14: at 80x24 the metrics stack under the chat; nothing is cut or covered."""
    async def settle(pilot) -> None:
        screen = await loaded(pilot)
        screen.metrics_timer.pause()
        screen.sampler.stop()
        screen.query_one(MetricsPanel).set_process(
            150 * 2**20, 12.0, 160 * 2**20, 20 * 2**30, [140 * 2**20, 150 * 2**20])
        await pilot.pause()

    assert snap_compare(make_app(demo_onnx), terminal_size=size, run_before=settle)


async def test_chat_record_counts_on_after_resume_and_restarts_after_a_conversion(
        demo_onnx, domain) -> None:
    """The run record's chat record keeps counting the replies of an earlier session (a resume),
    and after a new conversion (which drops it) counts only the replies to the new model."""
    from slm_wizard.core.run.record import StepRecord

    app = make_app(demo_onnx)
    app.state.record(StepRecord("chat", Status.OK, "3 replies with onnxruntime-genai",
                                options={"replies": {"ort": 3}},
                                figures={"replies (onnxruntime-genai)": "3"}))
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await ask(pilot, screen, domain[0]["prompt"], 1)
        rec = app.state.get("chat")
        assert rec.figures["replies (onnxruntime-genai)"] == "4", rec
        assert rec.outcome.startswith("4 replies with onnxruntime-genai (3 of them in an "
                                      "earlier session)"), rec.outcome
        await ask(pilot, screen, domain[1]["prompt"], 2)
        assert app.state.get("chat").figures["replies (onnxruntime-genai)"] == "5"

        app.state.record(StepRecord("convert", Status.OK, "converted again"))  # drops chat
        assert app.state.get("chat") is None
        await ask(pilot, screen, domain[2]["prompt"], 3)
        rec = app.state.get("chat")
        assert rec.figures["replies (onnxruntime-genai)"] == "1", rec
        assert rec.outcome.startswith("1 reply with onnxruntime-genai;"), rec.outcome


# -- without a converted model: a fake backend (tests/helpers.FakeChatBackend) -------------------

def fake_app(tmp_path: Path, monkeypatch, backend, calls: list | None = None) -> WizardApp:
    """The Chat screen on a folder that holds no model, its backend opened by the fake."""
    import threading

    def fake_open(options):
        if calls is not None:
            calls.append(threading.current_thread())
        return backend

    monkeypatch.setattr(chat_step, "open_backend", fake_open)
    (tmp_path / "onnx").mkdir(exist_ok=True)
    return WizardApp(state=converted_record(Path("/models/lumo"), tmp_path / "onnx"),
                     start="chat", config_dir=tmp_path / "cfg")


async def test_the_model_loads_off_the_ui_thread_and_a_reply_streams(tmp_path, monkeypatch):
    import threading

    from tests.helpers import FakeChatBackend

    calls: list = []
    app = fake_app(tmp_path, monkeypatch, FakeChatBackend(), calls)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        assert calls and calls[0] is not threading.main_thread()
        assert not screen.step_running("load")
        await ask(pilot, screen, "What is Lumo?", 1)
        assert messages(screen)[-1].markdown.source == "Lumo is a lock."
        assert app.state.get("chat").status == Status.OK


async def test_a_bug_in_a_reply_names_the_log_and_the_chat_goes_on(tmp_path, monkeypatch):
    from slm_wizard.core.base.logfile import WIZARD_LOG, log_path
    from tests.helpers import FakeChatBackend

    backend = FakeChatBackend()
    app = fake_app(tmp_path, monkeypatch, backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)

        def broken(*args, **kw):
            del backend.generate  # once: the next reply uses the real method
            raise KeyError("a-bug-in-the-reply")

        backend.generate = broken
        prompt = screen.query_one("#prompt", Input)
        prompt.focus()
        await pilot.press(*"hello", "enter")
        status = screen.query_one("#chat-status", Static)
        await wait_until(pilot, lambda: not screen.generating and "failed" in str(status.content),
                         10, "the failure shown")
        await pilot.pause()
        stats = messages(screen)[-1].stats_text
        assert "KeyError" in stats and str(log_path(WIZARD_LOG)) in stats
        assert "a-bug-in-the-reply" in log_path(WIZARD_LOG).read_text(encoding="utf-8")
        assert app.is_running and app.screen is screen and prompt.value == "hello"
        await prompt.action_submit()
        await wait_until(pilot, lambda: not screen.generating and screen.replies == 1, 10,
                         "another reply")
        assert app.state.get("chat").status == Status.OK


async def test_escape_cancels_the_reply_run(tmp_path, monkeypatch):
    from tests.helpers import FakeChatBackend

    backend = FakeChatBackend(tuple(f" w{i}" for i in range(400)), delay=0.02)
    app = fake_app(tmp_path, monkeypatch, backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        prompt = screen.query_one("#prompt", Input)
        prompt.value = "go on"
        await prompt.action_submit()
        await wait_until(pilot, lambda: screen.step_running("reply") and screen._streamed, 10,
                         "the reply to stream")
        app.simulate_key("escape")
        await wait_until(pilot, lambda: not screen.generating, 10, "the reply to stop")
        await pilot.pause()
        assert "stopped" in messages(screen)[-1].stats_text
        assert screen.replies == 1 and not screen.step_running("reply")
        assert len(screen.session.history) == 2  # the stopped reply is part of the chat


async def test_the_settings_say_when_the_loaded_model_has_no_system_role(demo_onnx,
                                                                         tmp_path) -> None:
    """Before the user types a system prompt: a Gemma-2-style model refuses one, and the
    settings dialog says so for the loaded model (and nothing is said for the demo)."""
    import json
    import shutil

    from tests.helpers.templates import GEMMA2

    nosys = tmp_path / "nosys"
    shutil.copytree(demo_onnx, nosys)
    (nosys / "chat_template.jinja").write_text(GEMMA2)
    cfg = json.loads((nosys / "tokenizer_config.json").read_text())
    (nosys / "tokenizer_config.json").write_text(json.dumps({**cfg, "chat_template": GEMMA2}))
    for folder, says in ((nosys, True), (demo_onnx, False)):
        await _settings_note_shows(make_app(folder), says)


async def _settings_note_shows(app, says: bool) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen), 5, "modal")
        notes = app.screen.query("#cs-system-note")
        assert bool(notes) is says
        if says:
            text = str(notes.first(Static).content)
            assert "no system role" in text and "Clear the system prompt" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, 5, "the modal to close")
