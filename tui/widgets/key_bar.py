"""The key line at the bottom of every step screen: one widget, one line, never cut mid-word.

Textual's Footer builds a widget per key and rebuilds them on every focus change (about a quarter
of the first screen's time, bench/b_startup.py). This line renders the screen's shown bindings as
text; at 80 columns the less urgent keys give way, and F1 (which lists every key of the screen) and
ctrl+p (every action) always stay. A click on a key presses it.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget

ALWAYS = ("help", "command_palette")  # actions that always stay on the line


class KeyBar(Widget):
    COMPONENT_CLASSES = {"key-bar--key"}
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; width: 1fr; background: $footer-background;
        color: $footer-foreground; padding: 0 1; }
    KeyBar > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._spans: list[tuple[int, int, str]] = []  # (start, end, key) for clicks
        self._shown: list[tuple[str, str, str, bool]] | None = None  # the items last painted

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _changed(self, *_: object) -> None:
        # Repainted only when the keys differ from those on screen (a focus change often leaves
        # them as they were); the line is built when painted, once however many changes came.
        if self.items() != self._shown:
            self.refresh()

    def render(self) -> Text:
        return self._line(self.size.width - 2 if self.size.width else 200)

    def items(self) -> list[tuple[str, str, str, bool]]:
        """(key, key as shown, description, enabled) of the shown bindings, palette last."""
        seen: set[str] = set()
        out: list[tuple[str, str, str, bool]] = []
        palette = None
        for _node, binding, enabled, _tip in self.screen.active_bindings.values():
            if binding.action == "command_palette":
                palette = (binding.key, self.app.get_key_display(binding), "palette", enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            out.append((binding.key, self.app.get_key_display(binding), binding.description,
                        enabled))
        if palette is not None and self.app.ENABLE_COMMAND_PALETTE:
            out.append(palette)
        return out

    def _line(self, width: int) -> Text:
        items = self._shown = self.items()
        actions = {key: action for _n, b, _e, _t in self.screen.active_bindings.values()
                   for key, action in ((b.key, b.action),)}
        kept = list(items)

        def length(xs: list) -> int:
            return sum(len(shown) + len(desc) + 3 for _k, shown, desc, _e in xs)

        # Drop the less urgent keys (from the end, never F1 or the palette) until the line fits.
        while length(kept) > width:
            droppable = [i for i, (k, *_rest) in enumerate(kept)
                         if actions.get(k) not in ALWAYS and k != "ctrl+p"]
            if not droppable:
                break
            kept.pop(droppable[-1])
        text = Text(no_wrap=True, overflow="ellipsis")
        key_style = self.get_component_rich_style("key-bar--key")
        self._spans = []
        for key, shown, desc, enabled in kept:
            start = len(text) + 1  # the padding
            text.append(f" {shown}", style=key_style if enabled else "dim")
            text.append(f" {desc} ", style="" if enabled else "dim")
            self._spans.append((start, len(text) + 1, key))
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
