"""Live figures of a chat: decode tokens/s, time to first token (TTFT), memory and CPU of the
process that generates, in large digits, with sparklines of decode tokens/s and memory over time,
and the wizard's own memory apart. The names are docs/measurements.md's "Figures"."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Digits, Label, Sparkline, Static

from slm_wizard.core.base.units import GB, MB

HISTORY = 120  # points per sparkline


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
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tps_history: deque[float] = deque(maxlen=HISTORY)
        self.border_title = "Metrics"

    def compose(self) -> ComposeResult:
        with Grid(id="m-grid"):
            for key, caption in (("tps", "decode tok/s"), ("ttft", "TTFT ms"),
                                 ("rss", "model RSS MB"), ("cpu", "model CPU %")):
                with Vertical(classes="figure"):
                    yield Label(caption, classes="caption")
                    yield Digits("--", id=f"m-{key}")
        yield Label("decode tok/s over time", classes="caption")
        yield Sparkline([], id="spark-tps")
        yield Label("model process RSS over time", classes="caption")
        yield Sparkline([], id="spark-rss")
        yield Static("", id="m-detail", markup=False)

    def figure(self, key: str) -> str:
        """The text shown by a figure ("tps", "ttft", "rss", "cpu")."""
        return self.query_one(f"#m-{key}", Digits).value

    def set_reply(self, tps: float | None, ttft_s: float | None, record: bool = True) -> None:
        """Show a reply's decode rate and time to first token (live or final)."""
        decimals = 1 if tps is not None and tps < 100 else 0
        self.query_one("#m-tps", Digits).update(_fmt(tps, decimals))
        self.query_one("#m-ttft", Digits).update(_fmt(None if ttft_s is None else ttft_s * 1000))
        if record and tps is not None:
            self.record_tps(tps)

    def record_tps(self, tps: float) -> None:
        """Add a point to the tokens/s sparkline."""
        self.tps_history.append(tps)
        self.query_one("#spark-tps", Sparkline).data = list(self.tps_history)

    def set_process(self, rss: int | None, cpu: float | None, peak: int | None = None,
                    available: int | None = None, rss_history: list[int] | None = None,
                    wizard: tuple[int, int] | None = None) -> None:
        """Show the figures of the process that generates (bytes, percent of one core) and,
        when it is another process, the wizard's own RSS and peak (`wizard`)."""
        self.query_one("#m-rss", Digits).update(_fmt(None if rss is None else rss / MB))
        self.query_one("#m-cpu", Digits).update(_fmt(cpu))
        parts = []
        if peak is not None:
            parts.append(f"peak {peak / MB:.0f} MB")
        if available is not None:
            parts.append(f"RAM free {available / GB:.1f} GB")
        text = " · ".join(parts)
        if wizard is not None:
            text += f"\nwizard RSS {wizard[0] / MB:.0f} MB (peak {wizard[1] / MB:.0f} MB)"
        self.query_one("#m-detail", Static).update(text, layout=False)
        if rss_history is not None:
            self.query_one("#spark-rss", Sparkline).data = [r / MB for r in rss_history]

    def clear_reply(self) -> None:
        self.tps_history.clear()
        self.query_one("#spark-tps", Sparkline).data = []
        self.set_reply(None, None, record=False)
