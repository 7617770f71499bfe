"""MCP clients over every transport a server offers, and pytest fixtures around them.

Three transports are tested by default, because they break in different ways: stdio
(pipes, stdout discipline), streamable HTTP in the 2025-11-25 handshake era (``initialize``,
maybe sessions) and in the 2026-07-28 era (no handshake, ``Mcp-Method``/``Mcp-Name`` headers,
per-request ``_meta``). :class:`LiveTarget` is one running target; its :meth:`~LiveTarget.client`
gives a connected fastmcp ``Client`` for any of them, with or without a bearer token.
Raw wire access (status codes, headers, garbage bodies) lives in :mod:`mcp_testkit.wire`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import pytest
import pytest_asyncio
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from mcp_testkit.servers import (
    ServerFactory,
    ServerProcess,
    ServerTarget,
    StdioCommand,
)
from mcp_testkit.wire import LEGACY_VERSION, MODERN_VERSION, McpHttp, RawStdio

__all__ = [
    "HTTP_TRANSPORTS",
    "TARGET_TOKEN",
    "TRANSPORTS",
    "ClientConnectError",
    "ClientFactory",
    "LiveTarget",
    "TransportName",
    "start_target",
]

TransportName = Literal["stdio", "http-2025-11-25", "http-2026-07-28"]
TRANSPORTS: Final[tuple[TransportName, ...]] = ("stdio", "http-2025-11-25", "http-2026-07-28")
HTTP_TRANSPORTS: Final[tuple[TransportName, ...]] = ("http-2025-11-25", "http-2026-07-28")
ERA_OF: Final[dict[str, str]] = {
    "http-2025-11-25": LEGACY_VERSION,
    "http-2026-07-28": MODERN_VERSION,
}


class ClientConnectError(RuntimeError):
    """A client could not connect (refused, or the stdio process died); with the server log."""


class _TargetToken:
    """Sentinel: use the target's own token (``ServerTarget.token``)."""

    def __repr__(self) -> str:
        return "TARGET_TOKEN"


TARGET_TOKEN: Final = _TargetToken()
TokenArg = str | None | _TargetToken


class ClientFactory(Protocol):
    """What ``mcp_client_factory`` is: the signature of :meth:`LiveTarget.client`."""

    def __call__(
        self,
        transport: TransportName,
        *,
        token: TokenArg = ...,
        headers: Mapping[str, str] | None = ...,
        timeout: float | None = ...,
    ) -> AbstractAsyncContextManager[Client[Any]]: ...


