"""The key line shows the screen's current keys: it follows binding changes, and is not
repainted when a change leaves the keys as they were."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from slm_wizard.tui.widgets.key_bar import KeyBar


class KeysScreen(Screen):
    BINDINGS = [Binding("ctrl+s", "stop", "Stop reply"), Binding("ctrl+r", "again", "Run again")]
    busy = False

    def compose(self) -> ComposeResult:
        yield KeyBar()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.busy else None  # None: shown, dimmed
        if action == "again":
            return not self.busy  # False: hidden
        return True


def _shown(app: App) -> str:
    """The text of the screen as painted (the SVG export, non-breaking spaces as spaces)."""
    return app.export_screenshot().replace("&#160;", " ")


class KeysApp(App):
    def on_mount(self) -> None:
        self.push_screen(KeysScreen())


async def test_key_bar_follows_bindings_and_skips_unchanged_repaints() -> None:
    app = KeysApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        bar = screen.query_one(KeyBar)
        shot = _shown(app)
        assert "Stop reply" in shot and "Run again" in shot
        assert ("ctrl+s", "^s", "Stop reply", False) in bar.items()  # shown, disabled

        screen.busy = True
        screen.refresh_bindings()
        await pilot.pause()
        shot = _shown(app)
        assert "Stop reply" in shot and "Run again" not in shot
        assert ("ctrl+s", "^s", "Stop reply", True) in bar.items()

        # A change that leaves the keys as painted does not repaint the line.
        painted: list[int] = []
        original = bar.render
        bar.render = lambda: painted.append(1) or original()  # type: ignore[method-assign]
        screen.refresh_bindings()
        await pilot.pause()
        assert painted == []
        screen.busy = False
        screen.refresh_bindings()
        await pilot.pause()
        assert painted, "the key line was not repainted after its keys changed"
        assert "Run again" in _shown(app)
