"""FastMCP's Host/Origin guard (strict mode), with its verdicts for accepted requests cached.

The verdict is a pure function of the ``Host`` and ``Origin`` headers, the server address
and the scheme, but FastMCP works it out afresh on every request (``Headers`` parsing,
``ipaddress`` and ``urlsplit`` calls, ``fnmatch`` over the allow-lists): tens of µs on a
path that costs about a millisecond in all. Real traffic carries a handful of distinct
pairs, so accepted ones are remembered (bounded); anything else, including every refusal,
goes through FastMCP's own class unchanged, so its answers (421/403) stay exactly its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastmcp.server.http import HostOriginGuardMiddleware, HostOriginProtectionMode
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CachedHostOriginGuard"]

MAX_CACHED = 1024

_Key = tuple[bytes | None, bytes | None, object, object]


class CachedHostOriginGuard:
    """``HostOriginGuardMiddleware(app, allowed_hosts, allowed_origins, mode)`` + a cache."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str] | None,
        allowed_origins: Sequence[str] | None,
        mode: HostOriginProtectionMode = "strict",
    ) -> None:
        self.app = app
        self._accepted: set[_Key] = set()
        self._allowed_hosts = allowed_hosts
        self._allowed_origins = allowed_origins
        self._mode: HostOriginProtectionMode = mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's Headers
            if name == b"host":
                if host is None:
                    host = value
            elif name == b"origin" and origin is None:
                origin = value
        server = scope.get("server")
        key: _Key = (host, origin, tuple(server) if server else None, scope.get("scheme"))
        if key in self._accepted:
            await self.app(scope, receive, send)
            return

        app = self.app
        accepted = self._accepted

        async def accept(scope: Scope, receive: Receive, send: Send) -> None:
            if len(accepted) < MAX_CACHED:
                accepted.add(key)
            await app(scope, receive, send)

        guard = HostOriginGuardMiddleware(
            accept,
            allowed_hosts=self._allowed_hosts,
            allowed_origins=self._allowed_origins,
            mode=self._mode,
        )
        await guard(scope, receive, send)
