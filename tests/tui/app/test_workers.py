"""No worker failure ends the app: the TUI starts workers in one place, StepScreen.run_step,
with exit_on_error=False, so every screen's work is safe by construction.

Textual's default (exit_on_error=True) closes the whole app with a traceback when a worker raises;
run_step turns a failure into an Outcome the screen shows (each screen's tests make its core call
raise, tests/tui/screens/test_run_step.py the helper itself).
"""

from __future__ import annotations

import ast

from tests.helpers import ROOT

TUI = ROOT / "tui"


def _worker_calls() -> list[tuple[str, int, ast.Call | None]]:
    found = []
    for path in sorted(TUI.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            # @work / @work(...) on a function
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for dec in node.decorator_list:
                    target = dec.func if isinstance(dec, ast.Call) else dec
                    if isinstance(target, ast.Name) and target.id == "work":
                        found.append((f"{path.name}:{node.name}", dec.lineno,
                                      dec if isinstance(dec, ast.Call) else None))
            # self.run_worker(...)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "run_worker":
                found.append((f"{path.name}:run_worker", node.lineno, node))
    return found


def test_every_worker_keeps_the_app_running_on_error() -> None:
    calls = _worker_calls()
    # One worker start in the whole TUI: run_step's (a screen starting its own would be found).
    assert [where for where, _, _ in calls] == ["base.py:run_worker"], calls
    bad = []
    for where, line, call in calls:
        kw = {k.arg: k.value for k in call.keywords} if call is not None else {}
        value = kw.get("exit_on_error")
        if not (isinstance(value, ast.Constant) and value.value is False):
            bad.append(f"{where} (line {line})")
    assert not bad, "workers without exit_on_error=False: " + ", ".join(bad)
