"""The Serve step's runner: Foundry Local's OpenAI-compatible endpoint for the user's own app, with
the figures of every request it answers.

- `Options`: the model (a deployed id `name:version`, or a converted folder that is deployed
  first), the host (loopback by default), the port and the Foundry Local cache; `argv()` is the
  `slm-wizard serve ...` command.
- `plan(options)`: checked before anything starts (host, port free, what to serve, the base URL
  the app will call, the warnings); a taken port is refused naming a free one.
- `run(options, *, on_progress, cancel, on_ready, on_request)`: deploys a folder when needed,
  starts the endpoint in a child process (core.runtime.serveproc: the web service of
  foundry-local-sdk behind a measuring loopback relay), calls `on_ready(Ready)` once it answers,
  `on_request(RequestFigures)` after each request, and serves until `cancel` is set; then the
  model is unloaded, the service stopped and the port free before it returns.
- `snippets(base_url, model_id)`: ready-to-paste Python, curl and JavaScript.
- `send_test(TestOptions, ...)`: one request with the real `openai` client (the Serve screen's
  "send a test request"; the tests' outside client).
- `to_record(options, result)`: the serve step in the run record (address, id, requests served).
"""

from __future__ import annotations

import ipaddress
import socket
import statistics
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slm_wizard.core.base.status import Refused, Status
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import Progress, ProgressFn

if TYPE_CHECKING:  # the relay's module imports asyncio: not on the way to `--help`
    from slm_wizard.core.runtime.serve_proxy import RequestFigures

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Options", "Plan", "PortInUse", "Ready", "Result",
           "ServeInputError", "TestOptions", "free_port", "plan", "run", "send_test",
           "short_route", "snippets", "to_record"]

DEFAULT_HOST = "127.0.0.1"
# A fixed default port, so the app's base URL stays the same from one run to the next (a port
# picked at random would change it every time). 5280 sits beside Foundry Local's own service
# port of its documentation (5273) without taking it. `--port 0` takes any free port.
DEFAULT_PORT = 5280
NO_AUTH_WARNING = ("the endpoint has no authentication: anyone who can reach {host}:{port} can "
                   "use the model. Serve on 127.0.0.1 (the default) unless you mean it.")
TEST_PROMPT = "Hello! Who are you?"


class ServeInputError(Refused):
    """Options that cannot be served (bad host or port, no such model), for the user."""


class PortInUse(ServeInputError):
    """The port is taken: the message names it and a free one."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port free on `host` now (the system's choice)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host.strip("[]"), 0))
        return s.getsockname()[1]


def _port_taken(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the endpoint binds
        try:
            s.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False


def port_in_use_message(host: str, port: int) -> str:
    try:
        other = f"; port {free_port(host)} is free (--port {free_port(host)}), or --port 0 " \
                "takes any free port"
    except OSError:
        other = "; --port 0 takes any free port"
    return f"port {port} on {host} is already in use{other}."


@dataclass(frozen=True)
class Options:
    """What to serve and where. Defaults are the headless command's."""

    model: str  # a deployed Foundry Local id name:version, or a converted ONNX folder
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0: any free port
    cache_dir: str | None = None  # the Foundry Local model cache (None: Foundry's own)

    def argv(self) -> list[str]:
        cmd = ["slm-wizard", "serve", str(self.model)]
        if self.host != DEFAULT_HOST:
            cmd += ["--host", self.host]
        if self.port != DEFAULT_PORT:
            cmd += ["--port", str(self.port)]
        if self.cache_dir:
            cmd += ["--cache-dir", str(self.cache_dir)]
        return cmd


@dataclass(frozen=True)
class Plan:
    """Decided before anything starts."""

    options: Options
    cache_dir: Path
    model_id: str  # what the endpoint serves (for a folder: the id it is deployed as)
    folder: Path | None  # a converted folder that is deployed first
    base_url: str | None  # None with port 0 (known when the endpoint is ready)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "folder": str(self.folder) if self.folder else None,
                "cache_dir": str(self.cache_dir), "base_url": self.base_url,
                "warnings": list(self.warnings), "command": self.options.argv()}


def _base_url(host: str, port: int) -> str:
    from slm_wizard.core.runtime.serveproc import LOCAL_ROUTE, url_host

    return f"http://{url_host(host)}:{port}{LOCAL_ROUTE}"


