"""Small helpers shared by the TUI tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 30.0,
                     what: str = "condition") -> None:
    """Let the app run until predicate() is true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)
