"""core has no import cycle (lazy imports inside functions included), and its layers hold."""

from __future__ import annotations

import grimp


def test_no_import_cycle_in_core() -> None:
    graph = grimp.build_graph("slm_wizard.core")
    modules = sorted(m for m in graph.modules if m.startswith("slm_wizard.core."))
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m)
                 if d.startswith("slm_wizard.core.") and d != m
                 and not m.startswith(d + ".")}  # a module importing its own package is fine
             for m in modules}
    assert len(modules) >= 20
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, [*path, d])
        state[m] = 2

    for m in modules:
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles
