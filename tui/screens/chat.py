"""Chat: talk to the converted model (onnxruntime-genai) or the deployed one (Foundry Local) and
watch tokens/s, time to first token, memory and CPU live.

What runs comes from the Chat step's runner (core.steps.chat): the options of the run's model on
the chosen backend, the backend it opens, and the record of the replies (which counts replies per
backend), put into the run record after each reply. The load (`chat_step.load`, group "load")
and each reply (`chat_step.send`, group "reply") run through `run_step`: cancel, failures and
bugs arrive as its Outcome. A reply's text is batched on the generating thread, so the UI thread
does no work per token."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import chat as chat_step
from slm_wizard.core.steps import resume as resume_step
from slm_wizard.core.steps.chat import ChatBackend, ChatSession, ProcessSampler, Reply, StreamBatch
from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.widgets.chat_settings import ChatConfig, ChatSettingsScreen
from slm_wizard.tui.widgets.message import ChatMessage
from slm_wizard.tui.widgets.metrics_panel import MetricsPanel
from slm_wizard.tui.widgets.toggles import StateRadioButton

# Streamed text is batched: the first token at once, then at most 4 UI updates per second, as
# plain text (the Markdown is drawn once at the end). The model runs in a child process; the
# UI's drawing only competes with it for the CPU, so it is kept small.
POST_EVERY_S = 0.25
REFRESH_S = 0.5  # process figures on screen
NO_MODEL = ("No converted model yet: the Convert step provides it (it converts the model to "
            "ONNX and checks it). Go back with ctrl+b.")
log = logging.getLogger(__name__)


class Conversation(VerticalScroll):
    """The conversation: PageUp/PageDown scroll it from the prompt (its border says so when it
    is longer than its rows), arrows when it is focused (its border lights up), and what is typed
    there goes to the prompt instead of being lost."""

    SCROLL_HINT = "PgUp/PgDn scroll"

    def watch_virtual_size(self) -> None:
        self._hint()

    def on_resize(self) -> None:
        self._hint()

    def _hint(self) -> None:
        longer = self.virtual_size.height > self.scrollable_content_region.height
        self.border_subtitle = self.SCROLL_HINT if longer else ""

    def on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character:
            prompt = self.screen.query_one("#prompt", Input)
            if not prompt.disabled:
                event.stop()
                prompt.focus()
                prompt.insert_text_at_cursor(event.character)


class ChatScreen(StepScreen):
    STEP_ID = "chat"
    AUTO_FOCUS = "#prompt"  # type at once: Enter sends
    BINDINGS = [
        Binding("escape", "stop", "Stop reply", id="chat-stop", priority=True),
        Binding("ctrl+r", "new_chat", "New chat", id="chat-new"),
        Binding("ctrl+s", "edit_settings", "Settings", id="chat-settings"),
        Binding("ctrl+l", "reload", "Load again", id="chat-reload", show=False),
        Binding("ctrl+o", "app.goto('serve')", "Serve", id="chat-serve"),
        # The conversation scrolls from the prompt too (the prompt keeps the focus).
        Binding("pageup", "scroll_chat(-1)", "Scroll the chat up", show=False),
        Binding("pagedown", "scroll_chat(1)", "Scroll the chat down", show=False),
    ]
    DEFAULT_CSS = """
    ChatScreen #chat-main { height: 1fr; }
    ChatScreen #chat-left { width: 1fr; height: 1fr; }
    ChatScreen #chat-bar { height: 3; }
    ChatScreen #chat-bar RadioSet { width: auto; height: auto; border: none; padding: 0; }
    ChatScreen #chat-bar RadioSet > RadioButton { width: auto; }
    ChatScreen #chat-bar Button { min-width: 10; margin-left: 1; }
    ChatScreen #chat-bar .spacer { width: 1fr; }
    ChatScreen #conversation { height: 1fr; border: round $panel; padding: 0 1; }
    ChatScreen #conversation:focus { border: round $accent; }
    ChatScreen #chat-status { height: auto; max-height: 5; color: $text-muted; padding: 0 1; }
    ChatScreen #chat-status.-error { color: $error; }
    ChatScreen #prompt { margin: 0; }
    ChatScreen.-compact #chat-main { layout: vertical; }
    ChatScreen.-compact #chat-bar { height: 2; }
    """
    # Narrower or shorter than this, the figures go into a strip under the prompt (and the
    # buttons lose their borders) so that the conversation keeps its rows at 80x24.
    COMPACT_BELOW = (110, 30)

    class Chunk(Message):
        """New reply text (batched) with the live figures."""

        def __init__(self, text: str, tokens: int, tps: float | None, ttft: float | None) -> None:
            self.text, self.tokens, self.tps, self.ttft = text, tokens, tps, ttft
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.session: ChatSession | None = None
        self.backend_kind = "ort"
        self.loaded_for: tuple | None = None  # (backend, model, cache) loaded or loading
        self.session_options: chat_step.Options | None = None  # what `session` was opened with
        self.config = ChatConfig(None, chat_step.default_settings(None))
        self.generating = False
        self.replies = 0
        self.last_reply: Reply | None = None
        self._defaults_from: Path | None = None  # the folder `config`'s settings came from
        self.chat_log = chat_step.ChatLog()  # every reply of this run, for the run record
        self._recorded: StepRecord | None = None  # the chat record this screen last saved
        # The generating process (the child that runs the model) and the wizard's own, apart.
        self.sampler = ProcessSampler(interval=0.25)
        self.own_sampler = ProcessSampler(interval=1.0)
        self.metrics_timer = None
        self._reply_widget: ChatMessage | None = None
        self._question: ChatMessage | None = None  # kept in view while its reply streams
        self._streamed: list[str] | None = None  # the reply's text so far, while it streams
        self._live = (0, None, None)  # tokens, tps, ttft of the reply in progress
        self._reset_after = False

    # -- layout -------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="chat-main"):
            with Vertical(id="chat-left"):
                with Horizontal(id="chat-bar"):
                    with RadioSet(id="chat-backend"):
                        yield StateRadioButton("onnxruntime-genai", value=True,
                                               id="backend-ort")
                        yield StateRadioButton("Foundry Local", id="backend-foundry")
                    yield Static(classes="spacer")
                    yield Button("Settings", id="chat-settings-btn")
                    yield Button("New chat", id="chat-new-btn")
                    yield Button("Continue", id="chat-continue", variant="primary")
                yield Conversation(id="conversation")
                yield Static("", id="chat-status", markup=False)
                # No select-all on focus: what is typed in the conversation is added to a draft.
                yield Input(placeholder="Ask something, Enter to send · Esc stops a reply",
                            id="prompt", select_on_focus=False)
            yield MetricsPanel(id="metrics")

    def on_resize(self, event: events.Resize) -> None:
        """Below COMPACT_BELOW the figures go into a strip and the buttons lose their borders."""
        compact = event.size.width < self.COMPACT_BELOW[0] or \
            event.size.height < self.COMPACT_BELOW[1]
        self.set_class(compact, "-compact")
        self.query_one(MetricsPanel).set_class(compact, "-compact")
        for button in self.query("#chat-bar Button").results(Button):
            button.compact = compact

    def on_mount(self) -> None:
        self.query_one("#conversation", VerticalScroll).anchor()
        self.own_sampler.start()
        self.metrics_timer = self.set_interval(REFRESH_S, self.refresh_process)
        self.prepare()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.prepare()

    def on_unmount(self) -> None:
        self.cancel_work()  # a reply under way stops; a load under way closes what it opened
        self.sampler.stop()
        self.own_sampler.stop()
        if self.session is not None:
            self.session.backend.close()  # ends the generating process

    # -- model ---------------------------------------------------------------------------------

    def _target(self) -> chat_step.Options | None:
        return chat_step.options_for(self.app.state, self.backend_kind, self.config.settings)

    def prepare(self) -> None:
        """(Re)load the model when the state points at another one than the loaded one."""
        state = self.app.state
        foundry = self.query_one("#backend-foundry", RadioButton)
        foundry.disabled = not state.deployed_name
        foundry.tooltip = None if state.deployed_name else "The Deploy step makes this available."
        # Say why on the screen itself (a keyboard user never sees a tooltip).
        deploy_rec = state.get("deploy")
        failed = deploy_rec is not None and deploy_rec.status == Status.FAIL
        foundry.label = "Foundry Local" if state.deployed_name else (
            "Foundry Local (deploy failed)" if failed else "Foundry Local (not deployed)")
        if self.backend_kind == "foundry" and not state.deployed_name:
            self.backend_kind = "ort"
            self.query_one("#backend-ort", RadioButton).value = True
        if state.onnx_dir is not None and state.onnx_dir != self._defaults_from:
            # A converted folder's own sampling settings, once per folder.
            self._defaults_from = state.onnx_dir
            self.config = ChatConfig(self.config.system_prompt,
                                     chat_step.default_settings(state.onnx_dir))
            last = resume_step.chat_settings(state, self.config.settings)
            if last is not None:  # resumed: the system prompt and settings used last
                system, settings, backend = last
                self.config = ChatConfig(system, settings)
                if backend == "foundry" and state.deployed_name:
                    self.backend_kind = "foundry"
                    self.query_one("#backend-foundry", RadioButton).value = True
        target = self._target()
        key = (target.backend, target.model, target.cache_dir) if target else None
        if key is not None and key == self.loaded_for:
            return
        if target is None:
            self.query_one("#conversation").border_title = "No model"
            self.set_status(NO_MODEL, error=True)
            self.query_one("#prompt", Input).disabled = True
            return
        self.loaded_for = key
        self.query_one("#prompt", Input).disabled = True
        name = Path(target.model).name if target.backend == "ort" else target.model
        self.query_one("#conversation").border_title = f"{name} · {self._backend_title()}"
        self.set_status(f"Loading {name} with {self._backend_title()}…")
        # The load runs in a worker (a newer load replaces it); the old backend closes there.
        old = self.session.backend if self.session is not None else None
        self.run_step(chat_step.load, target, group="load", previous=old,
                      done=lambda outcome: self._loaded(outcome, target))

    def _backend_title(self) -> str:
        return "Foundry Local" if self.backend_kind == "foundry" else "onnxruntime-genai"

    def _loaded(self, outcome: Outcome, options: chat_step.Options) -> None:
        loaded = outcome.result
        if outcome.cancelled:  # the screen is going away: close what was opened for it
            if loaded is not None and loaded.backend is not None:
                loaded.backend.close()
            return
        if loaded is None or loaded.backend is None:
            why = loaded.error if loaded is not None else (outcome.refused or outcome.error)
            self.session = None
            self.session_options = None
            self.loaded_for = None
            self.set_status(f"The model could not be loaded: {why}. Press ctrl+l to "
                            "load it again, switch the backend, or go back (ctrl+b) to fix the "
                            "model.", error=True)
            return
        history = self.session.history if self.session is not None else []
        self.session = ChatSession(loaded.backend, self.config.system_prompt,
                                   self.config.settings)
        self.session.history = history
        self.session_options = options
        self._watch(loaded.backend)
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = False
        prompt.focus()
        self.set_status(f"Ready: {self._backend_title()}, context "
                        f"{loaded.backend.max_length} tokens. {self._settings_text()}")

    def _watch(self, backend: ChatBackend) -> None:
        """Sample the process that generates for `backend` (a child, or this one)."""
        self.sampler.stop()
        pid = chat_step.generator_pid(backend)
        try:
            self.sampler = ProcessSampler(interval=0.25, pid=None if pid == os.getpid() else pid)
        except Exception:  # the process is already gone: the next reply says so
            log.exception("cannot watch the generating process %s", pid)
            return
        self.sampler.start()

    def _settings_text(self) -> str:
        s = self.config.settings
        # What the current backend really applies of the settings (core says it).
        text = chat_step.settings_in_use(self.backend_kind, s)
        if self._adapters():
            text += f", LoRA adapter {s.adapter or 'off'}"
        return text

    def _adapters(self) -> tuple[str, ...]:
        """The LoRA adapters of the converted folder (onnxruntime-genai switches them)."""
        if self.backend_kind != "ort":
            return ()
        return chat_step.adapter_names(self.app.state.onnx_dir)

    @on(RadioSet.Changed, "#chat-backend")
    def backend_changed(self, event: RadioSet.Changed) -> None:
        kind = "foundry" if event.pressed.id == "backend-foundry" else "ort"
        if kind == self.backend_kind:
            return
        self.cancel_step("reply")
        self.backend_kind = kind
        self.prepare()

    # -- conversation --------------------------------------------------------------------------

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#chat-status", Static)
        status.set_class(error, "-error")
        status.update(text)  # height follows the text (never cut at 80 columns); not per token

    @on(Input.Submitted, "#prompt")
    async def send(self, event: Input.Submitted) -> None:
        if self.generating:
            self.set_status("A reply is still coming: wait, or press Esc to stop it.")
            return
        if self.session is None or self.session_options is None:
            self.set_status("The model is not loaded yet.", error=True)
            return
        text = event.value
        if not text.strip():
            self.set_status("The message is empty: type a question first.", error=True)
            return
        session, loaded = self.session, self.session_options
        # The options this reply runs with: the loaded backend, the chat's current settings.
        options = chat_step.Options.of(
            session.backend.name, loaded.model, session.settings, cache_dir=loaded.cache_dir,
            system=session.system_prompt, prompt=text)
        event.input.clear()
        conversation = self.query_one("#conversation", VerticalScroll)
        question = ChatMessage("user", text)
        await conversation.mount(question)
        reply = ChatMessage("assistant")
        await conversation.mount(reply)
        conversation.anchor()
        self._question = question
        self._reply_widget = reply
        self._streamed = []
        self._live = (0, None, None)
        self.generating = True
        self.set_status("Generating… (Esc stops)")
        # Start once the new messages are laid out: that layout is the heaviest UI work of a
        # reply, and done during generation it would hold the GIL the generator needs.
        self.call_after_refresh(self._start_reply, options)

    def _start_reply(self, options: chat_step.Options) -> None:
        """The reply runs through run_step (cancel with Esc, failures as an Outcome). Its text
        is batched on the generating thread (`on_text`): the UI gets at most 4 updates a second,
        never one per token, so the drawing takes little CPU from the generation it measures."""
        session = self.session
        batch = StreamBatch(POST_EVERY_S)
        live = getattr(session.backend, "live", None) is not None

        def on_text(piece: str) -> None:  # on the generating thread
            if batch.add(piece):
                if live:  # a child: it measures the figures itself
                    fig = session.backend.live
                    figures = (fig.tokens, fig.decode_tps, fig.ttft_s)
                else:
                    figures = batch.figures()
                self.post_message(self.Chunk(batch.take(), *figures))

        def reply(options: chat_step.Options, **run: Any) -> chat_step.Answer:
            try:
                return chat_step.send(options, session=session, on_text=on_text, **run)
            finally:  # the rest of the text, before the run's end reaches the screen
                if batch.pending:
                    self.post_message(self.Chunk(batch.take(), batch.count, None, None))

        self.run_step(reply, options, group="reply",
                      done=lambda outcome: self.call_later(self._replied, outcome, options))

    def _keep_question(self) -> None:
        """Follow the reply's end while the question stays in view; once the reply is longer
        than the conversation's rows, stop with the question at the top (the rest: PageDown)."""
        question, conversation = self._question, self.query_one("#conversation", VerticalScroll)
        if question is None or not question.is_mounted:
            return
        top = question.virtual_region.y
        if conversation.max_scroll_y > top:
            self._question = None  # once per reply: the scrolling is the user's after that
            conversation.anchor(False)
            conversation.scroll_to(y=top, animate=False, immediate=True)

    def action_scroll_chat(self, pages: int) -> None:
        conversation = self.query_one("#conversation", VerticalScroll)
        if pages < 0:
            conversation.scroll_page_up(animate=False)
        else:
            conversation.scroll_page_down(animate=False)

    async def on_chat_screen_chunk(self, message: Chunk) -> None:
        if self._streamed is not None and message.text and self._reply_widget is not None:
            # Plain text while streaming (cheap to redraw: the UI takes little CPU from the
            # generation it measures); the Markdown is drawn once, when the reply ends.
            self._streamed.append(message.text)
            self._reply_widget.show_streaming("".join(self._streamed))
            self.call_after_refresh(self._keep_question)
        if message.tps is not None or message.ttft is not None:
            self._live = (message.tokens, message.tps, message.ttft)
            self.query_one(MetricsPanel).set_reply(message.tps, message.ttft, record=False)

    async def _replied(self, outcome: Outcome, options: chat_step.Options) -> None:
        """A reply ended: its Answer, a failure of the generation, or a bug (named with the log
        file that holds its traceback)."""
        self.generating = False
        answer = outcome.result
        reply = answer.reply if answer is not None else None
        error = answer.error if answer is not None else outcome.refused
        if outcome.error:
            error = (f"Unexpected error ({outcome.error}). Send the message again, start a new "
                     "chat (ctrl+r) or switch the backend.")
        widget = self._reply_widget
        streamed = "".join(self._streamed or [])
        self._streamed = None
        self._log_reply(options, reply, error)
        if self._reset_after:
            await self.action_new_chat()
            return
        if widget is not None:
            # The reply as Markdown, drawn once (what streamed before a failure stays).
            await widget.markdown.update(reply.text if reply is not None else streamed)
            widget.end_streaming()
            if error:
                widget.set_stats(error, error=True)
            elif reply is not None:
                widget.set_stats(reply.stats.summary() + reply.adapter_text())
            self.call_after_refresh(self._keep_question)
        if error:
            self.set_status("The reply failed (see above); your message is back in the box.",
                            error=True)
            prompt = self.query_one("#prompt", Input)
            if not prompt.value:
                prompt.value = options.prompt or ""
            backend = self.session.backend if self.session is not None else None
            if backend is not None and getattr(backend, "alive", True) is False:
                # The generating process ended (crash, killed): load the model in a new one.
                self.loaded_for = None
                self.prepare()
                self.set_status("The generating process ended (see above): loading the model "
                                "again; your message is back in the box.", error=True)
            return
        st = reply.stats
        self.last_reply = reply
        self.query_one(MetricsPanel).set_reply(st.decode_tps, st.ttft_s)
        self.replies += 1
        extra = f" ({st.trimmed_turns} oldest turn(s) left out to fit the context)" \
            if st.trimmed_turns else ""
        self.set_status(("Stopped." if st.stopped else "Ready.") + extra)

    def _log_reply(self, options: chat_step.Options, reply: Reply | None, error: str) -> None:
        """Put the reply into the chat's log and the chat's record into the run record."""
        if error:
            result = chat_step.failure_of(options.backend, error, reply)
        elif reply is not None:
            result = chat_step.result_of(options.backend, reply,
                                         sample=self.sampler.latest(), measure=False,
                                         pid=self.sampler.pid, wizard=self.own_sampler.latest())
        else:
            return
        saved = self.app.state.get("chat")
        if saved is not self._recorded:
            # The run record's chat record is not this log's: it was dropped (a new conversion)
            # or saved by an earlier session (a resume). Count from it, not from older replies.
            self.chat_log = chat_step.ChatLog.continuing(saved)
        self.chat_log.add(options, result)
        try:
            self._recorded = self.app.record_step(self.chat_log.to_record())
        except Exception as e:  # a bug: the chat goes on, the record misses this reply
            log.exception("the chat's record could not be saved")
            self.notify(f"This reply could not be recorded: {e}", severity="warning")

    def refresh_process(self) -> None:
        # A timer: it may fire while the panel is still being composed or already being removed
        # (a screen switch); then there is nothing to show, and it must never raise.
        with contextlib.suppress(NoMatches):
            self._refresh_process()

    def _refresh_process(self) -> None:
        panel = self.query_one(MetricsPanel)
        if self.generating and self._live[1] is not None:
            panel.record_tps(self._live[1])  # tokens/s over time, twice a second
        sample = self.sampler.latest()
        if sample is None:
            return
        history = [s.rss for s in self.sampler.snapshot()[-120:]]
        own = self.own_sampler.latest()
        wizard = (own.rss, own.peak_rss) if own is not None and \
            self.sampler.pid != os.getpid() else None
        panel.set_process(sample.rss, sample.cpu_percent, sample.peak_rss, sample.available,
                          history, wizard=wizard)

    # -- actions -------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.generating:
            self.cancel_step("reply")
            self.set_status("Stopping…")

    def action_reload(self) -> None:
        """Load the model again (after a failure, or to start from a fresh backend)."""
        if self.generating:
            self.set_status("A reply is still coming: wait, or press Esc to stop it.")
            return
        self.loaded_for = None
        self.prepare()

    @on(Button.Pressed, "#chat-new-btn")
    async def action_new_chat(self) -> None:
        if self.generating:  # stop the reply first; the chat is cleared when it has ended
            self.cancel_step("reply")
            self._reset_after = True
            self.set_status("Stopping the reply, then starting a new chat…")
            return
        self._reset_after = False
        if self.session is not None:
            self.session.reset()
        await self.query_one("#conversation", VerticalScroll).remove_children()
        self.query_one(MetricsPanel).clear_reply()
        self.set_status("New chat." if self.session is not None else NO_MODEL,
                        error=self.session is None)

    @on(Button.Pressed, "#chat-settings-btn")
    def action_edit_settings(self) -> None:
        def apply(config: ChatConfig | None) -> None:
            if config is None:
                return
            self.config = config
            if self.session is not None:
                self.session.system_prompt = config.system_prompt
                self.session.settings = config.settings
            self.set_status(f"Settings saved: {self._settings_text()}.")

        note = getattr(self.session.backend, "system_refusal", "") if self.session else ""
        self.app.push_screen(ChatSettingsScreen(replace(self.config, adapters=self._adapters(),
                                                        system_note=note)), apply)

    @on(Button.Pressed, "#chat-continue")
    def next_step(self) -> None:
        self.app.action_next_step()