def plan(options: Options, *, on_progress: ProgressFn | None = None,
         cancel: threading.Event | None = None) -> Plan:
    """Check the options and decide what runs; raises ServeInputError (PortInUse) on bad input."""
    from slm_wizard.core.steps.deploy import cache_location, suggest_name

    host = options.host.strip()
    if not host:
        raise ServeInputError("--host is empty: give an address, e.g. 127.0.0.1")
    try:
        socket.getaddrinfo(host.strip("[]"), None)
    except (OSError, UnicodeError):
        raise ServeInputError(f"--host {host}: not an address of this machine or a name it "
                              "knows") from None
    if not 0 <= options.port <= 65535:
        raise ServeInputError(f"--port {options.port}: give a port from 1 to 65535 "
                              "(0: any free port)")
    if options.port and _port_taken(host, options.port):
        raise PortInUse(port_in_use_message(host, options.port))
    model = str(options.model).strip()
    if not model:
        raise ServeInputError("give the deployed model id (name:version) or a converted ONNX "
                              "folder to serve")
    cache = cache_location(Path(options.cache_dir) if options.cache_dir else None).path
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "genai_config.json").is_file():
            raise ServeInputError(f"{folder} holds no genai_config.json: give a converted ONNX "
                                  "folder or a deployed model id (name:version)")
        model_id, folder_ = f"{suggest_name(folder)}:1", folder.resolve()
    elif "/" in model or "\\" in model:
        raise ServeInputError(f"{model} does not exist: give a converted ONNX folder or a "
                              "deployed model id (name:version)")
    else:
        model_id, folder_ = model, None
    warnings = () if is_loopback(host) else (
        NO_AUTH_WARNING.format(host=host, port=options.port or "its port"),)
    return Plan(options, cache, model_id, folder_,
                _base_url(host, options.port) if options.port else None, warnings)


@dataclass(frozen=True)
class Ready:
    """The endpoint answers: where and what."""

    base_url: str  # the OpenAI base URL for the user's app
    model_id: str
    pid: int  # the serving process (memory and CPU are its)
    port: int
    sdk: str  # foundry-local-sdk's version
    upstream: str  # Foundry Local's own address behind the relay (loopback, for the bench)


@dataclass
class Result:
    status: Status
    model_id: str = ""
    base_url: str = ""
    error: str = ""  # why it did not serve
    kind: str = ""  # ServeError kind: port, route, model, start
    requests: list[RequestFigures] = field(default_factory=list)
    deployed: str = ""  # the id a folder was deployed as first
    ended: str = ""  # "stopped" (cancel) or why the endpoint ended by itself
    signum: int = 0  # the signal a `kill` of the serving process's pid stopped it with

    @property
    def ok(self) -> bool:
        return self.status.finished_well

    def figures(self) -> dict[str, str]:
        done = [r for r in self.requests if 200 <= r.status < 300]
        out = {"requests served": str(len(self.requests))}
        if len(done) != len(self.requests):
            out["requests failed"] = str(len(self.requests) - len(done))
        ttft = [r.ttft_s for r in done if r.ttft_s is not None]
        tps = [r.decode_tps for r in done if r.decode_tps is not None]
        if ttft:
            out["endpoint TTFT median (ms)"] = f"{statistics.median(ttft) * 1000:.0f}"
        if tps:
            out["endpoint decode median (tok/s)"] = f"{statistics.median(tps):.1f}"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status.value, "model_id": self.model_id,
                "base_url": self.base_url, "error": self.error, "kind": self.kind,
                "deployed": self.deployed, "ended": self.ended,
                "requests": [r.to_dict() for r in self.requests]}


def _deploy_folder(p: Plan, emit: Callable[[str], None],
                   cancel: threading.Event | None) -> str:
    from slm_wizard.core.steps import deploy as deploy_step

    assert p.folder is not None
    name = p.model_id.rsplit(":", 1)[0]
    emit(f"Deploying {p.folder} as {p.model_id} first…")
    result = deploy_step.run(deploy_step.Options(p.folder, name, cache_dir=p.cache_dir),
                             cancel=cancel)
    if result.exists is not None:
        raise ServeInputError(f"{p.model_id} is already deployed in {p.cache_dir}: serve it "
                              f"with `slm-wizard serve {p.model_id}`, or replace it first with "
                              f"`slm-wizard deploy {p.folder} --name {name} --replace`.")
    if not result.ok:
        raise ServeInputError(f"{p.folder} could not be deployed: {result.error}")
    return result.model_id


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        on_ready: Callable[[Ready], Any] | None = None,
        on_request: Callable[[RequestFigures], Any] | None = None) -> Result:
    """Serve until `cancel` is set (see the module docstring). A taken port, a model that is not
    deployed or a missing route end it with a FAIL result naming why; bad options raise
    ServeInputError."""
    from slm_wizard.core.runtime.serve_proxy import RequestFigures
    from slm_wizard.core.runtime.serveproc import ServeError, ServiceProcess

    def emit(text: str, phase: str = "serve") -> None:
        if on_progress is not None:
            on_progress(Progress(phase, text=text))

    p = plan(options)
    for warning in p.warnings:
        emit(f"warning: {warning}", "warning")
    deployed = _deploy_folder(p, emit, cancel) if p.folder is not None else ""
    model_id = deployed or p.model_id
    emit(f"Starting Foundry Local's endpoint for {model_id}…")
    try:
        service = ServiceProcess(model_id, p.cache_dir, options.host.strip(), options.port,
                                 cancel=cancel)
    except ServeError as e:
        if e.kind == "port":
            raise PortInUse(port_in_use_message(options.host.strip(), options.port)) from None
        if cancel is not None and cancel.is_set():
            return Result(Status.SKIP, model_id, deployed=deployed, ended="stopped")
        return Result(Status.FAIL, model_id, error=str(e), kind=e.kind, deployed=deployed)
    result = Result(Status.OK, service.model_id, service.base_url, deployed=deployed)
    ready = Ready(service.base_url, service.model_id, service.pid, service.port, service.sdk,
                  service.upstream)
    emit(f"Serving {ready.model_id} at {ready.base_url}")
    try:
        if on_ready is not None:
            on_ready(ready)
        while not (cancel is not None and cancel.is_set()):
            event = service.next_event(0.1)
            if event is None:
                continue
            if event["event"] == "request":
                figures = RequestFigures(**{k: v for k, v in event.items() if k != "event"})
                result.requests.append(figures)
                if on_request is not None:
                    on_request(figures)
            elif event["event"] == "stopped" and event.get("signal"):  # `kill` of its pid
                result.ended, result.signum = "stopped", int(event["signal"])
                break
            elif event["event"] in ("ended", "stopped", "error"):
                result.status = Status.FAIL
                result.ended = result.error = event.get("message") or (
                    f"the serving process {service.end_reason()} (its output: {service.log_path})")
                break
        else:
            result.ended = "stopped"
    finally:
        emit("Stopping: unloading the model, stopping the service…")
        service.stop()
    return result


