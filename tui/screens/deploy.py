"""Deploy: pick the prompt template for the model family, check it against the tokenizer, fill in
inference_model.json, and install the model into Foundry Local (write, copy, register, load,
answer)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Checkbox, DataTable, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from slm_wizard.core import templates as T
from slm_wizard.core.inference_model import (
    BOUNDS,
    InferenceModelError,
    ModelConfig,
    context_length,
    default_max_length,
    validate_config_field,
    validate_name,
    validate_version,
)
from slm_wizard.core.status import ICON, Status
from slm_wizard.core.steps import deploy as deploy_step
from slm_wizard.tui.screens.base import StepScreen

STAGE_ICON = ICON  # one status vocabulary: the stages show core.status's icons
STAGE_STYLE = {Status.OK: "green", Status.FAIL: "red", Status.SKIP: "dim", Status.WARN: "yellow"}


def escape(value: str) -> str:
    """Show newlines and tabs as \\n and \\t in a one-line field."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


class TemplateField(Validator):
    """A PromptTemplate field, checked by core.templates' own rule."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def validate(self, value: str) -> ValidationResult:
        problem = T.field_problem(self.key, unescape(value))
        return self.failure(problem) if problem else self.success()


class ConfigField(Validator):
    """A ModelConfig field, checked by core.inference_model's own validator (one set of bounds);
    `ctx` gives the model's context length (max_length's upper bound)."""

    def __init__(self, key: str, ctx) -> None:
        super().__init__()
        self.key, self.ctx = key, ctx

    def validate(self, value: str) -> ValidationResult:
        try:
            validate_config_field(self.key, value.strip(), self.ctx())
        except InferenceModelError as e:
            return self.failure(str(e).rstrip("."))
        return self.success()


class CheckedBy(Validator):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def validate(self, value: str) -> ValidationResult:
        try:
            self.fn(value)
        except InferenceModelError as e:
            return self.failure(str(e))
        return self.success()


class DeployScreen(StepScreen):
    STEP_ID = "deploy"
    DEFAULT_CSS = """
    DeployScreen #deploy-source { height: auto; }
    DeployScreen #tmpl-row { height: auto; margin-top: 1; }
    DeployScreen #families { width: 36; height: 11; border: round $primary; }
    DeployScreen #tmpl-fields { width: 1fr; height: auto; padding-left: 1; }
    DeployScreen .field-row { height: 3; }
    DeployScreen .field-row Label { width: 12; padding-top: 1; }
    DeployScreen .field-row Input { width: 1fr; }
    DeployScreen #detect-note { height: auto; color: $text-muted; }
    DeployScreen #preview-row { height: auto; margin-top: 1; }
    DeployScreen .preview { width: 1fr; height: auto; min-height: 5; border: round $secondary;
        padding: 0 1; }
    DeployScreen #mismatch { height: auto; margin-top: 1; }
    DeployScreen #cfg-row, DeployScreen #id-row { height: auto; margin-top: 1; }
    DeployScreen .cfg { width: 1fr; height: auto; }
    DeployScreen .cfg Label { color: $text-muted; }
    DeployScreen #field-errors { height: auto; }
    DeployScreen #actions { height: auto; margin-top: 1; }
    DeployScreen #actions Button { margin-right: 1; }
    DeployScreen #stages { height: auto; max-height: 9; margin-top: 1; }
    DeployScreen #deploy-outcome { height: auto; margin-top: 1; }
    """

    class PreviewReady(Message):
        def __init__(self, render: T.TokenizerRender | None, error: str = "") -> None:
            self.render = render
            self.error = error
            super().__init__()

    class CacheFound(Message):
        def __init__(self, path: Path, source: str) -> None:
            self.path, self.source = path, source
            super().__init__()

    class StageUpdate(Message):
        def __init__(self, stage: str, status: Status, detail: str) -> None:
            self.stage, self.status, self.detail = stage, status, detail
            super().__init__()

    class RemoveDone(Message):
        def __init__(self, done: list[str], error: str = "",
                     result: deploy_step.Result | None = None) -> None:
            self.done, self.error, self.result = done, error, result
            super().__init__()

    class DeployDone(Message):
        def __init__(self, result: deploy_step.Result | None = None, error: str = "") -> None:
            self.result, self.error = result, error
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.onnx_dir: Path | None = None
        self.ctx_len: int | None = None
        self.detected: tuple[str, float, list[str]] | None = None
        self.tokenizer_render: T.TokenizerRender | None = None
        self.deploying = False
        self.deployed: tuple[str, str, Path] | None = None  # (name, version, cache)
        self.family_id = "qwen"  # the family whose preset the fields were last filled with

    # ------------------------------------------------------------------------- layout

    def compose_body(self) -> ComposeResult:
        yield Static("", id="deploy-source")
        with Horizontal(id="tmpl-row"):
            yield OptionList(*[Option(f.title, id=f.id) for f in T.FAMILIES.values()],
                             id="families")
            with Vertical(id="tmpl-fields"):
                yield Static("PromptTemplate (\\n is a newline; each field holds {Content} once)")
                for key in T.KEYS:
                    with Horizontal(classes="field-row"):
                        yield Label(key)
                        yield Input(id=f"tmpl-{key}", validators=[TemplateField(key)],
                                    valid_empty=False)
        yield Static("", id="detect-note")
        with Horizontal(id="preview-row"):
            yield Static("", id="preview-template", classes="preview")
            yield Static("", id="preview-tokenizer", classes="preview")
        yield Static("", id="mismatch")
        defaults = ModelConfig()
        with Horizontal(id="cfg-row"):
            for key in BOUNDS:
                with Vertical(classes="cfg"):
                    yield Label(key)
                    yield Input(str(getattr(defaults, key)), id=f"cfg-{key}",
                                validators=[ConfigField(key, lambda: self.ctx_len)])
        with Horizontal(id="id-row"):
            with Vertical(classes="cfg"):
                yield Label("Name")
                yield Input("", id="name", validators=[CheckedBy(validate_name)])
            with Vertical(classes="cfg"):
                yield Label("Version")
                yield Input(deploy_step.Options(Path("."), "").version, id="version",
                            validators=[CheckedBy(validate_version)])
            with Vertical(classes="cfg"):
                yield Label("Description")
                yield Input("", id="description")
            with Vertical(classes="cfg"):
                yield Label("Foundry Local cache")
                yield Input("", id="cache-dir", placeholder="~/.foundry/cache/models")
        yield Checkbox("Also write these values into genai_config.json's search defaults",
                       id="search-defaults")
        yield Static("", id="field-errors", classes="error")
        with Horizontal(id="actions"):
            yield Button("Deploy", id="deploy", variant="primary")
            yield Button("Continue", id="continue", disabled=True)
            yield Button("Remove from Foundry Local", id="remove", variant="error",
                         disabled=True)
        yield DataTable(id="stages", show_cursor=False)
        yield Static("", id="deploy-outcome")

    def on_mount(self) -> None:
        table = self.query_one("#stages", DataTable)
        table.add_column("", key="icon")
        table.add_column("stage", key="stage")
        table.add_column("result", key="result")
        self._load_state()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if getattr(self.app.state, "onnx_dir", None) != self.onnx_dir:
            self._load_state()

    def _load_state(self) -> None:
        state = self.app.state
        self.onnx_dir = Path(state.onnx_dir) if state.onnx_dir else None
        source = self.query_one("#deploy-source", Static)
        deploy_btn = self.query_one("#deploy", Button)
        if self.onnx_dir is None or not (self.onnx_dir / "genai_config.json").is_file():
            what = "No converted model yet" if self.onnx_dir is None else \
                f"{self.onnx_dir} holds no genai_config.json"
            source.update(Text(f"{what}: the Convert step provides the ONNX folder to deploy "
                               "(ctrl+b goes back).", style="bold red"))
            deploy_btn.disabled = True
            self._apply_family("qwen")
            return
        deploy_btn.disabled = False
        self.ctx_len = context_length(self.onnx_dir)
        ctx = f", context length {self.ctx_len}" if self.ctx_len else ""
        source.update(Text.assemble(("Converted model: ", "bold"), str(self.onnx_dir), ctx))
        fam, conf, reasons = T.detect_family(self.onnx_dir)
        self.detected = (fam, conf, reasons)
        families = self.query_one("#families", OptionList)
        for i, f in enumerate(T.FAMILIES.values()):
            label = f.title + (f"  ← detected ({T.confidence_label(conf)})" if f.id == fam else "")
            families.replace_option_prompt_at_index(i, label)
        self.query_one("#detect-note", Static).update(Text(
            f"Detected {T.FAMILIES[fam].title} with {T.confidence_label(conf)} confidence: "
            + "; ".join(reasons) + "."))
        self.query_one("#cfg-max_length", Input).value = str(default_max_length(self.ctx_len))
        name = self.query_one("#name", Input)
        if not name.value:
            name.value = deploy_step.suggest_name(self.onnx_dir, state.model_dir, state.is_demo)
        cache = self.query_one("#cache-dir", Input)
        rec = state.get(self.STEP_ID)
        chosen = state.foundry_cache or (rec.options.get("cache_dir") if rec else None)
        if chosen:  # the folder the user chose before (kept in the run record)
            cache.value = str(chosen)
        if rec is not None and rec.done and state.deployed_name and chosen \
                and ":" in state.deployed_name:  # resumed after a deployment: it can be removed
            name_, version = state.deployed_name.split(":", 1)
            self.deployed = (name_, version, Path(chosen))
            self.query_one("#remove", Button).disabled = False
            self.query_one("#continue", Button).disabled = False
        elif not cache.value:
            self.find_cache()
        self._apply_family(fam)
        self.tokenizer_render = None
        self._show_preview()
        self.render_tokenizer(self.onnx_dir)

    # ------------------------------------------------------------------------- template

    def _apply_family(self, family_id: str) -> None:
        families = self.query_one("#families", OptionList)
        families.highlighted = list(T.FAMILIES).index(family_id)
        self.family_id = family_id
        if family_id != "custom":
            for key, value in T.template_for(family_id).items():
                self.query_one(f"#tmpl-{key}", Input).value = escape(value)
        note = T.FAMILIES[family_id].note
        if note and self.detected:
            self.query_one("#detect-note", Static).update(Text(
                f"Detected {T.FAMILIES[self.detected[0]].title} with "
                f"{T.confidence_label(self.detected[1])} confidence: "
                + "; ".join(self.detected[2]) + f".\n{T.FAMILIES[family_id].title}: {note}"))

    @on(OptionList.OptionSelected, "#families")
    def family_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self._apply_family(event.option.id)
            self._show_preview()

    def current_template(self) -> dict[str, str]:
        return {k: unescape(self.query_one(f"#tmpl-{k}", Input).value) for k in T.KEYS}

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("tmpl-"):
            self._show_preview()

    @work(thread=True, exclusive=True, group="deploy-preview", exit_on_error=False)
    def render_tokenizer(self, onnx_dir: Path) -> None:
        try:
            render = T.render_tokenizer_template(onnx_dir)
        except T.TemplateError as e:
            self.post_message(self.PreviewReady(None, str(e)))
            return
        self.post_message(self.PreviewReady(render))

    def on_deploy_screen_preview_ready(self, message: PreviewReady) -> None:
        self.tokenizer_render = message.render
        if message.render is None:
            self.query_one("#preview-tokenizer", Static).update(
                Text(f"Tokenizer template: {message.error}", style="red"))
        self._show_preview()

    def _show_preview(self) -> None:
        pt_box = self.query_one("#preview-template", Static)
        tok_box = self.query_one("#preview-tokenizer", Static)
        mismatch = self.query_one("#mismatch", Static)
        render = self.tokenizer_render
        messages = render.messages if render else T.SAMPLE_CONVERSATION
        try:
            pt_text = T.render_prompt_template(self.current_template(), messages)
        except T.TemplateError as e:
            pt_box.update(Text(f"PromptTemplate\n{e}", style="red"))
            mismatch.update("")
            return
        pt_box.update(Text.assemble(("PromptTemplate\n", "bold"), pt_text))
        if render is None:
            if self.onnx_dir is not None and not tok_box.content:
                tok_box.update(Text("Tokenizer chat template\nrendering…", style="dim"))
            return
        tok_box.update(Text.assemble((f"Tokenizer chat template ({render.engine})\n", "bold"),
                                     render.text))
        diff = T.diff_lines(render.text, pt_text)
        notes = [f"Note: {n}" for n in render.notes]
        if not diff:
            mismatch.update(Text("\n".join(["✓ The PromptTemplate matches the tokenizer's chat "
                                             "template.", *notes]), style="green"))
            return
        changed = [ln for ln in diff if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
        out = Text("⚠ Mismatch: the PromptTemplate renders differently from the tokenizer's "
                   "chat template; a wrong template silently ruins output. Differing lines "
                   "(- tokenizer, + PromptTemplate):\n", style="bold yellow")
        for ln in changed[:16]:
            out.append(ln + "\n", style="red" if ln.startswith("-") else "green")
        if len(changed) > 16:
            out.append(f"… {len(changed) - 16} more\n")
        for n in notes:
            out.append(n + "\n", style="yellow")
        mismatch.update(out)

    # ------------------------------------------------------------------------- cache

    @work(thread=True, exclusive=True, group="deploy-cache", exit_on_error=False)
    def find_cache(self) -> None:
        loc = deploy_step.cache_location()
        self.post_message(self.CacheFound(loc.path, loc.source))

    def on_deploy_screen_cache_found(self, message: CacheFound) -> None:
        cache = self.query_one("#cache-dir", Input)
        if not cache.value:
            cache.value = str(message.path)

    # ------------------------------------------------------------------------- deploy

    def _collect(self, replace: bool) -> tuple[deploy_step.Options, dict[str, str]] | None:
        """Validate every field; show the problems and return None if any. Else the step's
        options (template choice still to settle: see run_deploy) and the edited template."""
        errors: list[str] = []
        for inp in self.query(Input):
            if inp.validators:
                res = inp.validate(inp.value)
                if res is not None and not res.is_valid:
                    errors.extend(f"{inp.id}: {d}" for d in res.failure_descriptions)
        cache = self.query_one("#cache-dir", Input).value.strip()
        if not cache:
            errors.append("cache-dir: choose the Foundry Local cache folder")
        box = self.query_one("#field-errors", Static)
        if errors or self.onnx_dir is None:
            box.update(Text("\n".join(errors)))
            return None
        box.update("")

        def cfg(key: str) -> str:
            return self.query_one(f"#cfg-{key}", Input).value.strip()

        opts = deploy_step.Options(
            onnx_dir=self.onnx_dir,
            name=self.query_one("#name", Input).value,
            version=self.query_one("#version", Input).value.strip(),
            cache_dir=Path(cache).expanduser(),
            family=self.family_id,
            description=self.query_one("#description", Input).value,
            max_length=int(cfg("max_length")),
            temperature=float(cfg("temperature")),
            top_p=float(cfg("top_p")),
            repetition_penalty=float(cfg("repetition_penalty")),
            search_defaults=self.query_one("#search-defaults", Checkbox).value,
            replace=replace,
        )
        return opts, self.current_template()

    @on(Button.Pressed, "#deploy")
    def deploy_pressed(self) -> None:
        self.start_deploy(replace=False)

    def start_deploy(self, replace: bool) -> None:
        if self.deploying or self.onnx_dir is None:
            return
        collected = self._collect(replace)
        if collected is None:
            return
        self.deploying = True
        self.query_one("#deploy", Button).disabled = True
        self.query_one("#stages", DataTable).clear()
        self.query_one("#deploy-outcome", Static).update("")
        self.run_deploy(*collected)

    @work(thread=True, exclusive=True, group="deploy-run", exit_on_error=False)
    def run_deploy(self, opts: deploy_step.Options, template: dict[str, str]) -> None:
        """The deploy step's runner, as `slm-wizard deploy` runs it. A template edited away from
        the family's preset is saved next to the model and named with --prompt-template."""
        from dataclasses import replace

        from slm_wizard.core.steps import template as template_step

        family, custom = template_step.choice_for(opts.onnx_dir, template, opts.family)
        opts = replace(opts, family=family, prompt_template=custom)

        def on_progress(stage: str, status: Status, detail: str) -> None:
            if stage != deploy_step.INFO:
                self.post_message(self.StageUpdate(stage, status, detail))

        try:
            result = deploy_step.run(opts, on_progress=on_progress)
        except (deploy_step.DeployInputError, template_step.TemplateInputError) as e:
            self.post_message(self.DeployDone(error=str(e)))
            return
        self.post_message(self.DeployDone(result))

    def on_deploy_screen_stage_update(self, message: StageUpdate) -> None:
        table = self.query_one("#stages", DataTable)
        row = Text(message.detail or ("running…" if message.status == Status.RUNNING else ""))
        icon = Text(STAGE_ICON.get(message.status, "?"),
                    style=STAGE_STYLE.get(message.status, ""))
        if message.stage in table.rows:
            table.update_cell(message.stage, "icon", icon)
            table.update_cell(message.stage, "result", row)
        else:
            table.add_row(icon, message.stage, row, key=message.stage)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """An unexpected failure in a worker is shown here; the wizard keeps running."""
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        what = f"{type(err).__name__}: {err}" if err is not None else "unknown error"
        hint = " The details are in the log file; check the fields and try again."
        if event.worker.group == "deploy-remove":
            self.post_message(self.RemoveDone([], f"Removal failed unexpectedly ({what})."
                                              + hint))
        elif event.worker.group == "deploy-run":
            self.post_message(self.DeployDone(
                error=f"Deployment failed unexpectedly ({what}).{hint}"))
        elif event.worker.group == "deploy-preview":
            self.post_message(self.PreviewReady(None, f"could not render ({what})"))
        elif event.worker.group == "deploy-cache":
            self.query_one("#field-errors", Static).update(Text(
                f"Could not find the Foundry Local cache ({what}): type the cache folder.",
                style="bold red"))

    def on_deploy_screen_deploy_done(self, message: DeployDone) -> None:
        self.deploying = False
        self.query_one("#deploy", Button).disabled = self.onnx_dir is None
        outcome = self.query_one("#deploy-outcome", Static)
        res = message.result
        if res is not None and res.exists is not None:
            self._confirm_replace(res.exists)
            return
        if res is None or res.deploy is None:
            outcome.update(Text(message.error or res.error if res else message.error,
                                style="bold red"))
            return
        r = res.deploy
        state = self.app.state
        if r.exported:
            outcome.update(Text(r.instructions, style="yellow"))
            state.foundry_cache = r.cache_dir
        elif r.ok:
            lines = [f"✓ {r.model_id} is installed in Foundry Local and answered:",
                     f"  {(r.answer or '').strip()}",
                     f"Run it from a terminal: {r.run_command}" if r.cli_listing is not None
                     else f"Where the foundry CLI is installed, run: {r.run_command}"]
            if r.cli_listing is not None:
                lines.append(f"foundry cache listing: {', '.join(r.cli_listing)}")
            outcome.update(Text("\n".join(lines), style="green"))
            state.deployed_name = r.model_id
            state.foundry_cache = r.cache_dir
        else:
            outcome.update(Text(f"✗ {res.error}", style="bold red"))
        self.app.record_step(deploy_step.to_record(res.options, res))
        self.query_one("#continue", Button).disabled = not state.is_done(self.STEP_ID)
        self.query_one("#remove", Button).disabled = not r.ok or r.exported
        self.deployed = (r.name, r.version, r.cache_dir) if r.ok and not r.exported else None

    # ------------------------------------------------------------------------- remove

    @on(Button.Pressed, "#remove")
    def remove_pressed(self) -> None:
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        if self.deployed is None or self.onnx_dir is None:
            return
        name, version, cache = self.deployed
        opts = deploy_step.Options(self.onnx_dir, name, version, cache_dir=cache, remove=True)

        def answered(yes: bool | None) -> None:
            if yes:
                self.query_one("#remove", Button).disabled = True
                self.run_remove(opts)

        self.app.push_screen(ConfirmScreen(
            "Remove the model from Foundry Local?",
            Text(f"{name}:{version} will be unloaded and unregistered, and "
                 f"{cache / 'custom' / name} deleted. The converted folder is kept."),
            yes="Remove"), answered)

    @work(thread=True, exclusive=True, group="deploy-remove", exit_on_error=False)
    def run_remove(self, opts: deploy_step.Options) -> None:
        result = deploy_step.run(opts)
        self.post_message(self.RemoveDone(result.removed, result.error, result))

    def on_deploy_screen_remove_done(self, message: RemoveDone) -> None:
        outcome = self.query_one("#deploy-outcome", Static)
        if message.error:
            outcome.update(Text(message.error, style="bold red"))
            self.query_one("#remove", Button).disabled = False
            return
        self.deployed = None
        state = self.app.state
        state.deployed_name = None
        if message.result is not None:
            self.app.record_step(deploy_step.to_record(message.result.options, message.result))
        self.query_one("#continue", Button).disabled = True
        outcome.update(Text("Removed: " + "; ".join(message.done) + ".", style="yellow"))

    def _confirm_replace(self, exists) -> None:
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        detail = "\n".join(exists.diff[:30]) if exists.diff else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_deploy(replace=True)
            else:
                self.query_one("#deploy-outcome", Static).update(
                    Text("Not deployed: the existing model was kept.", style="yellow"))

        # Text, not str: a template's "[INST]" must not be read as markup.
        self.app.push_screen(ConfirmScreen("Replace the existing model?", Text(str(exists)),
                                           yes="Replace", detail=Text(detail)), answered)

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        self.app.action_next_step()

