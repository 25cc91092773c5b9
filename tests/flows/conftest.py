"""Fixtures of the flow tests that run the real command in a child process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import ROOT

FAKE_OLIVE = '''"""A stand-in for Olive in the fault tests: prints a line, then sleeps or fails."""
import os
import sys
import time

print("[2026-01-01 00:00:00] Running pass ModelBuilder", flush=True)
if os.environ.get("FAKE_OLIVE") == "fail":
    print("SafetensorError: incomplete metadata", flush=True)
    sys.exit(3)
time.sleep(120)
'''


@pytest.fixture
def fake_olive(tmp_path: Path) -> dict[str, str]:
    """The environment of a child process whose `python -m olive` is the stand-in."""
    pkg = tmp_path / "fakeolive" / "olive"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(FAKE_OLIVE)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "fakeolive"), str(ROOT)])}
