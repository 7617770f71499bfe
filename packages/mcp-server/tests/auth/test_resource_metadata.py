"""Resource and metadata URLs derived from the request: proxies, prefixes, spoofed hosts."""

from __future__ import annotations

from typing import Any

from mcp_fastapi_server.auth import ResourceMetadata


def scope(
    host: str = "api.example.com",
    scheme: str = "http",
    root_path: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    raw = [(b"host", host.encode())] + [
        (k.lower().encode(), v.encode()) for k, v in (headers or {}).items()
    ]
    return {
        "type": "http",
        "scheme": scheme,
        "root_path": root_path,
        "headers": raw,
        "server": ("10.0.0.5", 8000),
        **extra,
    }


def test_derived_from_host_and_scheme_dropping_default_ports() -> None:
    meta = ResourceMetadata(http_path="/mcp")
    assert meta.resource(scope("api.example.com:80")) == "http://api.example.com/mcp"
    assert meta.resource(scope("h:8443", scheme="https")) == "https://h:8443/mcp"
    assert meta.metadata_url(scope()) == (
        "http://api.example.com/.well-known/oauth-protected-resource/mcp"
    )


def test_forwarded_headers_only_when_trusted() -> None:
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.com, inner"}
    untrusted = ResourceMetadata(http_path="/mcp")
    trusted = ResourceMetadata(http_path="/mcp", trust_proxy_headers=True)
    assert untrusted.resource(scope("inner:8000", headers=fwd)) == "http://inner:8000/mcp"
    assert trusted.resource(scope("inner:8000", headers=fwd)) == "https://public.example.com/mcp"


def test_root_path_and_mount_prefix() -> None:
    meta = ResourceMetadata(http_path="/mcp")
    assert meta.resource(scope(root_path="/gw")) == "http://api.example.com/gw/mcp"
    # Inside a Starlette Mount root_path grows; app_root_path keeps the app's prefix.
    inside = scope(root_path="/gw/sub", app_root_path="/gw")
    assert meta.metadata_url(inside) == (
        "http://api.example.com/gw/.well-known/oauth-protected-resource/mcp"
    )


def test_spoofed_host_cannot_inject_into_the_challenge() -> None:
    meta = ResourceMetadata(http_path="/mcp")
    assert meta.resource(scope('evil", error="x')) == "http://10.0.0.5:8000/mcp"
    assert meta.resource(scope("[::1]:9000")) == "http://[::1]:9000/mcp"


def test_configured_resource_url() -> None:
    meta = ResourceMetadata(http_path="/mcp", resource_url="https://r.example/t/mcp/")
    assert meta.resource(scope()) == "https://r.example/t/mcp"
    assert meta.metadata_url(scope()) == (
        "https://r.example/t/.well-known/oauth-protected-resource/mcp"
    )
    odd = ResourceMetadata(http_path="/mcp", resource_url="https://r.example/other")
    assert odd.metadata_url(scope()) == (
        "http://api.example.com/.well-known/oauth-protected-resource/mcp"
    )
