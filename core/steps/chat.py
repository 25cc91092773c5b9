"""The Chat step's runner: open a chat backend, send a prompt, measure the reply.

- `Options`: the backend ("ort" on a converted folder, "foundry" on a deployed model id and its
  cache folder), the generation settings, the system prompt and, for a one-shot run, the prompt.
  `argv()` is always the ONE-SHOT headless command (`slm-wizard chat MODEL --prompt ...`), never
  the interactive form, which waits for input.
- `open_backend(options)` opens a backend the caller keeps over many replies (the Chat screen,
  the CLI's line-based chat); `new_session(options, backend)` starts a conversation on it.
- `run(options, ...)`: one prompt, one reply, the backend closed again (the CLI's `--prompt`).
- `Result`: the reply, its figures and the backend that produced it.
- `ChatLog`: the replies of a chat, possibly from both backends. Its record counts replies per
  backend and labels each figure with the backend that measured it; the record's command is the
  one-shot chat of the first prompt, with the backend and settings that answered it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from slm_wizard.core.base.schema import utf8_problem
from slm_wizard.core.base.status import Refused, Status
from slm_wizard.core.base.units import MB
from slm_wizard.core.run.record import RunRecord, StepRecord
from slm_wizard.core.runtime.backends import open_backend as _open_backend
from slm_wizard.core.runtime.chat import (
    BACKENDS,
    SETTING_BOUNDS,
    ChatBackend,
    ChatError,
    ChatSession,
    GenerationSettings,
    Reply,
    clean_user_text,
)
from slm_wizard.core.runtime.metrics import ProcessSample, ProcessSampler, ReplyStats, StreamBatch
from slm_wizard.core.steps import Progress, ProgressFn

# The fronts (the Chat screen, its settings form, the chat command) take the runtime's names
# they show or hold from here, never from core.runtime itself.
__all__ = [
    "BACKENDS", "BACKEND_TITLES", "SETTING_BOUNDS", "Answer", "ChatBackend", "ChatError",
    "ChatInputError", "ChatLog", "ChatSession", "GenerationSettings", "Loaded", "Options",
    "ProcessSampler", "Reply", "Result", "StreamBatch", "adapter_names", "default_settings",
    "failure_of", "generator_pid", "load", "new_session", "open_backend", "options_for",
    "check_model_place", "result_of", "run", "send", "settings_in_use", "to_record",
    "utf8_problem",
]

DEFAULT_BACKEND = "ort"
BACKEND_TITLES = {"ort": "onnxruntime-genai", "foundry": "Foundry Local"}
_DEFAULTS = GenerationSettings()
# Generation settings: Options field -> the headless command's flag.
SETTING_FLAGS = {
    "max_tokens": "--max-tokens",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "top_k": "--top-k",
    "repetition_penalty": "--repetition-penalty",
    "min_tokens": "--min-tokens",
    "adapter": "--adapter",
}


class ChatInputError(Refused):
    """Options that cannot run (bad settings, empty prompt, unknown backend), for the user."""


@dataclass(frozen=True)
class Options:
    """Everything that decides what a chat runs. Defaults are the headless command's."""

    model: str  # converted ONNX folder (ort) or Foundry Local model id name:version (foundry)
    backend: str = DEFAULT_BACKEND
    cache_dir: str | None = None  # Foundry Local model cache (foundry; None: Foundry's own)
    max_tokens: int = _DEFAULTS.max_tokens
    temperature: float = _DEFAULTS.temperature
    top_p: float = _DEFAULTS.top_p
    top_k: int = _DEFAULTS.top_k
    repetition_penalty: float = _DEFAULTS.repetition_penalty
    min_tokens: int = _DEFAULTS.min_tokens
    adapter: str = _DEFAULTS.adapter  # LoRA adapter to activate (ort; "": none)
    system: str | None = None  # system prompt (None: the chat template's default)
    prompt: str | None = None  # the message of a one-shot run
    # The model runs in a child process (core.genproc) so the caller's own work (a UI) does not
    # slow the generation it measures; in_process runs it in this interpreter instead.
    in_process: bool = False

    @classmethod
    def of(cls, backend: str, model: str | Path, settings: GenerationSettings, *,
           cache_dir: str | Path | None = None, system: str | None = None,
           prompt: str | None = None) -> Options:
        """Options from a backend, its model and a chat's current settings (a LoRA adapter
        only on the ort backend)."""
        if backend != "ort":
            settings = replace(settings, adapter="")
        return cls(model=str(model), backend=backend,
                   cache_dir=str(cache_dir) if cache_dir and backend == "foundry" else None,
                   system=system or None, prompt=prompt,
                   **{name: getattr(settings, name) for name in SETTING_FLAGS})

    @property
    def settings(self) -> GenerationSettings:
        return GenerationSettings(**{name: getattr(self, name) for name in SETTING_FLAGS})

    @property
    def title(self) -> str:
        return BACKEND_TITLES.get(self.backend, self.backend)

    def validate(self, *, one_shot: bool = False) -> Options:
        """Raise ChatInputError when these options cannot run; `one_shot` needs a prompt."""
        if self.backend not in BACKENDS:
            raise ChatInputError(f"unknown backend {self.backend!r}: choose one of "
                                 f"{', '.join(BACKENDS)}")
        if not str(self.model).strip():
            raise ChatInputError("give the converted ONNX folder (ort) or the Foundry Local "
                                 "model id name:version (foundry)")
        try:
            self.settings.validate()
        except ValueError as e:
            raise ChatInputError(str(e)) from None
        if self.adapter and self.backend != "ort":
            raise ChatInputError("LoRA adapters run with the onnxruntime-genai backend (ort) "
                                 "only: Foundry Local loads one model folder.")
        for text, what in ((self.prompt, "the prompt"), (self.system, "the system prompt")):
            if utf8_problem(text, what):
                raise ChatInputError(utf8_problem(text, what))
        if self.prompt is not None and not clean_user_text(self.prompt):
            raise ChatInputError("the prompt is empty: give the message to send.")
        if one_shot and self.prompt is None:
            raise ChatInputError("a one-shot chat needs the prompt to send.")
        check_model_place(self.backend, self.model, self.cache_dir, self.adapter)
        return self

    def argv(self) -> list[str]:
        """The one-shot headless command that sends `prompt` with exactly these options."""
        if self.prompt is None:
            raise ChatInputError("a one-shot chat needs the prompt to send.")
        cmd = ["slm-wizard", "chat", str(self.model)]
        if self.backend != DEFAULT_BACKEND:
            cmd += ["--backend", self.backend]
        if self.backend == "foundry" and self.cache_dir:
            cmd += ["--cache-dir", str(self.cache_dir)]
        cmd += ["--prompt", self.prompt]
        if self.in_process:
            cmd += ["--in-process"]
        if self.system:
            cmd += ["--system", self.system]
        defaults = {f.name: f.default for f in fields(Options)}
        for name, flag in SETTING_FLAGS.items():
            value = getattr(self, name)
            if value != defaults[name]:
                cmd += [flag, str(value)]
        return cmd

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def check_model_place(backend: str, model: str | Path, cache_dir: str | Path | None = None,
                      adapter: str = "") -> None:
    """ChatInputError (refused input, exit 2) when the model named cannot be what the backend
    runs: a missing path, a file, a Hugging Face folder or one without genai_config.json, a LoRA
    adapter the folder lacks (ort); a cache folder that is a file (foundry). Shared by the chat,
    the benchmark and the checklist, so a wrong folder is refused, not a failed load."""
    from slm_wizard.core.base.paths import missing_reason

    if backend == "foundry":
        cache = Path(str(cache_dir)).expanduser() if cache_dir else None
        if cache is not None and cache.exists() and not cache.is_dir():
            raise ChatInputError(f"--cache-dir: {cache} is a file: give the Foundry Local model "
                                 "cache folder")
        return
    folder = Path(str(model)).expanduser()
    if not folder.exists():
        raise ChatInputError(f"{model} {missing_reason(folder)}: give the converted ONNX folder")
    if not folder.is_dir():
        raise ChatInputError(f"{folder} is a file: give the converted ONNX folder")
    if not (folder / "genai_config.json").is_file():
        raise ChatInputError(
            f"{folder} is a Hugging Face model folder, not a converted one: convert it first "
            "(`slm-wizard convert`), then use the folder it writes"
            if (folder / "config.json").is_file() else
            f"{folder} has no genai_config.json: give the folder `slm-wizard convert` wrote")
    if adapter and not (folder / f"{adapter}.onnx_adapter").is_file():
        names = adapter_names(folder)
        raise ChatInputError(f"--adapter {adapter}: {folder} has no {adapter}.onnx_adapter "
                             + (f"(its adapters: {', '.join(names)})" if names
                                else "(it has no adapters)"))