def short_route(route: str) -> str:
    """A request's route as the table shows it: after the base URL's path."""
    from slm_wizard.core.runtime.serveproc import LOCAL_ROUTE

    return route[len(LOCAL_ROUTE):] if route.startswith(LOCAL_ROUTE) else route


def snippets(base_url: str, model_id: str) -> dict[str, str]:
    """Ready-to-paste clients of the endpoint: Python `openai`, curl, JavaScript `openai`.
    They set max_tokens: without it Foundry Local asks for the whole context and refuses any
    prompt ("exceeds the model's maximum context length")."""
    python = (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base_url}", api_key="not-needed")\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{model_id}",\n'
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        "    max_tokens=128,\n"
        ")\n"
        "print(reply.choices[0].message.content)\n")
    curl = (
        f"curl {base_url}/chat/completions \\\n"
        '  -H "Content-Type: application/json" \\\n'
        f'  -d \'{{"model": "{model_id}", "messages": [{{"role": "user", '
        '"content": "Hello!"}], "max_tokens": 128}\'\n')
    js = (
        'import OpenAI from "openai";\n\n'
        f'const client = new OpenAI({{ baseURL: "{base_url}", apiKey: "not-needed" }});\n'
        "const reply = await client.chat.completions.create({\n"
        f'  model: "{model_id}",\n'
        '  messages: [{ role: "user", content: "Hello!" }],\n'
        "  max_tokens: 128,\n"
        "});\n"
        "console.log(reply.choices[0].message.content);\n")
    return {"python": python, "curl": curl, "javascript": js}


@dataclass(frozen=True)
class TestOptions:
    """One request to a running endpoint with the real `openai` client."""

    base_url: str
    model_id: str
    prompt: str = TEST_PROMPT
    max_tokens: int = 64
    stream: bool = True


@dataclass(frozen=True)
class TestReply:
    text: str
    prompt_tokens: int | None
    reply_tokens: int | None
    error: str = ""


def send_test(options: TestOptions, *, on_progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> TestReply:
    """Send one chat request to the endpoint as any app would (the `openai` package)."""
    try:
        from openai import OpenAI, OpenAIError
    except ImportError:  # pragma: no cover - installed with foundry-local-sdk
        return TestReply("", None, None, "the openai package is not installed "
                         "(pip install openai)")
    client = OpenAI(base_url=options.base_url, api_key="not-needed", timeout=120, max_retries=0)
    messages = [{"role": "user", "content": options.prompt}]
    try:
        if not options.stream:
            answer = client.chat.completions.create(model=options.model_id, messages=messages,
                                                    max_tokens=options.max_tokens)
            usage = answer.usage
            return TestReply(answer.choices[0].message.content or "",
                             usage.prompt_tokens if usage else None,
                             usage.completion_tokens if usage else None)
        parts: list[str] = []
        usage = None
        stream = client.chat.completions.create(
            model=options.model_id, messages=messages, max_tokens=options.max_tokens,
            stream=True, stream_options={"include_usage": True})
        with stream:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    break
                usage = chunk.usage or usage
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
        return TestReply("".join(parts), usage.prompt_tokens if usage else None,
                         usage.completion_tokens if usage else None)
    except OpenAIError as e:
        return TestReply("", None, None, str(e))
    finally:
        client.close()


def to_record(options: Options, result: Result) -> StepRecord:
    """The serve step's record: the address, the id and the requests served."""
    if result.base_url:
        outcome = (f"served {result.model_id} at {result.base_url}: "
                   f"{len(result.requests)} request(s)")
    else:
        outcome = f"not served: {result.error or result.ended}"
    return StepRecord(
        "serve", result.status, outcome=outcome,
        options={**asdict(options), "model_id": result.model_id, "base_url": result.base_url},
        figures=result.figures() if result.base_url else {},
        command=options.argv() if result.base_url else [],
    )
