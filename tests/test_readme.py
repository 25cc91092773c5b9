"""The user README: short, with both set-up forms, the check count the screen shows, and links
that lead somewhere (issue 25, item 10)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_is_short_and_has_both_setup_forms() -> None:
    assert len(README.splitlines()) <= 200
    for text in ("make run", "make test", "python dev.py run", "python dev.py test",
                 "just opens the wizard", "## Use it from your app", "## Troubleshooting",
                 "## Headless commands", "## Where files go", "## Using your own model"):
        assert text in README, text


def test_readme_links_and_images_exist() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)\)", README)
    assert any(t.startswith("screenshots/") for t in targets)
    for target in targets:
        if "://" in target:
            continue
        assert (ROOT / target).exists(), target
    for doc in ("docs/internals.md", "docs/advisor.md", "docs/measurements.md"):
        assert doc in README
        for target in re.findall(r"\]\(([^)#\s]+)\)", (ROOT / doc).read_text()):
            assert "://" in target or (ROOT / doc).parent.joinpath(target).exists(), (doc, target)


def test_readme_says_as_many_checks_as_the_prerequisites_screen_shows() -> None:
    from slm_wizard.core.setup.prereqs import run_checks

    said = {int(n) for n in re.findall(r"(\d+) checks", README)}
    assert said == {len(run_checks())}
