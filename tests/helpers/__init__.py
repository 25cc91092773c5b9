"""The one helpers module of the tests: everything two test modules share lives here (a test
module never imports another test module; tests/test_import_hygiene.py checks it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
DATA = ROOT / "tests" / "data"


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 30.0,
                     what: str = "condition") -> None:
    """Let the app run until predicate() is true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


def converted_record(model_dir, onnx_dir, precision: str = "int4", *, is_demo: bool = False,
                     deployed: str | None = None, version: str = "1", foundry_cache=None,
                     **convert_options):
    """A run record as the wizard makes it: the Convert step's own record (made by its
    `to_record`) of a conversion of `model_dir` into `onnx_dir`; with `deployed` (a model name),
    the Deploy step's record of installing it into `foundry_cache`; with only `foundry_cache`,
    the Prerequisites record of finding that cache. `model_dir` None: a run with no model folder
    (the conversion's source is then named after `onnx_dir`). `convert_options`: more of the
    convert step's Options (method, block_size, ...)."""
    from pathlib import Path

    from slm_wizard.core.base.status import CheckResult, Status
    from slm_wizard.core.convert.run import ConvertResult
    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.core.steps import convert, prereqs

    record = RunRecord(model_dir=Path(model_dir) if model_dir else None, is_demo=is_demo)
    opts = convert.Options(Path(model_dir or onnx_dir), output_dir=Path(onnx_dir),
                           precision=precision, **convert_options)
    record.record(convert.to_record(opts, convert.result_of(
        ConvertResult(True, Path(onnx_dir), None))))
    if deployed is not None:
        record_deployment(record, deployed, version, foundry_cache or Path(onnx_dir) / "cache")
    elif foundry_cache is not None:
        found = CheckResult("foundry", "Foundry Local", Status.OK, "found",
                            data={"cache_dir": str(foundry_cache)})
        p = prereqs.Options(model_dir=Path(model_dir) if model_dir else None)
        record.record(prereqs.to_record(p, prereqs.Result([found])))
    return record


def record_deployment(record, name: str, version: str, cache, status=None):
    """Record the Deploy step's own record (its `to_record`) of installing the run's current
    model as name:version into the Foundry Local cache `cache` (`status`: OK, or WARN for a
    deployment with a warning); returns the record."""
    from pathlib import Path

    from slm_wizard.core.base.status import CheckResult, Status
    from slm_wizard.core.deploy.foundry import DeployResult
    from slm_wizard.core.steps import deploy

    cache = Path(cache)
    opts = deploy.Options(record.onnx_dir, name, version, cache_dir=cache, max_length=2048,
                          prompt="Hello?")
    dep = DeployResult(name, version, f"{name}:{version}", cache, cache / "custom" / name,
                       stages=[CheckResult("load", "load", Status.OK)])
    result = deploy.Result(opts, status or Status.OK, deploy=dep)
    return record.record(deploy.to_record(opts, result))


def spy_everywhere(monkeypatch, module, name: str) -> list:
    """Wrap `module.name` in every slm_wizard module that imported it; returns the threads of
    its calls, in order (len() counts them)."""
    import sys
    import threading

    original = getattr(module, name)
    calls: list = []

    def spy(*args, **kwargs):
        calls.append(threading.current_thread())
        return original(*args, **kwargs)

    for mod_name, mod in list(sys.modules.items()):
        if (mod_name == module.__name__ or mod_name.startswith("slm_wizard.")) \
                and getattr(mod, name, None) is original:
            monkeypatch.setattr(mod, name, spy)
    return calls


class FakeChatBackend:
    """A chat backend without a model (in this process): it streams `words` one by one, waits
    `delay` seconds between them (stoppable through `cancel`) and times them like a real one,
    so the Chat screen runs without a converted model."""

    name = "ort"
    max_length = 512

    def __init__(self, words: tuple[str, ...] = ("Lumo", " is", " a", " lock."),
                 delay: float = 0.0) -> None:
        self.words, self.delay, self.closed, self.calls = words, delay, False, 0

    def generate(self, messages, settings, *, on_text=None, cancel=None):
        from slm_wizard.core.runtime.chat import Reply
        from slm_wizard.core.runtime.metrics import ReplyClock

        self.calls += 1
        clock, out, reason = ReplyClock(), [], "eos"
        for word in self.words:
            if cancel is not None and cancel.wait(self.delay):
                reason = "cancelled"
                break
            clock.token()
            out.append(word)
            if on_text is not None:
                on_text(word)
        return Reply("".join(out), clock.stats(len(messages), reason))

    def close(self) -> None:
        self.closed = True
