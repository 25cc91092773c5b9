"""Serve: the deployed model on Foundry Local's OpenAI-compatible endpoint, for your own app, with
a live table of the requests it answers and the serving process's memory and CPU.

What runs is the Serve step's runner (core.steps.serve) through `run_step` (group "serve"): it
starts the endpoint in a child process and serves until Stop (or the app quits); its `on_ready`
and `on_request` calls come from the worker thread and reach the screen as messages. The figures
are measured by the relay in the child, on the real requests of any client (your app, curl, the
"Test request" button), never by this screen. On Stop the serve step goes into the run record.
"""

from __future__ import annotations

import contextlib
import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Sparkline, Static, Tab, Tabs, TextArea

from slm_wizard.core.base.units import MB
from slm_wizard.core.steps import serve as serve_step
from slm_wizard.core.steps.chat import ProcessSampler
from slm_wizard.tui.screens.base import Outcome, StepScreen

REFRESH_S = 0.5
MAX_ROWS = 500  # the table keeps the latest requests (the run's record counts them all)
LANGUAGES = (("python", "Python"), ("curl", "curl"), ("javascript", "JavaScript"))
NOT_DEPLOYED = ("Not deployed yet: the Deploy step installs the model into Foundry Local; then "
                "Start serves it here. Go back with ctrl+b.")


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "—" if value is None else fmt.format(value)