def default_settings(onnx_dir: Path | str | None) -> GenerationSettings:
    """The chat's starting settings: the converted folder's own (Deploy's ModelConfig, or
    genai_config.json's search section), else the defaults."""
    if onnx_dir is None:
        return GenerationSettings()
    return GenerationSettings.from_model(onnx_dir, max_tokens=_DEFAULTS.max_tokens)


def settings_in_use(backend: str, settings: GenerationSettings) -> str:
    """The generation settings `backend` really applies, in words (the Chat screen shows them):
    both backends get the same settings from the chat; Foundry Local's API has no repetition
    penalty and no minimum length, so those are said to be left out."""
    s = settings
    mode = "greedy" if s.greedy else \
        f"sampling: temperature {s.temperature:g}, top_p {s.top_p:g}, top_k {s.top_k}"
    text = f"{mode}, at most {s.max_tokens} tokens per reply"
    if backend == "foundry":
        dropped = [name for name, on in (("repetition penalty", s.repetition_penalty != 1.0),
                                          ("min tokens", s.min_tokens > 0)) if on]
        if dropped:
            text += f" ({' and '.join(dropped)} not applied: Foundry Local has no such option)"
    elif s.repetition_penalty != 1.0:
        text += f", repetition penalty {s.repetition_penalty:g}"
    return text