@dataclass
class LiveTarget:
    """A target whose HTTP server (if any) is running, plus its stdio command (if any)."""

    target: ServerTarget
    http: ServerProcess | None = None
    stdio: StdioCommand | None = None

    @property
    def mcp_url(self) -> str:
        """The MCP endpoint URL; raises when the target has no HTTP side."""
        if self.target.url is not None:
            return self.target.url
        if self.http is None:
            raise LookupError("this target serves no HTTP (no http_command and no url)")
        return self.http.mcp_url

    @property
    def base_url(self) -> str:
        """Scheme, host and port of the MCP endpoint (for ``/healthz``, well-known routes)."""
        url = self.mcp_url
        path = self.target.mcp_path
        return url[: -len(path)] if path and url.endswith(path) else url.rstrip("/")

    def supports(self, transport: TransportName) -> bool:
        return self.stdio is not None if transport == "stdio" else self.target.has_http

    def _token(self, token: TokenArg) -> str | None:
        return self.target.token if isinstance(token, _TargetToken) else token

    def client(
        self,
        transport: TransportName,
        *,
        token: TokenArg = TARGET_TOKEN,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> AbstractAsyncContextManager[Client[Any]]:
        """A connected fastmcp ``Client`` over ``transport`` (``async with``).

        ``token`` defaults to the target's token; pass ``None`` to call anonymously. Over
        stdio there is no bearer token (the local user is the caller), so it is ignored.
        """
        return self._client(transport, self._token(token), dict(headers or {}), timeout)

    @asynccontextmanager
    async def _client(
        self,
        transport: TransportName,
        token: str | None,
        headers: dict[str, str],
        request_timeout: float | None,
    ) -> AsyncIterator[Client[Any]]:
        client: Client[Any]
        if transport == "stdio":
            if self.stdio is None:
                raise LookupError("this target has no stdio_command")
            cmd = list(self.stdio.command)
            stdio = StdioTransport(
                command=cmd[0],
                args=cmd[1:],
                env=dict(self.stdio.env),
                cwd=self.stdio.cwd,
                keep_alive=False,
                log_file=self.stdio.log_file,
            )
            client = Client(stdio, timeout=request_timeout)
        elif transport in ERA_OF:
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            http = StreamableHttpTransport(self.mcp_url, headers=headers)
            # Pin the era explicitly: "auto" would quietly fall back to the handshake.
            mode = "legacy" if ERA_OF[transport] == LEGACY_VERSION else MODERN_VERSION
            client = Client(http, mode=mode, timeout=request_timeout)
        else:
            raise ValueError(f"unknown transport {transport!r}; choose from {TRANSPORTS}")
        async with AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(client)
            except Exception as exc:
                raise ClientConnectError(self._connect_failure(transport, exc)) from exc
            yield client

    def _connect_failure(self, transport: TransportName, exc: Exception) -> str:
        """Why a client could not connect, with the server's own words when we have them."""
        text = f"{transport} client could not connect: {exc!r}"
        if transport == "stdio" and self.stdio is not None and self.stdio.log_file is not None:
            log = self.stdio.log_file
            tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
            text += f"\n--- stdio server stderr ({log}) ---\n" + "\n".join(tail)
        elif self.http is not None:
            text += f"\n{self.http.describe()}\n{self.http.log_tail(40)}"
        return text

    def raw_http(
        self,
        era: str = MODERN_VERSION,
        *,
        token: TokenArg = TARGET_TOKEN,
        headers: Mapping[str, str] | None = None,
    ) -> McpHttp:
        """A raw JSON-RPC-over-HTTP helper for status/header assertions (close it after)."""
        if era in ERA_OF:
            era = ERA_OF[era]
        return McpHttp(self.mcp_url, era=era, token=self._token(token), headers=headers)

    def raw_stdio(self) -> RawStdio:
        """A raw line-level stdio session with a fresh server process (close it after)."""
        if self.stdio is None:
            raise LookupError("this target has no stdio_command")
        return RawStdio(self.stdio)


def start_target(target: ServerTarget, servers: ServerFactory) -> LiveTarget:
    """Start what ``target`` needs: its HTTP server (unless it gives a URL) and stdio command."""
    http = None
    if target.url is None and target.http_command is not None:
        http = servers.start_target(target)
    stdio = None
    if target.stdio_command is not None:
        stdio = servers.stdio_command(
            target.stdio_command, env=target.env, inherit_env=target.inherit_env, cwd=target.cwd
        )
    return LiveTarget(target=target, http=http, stdio=stdio)


# --- pytest fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcp_target() -> ServerTarget:
    """The server under test. Override it (module or session scope) to point at yours.

    The default is this toolkit's own ``mcp-server`` (``serve`` and ``stdio``).
    """
    return ServerTarget()


@pytest.fixture(scope="module")
def mcp_live(
    mcp_target: ServerTarget, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveTarget]:
    """``mcp_target`` started once per module; every process is stopped at the module's end."""
    with ServerFactory(tmp_path_factory.mktemp("mcp-target-logs")) as servers:
        yield start_target(mcp_target, servers)


@pytest.fixture(params=TRANSPORTS)
def mcp_transport(request: pytest.FixtureRequest, mcp_live: LiveTarget) -> TransportName:
    """Each transport in turn: ``stdio``, ``http-2025-11-25``, ``http-2026-07-28``."""
    transport: TransportName = request.param
    if not mcp_live.supports(transport):
        pytest.skip(f"the target offers no {transport} transport")
    return transport


@pytest.fixture
def mcp_client_factory(mcp_live: LiveTarget) -> ClientFactory:
    """``mcp_client_factory(transport, token=...)``: an ``async with`` connected client."""
    return mcp_live.client


@pytest_asyncio.fixture
async def mcp_client(
    mcp_live: LiveTarget, mcp_transport: TransportName
) -> AsyncIterator[Client[Any]]:
    """A connected client for the current ``mcp_transport`` (with the target's token)."""
    async with mcp_live.client(mcp_transport) as client:
        yield client


@pytest.fixture
def mcp_http(mcp_live: LiveTarget) -> Iterator[McpHttp]:
    """A raw HTTP helper in the 2026-07-28 era with the target's token."""
    if not mcp_live.target.has_http:
        pytest.skip("the target serves no HTTP")
    with mcp_live.raw_http() as http:
        yield http
