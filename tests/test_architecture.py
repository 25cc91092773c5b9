"""core's layers hold: no import cycle (lazy imports inside functions included), the import-linter
contracts are kept, docs/architecture.md draws exactly the layers contract and every module of
core/, and no core module is over 600 lines unless it holds one idea and says so."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
DOC = ROOT / "docs" / "architecture.md"
LAYERS_CONTRACT = "core's layers"
MAX_LINES = 600


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


# ------------------------------------------------------------------ the contract and the drawing

def contract_layers() -> list[list[str]]:
    """The layers contract of pyproject.toml, top first, each layer as its sibling packages."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = [c for c in config["tool"]["importlinter"]["contracts"]
                 if c["name"].startswith(LAYERS_CONTRACT)]
    assert len(contracts) == 1, "one layers contract over core"
    contract = contracts[0]
    assert contract["type"] == "layers" and contract["containers"] == ["slm_wizard.core"]
    layers = []
    for layer in contract["layers"]:
        assert "|" not in layer, "the drawing knows independent siblings (':') only"
        layers.append([name.strip() for name in layer.split(":")])
    return layers


def drawn_layers(text: str) -> list[list[tuple[str, set[str]]]]:
    """The boxes of the first drawing in `text`, top first: per band, (package, its modules .py)
    for each box from left to right. A band is the lines between two `+---+` rules; boxes are
    the columns between `|`."""
    drawing = text.split("```", 2)[1]
    bands: list[list[str]] = []
    current: list[str] | None = None
    for line in drawing.splitlines():
        if line.startswith("+"):
            if current:
                bands.append(current)
            current = []
        elif line.startswith("|") and current is not None:
            current.append(line)
    out = []
    for band in bands:
        columns: dict[int, str] = {}
        for line in band:
            for i, cell in enumerate(line.strip().strip("|").split("|")):
                columns[i] = columns.get(i, "") + " " + cell
        boxes = []
        for i in sorted(columns):
            names = re.findall(r"core/(\w+)/", columns[i])
            assert len(names) == 1, f"each box names one package: {columns[i]!r}"
            boxes.append((names[0], set(re.findall(r"\b(\w+)\.py\b", columns[i]))))
        out.append(boxes)
    return out


def core_modules() -> dict[str, set[str]]:
    """Every package of core/ and its modules (without __init__)."""
    return {p.parent.name: {m.stem for m in p.parent.glob("*.py") if m.stem != "__init__"}
            for p in CORE.glob("*/__init__.py")}


def test_drawing_parser_reads_bands_boxes_and_modules() -> None:
    sample = ("```\n+---+\n| core/a/  top      |\n|          x.py     |\n+---+---+\n"
              "| core/b/ left  | core/c/ right |\n| y.py z.py     | w.py          |\n"
              "+---+---+\n```\n")
    assert drawn_layers(sample) == [[("a", {"x"})], [("b", {"y", "z"}), ("c", {"w"})]]


def test_drawing_lists_the_contracts_layers_in_order_with_the_same_siblings() -> None:
    drawn = [[pkg for pkg, _ in band] for band in drawn_layers(DOC.read_text(encoding="utf-8"))]
    assert drawn == contract_layers()


def test_drawing_lists_every_module_of_core() -> None:
    drawn = {pkg: mods for band in drawn_layers(DOC.read_text(encoding="utf-8"))
             for pkg, mods in band}
    actual = core_modules()
    assert set(drawn) == set(actual), "every package of core/ is a layer (the contract is " \
                                      "exhaustive)"
    for pkg, mods in actual.items():
        assert drawn[pkg] == mods, (f"core/{pkg}: missing from the drawing "
                                    f"{sorted(mods - drawn[pkg])}, not in core/{pkg} "
                                    f"{sorted(drawn[pkg] - mods)}")


def test_readme_points_at_the_drawing() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in readme


def test_import_contracts_are_kept() -> None:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", proc.stdout)
    assert kept and int(kept.group(1)) >= 3, proc.stdout


# ------------------------------------------------------------------ module size

def long_modules_without_one_idea(root: Path, limit: int = MAX_LINES) -> list[str]:
    """Modules under `root` over `limit` lines whose docstring's first paragraph does not say
    "One idea:"."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) <= limit:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "One idea:" not in doc.split("\n\n", 1)[0]:
            found.append(f"{path.relative_to(root)} ({len(text.splitlines())} lines)")
    return found


def test_no_core_module_over_600_lines_unless_it_holds_one_idea() -> None:
    assert long_modules_without_one_idea(CORE) == []


def test_the_size_rule_catches_a_long_module(tmp_path: Path) -> None:
    body = "x = 1\n" * 10
    (tmp_path / "long.py").write_text('"""Several things."""\n' + body)
    (tmp_path / "idea.py").write_text('"""The parser.\n\nOne idea: parsing."""\n' + body)
    (tmp_path / "said.py").write_text('"""One idea: parsing, kept long."""\n' + body)
    assert long_modules_without_one_idea(tmp_path, limit=5) == ["idea.py (13 lines)",
                                                               "long.py (11 lines)"]
