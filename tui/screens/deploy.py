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

from slm_wizard.core.base.status import ICON, Progress, Status
from slm_wizard.core.deploy import templates as T
from slm_wizard.core.deploy.inference_model import (
    BOUNDS,
    InferenceModelError,
    ModelConfig,
    context_length,
    default_max_length,
    validate_config_field,
    validate_name,
    validate_version,
)
from slm_wizard.core.deploy.template_check import MATCH, TemplateCheck
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
    AUTO_FOCUS = "#deploy"  # Enter deploys; the outcome and the buttons stay docked in view
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
    DeployScreen #deploy-bar { dock: bottom; height: auto; background: $surface; }
    DeployScreen #actions { height: auto; }
    DeployScreen #actions Button { margin-right: 1; }
    DeployScreen #stages { height: auto; max-height: 9; margin-top: 1; }
    DeployScreen #deploy-outcome { height: auto; padding: 0 1; }
    """

    class PreviewReady(Message):
        def __init__(self, check: TemplateCheck | None, error: str = "") -> None:
            self.check = check
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
        self.template_check: TemplateCheck | None = None  # of the fields as they are
        self.deploying = False
        self.deployed: tuple[str, str, Path] | None = None  # (name, version, cache)
        # The family whose preset the fields were last filled with; None: the template derived
        # from the model's own chat template.
        self.family_id: str | None = "qwen"

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
        yield DataTable(id="stages", show_cursor=False)
        with Vertical(id="deploy-bar", classes="action-bar"):  # docked: the result stays in view
            yield Static("", id="deploy-outcome")
            with Horizontal(id="actions"):
                yield Button("Deploy", id="deploy", variant="primary")
                yield Button("Continue", id="continue", disabled=True)
                yield Button("Remove from Foundry Local", id="remove", variant="error",
                             disabled=True)

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
        if state.deployed_name and state.deployed_version and chosen:  # resumed: removable
            self.deployed = (state.deployed_name, state.deployed_version, Path(chosen))
            self.query_one("#remove", Button).disabled = False
            self.query_one("#continue", Button).disabled = False
        elif not cache.value:
            self.find_cache()
        self._apply_derived()
        self.template_check = None
        self._show_preview()

    # ------------------------------------------------------------------------- template

    def _apply_derived(self) -> None:
        """Fill the fields with the template derived from the model's own chat template (the
        detected family's preset when there is none): core's template step decides."""
        from slm_wizard.core.steps import template as template_step

        assert self.onnx_dir is not None
        try:
            chosen = template_step.resolve(template_step.Options(self.onnx_dir))
        except template_step.TemplateInputError as e:
            self.query_one("#detect-note", Static).update(Text(str(e), style="bold red"))
            return
        if chosen.source != template_step.DERIVED:
            self._apply_family(chosen.family)
            return
        self.family_id = None
        for key, value in chosen.template.items():
            self.query_one(f"#tmpl-{key}", Input).value = escape(value)
        if self.detected:
            fam, conf, reasons = self.detected
            self.query_one("#detect-note", Static).update(Text(
                f"Detected {T.FAMILIES[fam].title} with {T.confidence_label(conf)} confidence: "
                + "; ".join(reasons) + ".\nPromptTemplate derived from the model's own chat "
                "template (a family preset replaces it when chosen)."))

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
    def run_check(self, onnx_dir: Path, template: dict[str, str], family: str | None) -> None:
        """core's one template check (the same as `template` and `deploy`), on the sample
        conversation from the model's domain_eval.jsonl (else a neutral one)."""
        from slm_wizard.core.steps import template as template_step

        check = template_step.check(onnx_dir, template, family or "derived")
        self.post_message(self.PreviewReady(check))

    def on_deploy_screen_preview_ready(self, message: PreviewReady) -> None:
        self.template_check = message.check
        mismatch = self.query_one("#mismatch", Static)
        check = message.check
        if check is None:
            self.query_one("#preview-tokenizer", Static).update(
                Text(f"Model's chat template: {message.error}", style="red"))
            mismatch.update("")
            return
        self.query_one("#preview-template", Static).update(
            Text.assemble(("PromptTemplate\n", "bold"), check.prompt_template_text))
        if check.tokenizer_text is not None:
            self.query_one("#preview-tokenizer", Static).update(Text.assemble(
                (f"Model's chat template ({check.engine})\n", "bold"), check.tokenizer_text))
        ok = check.verdict == MATCH
        style = "green" if ok else "bold red" if check.mismatch else "bold yellow"
        out = Text(("✓ " if ok else "⚠ ") + f"The PromptTemplate {check.summary}.\n", style=style)
        for w in check.warnings[:6]:
            out.append(w[:600] + "\n", style="yellow")
        mismatch.update(out)

    def _show_preview(self) -> None:
        """Check the fields as they are (a worker: the check reads the tokenizer)."""
        try:
            template = T.validate_template(self.current_template())
        except T.TemplateError as e:
            self.query_one("#preview-template", Static).update(
                Text(f"PromptTemplate\n{e}", style="red"))
            self.query_one("#mismatch", Static).update("")
            return
        if self.onnx_dir is None:
            return
        tok_box = self.query_one("#preview-tokenizer", Static)
        if not tok_box.content:
            tok_box.update(Text("Model's chat template\nrendering…", style="dim"))
        self.run_check(self.onnx_dir, template, self.family_id)

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

    def _confirm_mismatch(self, res: deploy_step.Result) -> None:
        """The template check found a mismatch: deploy only when the user confirms (recorded)."""
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        check = res.template.check if res.template else None
        detail = "\n".join(check.warnings[:8]) if check else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_deploy(replace=res.options.replace, allow_mismatch=True)
            else:
                self.query_one("#deploy-outcome", Static).update(Text(
                    "Not deployed: the PromptTemplate does not match the model's chat template.",
                    style="yellow"))

        self.app.push_screen(ConfirmScreen(
            "Deploy a mismatching PromptTemplate?",
            Text("The PromptTemplate renders differently from the model's own chat template: a "
                 "mismatched template silently ruins output. Deploy it anyway?"),
            yes="Deploy anyway", detail=Text(detail)), answered)

    def start_deploy(self, replace: bool, allow_mismatch: bool = False) -> None:
        if self.deploying or self.onnx_dir is None:
            return
        collected = self._collect(replace)
        if collected is None:
            return
        self.deploying = True
        self.query_one("#deploy", Button).disabled = True
        self.query_one("#stages", DataTable).clear()
        self.query_one("#deploy-outcome", Static).update("")
        opts, template = collected
        if allow_mismatch:
            from dataclasses import replace as with_changes

            opts = with_changes(opts, allow_template_mismatch=True)
        self.run_deploy(opts, template)

    @work(thread=True, exclusive=True, group="deploy-run", exit_on_error=False)
    def run_deploy(self, opts: deploy_step.Options, template: dict[str, str]) -> None:
        """The deploy step's runner, as `slm-wizard deploy` runs it. A template edited away from
        the family's preset is saved next to the model and named with --prompt-template."""
        from dataclasses import replace

        from slm_wizard.core.steps import template as template_step

        family, custom = template_step.choice_for(opts.onnx_dir, template, opts.family)
        opts = replace(opts, family=family, prompt_template=custom)

        def on_progress(p: Progress) -> None:
            if p.phase != deploy_step.INFO and p.status is not None:
                self.post_message(self.StageUpdate(p.phase, p.status, p.text))

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
            # The column widens to the result (it was sized for "running…" and cut the path).
            table.update_cell(message.stage, "result", row, update_width=True)
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
        if res is not None and res.template_refused:
            self._confirm_mismatch(res)
            return
        if res is None or res.deploy is None:
            outcome.update(Text(message.error or res.error if res else message.error,
                                style="bold red"))
            return
        r = res.deploy
        state = self.app.state
        if r.exported:
            outcome.update(Text(r.instructions, style="yellow"))
        elif r.ok:
            lines = [f"✓ {r.model_id} is installed in Foundry Local and answered:",
                     f"  {(r.answer or '').strip()}",
                     f"Run it from a terminal: {r.run_command}" if r.cli_listing is not None
                     else f"Where the foundry CLI is installed, run: {r.run_command}"]
            if r.cli_listing is not None:
                lines.append(f"foundry cache listing: {', '.join(r.cli_listing)}")
            warned = [f"⚠ {st.id}: {st.found}" for st in r.stages if st.status == Status.WARN]
            if warned:  # e.g. an empty answer: shown raw with its likely causes
                lines[:2] = [f"✓ {r.model_id} is installed in Foundry Local, with a warning:",
                             *warned]
            outcome.update(Text("\n".join(lines), style="yellow" if warned else "green"))
        else:
            outcome.update(Text.assemble(
                (f"✗ {res.error}\n", "bold red"),
                "Next: fix the stage marked ✗ in the table above and press Deploy again, or go "
                "on with ctrl+n (Chat and Validate run the ONNX folder with onnxruntime-genai)."))
        self.app.record_step(deploy_step.to_record(res.options, res))
        done = state.is_done(self.STEP_ID)
        self.query_one("#continue", Button).disabled = not done
        self.query_one("#continue" if done else "#deploy", Button).focus(scroll_visible=False)
        self.query_one("#stages", DataTable).scroll_visible(animate=False)
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

