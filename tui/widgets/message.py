"""One chat message: who speaks, the text (Markdown for the model's replies, streamable), and a
stats line under a reply."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Markdown, Static


class ChatMessage(Vertical):
    DEFAULT_CSS = """
    ChatMessage { height: auto; margin: 0 0 1 0; }
    ChatMessage > .role { text-style: bold; color: $text-muted; }
    ChatMessage.-user > .role { color: $secondary; }
    ChatMessage.-assistant > .role { color: $success; }
    ChatMessage > .body { height: auto; margin: 0; padding: 0; }
    ChatMessage > Markdown.body { margin: 0; padding: 0; background: transparent; }
    ChatMessage > Markdown.body MarkdownBlock { margin-bottom: 0; }
    ChatMessage > .stats { color: $text-muted; text-style: italic; height: auto; display: none; }
    ChatMessage > .stats.-shown { display: block; }
    ChatMessage > .stats.-error { color: $error; text-style: none; }
    ChatMessage > .streaming { display: none; }
    ChatMessage.-streaming > .streaming { display: block; }
    ChatMessage.-streaming > Markdown.body { display: none; }
    """

    def __init__(self, role: str, text: str = "", **kwargs) -> None:
        super().__init__(classes=f"-{role}", **kwargs)
        self.role = role
        self.text = text

    def compose(self) -> ComposeResult:
        yield Label("You" if self.role == "user" else "Model", classes="role")
        if self.role == "user":
            yield Static(self.text, markup=False, classes="body")
        else:
            yield Static("", classes="body streaming", markup=False)
            yield Markdown(self.text, classes="body")
            yield Static("", classes="stats", markup=False)

    @property
    def markdown(self) -> Markdown:
        return self.query_one(Markdown)

    def show_streaming(self, text: str) -> None:
        """Show a reply while it streams in as plain text: far cheaper to redraw than Markdown,
        so the UI takes little CPU from the generation (`end_streaming` shows the Markdown)."""
        self.add_class("-streaming")
        self.query_one(".streaming", Static).update(text)

    def end_streaming(self) -> None:
        self.remove_class("-streaming")
        self.query_one(".streaming", Static).update("")

    def set_stats(self, text: str, error: bool = False) -> None:
        stats = self.query_one(".stats", Static)
        stats.set_class(error, "-error")
        stats.set_class(bool(text), "-shown")
        stats.update(text)

    @property
    def stats_text(self) -> str:
        found = self.query(".stats")
        return str(found.first(Static).content) if found else ""
