"""At 80x24 (the smallest terminal the wizard is laid out for) what a user needs is in view and
reachable by keyboard: Chat's figures and conversation, every dialog's fields and buttons; below
80x24 a notice says to make the window bigger. Chat runs a fake backend (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input

from slm_wizard.core.steps import chat as chat_step
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.screens.chat import ChatScreen
from slm_wizard.tui.widgets.message import ChatMessage
from slm_wizard.tui.widgets.metrics_panel import MetricsPanel
from tests.helpers import FakeChatBackend, converted_record, wait_until
from tests.helpers.screens import shown

SMALL = (80, 24)


def chat_app(tmp_path: Path, monkeypatch, words: int = 4) -> WizardApp:
    backend = FakeChatBackend(tuple(f" w{i}" for i in range(words)))
    monkeypatch.setattr(chat_step, "open_backend", lambda options: backend)
    (tmp_path / "onnx").mkdir(exist_ok=True)
    return WizardApp(state=converted_record(Path("/models/lumo"), tmp_path / "onnx"),
                     start="chat", config_dir=tmp_path / "cfg")


async def loaded_chat(pilot) -> ChatScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await wait_until(pilot, lambda: screen.session is not None, 10, "the model to load")
    await pilot.pause()
    return screen


async def test_chat_at_80x24_shows_every_figure_and_eight_rows(tmp_path, monkeypatch) -> None:
    app = chat_app(tmp_path, monkeypatch, words=300)
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded_chat(pilot)
        screen.metrics_timer.pause()  # fixed process figures instead of the live ones
        panel = screen.query_one(MetricsPanel)
        panel.set_process(150 * 2**20, 12.0, 160 * 2**20, 20 * 2**30, [150 * 2**20])
        conversation = screen.query_one("#conversation")
        await pilot.press(*"hello", "enter")
        await wait_until(pilot, lambda: screen.replies == 1 and not screen.generating, 10,
                         "the reply")
        await pilot.pause()
        # Every figure on one line in view, with its value.
        line = screen.query_one("#m-line")
        assert shown(line)
        text = str(line.render())
        for caption in ("decode", "tok/s", "TTFT", "ms", "model RSS 150 MB", "model CPU 12%"):
            assert caption in text, text
        assert "--" not in text.split("·")[0], text  # the reply's decode rate
        # At least 8 rows of conversation; the question stays in view above its long reply.
        assert conversation.scrollable_content_region.height >= 8
        question, reply = list(conversation.query(ChatMessage))
        assert shown(question.query_one(".body"))
        assert conversation.max_scroll_y > 0 and conversation.border_subtitle  # says it scrolls
        # PageDown from the prompt scrolls the conversation to the reply's end.
        assert screen.focused is screen.query_one("#prompt")
        before = conversation.scroll_y
        await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
        await pilot.pause()
        assert conversation.scroll_y > before
        assert shown(reply.query_one(".stats"))


async def test_typing_in_the_conversation_goes_to_the_prompt(tmp_path, monkeypatch) -> None:
    app = chat_app(tmp_path, monkeypatch)
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded_chat(pilot)
        conversation = screen.query_one("#conversation")
        conversation.focus()
        await pilot.pause()
        await pilot.press(*"hi")
        prompt = screen.query_one("#prompt", Input)
        assert prompt.value == "hi" and prompt.has_focus


def notice_shown(app) -> bool:
    return type(app.screen).__name__ == "TooSmallScreen"


async def test_below_80x24_a_notice_replaces_the_screens(wizard) -> None:
    async with wizard.run("welcome", size=(60, 20)) as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: notice_shown(app), 5, "the notice")
        notice = str(app.screen.query_one("#too-small").render())
        assert "60x20" in notice and "at least 80x24" in notice
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: not notice_shown(app), 5,
                         "the notice to go")
        assert type(app.screen).__name__ == "WelcomeScreen"
        await pilot.resize_terminal(79, 30)
        await wait_until(pilot, lambda: notice_shown(app), 5, "the notice")


async def test_chat_settings_fit_at_80x24_and_tab_shows_each_field(tmp_path, monkeypatch) -> None:
    app = chat_app(tmp_path, monkeypatch)
    async with app.run_test(size=SMALL) as pilot:
        await loaded_chat(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChatSettingsScreen", 5,
                         "the dialog")
        await pilot.pause()
        dialog = app.screen
        for button in dialog.query(Button):
            assert shown(button), button.id
        seen = []
        for _ in range(10):  # every field and button comes into view when Tab reaches it
            await pilot.press("tab")
            await pilot.pause()
            focused = app.focused
            seen.append(focused.id)
            assert shown(focused), (focused.id, focused.region)
            assert all(shown(b) for b in dialog.query(Button))  # the buttons stay
        for field in ("cs-top_k", "cs-repetition_penalty", "cs-save", "cs-cancel"):
            assert field in seen, seen


async def test_quit_dialog_fits_at_40x12(wizard) -> None:
    import asyncio

    async with wizard.run("welcome", size=(40, 12)) as pilot:
        app = pilot.app
        app.run_worker(asyncio.sleep(30), name="busy")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", 5,
                         "the question")
        await pilot.pause()
        for button in app.screen.query(Button):
            assert shown(button), (button.id, button.region)
        assert shown(app.screen.query_one("#confirm-body"))
        app.workers.cancel_all()


async def test_deploy_at_80x24_shows_verdict_cache_and_deploy(wizard, tmp_path) -> None:
    from tests.helpers.templates import make_template_onnx

    onnx = make_template_onnx(tmp_path / "onnx")
    cache = tmp_path / ("a-long-folder-name-" * 4) / "foundry-cache"
    state = converted_record(tmp_path / "hf", onnx, foundry_cache=cache)
    async with wizard.run("deploy", state, size=SMALL) as pilot:
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the check")
        await pilot.pause()
        assert screen.query_one("#body").scroll_y == 0
        verdict = screen.query_one("#deploy-verdict")
        assert "What Foundry Local sends" in str(verdict.render()) and shown(verdict)
        assert shown(screen.query_one("#deploy")) and shown(screen.query_one("#cache-dir"))
        field = screen.query_one("#cache-dir", Input)
        assert field.value == str(cache)
        assert "foundry-cache" in str(field.render_line(0).text)  # the path's end is shown
        assert screen.query_one("#tmpl-user", Input).content_region.width >= 50


@pytest.mark.slow  # Tab and Shift+Tab through every step screen (about 22 s)
async def test_tab_never_focuses_a_hidden_control_at_80x24(wizard, tmp_path, monkeypatch) -> None:
    """On every step screen, each control Tab focuses is drawn whole (not under a docked bar)."""
    from slm_wizard.tui.steps import STEPS
    from tests.helpers.templates import make_template_onnx

    backend = FakeChatBackend()
    monkeypatch.setattr(chat_step, "open_backend", lambda options: backend)
    onnx = make_template_onnx(tmp_path / "onnx")
    app = wizard("welcome", converted_record(tmp_path / "hf", onnx))
    async with app.run_test(size=SMALL) as pilot:
        for s in STEPS:
            app.goto(s.id)
            await wait_until(pilot, lambda c=s.cls: type(app.screen).__name__ == c, 10, s.title)
            await pilot.pause(0.3)
            app.clear_notifications()
            for key in ("tab", "shift+tab"):  # forwards, then backwards from where it ended
                seen: set[int] = set()
                for _ in range(40):
                    await pilot.press(key)
                    await pilot.pause()
                    focused = app.focused
                    if focused is None or id(focused) in seen:
                        break
                    seen.add(id(focused))
                    assert shown(focused), (s.id, key, focused, focused.region)
                assert seen, s.id


async def test_step_picker_jumps_on_a_digit(wizard, tmp_path) -> None:
    async with wizard.run("welcome", converted_record(tmp_path / "hf", tmp_path / "onnx"),
                          size=SMALL) as pilot:
        app = pilot.app
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "StepPicker", 5, "picker")
        await pilot.press("3")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ModelScreen", 5, "step 3")


async def test_notifications_leave_the_tables_in_view(wizard, tmp_path) -> None:
    from tests.helpers.screens import FakeChecks, fixed_results

    async with wizard("prereqs", converted_record(tmp_path / "hf", tmp_path / "onnx")).run_test(
            size=SMALL, notifications=True) as pilot:
        app = pilot.app
        screen = app.screen
        screen.run_checks = FakeChecks(fixed_results())  # no probing of this machine
        app.notify("/models/a-long-folder-name/of-a-fine-tuned-model", title="Model chosen")
        await wait_until(pilot, lambda: bool(screen.query("Toast")), 5, "the notification")
        await pilot.pause()
        toast = screen.query_one("Toast").region
        assert toast.bottom <= 4  # over the title and step bars, not the step's content
        for selector in ("#checks", "#continue"):
            assert not toast.overlaps(screen.query_one(selector).region), selector


async def test_convert_result_with_a_warning_says_so_whole(wizard, tmp_path) -> None:
    from slm_wizard.core.base.status import ICON, CheckResult, Status
    from slm_wizard.core.convert.run import ConvertResult
    from slm_wizard.core.convert.verify import Verification
    from slm_wizard.core.model.answer import judge
    from slm_wizard.core.steps import convert as convert_step

    said = judge("  \n", 8)
    out = tmp_path / "onnx"
    warned = CheckResult("generation", "Generation", Status.WARN,
                         f"loads with onnxruntime-genai, but {said.found}", "", said.fix)
    result = convert_step.result_of(ConvertResult(
        True, out, None, verification=Verification(out, checks=[warned]), elapsed_s=3.2))
    async with wizard.run("convert", converted_record(tmp_path / "hf", out), size=SMALL) as pilot:
        screen = pilot.app.screen
        screen._show_result(result)
        await pilot.pause()
        summary = screen.query_one("#result-summary")
        summary.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        text = str(summary.render())
        first = text.splitlines()[0]
        assert first.startswith(ICON[Status.WARN]) and "with a warning" in first, first
        assert "answered only whitespace" in " ".join(text.split())  # wrapped, not cut
        assert shown(summary, whole_up_to=20)


async def test_long_dialogs_scroll_by_keyboard_with_their_buttons_in_view(wizard) -> None:
    """A confirmation with a long detail (a template's diff) and the install confirmation fit
    80x24: their buttons are in view at once, and the text scrolls by keyboard."""
    from slm_wizard.core.steps.prereqs import InstallOptions
    from slm_wizard.tui.screens.confirm import ConfirmScreen
    from slm_wizard.tui.screens.prereqs import InstallConfirm

    detail = "\n".join(f"-<|im_start|>user line {i}⏎" for i in range(40))
    async with wizard.run("welcome", size=SMALL) as pilot:
        app = pilot.app
        app.push_screen(ConfirmScreen("Replace the existing model?", "It differs.",
                                      yes="Replace", detail=detail))
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "dialog")
        await pilot.pause()
        for button in app.screen.query(Button):
            assert shown(button), button.id
        body = app.screen.query_one("#confirm-dialog")
        assert body.allow_focus()  # the text is longer than the dialog: it takes the focus
        body.focus()
        await pilot.press("pagedown", "end")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y > 0
        assert shown(app.screen.query_one("#yes")) and shown(app.screen.query_one("#no"))
        await pilot.press("escape")
        app.push_screen(InstallConfirm(InstallOptions(tuple(
            ("/usr/bin/python3", "-m", "pip", "install", f"package-{i}==1.0") for i in range(9)))))
        await wait_until(pilot, lambda: isinstance(app.screen, InstallConfirm), 5, "dialog")
        await pilot.pause()
        for button in app.screen.query(Button):
            assert shown(button), button.id


async def test_model_at_80x24_shows_the_folder_and_continue_together(wizard, tmp_path) -> None:
    from slm_wizard.core.run.record import RunRecord
    from tests.helpers.folders import make_model

    state = RunRecord(model_dir=make_model(tmp_path / "hf"))
    async with wizard.run("model", state, size=SMALL) as pilot:
        screen = pilot.app.screen
        button = screen.query_one("#continue", Button)
        await wait_until(pilot, lambda: not button.disabled, 10, "the inspection")
        button.focus()
        await pilot.pause()
        assert screen.query_one("#body").scroll_y == 0
        assert shown(screen.query_one("#model-path")) and shown(button)
        assert shown(screen.query_one("#model-status"))
