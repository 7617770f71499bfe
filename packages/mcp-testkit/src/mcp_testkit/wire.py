"""Raw MCP on the wire: JSON-RPC over HTTP in both protocol eras, and line-level stdio.

The fastmcp ``Client`` hides exactly what a contract test must see: status codes, headers
(``WWW-Authenticate``, ``Retry-After``), error bodies, and what happens to garbage input.
These helpers send hand-built messages and give back the raw answer.

The request shapes copy what fastmcp 4.2.3's client puts on the wire (captured from it):
handshake era (2025-11-25) = ``initialize`` then ``notifications/initialized`` then requests
carrying ``MCP-Protocol-Version`` (and ``Mcp-Session-Id`` when the server issued one);
modern era (2026-07-28) = no handshake, every request carries ``MCP-Protocol-Version``,
``Mcp-Method``, ``Mcp-Name`` (for ``tools/call``, ``prompts/get``, ``resources/read``) and
``params._meta`` with the protocol version, client info and client capabilities.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from types import TracebackType
from typing import IO, Any, Final

import httpx
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY

from mcp_testkit._process import stop_process
from mcp_testkit.servers import StdioCommand

__all__ = [
    "CLIENT_INFO",
    "LEGACY_VERSION",
    "MODERN_VERSION",
    "McpHttp",
    "RawStdio",
    "RpcAnswer",
    "modern_meta",
]

LEGACY_VERSION: Final = "2025-11-25"
MODERN_VERSION: Final = "2026-07-28"
CLIENT_INFO: Final[dict[str, str]] = {
    "name": "mcp-testkit",
    "version": version("mcp-fastapi-testkit"),
}
SESSION_HEADER: Final = "mcp-session-id"


def modern_meta(version: str = MODERN_VERSION) -> dict[str, Any]:
    """The per-request ``_meta`` envelope every 2026-07-28 request must carry."""
    return {
        PROTOCOL_VERSION_META_KEY: version,
        CLIENT_INFO_META_KEY: dict(CLIENT_INFO),
        CLIENT_CAPABILITIES_META_KEY: {},
    }


def _decode_body(response: httpx.Response) -> Any:
    """The JSON body, or the last JSON ``data:`` event of an SSE answer, or ``None``."""
    text = response.text
    if not text.strip():
        return None
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        text = events[-1] if events else ""
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class RpcAnswer:
    """One HTTP answer to a JSON-RPC request, with the JSON-RPC parts picked out."""

    response: httpx.Response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def body(self) -> Any:
        return _decode_body(self.response)

    @property
    def result(self) -> dict[str, Any] | None:
        body = self.body
        return body.get("result") if isinstance(body, dict) else None

    @property
    def error(self) -> dict[str, Any] | None:
        body = self.body
        return body.get("error") if isinstance(body, dict) else None

    @property
    def is_tool_error(self) -> bool:
        """A ``tools/call`` result flagged ``isError`` (a tool error, not a protocol one)."""
        return bool((self.result or {}).get("isError"))

    @property
    def structured(self) -> dict[str, Any] | None:
        return (self.result or {}).get("structuredContent")

    def __repr__(self) -> str:
        return f"<RpcAnswer {self.status} {self.response.text[:300]!r}>"


class McpHttp:
    """JSON-RPC over streamable HTTP, by hand, in one protocol era (a context manager).

    In the handshake era the first request runs ``initialize`` for you (and keeps the
    ``Mcp-Session-Id`` a stateful server hands out); when that answer is not a success it is
    returned as the answer, so a 401 shows up where the test expects it.
    """

    def __init__(
        self,
        mcp_url: str,
        *,
        era: str = MODERN_VERSION,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        auto_initialize: bool = True,
    ) -> None:
        if era not in (LEGACY_VERSION, MODERN_VERSION):
            raise ValueError(f"era must be {LEGACY_VERSION!r} or {MODERN_VERSION!r}, not {era!r}")
        self.mcp_url = mcp_url
        self.era = era
        self.auto_initialize = auto_initialize
        self.session_id: str | None = None
        self.initialized = False
        self._ids = itertools.count(1)
        base = {"Accept": "application/json, text/event-stream"}
        if token is not None:
            base["Authorization"] = f"Bearer {token}"
        base.update(headers or {})
        self._http = httpx.Client(headers=base, timeout=timeout)

    @property
    def modern(self) -> bool:
        return self.era == MODERN_VERSION

    def post(
        self, content: bytes | str | Any, *, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """POST a body as is (bytes/str) or as JSON (anything else), with session headers."""
        extra = {"Content-Type": "application/json"}
        if self.session_id:
            extra[SESSION_HEADER] = self.session_id
        if not self.modern and self.initialized:
            extra[MCP_PROTOCOL_VERSION_HEADER] = self.era
        extra.update(headers or {})
        if not isinstance(content, bytes | str):
            content = json.dumps(content)
        return self._http.post(self.mcp_url, content=content, headers=extra)

    def message(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A JSON-RPC request body for this era (with ``_meta`` in the modern era)."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        out_params = dict(params or {})
        if self.modern:
            out_params["_meta"] = {**modern_meta(self.era), **out_params.get("_meta", {})}
        if out_params:
            body["params"] = out_params
        return body

    def routing_headers(self, body: Mapping[str, Any]) -> dict[str, str]:
        """``MCP-Protocol-Version``/``Mcp-Method``/``Mcp-Name`` for a modern request."""
        if not self.modern:
            return {}
        method = body.get("method")
        headers = {MCP_PROTOCOL_VERSION_HEADER: self.era}
        if isinstance(method, str):
            # Sent verbatim when it is header-safe (every real method is); fuzzed
            # non-ASCII methods are wrapped so the request can be sent at all.
            headers[MCP_METHOD_HEADER] = encode_header_value(method)
            key = NAME_BEARING_METHODS.get(method)
            params = body.get("params")
            name = params.get(key) if key and isinstance(params, dict) else None
            if isinstance(name, str):
                headers[MCP_NAME_HEADER] = encode_header_value(name)
        return headers

    def initialize(self) -> RpcAnswer:
        """The handshake (``initialize`` + ``notifications/initialized``); legacy era only."""
        body = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "initialize",
            "params": {
                "protocolVersion": self.era,
                "capabilities": {},
                "clientInfo": dict(CLIENT_INFO),
            },
        }
        answer = RpcAnswer(self.post(body))
        if answer.status == 200 and answer.error is None:
            self.session_id = answer.headers.get(SESSION_HEADER) or self.session_id
            self.initialized = True
            self.notify("notifications/initialized")
        return answer

    def notify(self, method: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params:
            body["params"] = dict(params)
        return self.post(body)

    def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> RpcAnswer:
        """Send one request the way a well-behaved client of this era would."""
        if not self.modern and self.auto_initialize and not self.initialized:
            answer = self.initialize()
            if not self.initialized:
                return answer
        body = self.message(method, params)
        return RpcAnswer(self.post(body, headers={**self.routing_headers(body), **(headers or {})}))

    def list_tools(self, cursor: str | None = None) -> RpcAnswer:
        return self.request("tools/list", {"cursor": cursor} if cursor else None)

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> RpcAnswer:
        return self.request("tools/call", {"name": name, "arguments": dict(arguments or {})})

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """A plain GET with this helper's headers (for ``/healthz``, well-known routes)."""
        return self._http.get(url, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> McpHttp:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RawStdio:
    """A stdio server process driven line by line; every stdout line is kept for checks.

    A reader thread moves stdout lines into a queue so reads can give up after a timeout
    (a hung server fails the test instead of hanging it).
    """

    def __init__(self, command: StdioCommand, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.lines: list[bytes] = []
        self._ids = itertools.count(1)
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: IO[bytes] | int = subprocess.DEVNULL
        if command.log_file is not None:
            self._stderr = command.log_file.open("ab")
        self.proc = command.popen(stderr=self._stderr)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def is_running(self) -> bool:
        return self.proc.poll() is None

    def send(self, message: bytes | str | Mapping[str, Any]) -> None:
        """Write one line (a dict is JSON-encoded; a newline is added when missing)."""
        if isinstance(message, Mapping):
            message = json.dumps(message)
        data = message.encode() if isinstance(message, str) else message
        assert self.proc.stdin is not None
        self.proc.stdin.write(data if data.endswith(b"\n") else data + b"\n")
        self.proc.stdin.flush()

    def read_line(self, timeout: float | None = None) -> bytes | None:
        """The next stdout line, or ``None`` at end of output; raises on timeout."""
        try:
            line = self._queue.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise TimeoutError("the stdio server wrote no line in time") from None
        if line is not None:
            self.lines.append(line)
        return line

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and read lines until its response (other lines are kept too)."""
        rpc_id = f"mcp-testkit-{next(self._ids)}"  # not a value fuzzed lines would reuse
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
        if params is not None:
            body["params"] = dict(params)
        self.send(body)
        while True:
            line = self.read_line()
            if line is None:
                raise EOFError(f"the stdio server closed stdout before answering {method}")
            try:
                message = json.loads(line)
            except ValueError:
                continue  # impure output is the purity check's finding, not a hang here
            if isinstance(message, dict) and message.get("id") == rpc_id:
                return message

    def initialize(self, version: str = LEGACY_VERSION) -> dict[str, Any]:
        answer = self.request(
            "initialize",
            {"protocolVersion": version, "capabilities": {}, "clientInfo": dict(CLIENT_INFO)},
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    def close(self, grace: float = 5.0) -> int:
        """Close stdin (the polite stop for stdio servers), drain stdout, kill if it lingers."""
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, grace=grace)
        while True:
            try:
                line = self._queue.get(timeout=grace)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        if not isinstance(self._stderr, int):
            self._stderr.close()
        return self.proc.returncode

    def __enter__(self) -> RawStdio:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