class ServeScreen(StepScreen):
    STEP_ID = "serve"
    AUTO_FOCUS = "#serve-start"
    BINDINGS = [
        Binding("ctrl+t", "test_request", "Test request", id="serve-test", priority=True),
        Binding("ctrl+y", "copy_snippet", "Copy snippet", id="serve-copy", priority=True),
    ]
    DEFAULT_CSS = """
    ServeScreen #body { padding: 0 1; }
    ServeScreen #serve-bar { height: 3; }
    ServeScreen #serve-bar Button { min-width: 9; margin-right: 1; }
    ServeScreen #serve-bar Label { padding: 1 0 0 0; }
    ServeScreen #serve-port { width: 14; }
    ServeScreen #serve-status { height: auto; color: $text-muted; }
    ServeScreen #serve-status.-error { color: $error; }
    ServeScreen #serve-proc { height: 1; }
    ServeScreen #serve-proc Sparkline { width: 1fr; height: 1; margin: 0 1; }
    ServeScreen #serve-proc Label { width: auto; }
    ServeScreen #requests { height: 8; }
    ServeScreen.-tall #requests { height: 12; }
    ServeScreen #snippet-tabs { margin-top: 1; }
    ServeScreen #snippet { height: 10; }
    """

    class Ready(Message):
        def __init__(self, ready: serve_step.Ready) -> None:
            self.ready = ready
            super().__init__()

    class Request(Message):
        def __init__(self, figures) -> None:
            self.figures = figures
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.ready: serve_step.Ready | None = None
        self.options: serve_step.Options | None = None
        self.requests: list = []
        self.sampler: ProcessSampler | None = None
        self.language = "python"

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="serve-bar"):
            yield Button("Start", id="serve-start", variant="primary")
            yield Label("port ")
            yield Input(str(serve_step.DEFAULT_PORT), id="serve-port", type="integer",
                        tooltip="0: any free port")
            yield Button("Test request", id="serve-test-btn", disabled=True)
            yield Button("Copy URL", id="serve-copy-url", disabled=True)
        yield Static("", id="serve-status", markup=False)
        with Horizontal(id="serve-proc"):
            yield Label("RSS -- MB", id="serve-rss")
            yield Sparkline([], id="spark-serve-rss")
            yield Label("CPU -- %", id="serve-cpu")
            yield Sparkline([], id="spark-serve-cpu")
        yield DataTable(id="requests", cursor_type="row", zebra_stripes=True)
        yield Tabs(*(Tab(title, id=f"lang-{key}") for key, title in LANGUAGES),
                   id="snippet-tabs")
        yield TextArea("", id="snippet", read_only=True, language=None)

    def on_mount(self) -> None:
        table = self.query_one("#requests", DataTable)
        table.add_columns("time", "route", "in", "out", "TTFT ms", "tok/s", "status")
        self.set_interval(REFRESH_S, self.refresh_process)
        self.prepare()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.prepare()

    def on_unmount(self) -> None:
        self.cancel_work()  # the runner stops the endpoint (the child also stops on its own)
        if self.sampler is not None:
            self.sampler.stop()

    # -- state ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        if self.step_running("serve"):
            return
        state = self.app.state
        start = self.query_one("#serve-start", Button)
        start.disabled = not state.deployed_id
        if not state.deployed_id:
            self.set_status(NOT_DEPLOYED, error=True)
        else:
            self.set_status(f"Start serves {state.deployed_id} on Foundry Local's "
                            "OpenAI-compatible endpoint at 127.0.0.1 (this machine only).")
        self.show_snippet()

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#serve-status", Static)
        status.set_class(error, "-error")
        status.update(text)

    def show_snippet(self) -> None:
        state = self.app.state
        model_id = self.ready.model_id if self.ready else state.deployed_id or "NAME:VERSION"
        port = self.query_one("#serve-port", Input).value or serve_step.DEFAULT_PORT
        base = self.ready.base_url if self.ready else \
            f"http://127.0.0.1:{port}/catalogs/local/v1"
        self.query_one("#snippet", TextArea).text = serve_step.snippets(base, model_id)[
            self.language]

    @on(Tabs.TabActivated, "#snippet-tabs")
    def language_changed(self, event: Tabs.TabActivated) -> None:
        self.language = (event.tab.id or "lang-python").removeprefix("lang-")
        self.show_snippet()

    @on(Input.Changed, "#serve-port")
    def port_changed(self) -> None:
        if self.ready is None:
            self.show_snippet()

    # -- start and stop ------------------------------------------------------------------------

    @on(Button.Pressed, "#serve-start")
    def start_or_stop(self) -> None:
        if self.step_running("serve"):
            self.cancel_step("serve")
            self.set_status("Stopping: unloading the model, stopping the service…")
            self.query_one("#serve-start", Button).disabled = True
            return
        state = self.app.state
        if not state.deployed_id:
            self.set_status(NOT_DEPLOYED, error=True)
            return
        text = self.query_one("#serve-port", Input).value.strip()
        if not text.isdigit():
            self.set_status("The port must be a number (0: any free port).", error=True)
            return
        options = serve_step.Options(state.deployed_id, port=int(text),
                                     cache_dir=str(state.foundry_cache)
                                     if state.foundry_cache else None)
        self.options = options
        self.requests = []
        self.query_one("#requests", DataTable).clear()
        self.set_status(f"Starting the endpoint for {options.model}…")
        button = self.query_one("#serve-start", Button)
        button.label, button.variant = "Stop", "error"
        self.query_one("#serve-port", Input).disabled = True
        self.run_step(serve_step.run, options, group="serve", done=self._ended,
                      on_ready=lambda r: self.post_message(self.Ready(r)),
                      on_request=lambda f: self.post_message(self.Request(f)))

    def on_serve_screen_ready(self, message: Ready) -> None:
        r = self.ready = message.ready
        self.set_status(f"Serving {r.model_id} at {r.base_url} — point your app's OpenAI client "
                        "at this base URL. No authentication: this machine only.")
        for button in ("#serve-test-btn", "#serve-copy-url"):
            self.query_one(button, Button).disabled = False
        self.show_snippet()
        if self.sampler is not None:
            self.sampler.stop()
        try:
            self.sampler = ProcessSampler(interval=REFRESH_S, pid=r.pid).start()
        except Exception:  # noqa: BLE001 - the process is gone: the run's end says why
            self.sampler = None

    def on_serve_screen_request(self, message: Request) -> None:
        f = message.figures
        self.requests.append(f)
        status = str(f.status) + (" !" if f.error else "")
        table = self.query_one("#requests", DataTable)
        if table.row_count >= MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(f.when)),
            serve_step.short_route(f.route) + (" ⇣" if f.stream else ""),
            _num(f.prompt_tokens), _num(f.reply_tokens),
            _num(None if f.ttft_s is None else f.ttft_s * 1000), _num(f.decode_tps, "{:.1f}"),
            status)
        table.move_cursor(row=table.row_count - 1)
        if f.error:
            self.notify(f.error, title=f"{serve_step.short_route(f.route)}: {f.status}",
                        severity="warning")

    def _ended(self, outcome: Outcome) -> None:
        self.ready = None
        if self.sampler is not None:
            self.sampler.stop()
        button = self.query_one("#serve-start", Button)
        button.label, button.variant, button.disabled = "Start", "primary", False
        self.query_one("#serve-port", Input).disabled = False
        for b in ("#serve-test-btn", "#serve-copy-url"):
            self.query_one(b, Button).disabled = True
        result = outcome.result
        if result is None:
            self.set_status(outcome.refused or outcome.error, error=True)
            return
        if result.base_url and self.options is not None:
            self.app.record_step(serve_step.to_record(self.options, result))
        if result.ok:
            self.set_status(f"Stopped: {len(result.requests)} request(s) served; the model is "
                            "unloaded and the port free. Start serves it again.")
        else:
            self.set_status(f"Not serving: {result.error or result.ended}", error=True)
        self.show_snippet()

    # -- test request, copies, figures ----------------------------------------------------------

    @on(Button.Pressed, "#serve-test-btn")
    def action_test_request(self) -> None:
        if self.ready is None:
            self.notify("Start the endpoint first.", severity="warning")
            return
        self.set_status(f"Sending a test request to {self.ready.base_url} (openai client)…")
        self.run_step(serve_step.send_test,
                      serve_step.TestOptions(self.ready.base_url, self.ready.model_id),
                      group="test", done=self._tested)

    def _tested(self, outcome: Outcome) -> None:
        reply = outcome.result
        if reply is None or reply.error:
            self.set_status(f"The test request failed: "
                            f"{reply.error if reply else outcome.refused or outcome.error}",
                            error=True)
            return
        self.set_status(f"Test reply ({reply.prompt_tokens} → {reply.reply_tokens} tokens): "
                        f"{reply.text.strip()[:160]}")

    @on(Button.Pressed, "#serve-copy-url")
    def copy_url(self) -> None:
        if self.ready is not None:
            self.app.copy_to_clipboard(self.ready.base_url)
            self.notify(self.ready.base_url, title="Base URL copied")

    def action_copy_snippet(self) -> None:
        self.app.copy_to_clipboard(self.query_one("#snippet", TextArea).text)
        self.notify(f"The {dict(LANGUAGES)[self.language]} snippet is on the clipboard.")

    def refresh_process(self) -> None:
        with contextlib.suppress(NoMatches):
            sampler = self.sampler
            if sampler is None or not sampler.running:
                return
            samples = sampler.snapshot()[-120:]
            if not samples:
                return
            last = samples[-1]
            self.query_one("#serve-rss", Label).update(f"RSS {last.rss / MB:.0f} MB")
            self.query_one("#serve-cpu", Label).update(f"CPU {last.cpu_percent:.0f} %")
            self.query_one("#spark-serve-rss", Sparkline).data = [s.rss / MB for s in samples]
            self.query_one("#spark-serve-cpu", Sparkline).data = [s.cpu_percent
                                                                  for s in samples]
