"""RFC 9728 OAuth Protected Resource Metadata, and the URL that 401/403 answers point to.

The ``resource`` is ``MCP_RESOURCE_URL`` when set. Otherwise it is derived from the request:
scheme and host from the ASGI scope (``X-Forwarded-Proto``/``X-Forwarded-Host`` only when
``MCP_TRUST_PROXY_HEADERS`` is on) and the app's ``root_path`` (uvicorn ``--root-path`` behind
a path-prefix proxy), so the advertised URLs are the ones the client can actually reach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any

from mcp_fastapi_server._settings import Settings

__all__ = ["WELL_KNOWN", "ResourceMetadata"]

Scope = MutableMapping[str, Any]

WELL_KNOWN = "/.well-known/oauth-protected-resource"
# Host names/ports as they may appear in a Host header; anything else (quotes, spaces) is
# refused so a spoofed Host cannot inject into WWW-Authenticate.
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def _first(value: str) -> str:
    return value.split(",", 1)[0].strip()


class ResourceMetadata:
    """Builds the metadata document and the ``resource_metadata=`` URL per request."""

    def __init__(
        self,
        *,
        http_path: str,
        resource_url: str | None = None,
        authorization_servers: Iterable[str] = (),
        scopes_supported: Iterable[str] = (),
        trust_proxy_headers: bool = False,
    ) -> None:
        self.http_path = http_path
        self.resource_url = resource_url.rstrip("/") if resource_url else None
        self.authorization_servers = list(authorization_servers)
        self.scopes_supported = sorted(set(scopes_supported))
        self.trust_proxy_headers = trust_proxy_headers

    @classmethod
    def from_settings(cls, settings: Settings, scopes_supported: Iterable[str]) -> ResourceMetadata:
        servers = settings.auth_servers or (
            [settings.auth_jwt_issuer] if settings.auth_jwt_issuer else []
        )
        return cls(
            http_path=settings.http_path,
            resource_url=settings.resource_url,
            authorization_servers=servers,
            scopes_supported=scopes_supported,
            trust_proxy_headers=settings.trust_proxy_headers,
        )

    def _origin(self, scope: Scope) -> str:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme = str(scope.get("scheme", "http"))
        host = headers.get("host", "")
        if self.trust_proxy_headers:
            proto = _first(headers.get("x-forwarded-proto", ""))
            scheme = proto if proto in {"http", "https"} else scheme
            host = _first(headers.get("x-forwarded-host", "")) or host
        if not _HOST.match(host):
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
        default_port = {"http": ":80", "https": ":443"}.get(scheme, "")
        return f"{scheme}://{host.removesuffix(default_port)}"

    @staticmethod
    def _prefix(scope: Scope) -> str:
        # Starlette's Mount extends root_path; app_root_path keeps the app's own prefix.
        return str(scope.get("app_root_path", scope.get("root_path", ""))).rstrip("/")

    def resource(self, scope: Scope) -> str:
        """The protected resource's URL (the MCP endpoint as clients reach it)."""
        if self.resource_url:
            return self.resource_url
        return self._origin(scope) + self._prefix(scope) + self.http_path

    def metadata_url(self, scope: Scope) -> str:
        """Where this server serves the metadata document (for ``resource_metadata=``)."""
        if self.resource_url and self.resource_url.endswith(self.http_path):
            base = self.resource_url[: -len(self.http_path)]
            return base + WELL_KNOWN + self.http_path
        return self._origin(scope) + self._prefix(scope) + WELL_KNOWN + self.http_path

    def paths(self) -> list[str]:
        """Where the document is served: with the MCP path suffix (RFC 9728 §3.1), and without."""
        return [WELL_KNOWN + self.http_path, WELL_KNOWN]

    def document(self, scope: Scope) -> dict[str, Any]:
        return {
            "resource": self.resource(scope),
            "authorization_servers": self.authorization_servers,
            "scopes_supported": self.scopes_supported,
            "bearer_methods_supported": ["header"],
        }
