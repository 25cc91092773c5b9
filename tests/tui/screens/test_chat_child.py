"""The Chat screen generates in a child process (core.genproc): tokens stream back from it, the
memory shown is the child's (checked against psutil on its pid), quitting ends it, and a crash of
the child is reported on the screen while the app keeps running and loads the model again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest
from textual.widgets import Input

from slm_wizard.core.model.demo import load_domain_eval
from slm_wizard.core.runtime.chat import ChatError, ChatSession, GenerationSettings
from slm_wizard.core.runtime.genproc import ChildBackend
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.screens.chat import ChatScreen
from slm_wizard.tui.widgets.message import ChatMessage
from slm_wizard.tui.widgets.metrics_panel import MetricsPanel
from tests.helpers import converted_record, wait_until

SIZE = (100, 32)
LONG = GenerationSettings(max_tokens=1900, min_tokens=1900)  # no end of sequence before 1900


@pytest.fixture(scope="module")
def domain(demo_model: Path) -> list[dict]:
    return load_domain_eval(demo_model / "domain_eval.jsonl")


def make_app(onnx: Path) -> WizardApp:
    return WizardApp(state=converted_record(Path("/models/lumo"), onnx, is_demo=True),
                     start="chat")


async def loaded(pilot) -> ChatScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await wait_until(pilot, lambda: screen.session is not None, 60, "the model to load")
    return screen


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- the backend alone ----------------------------------------------------------------------------

def test_child_backend_answers_cancels_and_closes(demo_onnx, domain) -> None:
    row = domain[0]
    backend = ChildBackend("ort", demo_onnx)
    try:
        assert backend.pid != os.getpid() and psutil.pid_exists(backend.pid)
        assert psutil.Process(backend.pid).ppid() == os.getpid()
        session = ChatSession(backend, system_prompt=row["system"])
        pieces: list[str] = []
        reply = session.send(row["prompt"], on_text=pieces.append)
        assert reply.text.strip() == row["expected"] and "".join(pieces) == reply.text
        assert reply.stats.finish_reason == "eos" and reply.stats.decode_tps > 0
        assert backend.count_tokens([{"role": "user", "content": "Hi"}]) > 1
        # Cancel: a shared flag stops the child's loop between two tokens.
        session.settings = LONG
        import threading

        cancel = threading.Event()
        seen: list[str] = []

        def stop_soon(piece: str) -> None:
            seen.append(piece)
            cancel.set()

        reply = session.send("What is Lumo?", on_text=stop_soon, cancel=cancel)
        assert reply.stats.stopped and reply.stats.generated_tokens < 1900
        assert backend.live.tokens >= 1
    finally:
        pid = backend.pid
        backend.close()
    assert gone(pid)
    with pytest.raises(ChatError, match="closed"):
        backend.generate([{"role": "user", "content": "Hi"}], GenerationSettings())


def test_child_load_failure_is_a_chat_error(tmp_path) -> None:
    with pytest.raises(ChatError, match="does not exist"):
        ChildBackend("ort", tmp_path / "nope")


def test_child_killed_mid_reply_is_a_chat_error(demo_onnx) -> None:
    backend = ChildBackend("ort", demo_onnx)
    session = ChatSession(backend, settings=LONG)
    killed: list[int] = []

    def kill(piece: str) -> None:
        if not killed:
            killed.append(backend.pid)
            os.kill(backend.pid, signal.SIGKILL)

    with pytest.raises(ChatError, match="SIGKILL") as info:
        session.send("What is Lumo?", on_text=kill)
    assert "load the model again" in str(info.value)
    assert info.value.partial is not None and info.value.partial.text
    assert not backend.alive
    backend.close()  # closing a dead child is fine


# -- the Chat screen ----------------------------------------------------------------------------

async def test_screen_streams_from_the_child_and_shows_its_memory(demo_onnx) -> None:
    app = make_app(demo_onnx)
    chunks: dict[int, str] = {}

    def hook(message) -> None:
        if isinstance(message, ChatScreen.Chunk):
            chunks[id(message)] = message.text

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = await loaded(pilot)
        backend = screen.session.backend
        assert isinstance(backend, ChildBackend)
        pid = backend.pid
        assert pid != os.getpid() and screen.sampler.pid == pid
        screen.session.settings = GenerationSettings(max_tokens=1500, min_tokens=1500)
        prompt = screen.query_one("#prompt", Input)
        prompt.value = "What is Lumo?"
        await prompt.action_submit()
        await wait_until(pilot, lambda: screen.replies >= 1 and not screen.generating, 60,
                         "the reply")
        await pilot.pause()
        reply = list(screen.query(ChatMessage))[-1]
        assert screen.last_reply.stats.generated_tokens == 1500
        assert len(chunks) >= 2  # streamed in several pieces, not at the end
        assert "".join(chunks.values()) == screen.last_reply.text == reply.markdown.source
        # The RSS shown is the child's, not the wizard's.
        panel = screen.query_one(MetricsPanel)
        screen.refresh_process()
        await wait_until(pilot, lambda: panel.figure("rss") != "--", 10, "process figures")
        shown = float(panel.figure("rss"))
        child = psutil.Process(pid).memory_info().rss / 2**20
        own = psutil.Process().memory_info().rss / 2**20
        assert abs(shown - child) <= max(8.0, 0.1 * child), (shown, child, own)
        assert abs(shown - own) > 8.0, (shown, own)  # two processes, two figures
        detail = str(panel.query_one("#m-detail").content)
        assert "wizard RSS" in detail and "peak" in detail
        rec = app.state.get("chat")
        assert rec.figures["RSS (onnxruntime-genai)"] != f"{own:.0f} MB"
    # Quitting the app ends the child.
    assert gone(pid)


async def test_screen_reports_a_crashed_child_and_keeps_running(demo_onnx, domain) -> None:
    app = make_app(demo_onnx)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        first = screen.session.backend
        screen.session.settings = LONG
        prompt = screen.query_one("#prompt", Input)
        prompt.value = "What is Lumo?"
        await prompt.action_submit()
        await wait_until(pilot, lambda: screen.generating and screen._live[0] > 0, 30,
                         "the first streamed tokens")
        os.kill(first.pid, signal.SIGKILL)
        await wait_until(pilot, lambda: not screen.generating, 30, "the failure")
        await pilot.pause()
        assert app.is_running and app.screen is screen
        failed = list(screen.query(ChatMessage))[-1]
        assert "generating process was ended by signal SIGKILL" in failed.stats_text
        assert prompt.value == "What is Lumo?"  # the message is back in the box
        # The model is loaded again in a new process, and the chat goes on.
        await wait_until(pilot, lambda: screen.session is not None
                         and screen.session.backend is not first, 60, "the model reloaded")
        assert screen.session.backend.pid != first.pid
        row = domain[0]
        screen.session.system_prompt = row["system"]
        screen.session.settings = GenerationSettings()
        prompt.value = row["prompt"]
        await prompt.action_submit()
        await wait_until(pilot, lambda: screen.replies >= 1 and not screen.generating, 60,
                         "another reply")
        await pilot.pause()
        assert list(screen.query(ChatMessage))[-1].markdown.source.strip() == row["expected"]
