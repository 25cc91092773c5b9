"""Running a conversion: Olive in a work folder, its progress streamed, the model moved into
place and verified.

Olive runs through core.proc.stream_command (the one subprocess runner): in its own process
group, in a temporary work folder next to the output (its .olive-cache and the builder's cache
stay there and are removed), with CI=1 so its telemetry does not hold the process open for ~20 s
offline. Even so, after its "Model is saved at ..." line Olive waits 2-4 s for telemetry
callbacks that never come offline: it is ended FINISH_GRACE_S after that line (the model is
complete by then). The model is written into that work folder and renamed into place at the
end: no half-written output is ever left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import write_text_atomic
from slm_wizard.core.base.proc import stream_command
from slm_wizard.core.base.status import Progress
from slm_wizard.core.convert.estimate import estimate
from slm_wizard.core.convert.olive_config import (
    CONFIG_NAME,
    auto_opt_args,
    display_command,
    pass_names,
    write_config,
)
from slm_wizard.core.convert.olive_log import FINISHED_RE, TQDM_RE, ProgressParser
from slm_wizard.core.convert.options import ConvertOptions, Issue
from slm_wizard.core.convert.validation import validate_options
from slm_wizard.core.convert.verify import Verification, verify_output
from slm_wizard.core.model.model_info import DOMAIN_FILE, ModelFolderError, ModelInfo, inspect_model

FINISH_GRACE_S = 0.5  # after Olive's last line, before ending its telemetry wait
CANCEL_GRACE_S = 1.2  # after SIGINT, before SIGKILL: cancel must finish within 2 s


@dataclass
class ConvertResult:
    ok: bool
    output_dir: Path | None
    log_path: Path | None
    error: str = ""
    verification: Verification | None = None
    elapsed_s: float = 0.0
    command: str = ""
    cancelled: bool = False
    config_path: Path | None = None
    issues: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "output_dir": str(self.output_dir) if self.output_dir else None,
            "log_path": str(self.log_path) if self.log_path else None,
            "error": self.error, "cancelled": self.cancelled,
            "elapsed_s": round(self.elapsed_s, 2), "command": self.command,
            "config_path": str(self.config_path) if self.config_path else None,
            "issues": [asdict(i) for i in self.issues],
            "verification": self.verification.to_dict() if self.verification else None,
        }



def olive_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CI": "1",  # Olive's telemetry otherwise holds the process ~20 s at exit offline
        "ORT_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # The builder's cache and Olive's build marker go here, not to ~/.cache/huggingface.
        "HF_HUB_CACHE": str(work / "hf-cache"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    })
    return env


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()


def _find_model_folder(root: Path) -> Path | None:
    """The folder holding genai_config.json: `root` in Olive 0.13.0, a subfolder in others."""
    if (root / "genai_config.json").is_file():
        return root
    if root.is_dir():
        for p in sorted(root.rglob("genai_config.json"), key=lambda p: len(p.parts)):
            return p.parent
    return None


def _vanished(model_dir: Path) -> str:
    """Why the model folder can no longer be converted ("" when it is still there)."""
    if (model_dir / "config.json").is_file():
        return ""
    what = "is gone" if not model_dir.exists() else "no longer holds config.json"
    return (f"The model folder {model_dir} {what} (it was moved or deleted after it was "
            "checked): nothing was converted; put it back and convert again.")


def run_conversion(
    opts: ConvertOptions,
    on_event: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    verify: bool = True,
    timeout_s: float = 6 * 3600,
    info: ModelInfo | None = None,
    issues: list[Issue] | None = None,
) -> ConvertResult:
    """Run Olive for `opts`, stream its progress, move the model into place, verify it.

    `info` and `issues`: the model's inspection and the options' checks when the caller (the
    step's plan) has made them already; None: made here."""
    t0 = time.monotonic()
    emit_cb = on_event or (lambda _e: None)

    def emit(kind: str, message: str, progress: float | None = None) -> None:
        # The phases: start, stage, log (one of Olive's lines), done, error, cancelled.
        emit_cb(Progress(kind, text=message, fraction=progress, log=kind == "log"))

    command = display_command(opts)
    if info is None:
        try:
            info = inspect_model(opts.model_dir)
        except ModelFolderError as exc:
            emit("error", str(exc))
            return ConvertResult(False, None, None, str(exc), command=command,
                                 elapsed_s=time.monotonic() - t0)
    if issues is None:
        issues = validate_options(opts, info)
    errors = [i.message for i in issues if i.is_error]
    if errors:
        msg = " ".join(errors)
        emit("error", msg)
        return ConvertResult(False, None, None, msg, command=command, issues=issues,
                             elapsed_s=time.monotonic() - t0)

    from slm_wizard.core.base.lock import Lock
    from slm_wizard.core.base.owned import check_replaceable

    out = opts.output_dir.resolve()
    with Lock(out, f"converting into {out}") as lock:  # one writer: a second run is refused
        if lock.notice:
            emit("stage", lock.notice)
        # Again under the lock: another run may have finished into `out` since the plan.
        check_replaceable(out, opts.replace, inputs=(opts.model_dir,))
        return _convert_into(out, opts, info, issues, emit, command, t0, cancel, timeout_s,
                             verify)


def _convert_into(out: Path, opts: ConvertOptions, info: ModelInfo, issues: list[Issue],
                  emit: Callable[..., None], command: str, t0: float,
                  cancel: threading.Event | None, timeout_s: float,
                  verify: bool) -> ConvertResult:
    from slm_wizard.core.base.owned import clean_leftovers, temp_sibling, write_marker
    from slm_wizard.core.base.paths import logs_dir, short_stem

    for left in clean_leftovers(out.parent, out.name, "slm-wizard"):
        emit("stage", f"Removed {left}, the work folder of an interrupted conversion.")
    work = temp_sibling(out, "slm-wizard")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = logs_dir() / f"convert-{short_stem(info.name)}-{opts.precision}-{stamp}.log"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work.mkdir()
        log_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"Cannot prepare the output folder or the log: {exc}"
        emit("error", msg)
        return ConvertResult(False, None, None, msg, command=command, issues=issues,
                             elapsed_s=time.monotonic() - t0)
    staged = work / "output"
    # Olive runs in the work folder: every path it gets must be absolute.
    staged_opts = ConvertOptions(**{**opts.__dict__, "output_dir": staged,
                                    "model_dir": info.path})
    config_path = None
    if opts.method == "config":
        run_cfg = write_config(staged_opts, work / CONFIG_NAME)
        config_path = log_path.with_suffix(".config.json")
        # The user's copy, with the real output folder.
        write_config(ConvertOptions(**{**opts.__dict__, "output_dir": out,
                                       "model_dir": info.path}), config_path)
        olive = ["run", "--config", str(run_cfg)]
    else:
        olive = auto_opt_args(staged_opts)[1:]
    argv = [sys.executable, "-m", "olive", *olive]
    result = ConvertResult(False, None, log_path, command=command, config_path=config_path,
                           issues=issues)
    parser = ProgressParser(pass_names(opts), info.num_layers)
    gone = _vanished(info.path)
    if gone:  # removed or moved since it was checked (the plan is made before the run)
        result.error = gone
        emit("error", gone)
        _remove_tree(work)
        return result
    emit("start", f"Starting Olive ({opts.method}, {opts.precision}): {command}", 0.0)
    try:
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"# slm-wizard convert {json.dumps(opts.to_dict())}\n# {command}\n"
                      f"# run as: {shlex.join(argv)} (cwd {work})\n")
            code, stopped = _run_olive(argv, work, log, parser, emit, cancel, timeout_s)
            log.write(f"# exit code {code}\n")
        if stopped == "cancelled":
            result.cancelled, result.error = True, "Cancelled: no output was kept."
            emit("cancelled", result.error, None)
            return result
        if stopped == "timeout":
            result.error = f"Olive did not finish within {timeout_s:.0f} s; it was stopped."
            emit("error", result.error)
            return result
        if stopped == "error":
            result.error = f"Olive could not run: {parser.reason()}. Full log: {log_path}"
            emit("error", result.error)
            return result
        model = _find_model_folder(staged)
        if model is None and (_vanished(info.path) or not work.is_dir()):
            # Olive's own error would be a traceback frame, or "no model" without the reason
            result.error = _vanished(info.path) or (
                f"The output folder's parent {out.parent} (which holds the work folder) "
                "disappeared during the conversion: nothing was kept; convert again.")
            emit("error", result.error)
            return result
        if model is None:
            why = parser.reason() or "no reason in its output"
            result.error = (f"Olive exited with code {code} but produced no model "
                            f"(no genai_config.json): {why}. Full log: {log_path}")
            emit("error", result.error)
            return result
        if code != 0:
            result.error = f"Olive exited with code {code}: {parser.reason()}. Full log: {log_path}"
            emit("error", result.error)
            return result
        for leftover in model.glob("olive-cli-tmp-*"):  # auto-opt's temp folder, if cut short
            _remove_tree(leftover)
        if opts.adapter_dir is not None and not any(model.glob("*.onnx_adapter")):
            result.error = ("Olive wrote the base model but no .onnx_adapter file: the adapter "
                            f"was not converted. Full log: {log_path}")
            emit("error", result.error)
            return result
        _fix_paths(model, str(model), str(out))
        # The model's own evaluation set (the demo ships one) travels with it, so validation
        # of the converted folder finds it.
        if (info.path / DOMAIN_FILE).is_file() and not (model / DOMAIN_FILE).exists():
            shutil.copy2(info.path / DOMAIN_FILE, model / DOMAIN_FILE)
        _move_into_place(model, out, work)
        write_marker(out, "convert")
        result.output_dir = out
    except OSError as exc:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            result.error = (f"The disk holding {out.parent} is full: free some space (or choose "
                            "an output folder on another disk) and convert again; nothing was "
                            "kept.")
        elif not out.parent.is_dir():
            result.error = (f"The output folder's parent {out.parent} disappeared during the "
                            "conversion: nothing was kept; create it (or choose another output "
                            "folder) and convert again.")
        else:
            result.error = (f"Could not write the output {out}: {exc.strerror or exc}"
                            + (f" ({exc.filename})" if exc.filename else ""))
        emit("error", result.error)
        return result
    finally:
        _remove_tree(work)
        result.elapsed_s = time.monotonic() - t0
    if verify:
        emit("stage", "Verifying the output (files, graph, a few generated tokens)", 0.97)
        est = {e.precision: e for e in estimate(info, opts.block_size, opts.symmetric)}
        result.verification = verify_output(
            out, opts, est[opts.precision].size_bytes if opts.precision in est else None)
        if not result.verification.ok:
            result.error = "Verification failed: " + "; ".join(result.verification.failures())
    result.ok = not result.error
    result.elapsed_s = time.monotonic() - t0
    if result.ok:
        emit("done", f"Converted to {opts.precision} in {result.elapsed_s:.1f} s: {out}", 1.0)
    else:
        emit("error", result.error, 1.0)
    return result