def options_for(record: RunRecord, backend: str,
                settings: GenerationSettings | None = None) -> Options | None:
    """The chat options for a run's current model on `backend` (None: nothing to chat with
    yet). `settings` default to the converted folder's own."""
    if settings is None:
        settings = default_settings(record.onnx_dir)
    if backend == "foundry":
        if not record.deployed_name:
            return None
        return Options.of("foundry", record.deployed_id, settings,
                          cache_dir=record.foundry_cache)
    if record.onnx_dir is None:
        return None
    return Options.of("ort", record.onnx_dir, settings)


# --- running ---------------------------------------------------------------------------------

def template_note(options: Options) -> str:
    """What to know about the chat template the chat renders ("" nothing): a converted folder
    with two different chat templates is chatted with chat_template.jinja's."""
    if options.backend != "ort":
        return ""
    from slm_wizard.core.deploy.templates import template_sources

    if not template_sources(Path(str(options.model)).expanduser()).differ:
        return ""
    return ("the folder holds two different chat templates: this chat renders "
            "chat_template.jinja's (the one transformers, `slm-wizard template` and deploy use), "
            "not tokenizer_config.json's, which onnxruntime-genai and Foundry Local's runtime "
            "would read first on this folder")


def open_backend(options: Options) -> ChatBackend:
    """Open the backend of `options` (kept open by the caller; close it when done): in a child
    process (core.genproc.ChildBackend, whose `pid` is the generating process) unless
    `options.in_process`.

    Raises ChatInputError for options that cannot run, ChatError when the model does not load."""
    options.validate()
    kw: dict[str, Any] = {}
    if options.backend == "foundry" and options.cache_dir:
        kw["cache_dir"] = Path(options.cache_dir)
    if options.in_process:
        return _open_backend(options.backend, options.model, **kw)
    from slm_wizard.core.runtime.genproc import ChildBackend

    return ChildBackend(options.backend, options.model, **kw)


@dataclass
class Loaded:
    """A backend opened for a chat the caller keeps (`backend`), or why it could not be."""

    backend: ChatBackend | None
    error: str = ""


