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
    InferenceModelError,
    ModelConfig,
    context_length,
    validate_name,
    validate_version,
)
from slm_wizard.tui.screens.base import StepScreen

STAGE_ICON = {"running": "…", "ok": "✓", "failed": "✗", "skipped": "–"}


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


class PlaceholderOnce(Validator):
    def validate(self, value: str) -> ValidationResult:
        n = unescape(value).count(T.PLACEHOLDER)
        if n == 1:
            return self.success()
        return self.failure(f"must hold {T.PLACEHOLDER} exactly once (found {n})")


class Range(Validator):
    """A number within bounds; `lo_open` excludes the lower bound. `hi` may be a callable."""

    def __init__(self, label: str, lo: float, hi, *, lo_open: bool = False,
                 integer: bool = False) -> None:
        super().__init__()
        self.label, self.lo, self.hi, self.lo_open, self.integer = label, lo, hi, lo_open, integer

    def validate(self, value: str) -> ValidationResult:
        try:
            x = int(value) if self.integer else float(value)
        except ValueError:
            kind = "a whole number" if self.integer else "a number"
            return self.failure(f"{self.label} must be {kind}")
        hi = self.hi() if callable(self.hi) else self.hi
        low_ok = x > self.lo if self.lo_open else x >= self.lo
        if not low_ok or x > hi:
            lo = f"> {self.lo:g}" if self.lo_open else f">= {self.lo:g}"
            return self.failure(f"{self.label} must be {lo} and <= {hi:g}")
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
        def __init__(self, stage: str, status: str, detail: str) -> None:
            self.stage, self.status, self.detail = stage, status, detail
            super().__init__()

    class RemoveDone(Message):
        def __init__(self, done: list[str], error: str = "") -> None:
            self.done, self.error = done, error
            super().__init__()

    class DeployDone(Message):
        def __init__(self, result=None, error: str = "", exists=None) -> None:
            self.result, self.error, self.exists = result, error, exists
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.onnx_dir: Path | None = None
        self.ctx_len: int | None = None
        self.detected: tuple[str, float, list[str]] | None = None
        self.tokenizer_render: T.TokenizerRender | None = None
        self.deploying = False
        self.deployed: tuple[str, str, Path] | None = None  # (name, version, cache)

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
                        yield Input(id=f"tmpl-{key}", validators=[PlaceholderOnce()],
                                    valid_empty=False)
        yield Static("", id="detect-note")
        with Horizontal(id="preview-row"):
            yield Static("", id="preview-template", classes="preview")
            yield Static("", id="preview-tokenizer", classes="preview")
        yield Static("", id="mismatch")
        with Horizontal(id="cfg-row"):
            for key, default, v in (
                ("max_length", "2048", Range("max_length", 1, self._ctx_limit, integer=True)),
                ("temperature", "0.7", Range("temperature", 0, 2, lo_open=True)),
                ("top_p", "0.9", Range("top_p", 0, 1, lo_open=True)),
                ("repetition_penalty", "1.0", Range("repetition_penalty", 1.0, 2.0)),
            ):
                with Vertical(classes="cfg"):
                    yield Label(key)
                    yield Input(default, id=f"cfg-{key}", validators=[v])
        with Horizontal(id="id-row"):
            with Vertical(classes="cfg"):
                yield Label("Name")
                yield Input("", id="name", validators=[CheckedBy(validate_name)])
            with Vertical(classes="cfg"):
                yield Label("Version")
                yield Input("1", id="version", validators=[CheckedBy(validate_version)])
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

    def _ctx_limit(self) -> float:
        return float(self.ctx_len) if self.ctx_len else float("inf")

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
        if self.ctx_len:
            self.query_one("#cfg-max_length", Input).value = str(min(2048, self.ctx_len))
        name = self.query_one("#name", Input)
        if not name.value:
            name.value = _suggest_name(self.onnx_dir, state)
        cache = self.query_one("#cache-dir", Input)
        if state.foundry_cache:
            cache.value = str(state.foundry_cache)
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

    @work(thread=True, exclusive=True, group="deploy-preview")
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

    @work(thread=True, exclusive=True, group="deploy-cache")
    def find_cache(self) -> None:
        from slm_wizard.core.foundry import find_cache_dir

        loc = find_cache_dir()
        self.post_message(self.CacheFound(loc.path, loc.source))

    def on_deploy_screen_cache_found(self, message: CacheFound) -> None:
        cache = self.query_one("#cache-dir", Input)
        if not cache.value:
            cache.value = str(message.path)

    # ------------------------------------------------------------------------- deploy

    def _collect(self) -> tuple[dict, ModelConfig, dict] | None:
        """Validate every field; show the problems and return None if any."""
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
        if errors:
            box.update(Text("\n".join(errors)))
            return None
        box.update("")
        cfg = ModelConfig(
            int(self.query_one("#cfg-max_length", Input).value),
            float(self.query_one("#cfg-temperature", Input).value),
            float(self.query_one("#cfg-top_p", Input).value),
            float(self.query_one("#cfg-repetition_penalty", Input).value),
        )
        ident = {
            "name": self.query_one("#name", Input).value,
            "version": self.query_one("#version", Input).value,
            "description": self.query_one("#description", Input).value,
            "cache_dir": Path(cache).expanduser(),
            "search_defaults": self.query_one("#search-defaults", Checkbox).value,
        }
        return self.current_template(), cfg, ident

    @on(Button.Pressed, "#deploy")
    def deploy_pressed(self) -> None:
        self.start_deploy(replace=False)

    def start_deploy(self, replace: bool) -> None:
        if self.deploying or self.onnx_dir is None:
            return
        collected = self._collect()
        if collected is None:
            return
        template, cfg, ident = collected
        self.deploying = True
        self.query_one("#deploy", Button).disabled = True
        self.query_one("#stages", DataTable).clear()
        self.query_one("#deploy-outcome", Static).update("")
        self.run_deploy(self.onnx_dir, template, cfg, ident, replace)

    @work(thread=True, exclusive=True, group="deploy-run")
    def run_deploy(self, onnx_dir: Path, template: dict, cfg: ModelConfig, ident: dict,
                   replace: bool) -> None:
        from slm_wizard.core import foundry
        from slm_wizard.core.inference_model import write_search_defaults

        def on_stage(stage: str, status: str, detail: str) -> None:
            self.post_message(self.StageUpdate(stage, status, detail))

        prompt, system = _test_prompt(onnx_dir, self.app.state)
        try:
            result = foundry.deploy(onnx_dir, ident["name"], ident["version"], template, cfg,
                                    ident["cache_dir"], replace=replace, on_stage=on_stage,
                                    description=ident["description"], prompt=prompt,
                                    system=system)
        except foundry.TargetExists as e:
            self.post_message(self.DeployDone(exists=e))
            return
        except (foundry.FoundryError, InferenceModelError) as e:
            self.post_message(self.DeployDone(error=str(e)))
            return
        if ident["search_defaults"] and result.ok:
            try:
                write_search_defaults(onnx_dir, cfg, consent=True)
            except InferenceModelError as e:
                on_stage("search defaults", "failed", str(e))
        self.post_message(self.DeployDone(result))

    def on_deploy_screen_stage_update(self, message: StageUpdate) -> None:
        table = self.query_one("#stages", DataTable)
        row = Text(message.detail or ("running…" if message.status == "running" else ""))
        style = {"ok": "green", "failed": "red", "skipped": "dim"}.get(message.status, "")
        icon = Text(STAGE_ICON.get(message.status, "?"), style=style)
        if message.stage in table.rows:
            table.update_cell(message.stage, "icon", icon)
            table.update_cell(message.stage, "result", row)
        else:
            table.add_row(icon, message.stage, row, key=message.stage)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "deploy-remove":
            self.post_message(self.RemoveDone([], f"removal failed: {event.worker.error}"))
        elif event.worker.group == "deploy-run":
            self.post_message(self.DeployDone(error=f"deployment failed: {event.worker.error}"))
        elif event.worker.group == "deploy-preview":
            self.post_message(self.PreviewReady(None, f"could not render: {event.worker.error}"))

    def on_deploy_screen_deploy_done(self, message: DeployDone) -> None:
        self.deploying = False
        self.query_one("#deploy", Button).disabled = False
        outcome = self.query_one("#deploy-outcome", Static)
        if message.exists is not None:
            self._confirm_replace(message.exists)
            return
        if message.result is None:
            outcome.update(Text(message.error, style="bold red"))
            return
        r = message.result
        state = self.app.state
        if r.exported:
            outcome.update(Text(r.instructions, style="yellow"))
            state.foundry_cache = r.cache_dir
            state.mark_done(self.STEP_ID, f"exported {r.target} (Foundry Local not installed)")
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
            state.mark_done(self.STEP_ID, f"{r.model_id} deployed to Foundry Local")
        else:
            failed = next((s for s in r.stages if s.status == "failed"), None)
            outcome.update(Text(f"✗ {failed.stage if failed else 'a stage'} failed: "
                                f"{failed.detail if failed else ''}", style="bold red"))
        self.query_one("#continue", Button).disabled = self.STEP_ID not in state.done
        self.query_one("#remove", Button).disabled = not r.ok or r.exported
        self.deployed = (r.name, r.version, r.cache_dir) if r.ok and not r.exported else None

    # ------------------------------------------------------------------------- remove

    @on(Button.Pressed, "#remove")
    def remove_pressed(self) -> None:
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        if self.deployed is None:
            return
        name, version, cache = self.deployed

        def answered(yes: bool | None) -> None:
            if yes:
                self.query_one("#remove", Button).disabled = True
                self.run_remove(name, version, cache)

        self.app.push_screen(ConfirmScreen(
            "Remove the model from Foundry Local?",
            Text(f"{name}:{version} will be unloaded and unregistered, and "
                 f"{cache / 'custom' / name} deleted. The converted folder is kept."),
            yes="Remove"), answered)

    @work(thread=True, exclusive=True, group="deploy-remove")
    def run_remove(self, name: str, version: str, cache: Path) -> None:
        from slm_wizard.core import foundry

        try:
            done = foundry.undeploy(name, version, cache)
        except (foundry.FoundryError, InferenceModelError) as e:
            self.post_message(self.RemoveDone([], str(e)))
            return
        self.post_message(self.RemoveDone(done))

    def on_deploy_screen_remove_done(self, message: RemoveDone) -> None:
        outcome = self.query_one("#deploy-outcome", Static)
        if message.error:
            outcome.update(Text(message.error, style="bold red"))
            self.query_one("#remove", Button).disabled = False
            return
        self.deployed = None
        state = self.app.state
        state.deployed_name = None
        state.done.discard(self.STEP_ID)
        state.notes.pop(self.STEP_ID, None)
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


def _suggest_name(onnx_dir: Path, state) -> str:
    import re

    base = "lumo-demo" if getattr(state, "is_demo", False) else (
        Path(state.model_dir).name if getattr(state, "model_dir", None) else onnx_dir.name)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "my-model"
    return name[:64]


def _test_prompt(onnx_dir: Path, state) -> tuple[str, str | None]:
    """The demo model is asked one of its own FAQ questions; other models get a greeting."""
    import json

    for folder in (getattr(state, "model_dir", None), onnx_dir):
        if folder and (Path(folder) / "domain_eval.jsonl").is_file():
            try:
                first = (Path(folder) / "domain_eval.jsonl").read_text().splitlines()[0]
                row = json.loads(first)
                return str(row["prompt"]), row.get("system")
            except (OSError, ValueError, KeyError, IndexError):
                break
    return "Hello! Who are you?", None
