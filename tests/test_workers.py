"""No worker failure ends the app: every worker in the TUI is started with exit_on_error=False.

Textual's default (exit_on_error=True) closes the whole app with a traceback when a worker raises;
the screens show a worker's failure themselves (each screen's tests make its core call raise).
"""

from __future__ import annotations

import ast
from pathlib import Path

TUI = Path(__file__).resolve().parents[1] / "tui"


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
    assert len(calls) >= 8  # the screens do start workers: the scan found them
    bad = []
    for where, line, call in calls:
        kw = {k.arg: k.value for k in call.keywords} if call is not None else {}
        value = kw.get("exit_on_error")
        if not (isinstance(value, ast.Constant) and value.value is False):
            bad.append(f"{where} (line {line})")
    assert not bad, "workers without exit_on_error=False: " + ", ".join(bad)