def load(options: Options, *, on_progress: ProgressFn | None = None,
         cancel: threading.Event | None = None,
         previous: ChatBackend | None = None) -> Loaded:
    """Open the backend of `options` for a kept chat (the Chat screen's load), closing the
    `previous` one first (its generating process ends). A model that does not load is a Loaded
    with the reason; options that cannot run raise ChatInputError."""
    if previous is not None:
        previous.close()
    if on_progress is not None:
        on_progress(Progress("load", text=f"loading {options.model} ({options.title})…"))
    try:
        backend = open_backend(options)
    except ChatError as e:
        return Loaded(None, str(e))
    if cancel is not None and cancel.is_set():  # replaced or quit while loading: nobody keeps it
        backend.close()
        return Loaded(None, "cancelled")
    return Loaded(backend)


@dataclass
class Answer:
    """One reply of a kept chat, or why it failed (`reply`: what streamed before the failure)."""

    reply: Reply | None
    error: str = ""


def send(options: Options, *, on_progress: ProgressFn | None = None,
         cancel: threading.Event | None = None, session: ChatSession,
         on_text: Callable[[str], None] | None = None) -> Answer:
    """Send `options.prompt` in the kept conversation `session`; the text streams to `on_text`
    (called on the generating thread: batch it there, not per token in a UI); `cancel` stops the
    reply between two tokens. A generation failure is an Answer with its message."""
    try:
        return Answer(session.send(options.prompt or "", on_text=on_text, cancel=cancel))
    except ChatError as e:
        return Answer(e.partial, str(e))


def adapter_names(onnx_dir: Path | str | None) -> tuple[str, ...]:
    """The LoRA adapters a converted folder can switch (onnxruntime-genai), by name."""
    from slm_wizard.core.model.adapter import adapter_files

    return () if onnx_dir is None else tuple(p.stem for p in adapter_files(onnx_dir))


def generator_pid(backend: ChatBackend) -> int:
    """The id of the process that generates for `backend` (this one when it runs in process)."""
    return int(getattr(backend, "pid", 0) or os.getpid())


def new_session(options: Options, backend: ChatBackend) -> ChatSession:
    """A conversation on `backend` with the options' system prompt and settings."""
    return ChatSession(backend, system_prompt=options.system, settings=options.settings)


@dataclass
class Result:
    """One reply (or why there is none), with its figures and the backend that produced it.

    Memory is measured on two processes: `sample` is the generating process (the child that runs
    the model, `pid`), `wizard` this process (the UI or the CLI). In process they are the same."""

    status: Status
    backend: str  # "ort" or "foundry": the backend that answered (or failed)
    text: str = ""
    stats: ReplyStats | None = None
    sample: ProcessSample | None = None  # the generating process's memory right after the reply
    error: str = ""
    wizard: ProcessSample | None = None  # this process's memory (the UI's or the CLI's)
    pid: int = 0  # the generating process
    adapter: str | None = None  # the LoRA adapter that was active ("" none; None: no adapters)

    @property
    def title(self) -> str:
        return BACKEND_TITLES.get(self.backend, self.backend)

    def summary(self) -> str:
        """One line: tokens, tok/s, TTFT, total, and memory when it was measured."""
        if self.stats is None:
            return self.error
        line = self.stats.summary()
        if self.adapter is not None:
            line += f" · adapter {self.adapter}" if self.adapter else " · adapter off (base model)"
        if self.sample is not None:
            line += (f" · model process RSS {self.sample.rss / MB:.0f} MB "
                     f"(peak {self.sample.peak_rss / MB:.0f} MB)")
        if self.wizard is not None and self.pid and self.pid != os.getpid():
            line += f" · wizard RSS {self.wizard.rss / MB:.0f} MB"
        return line

    def figures(self) -> dict[str, str]:
        """This reply's figures, each labelled with the backend that measured it."""
        if self.stats is None:
            return {}
        st, who = self.stats, self.title
        out = {
            f"decode ({who})": f"{st.decode_tps:.1f} tok/s",
            f"TTFT ({who})": f"{st.ttft_s * 1000:.0f} ms",
            f"prefill ({who})": f"{st.prefill_tps:.1f} tok/s",
            f"end-to-end ({who})": f"{st.e2e_tps:.1f} tok/s",
            f"reply tokens ({who})": str(st.generated_tokens),
        }
        if self.sample is not None:
            out[f"RSS ({who})"] = f"{self.sample.rss / MB:.0f} MB"
            out[f"peak RSS ({who})"] = f"{self.sample.peak_rss / MB:.0f} MB"
        return out

    def to_dict(self) -> dict[str, Any]:
        """The `--json` output: text, backend, stats, and memory when it was measured:
        `rss_bytes`/`peak_rss_bytes` of the generating process (`generator_pid`), and
        `wizard_rss_bytes`/`wizard_peak_rss_bytes` of this process."""
        out: dict[str, Any] = {"text": self.text, "backend": self.backend,
                               "stats": self.stats.to_dict() if self.stats else None}
        if self.adapter is not None:
            out["adapter"] = self.adapter
        if self.error:
            out["status"] = self.status.value
            out["error"] = self.error
        if self.sample is not None:
            out["generator_pid"] = self.pid
            out["rss_bytes"] = self.sample.rss
            out["peak_rss_bytes"] = self.sample.peak_rss
            out["available_bytes"] = self.sample.available
        if self.wizard is not None:
            out["wizard_pid"] = os.getpid()
            out["wizard_rss_bytes"] = self.wizard.rss
            out["wizard_peak_rss_bytes"] = self.wizard.peak_rss
        return out


