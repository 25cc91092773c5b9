"""Version strings: finding one in a program's output, comparing, and checking a requirement."""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"(?<![\w.])v?(\d+)\.(\d+)(?:\.(\d+))?((?:[-+.]?[A-Za-z0-9]+)*)")



def find_version(text: str) -> str | None:
    """The first version-like token in `text` ("3.31.0-rc2", "0.8.117+67073234e7", "3.25")."""
    for line in text.splitlines():
        if "version" in line.lower():
            m = _VERSION_RE.search(line)
            if m:
                return m.group(0).lstrip("v")
    m = _VERSION_RE.search(text)
    return m.group(0).lstrip("v") if m else None


def version_tuple(version: str) -> tuple[int, ...] | None:
    """The numeric release part: "3.31.0-rc2" -> (3, 31, 0); None if there is none."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def _pad(a: tuple[int, ...], n: int) -> tuple[int, ...]:
    return a + (0,) * (n - len(a))


def satisfies(version: str, spec: str) -> bool | None:
    """Whether `version` meets a requirement like ">=5.0,<6" or "==0.13.0" (None: unreadable).

    Release numbers only (a pre-release counts as its release): enough to say "0.18 is not 0.14".
    """
    have = version_tuple(version)
    if have is None:
        return None
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        m = re.fullmatch(r"(===|==|!=|~=|>=|<=|>|<)\s*([\w.*+!-]+)", clause)
        if not m:
            return None
        op, want_text = m.groups()
        if want_text.endswith(".*") and op in ("==", "!="):
            prefix = version_tuple(want_text[:-2]) or ()
            same = have[: len(prefix)] == prefix
            if same != (op == "=="):
                return False
            continue
        want = version_tuple(want_text)
        if want is None:
            return None
        n = max(len(have), len(want))
        a, b = _pad(have, n), _pad(want, n)
        ok = {
            "==": a == b, "===": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b,
            "<": a < b, "~=": a >= b and have[: len(want) - 1] == want[:-1],
        }[op]
        if not ok:
            return False
    return True