def _run_olive(argv: list[str], work: Path, log, parser: ProgressParser,
               emit: Callable[..., None], cancel: threading.Event | None,
               timeout_s: float) -> tuple[int | None, str]:
    """Run Olive with core.proc, feed every line to the log and the parser.

    Returns (exit code, stop reason: "" | "finished" | "cancelled" | "timeout" | "error")."""
    last = {"pct": -1, "stage": ""}

    def on_line(line: str) -> None:
        stage, progress = parser.feed(line)
        if TQDM_RE.match(line.strip()):  # one line per tensor: log and show only new percents
            pct = int(progress * 100)
            if pct == last["pct"]:
                return
            last["pct"] = pct
        log.write(f"  {line}\n")
        if stage and stage != last["stage"]:
            last["stage"] = stage
            emit("stage", stage, progress)
        emit("log", line, progress)

    res = stream_command(
        argv, on_line, cancel=cancel, timeout=timeout_s, cwd=work, env=olive_env(work),
        keep_lines=50, grace=CANCEL_GRACE_S, split_cr=True,
        finished=lambda line: bool(FINISHED_RE.search(line)), finish_grace=FINISH_GRACE_S,
    )
    if res.cut_short:
        log.write("# Olive printed its final line; its shutdown was cut short\n")
        return 0, "finished"
    if res.cancelled or res.timed_out:
        # Olive's build marker, in case it reached the default hub cache anyway.
        if res.pid is not None:
            with contextlib.suppress(OSError):
                (Path.home() / ".cache" / "huggingface" / "hub" / f".olive_build_{res.pid}"
                 ).unlink()
        stopped = "cancelled" if res.cancelled else "timeout"
        log.write(f"# stopped: {stopped}\n")
        return None, stopped
    if res.error:  # Olive could not start
        log.write(f"# {res.error}\n")
        parser.reasons.append(res.error)
        return None, "error"
    return res.returncode, ""


def _fix_paths(model: Path, old: str, new: str) -> None:
    """Olive's model_config.json names the folder it wrote to; point it at the final folder."""
    cfg = model / "model_config.json"
    if cfg.is_file():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = cfg.read_text(encoding="utf-8")
            write_text_atomic(cfg, text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))


def _move_into_place(model: Path, out: Path, work: Path) -> None:
    """Rename the finished model to `out`; an existing (confirmed) `out` is swapped out first."""
    if out.exists() or out.is_symlink():
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        else:
            os.replace(out, work / "previous-output")
    os.replace(model, out)