def _sample(pid: int | None = None) -> ProcessSample | None:
    try:
        return ProcessSampler(interval=1.0, pid=pid).sample_now()
    except Exception:  # psutil missing or the process not readable: no memory figures
        return None


def result_of(backend: str, reply: Reply, *, sample: ProcessSample | None = None,
              measure: bool = True, pid: int | None = None,
              wizard: ProcessSample | None = None) -> Result:
    """The Result of a reply from `backend`; memory of the generating process `pid` (default:
    this one) and of this process is sampled now unless given or `measure` is off. A reply the
    user stopped is a warning, any other a success."""
    pid = pid or os.getpid()
    if measure:
        if sample is None:
            sample = _sample(None if pid == os.getpid() else pid)
        if wizard is None:
            wizard = _sample()
    status = Status.WARN if reply.stats.stopped else Status.OK
    return Result(status, backend, reply.text, reply.stats, sample, wizard=wizard, pid=pid,
                  adapter=reply.adapter)


def failure_of(backend: str, error: ChatError | str, partial: Reply | None = None) -> Result:
    """The Result of a reply that failed (with what was generated before the failure)."""
    if partial is None and isinstance(error, ChatError):
        partial = error.partial
    return Result(Status.FAIL, backend, partial.text if partial else "",
                  partial.stats if partial else None, None, str(error))


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        on_text: Callable[[str], None] | None = None) -> Result:
    """One-shot chat: open the backend, send `options.prompt`, close the backend.

    `on_progress` gets a `Progress` saying what is happening; `on_text(piece)` gets the reply as
    it streams; `cancel` stops the reply between two tokens. Raises ChatInputError for options
    that cannot run (a system prompt the model's chat template refuses among them); a load or
    generation failure is a FAIL result with the message."""
    options.validate(one_shot=True)
    if on_progress is not None:
        on_progress(Progress("load", text=f"loading {options.model} ({options.backend})…"))
    try:
        backend = open_backend(options)
    except ChatError as e:
        return failure_of(options.backend, e)
    try:
        refusal = getattr(backend, "system_refusal", "")
        if refusal and clean_user_text(options.system or ""):  # --system the model refuses
            raise ChatInputError(refusal)
        notes = [template_note(options)]
        if clean_user_text(options.system or ""):
            notes.append(getattr(backend, "system_ignored", ""))
        for note in filter(None, notes):
            if on_progress is not None:
                on_progress(Progress("warning", text=f"warning: {note}"))
        session = new_session(options, backend)
        try:
            reply = session.send(options.prompt or "", on_text=on_text, cancel=cancel)
        except ChatError as e:
            return failure_of(backend.name, e)
        return result_of(backend.name, reply, pid=generator_pid(backend))
    finally:
        backend.close()


# --- the record ------------------------------------------------------------------------------

