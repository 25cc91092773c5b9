"""A small horizontal bar plot: one labelled bar per point, scaled to the widest value."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(value: float, top: float, width: int) -> str:
    """A bar of `width` cells at full scale `top`, with eighth-cell precision."""
    if top <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = round(min(value / top, 1.0) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (BLOCKS[rest] if rest else "")


class BarPlot(Static):
    """`points` are (label, value); `unit` is shown after each value."""

    DEFAULT_CSS = """
    BarPlot { height: auto; padding: 0 1; }
    """

    def __init__(self, title: str = "", unit: str = "", **kwargs) -> None:
        super().__init__("", **kwargs)
        self.plot_title = title
        self.unit = unit
        self.points: list[tuple[str, float]] = []

    def set_points(self, points: Sequence[tuple[str, float]]) -> None:
        self.points = [(str(label), float(value)) for label, value in points]
        self.refresh_plot()

    def on_resize(self) -> None:
        self.refresh_plot()

    def render_text(self, width: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.plot_title:
            text.append(self.plot_title + "\n", style="bold")
        if not self.points:
            text.append("(no data yet)", style="dim")
            return text
        label_w = max(len(label) for label, _ in self.points)
        values = [f"{v:,.1f}" if v < 100 else f"{v:,.0f}" for _, v in self.points]
        value_w = max(len(v) for v in values)
        top = max(v for _, v in self.points)
        bar_w = max(4, width - label_w - value_w - len(self.unit) - 4)
        for i, ((label, value), shown) in enumerate(zip(self.points, values, strict=True)):
            if i:
                text.append("\n")
            text.append(label.rjust(label_w) + " ", style="dim")
            text.append(bar(value, top, bar_w).ljust(bar_w), style="green")
            text.append(f" {shown.rjust(value_w)} {self.unit}".rstrip())
        return text

    def refresh_plot(self) -> None:
        width = self.content_size.width or 60
        self.update(self.render_text(width))
