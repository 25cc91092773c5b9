"""A thin loopback HTTP/1.1 relay in front of Foundry Local's web service that measures each request
as it passes: the bytes go through unchanged, as soon as they arrive; the figures are worked out
after the reply has ended.

Why a relay: Foundry Local's service (foundry-local-sdk 2.2.1) runs in native code and tells its
caller nothing per request. The relay sees what the user's app sees: the route, the status, the
`usage` of a non-streamed reply, and for a streamed reply the arrival time of each piece of text
(time to first token, decode tokens/s). It keeps only the time and the bytes of each piece while
the reply flows; parsing, counting tokens and prompt tokens come after the last byte was passed on,
so the request is not slowed by being measured (bench/b_serve.py prints what it adds).

Prompts and replies are never logged: they are read to count tokens, then dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

MAX_HEAD = 64 * 1024  # bytes of a request or response head (line + headers)
MEASURED = ("/chat/completions",)  # routes whose token figures are worked out


@dataclass(frozen=True)
class RequestFigures:
    """One request through the endpoint, measured at the relay."""

    when: float  # time.time() when the request arrived
    method: str
    route: str  # the path, e.g. /catalogs/local/v1/chat/completions
    status: int  # the HTTP status the service answered (0: no answer)
    stream: bool = False
    prompt_tokens: int | None = None
    reply_tokens: int | None = None
    ttft_s: float | None = None  # streamed: request in -> first text out
    decode_tps: float | None = None  # streamed: (tokens - 1) / (last text - first text)
    total_s: float = 0.0
    error: str = ""  # the service's error message (a 4xx/5xx), first 200 characters

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Counter:
    """Counts tokens for the figures (the model's own tokenizer); both may return None."""

    def reply_tokens(self, text: str) -> int | None:  # pragma: no cover - replaced in use
        return None

    def prompt_tokens(self, body: dict) -> int | None:  # pragma: no cover - replaced in use
        return None


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    out: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return lines[0], out


async def _relay_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         pieces: list[tuple[float, bytes]] | None) -> None:
    """Pass a chunked body on, chunk by chunk; keep (arrival time, payload) when measuring."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        data = await reader.readexactly(size + 2) if size else b""
        if size:
            writer.write(size_line + data)
            await writer.drain()
            if pieces is not None:
                pieces.append((time.perf_counter(), data[:-2]))
            continue
        trailer = b""
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            trailer += line
        writer.write(size_line + trailer + b"\r\n")
        await writer.drain()
        return


async def _relay_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        length: int, keep: list[bytes] | None) -> None:
    left = length
    while left > 0:
        data = await reader.read(min(left, 65536))
        if not data:
            raise asyncio.IncompleteReadError(b"", left)
        left -= len(data)
        writer.write(data)
        await writer.drain()
        if keep is not None:
            keep.append(data)


@dataclass
class _Streamed:
    text: str = ""
    first: float | None = None  # arrival of the first text
    last: float | None = None  # arrival of the last text
    first_text: str = ""  # the text that arrived with the first (one piece of the relay)
    arrivals: int = 0  # the relay's reads that carried text (several tokens may share one)
    usage: dict | None = None
    error: str = ""


# A decode rate is given only when the reply's tokens reached the relay in separate reads, at
# most this many tokens a read on average (a fast model's reply can arrive in one or two reads).
MAX_TOKENS_A_READ = 2


def _stream_text(pieces: list[tuple[float, bytes]]) -> _Streamed:
    """What a streamed reply said, and when its text arrived."""
    out = _Streamed()
    buffer = b""
    parts: list[str] = []
    for t, data in pieces:
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    continue
                with contextlib.suppress(ValueError, AttributeError):
                    chunk = json.loads(payload)
                    out.usage = chunk.get("usage") or out.usage
                    if chunk.get("error"):
                        error = chunk["error"]
                        out.error = str(error.get("message", error) if isinstance(error, dict)
                                        else error)[:200]
                    for choice in chunk.get("choices") or ():
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            parts.append(piece)
                            if out.last != t:
                                out.arrivals += 1
                            if out.first is None:
                                out.first = t
                            if t == out.first:
                                out.first_text += piece
                            out.last = t
    out.text = "".join(parts)
    return out


def measure(method: str, route: str, status: int, request: bytes, body: bytes,
            pieces: list[tuple[float, bytes]] | None, start: float, end: float, when: float,
            counter: Counter) -> RequestFigures:
    """The figures of one request, worked out after it ended."""
    try:
        asked = json.loads(request) if request else {}
    except ValueError:
        asked = {}
    asked = asked if isinstance(asked, dict) else {}
    stream = bool(asked.get("stream"))
    figures = RequestFigures(when, method, route, status, stream, total_s=end - start)
    if status >= 400:
        try:
            answer = json.loads(body)
            message = answer.get("error", answer) if isinstance(answer, dict) else answer
            if isinstance(message, dict):
                message = message.get("message", message)
        except ValueError:
            message = body.decode("utf-8", "replace")
        return _with(figures, error=str(message)[:200])
    if not route.endswith(MEASURED):
        return figures
    if pieces is not None:
        got = _stream_text(pieces)
        usage = got.usage or {}
        tokens = usage.get("completion_tokens") or (counter.reply_tokens(got.text)
                                                    if got.text else 0)
        prompt = usage.get("prompt_tokens") or counter.prompt_tokens(asked)
        ttft = got.first - start if got.first is not None else None
        span = (got.last - got.first) if got.first is not None and got.last is not None else 0.0
        # Decode rate: the tokens that arrived after the first text, over the time they took
        # (the service may send several tokens in one piece: those of the first piece are not
        # part of the span).
        # When the tokens came batched (more than two a read on average after the first), their
        # arrival says nothing of the decode speed: no figure rather than a false one.
        after = None
        if tokens and span > 0:
            head = counter.reply_tokens(got.first_text) if got.first_text else 1
            after = tokens - (head if head is not None else 1)
        reads = got.arrivals - 1
        tps = (after / span if after is not None and after > 0 and reads >= 2
               and after <= MAX_TOKENS_A_READ * reads else None)
        return _with(figures, prompt_tokens=prompt, reply_tokens=tokens, ttft_s=ttft,
                     decode_tps=tps, error=got.error)
    try:
        usage = json.loads(body).get("usage") or {}
    except (ValueError, AttributeError):
        usage = {}
    return _with(figures, prompt_tokens=usage.get("prompt_tokens"),
                 reply_tokens=usage.get("completion_tokens"))


def _with(figures: RequestFigures, **changes: Any) -> RequestFigures:
    return RequestFigures(**{**asdict(figures), **changes})


class Relay:
    """Listens on (host, port) and relays each connection to the service at `upstream_port` on
    127.0.0.1; `on_request(RequestFigures)` is called (on a worker thread) after each request."""

    def __init__(self, upstream_port: int, on_request: Callable[[RequestFigures], Any],
                 counter: Counter | None = None) -> None:
        self.upstream_port = upstream_port
        self.on_request = on_request
        self.counter = counter or Counter()
        self.server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        """Bind and listen; returns the bound port (raises OSError when it is taken)."""
        self.server = await asyncio.start_server(self._connection, host, port,
                                                 limit=MAX_HEAD, reuse_address=True)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self._open):  # idle keep-alive connections of clients
                with contextlib.suppress(Exception):
                    writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2.0)

    async def _connection(self, client_r: asyncio.StreamReader,
                          client_w: asyncio.StreamWriter) -> None:
        upstream_w = None
        self._open.add(client_w)
        try:
            upstream_r, upstream_w = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port, limit=MAX_HEAD)
            while await self._one(client_r, client_w, upstream_r, upstream_w):
                pass
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client or the service went away mid-request: nothing to pass on
        finally:
            self._open.discard(client_w)
            for w in (client_w, upstream_w):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()

    async def _one(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                   upstream_r: asyncio.StreamReader, upstream_w: asyncio.StreamWriter) -> bool:
        """Relay one request and its response; False when the connection is done."""
        head = await _read_head(client_r)
        if head is None:
            return False
        when, start = time.time(), time.perf_counter()
        line, headers = _headers(head)
        method, _, rest = line.partition(" ")
        route = rest.rsplit(" ", 1)[0].split("?")[0]
        if headers.get("expect", "").lower() == "100-continue":
            # Answered here (curl asks for bodies over 1 kB): the service gets a plain request.
            head = b"\r\n".join(h for h in head.split(b"\r\n")
                                 if not h.lower().startswith(b"expect:"))
            client_w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await client_w.drain()
        upstream_w.write(head)
        request: list[bytes] = []
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[tuple[float, bytes]] = []
            await _relay_chunked(client_r, upstream_w, chunks)
            request = [c for _, c in chunks]
        else:
            await _relay_length(client_r, upstream_w, int(headers.get("content-length") or 0),
                                request)
        await upstream_w.drain()
        while True:  # interim 1xx answers are passed on; the final one follows
            rhead = await _read_head(upstream_r)
            if rhead is None:
                return False
            client_w.write(rhead)
            status_line, rheaders = _headers(rhead)
            parts = status_line.split(" ")
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            if not 100 <= status < 200 or status == 101:
                break
        body: list[bytes] = []
        pieces: list[tuple[float, bytes]] | None = None
        close = "close" in (headers.get("connection", "") + rheaders.get("connection", "")).lower()
        if method == "HEAD" or status in (204, 304, 101):
            await client_w.drain()
        elif "chunked" in rheaders.get("transfer-encoding", "").lower():
            pieces = []
            await _relay_chunked(upstream_r, client_w, pieces)
            if status >= 400:
                body, pieces = [p for _, p in pieces], None
        elif "content-length" in rheaders:
            await _relay_length(upstream_r, client_w, int(rheaders["content-length"]), body)
        else:  # the body ends when the service closes
            while data := await upstream_r.read(65536):
                client_w.write(data)
                await client_w.drain()
                body.append(data)
            close = True
        end = time.perf_counter()
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, self._report, method, route, status, b"".join(request),
                             b"".join(body), pieces, start, end, when)
        return not close

    def _report(self, *args: Any) -> None:
        try:
            figures = measure(*args, counter=self.counter)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be worked out is shown so
            method, route, status = args[:3]
            figures = RequestFigures(args[-1], method, route, status,
                                     error=f"not measured: {type(e).__name__}: {e}"[:200])
        self.on_request(figures)