@dataclass
class ChatLog:
    """The replies of a chat, in order, each with the options that produced it."""

    replies: list[tuple[Options, Result]] = field(default_factory=list)
    # Answered replies per backend in an earlier session of this run (from its saved record).
    earlier: dict[str, int] = field(default_factory=dict)

    @classmethod
    def continuing(cls, saved: StepRecord | None) -> ChatLog:
        """A log that goes on from the run record's chat record (after a resume): its reply
        counts carry over, so the record keeps counting every reply of the run."""
        counts = saved.options.get("replies") if saved is not None and saved.done else None
        if saved is None or saved.step != "chat" or not isinstance(counts, dict):
            return cls()
        return cls(earlier={str(b): n for b, n in counts.items()
                            if isinstance(n, int) and not isinstance(n, bool) and n > 0})

    def add(self, options: Options, result: Result) -> ChatLog:
        """Log a reply; `options.prompt` is the message that was sent."""
        self.replies.append((options, result))
        return self

    def answered(self) -> list[tuple[Options, Result]]:
        return [(o, r) for o, r in self.replies if r.status.finished_well]

    def counts(self) -> dict[str, int]:
        """Replies per backend that produced them, in order of first use."""
        out: dict[str, int] = {}
        for _, r in self.answered():
            out[r.backend] = out.get(r.backend, 0) + 1
        return out

    def to_record(self) -> StepRecord:
        answered = self.answered()
        if not answered:
            if not self.replies:
                return StepRecord("chat", Status.SKIP, "no reply yet")
            options, result = self.replies[-1]
            return StepRecord("chat", Status.FAIL, f"no reply: {result.error}",
                              options=options.to_dict())
        first_options, first = answered[0]
        counts = dict(self.earlier)
        for backend, n in self.counts().items():
            counts[backend] = counts.get(backend, 0) + n
        total = sum(counts.values())
        per = ", ".join(f"{n} with {BACKEND_TITLES.get(b, b)}" for b, n in counts.items())
        only = BACKEND_TITLES.get(next(iter(counts)), first.title)
        outcome = (f"{total} {'reply' if total == 1 else 'replies'}"
                   + (f" with {only}" if len(counts) == 1 else f": {per}"))
        before = sum(self.earlier.values())
        if before:
            outcome += f" ({before} of them in an earlier session)"
        _, last = answered[-1]
        if last.stats is not None:
            outcome += (f"; last {last.stats.decode_tps:.1f} tok/s, TTFT "
                        f"{last.stats.ttft_s * 1000:.0f} ms ({last.title})")
        figures: dict[str, str] = {}
        files: dict[str, str] = {}
        for backend, n in counts.items():
            title = BACKEND_TITLES.get(backend, backend)
            figures[f"replies ({title})"] = str(n)
            # The last reply of each backend in this session gives its figures.
            mine = [(o, r) for o, r in answered if r.backend == backend]
            if not mine:
                continue
            o, r = mine[-1]
            figures.update(r.figures())
            if backend == "ort":
                files[f"Chat model ({title})"] = o.model
            elif o.cache_dir:
                files[f"Foundry Local cache ({title})"] = o.cache_dir
        stopped = sum(1 for _, r in answered if r.stats is not None and r.stats.stopped)
        failed = len(self.replies) - len(answered)
        notes = []
        if stopped:
            notes.append(f"{stopped} {'reply' if stopped == 1 else 'replies'} stopped by the user")
        if failed:
            notes.append(f"{failed} {'reply' if failed == 1 else 'replies'} failed")
        options = answered[-1][0].to_dict()  # the settings as they were last: a resume's
        options.pop("prompt", None)
        options["backends"] = list(counts)
        options["replies"] = counts  # answered replies per backend: a resumed chat counts on
        # Every prompt answered, each with its backend, system prompt and settings: the chat
        # replayed one reply at a time (each command is one turn, without the earlier ones).
        commands: list[list[str]] = []
        for o, _ in answered:
            if o.argv() not in commands:
                commands.append(o.argv())
        return StepRecord("chat", Status.OK, outcome, options=options, files=files,
                          figures=figures, command=commands[0], more_commands=commands[1:],
                          notes=notes)


def to_record(options: Options, result: Result) -> StepRecord:
    """The run record of a one-shot chat."""
    return ChatLog().add(options, result).to_record()
