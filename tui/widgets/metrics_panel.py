"""Live figures of a chat: decode tokens/s, time to first token (TTFT), memory and CPU of the
process that generates, with sparklines of decode tokens/s and memory over time, and the wizard's
own memory apart. The names are docs/measurements.md's "Figures".

Two forms of the same figures: large digits in a side panel on a wide and tall screen, and a strip
of three lines (every figure on the first, the sparklines and the details under it) when the
screen is narrow or short (`-compact`, set by the Chat screen), so at 80x24 every figure is in
view and the conversation keeps its rows. Neither form grows beyond its space: nothing to scroll."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Digits, Label, Sparkline, Static

from slm_wizard.core.base.units import GB, MB

HISTORY = 120  # points per sparkline
FIGURES = (("tps", "decode tok/s"), ("ttft", "TTFT ms"), ("rss", "model RSS MB"),
           ("cpu", "model CPU %"))


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "--"
    return f"{value:.{digits}f}"


class MetricsPanel(Vertical):
    DEFAULT_CSS = """
    MetricsPanel { width: 36; height: 1fr; border: round $primary; padding: 0 1; }
    MetricsPanel #m-grid { grid-size: 2; grid-gutter: 0 1; height: auto; }
    MetricsPanel .figure { height: auto; }
    MetricsPanel .caption { color: $text-muted; }
    MetricsPanel Digits { width: 1fr; }
    MetricsPanel Sparkline { height: 2; margin-bottom: 1; }
    MetricsPanel #m-detail { color: $text-muted; height: 2; }
    MetricsPanel #m-line, MetricsPanel #m-sparks { display: none; }
    MetricsPanel.-compact { width: 1fr; height: 3; border: none; padding: 0 1;
        background: $boost; }
    MetricsPanel.-compact #m-grid, MetricsPanel.-compact .big { display: none; }
    MetricsPanel.-compact #m-line { display: block; height: 1; }
    MetricsPanel.-compact #m-sparks { display: block; height: 1; }
    MetricsPanel.-compact #m-sparks Label { width: auto; color: $text-muted; }
    MetricsPanel.-compact #m-sparks Sparkline { width: 1fr; height: 1; margin: 0 1 0 0; }
    MetricsPanel.-compact #m-detail { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tps_history: deque[float] = deque(maxlen=HISTORY)
        self.border_title = "Metrics"

    def compose(self) -> ComposeResult:
        yield Static(self._line(), id="m-line")
        with Grid(id="m-grid"):
            for key, caption in FIGURES:
                with Vertical(classes="figure"):
                    yield Label(caption, classes="caption")
                    yield Digits("--", id=f"m-{key}")
        # The sparklines: under their captions in the panel, side by side in the strip.
        yield Label("decode tok/s over time", classes="caption big")
        yield Sparkline([], id="spark-tps", classes="big")
        yield Label("model process RSS over time", classes="caption big")
        yield Sparkline([], id="spark-rss", classes="big")
        with Horizontal(id="m-sparks"):
            yield Label("tok/s ")
            yield Sparkline([], id="spark-tps-line")
            yield Label("RSS ")
            yield Sparkline([], id="spark-rss-line")
        yield Static("", id="m-detail", markup=False)

    def figure(self, key: str) -> str:
        """The text shown by a figure ("tps", "ttft", "rss", "cpu")."""
        return self.query_one(f"#m-{key}", Digits).value

    def _line(self) -> Text:
        """Every figure on one line (the compact form): `decode 23.4 tok/s · TTFT 120 ms · …`."""
        shown = {key: self.query_one(f"#m-{key}", Digits).value if self.is_mounted else "--"
                 for key, _ in FIGURES}
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (before, key, after) in enumerate((("decode ", "tps", " tok/s"),
                                                  ("TTFT ", "ttft", " ms"),
                                                  ("model RSS ", "rss", " MB"),
                                                  ("model CPU ", "cpu", "%"))):
            if i:
                text.append(" · ", style="dim")
            text.append(before)
            text.append(shown[key], style="bold")
            text.append(after)
        return text

    def _set(self, key: str, value: str) -> None:
        self.query_one(f"#m-{key}", Digits).update(value)
        self.query_one("#m-line", Static).update(self._line())

    def set_reply(self, tps: float | None, ttft_s: float | None, record: bool = True) -> None:
        """Show a reply's decode rate and time to first token (live or final)."""
        decimals = 1 if tps is not None and tps < 100 else 0
        self._set("tps", _fmt(tps, decimals))
        self._set("ttft", _fmt(None if ttft_s is None else ttft_s * 1000))
        if record and tps is not None:
            self.record_tps(tps)

    def record_tps(self, tps: float) -> None:
        """Add a point to the tokens/s sparklines."""
        self.tps_history.append(tps)
        for spark in ("#spark-tps", "#spark-tps-line"):
            self.query_one(spark, Sparkline).data = list(self.tps_history)

    def set_process(self, rss: int | None, cpu: float | None, peak: int | None = None,
                    available: int | None = None, rss_history: list[int] | None = None,
                    wizard: tuple[int, int] | None = None) -> None:
        """Show the figures of the process that generates (bytes, percent of one core) and,
        when it is another process, the wizard's own RSS and peak (`wizard`)."""
        self._set("rss", _fmt(None if rss is None else rss / MB))
        self._set("cpu", _fmt(cpu))
        parts = []
        if peak is not None:
            parts.append(f"peak {peak / MB:.0f} MB")
        if available is not None:
            parts.append(f"RAM free {available / GB:.1f} GB")
        text = " · ".join(parts)
        if wizard is not None:  # on its own line in the panel, on the same one in the strip
            own = f"wizard RSS {wizard[0] / MB:.0f} MB (peak {wizard[1] / MB:.0f} MB)"
            sep = " · " if self.has_class("-compact") else "\n"
            text = f"{text}{sep}{own}" if text else own
        self.query_one("#m-detail", Static).update(text, layout=False)
        if rss_history is not None:
            for spark in ("#spark-rss", "#spark-rss-line"):
                self.query_one(spark, Sparkline).data = [r / MB for r in rss_history]

    def clear_reply(self) -> None:
        self.tps_history.clear()
        for spark in ("#spark-tps", "#spark-tps-line"):
            self.query_one(spark, Sparkline).data = []
        self.set_reply(None, None, record=False)
