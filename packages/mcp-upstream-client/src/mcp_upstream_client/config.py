"""The upstream file (``MCP_UPSTREAMS_FILE``): TOML, validated into pydantic models.

Secrets stay out of the file: ``${VAR}`` in ``url``, ``headers``, ``command``, ``cwd``,
``env`` and ``oauth`` is replaced from the environment at load time, and an unset variable
is an error that names it. Any invalid entry stops start-up with one line naming the
upstream and the field, because a half-loaded allowlist is worse than none.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jwt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mcp_upstream_client.errors import UpstreamConfigError

__all__ = [
    "BreakerConfig",
    "OAuthConfig",
    "ReconnectConfig",
    "UpstreamConfig",
    "UpstreamsFile",
    "expand_env",
    "load_upstreams",
    "parse_upstreams",
]

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
PIN_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Fields whose strings may carry ${VAR}; everything else is taken literally.
_EXPANDED_FIELDS = ("url", "headers", "command", "cwd", "env", "oauth")


class _Strict(BaseModel):
    # extra="forbid": a misspelt key (``allowed_tools``) must fail, not silently allow nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerConfig(_Strict):
    """``[upstreams.breaker]``: consecutive failures to open, seconds before a probe."""

    fail_max: int = Field(5, ge=1, le=10_000)
    reset_timeout_s: float = Field(30.0, gt=0, le=86_400)


class ReconnectConfig(_Strict):
    """``[upstreams.reconnect]``: respawn / reconnect with exponential backoff and jitter."""

    max_attempts: int = Field(5, ge=1, le=1_000)
    initial_backoff_s: float = Field(0.5, gt=0, le=3_600)
    max_backoff_s: float = Field(30.0, gt=0, le=3_600)


class OAuthConfig(_Strict):
    """``[upstreams.oauth]``: OAuth 2.1 to an HTTP upstream instead of a static header.

    ``authorization_code`` discovers everything from the upstream's 401 (RFC 9728 metadata,
    the authorization server's RFC 8414 metadata), then registers (CIMD when the server
    supports it and ``client_metadata_url`` is set, a pre-registered ``client_id``, or
    dynamic registration) and runs PKCE with a resource indicator and scope step-up. A
    server-side process has nobody to click "allow": the built-in handler follows the
    authorization server's redirect without a browser, so the server must approve this
    client without a person (see ``docs/upstreams.md``). ``client_credentials`` is the
    machine-to-machine grant (``client_secret_basic``/``_post`` or ``private_key_jwt``).
    """

    grant: Literal["authorization_code", "client_credentials"] = "authorization_code"
    client_id: str | None = Field(None, min_length=1)
    client_secret: SecretStr | None = None
    #: CIMD: an https URL whose JSON document describes this client (used as client_id).
    client_metadata_url: str | None = None
    token_endpoint_auth_method: (
        Literal["none", "client_secret_basic", "client_secret_post", "private_key_jwt"] | None
    ) = None
    #: PEM key that signs the ``private_key_jwt`` assertion.
    private_key: SecretStr | None = None
    signing_algorithm: Literal["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"] = "RS256"
    #: The authorization server the credentials belong to; they are sent nowhere else.
    issuer: str | None = None
    #: Scopes to ask for; unset = what the upstream's challenge or metadata names.
    scopes: list[str] | None = None
    redirect_uri: str = "http://127.0.0.1/oauth/callback"
    client_name: str = "mcp-upstream-client"
    #: Seconds the authorization handler may take (a person-in-the-loop handler needs long).
    authorization_timeout_s: float = Field(30.0, gt=0, le=3_600)

    @field_validator("client_metadata_url", "issuer", "redirect_uri")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("scopes")
    @classmethod
    def _scope_tokens(cls, value: list[str] | None) -> list[str] | None:
        for scope in value or []:
            if not scope or not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope):
                raise ValueError(f"{scope!r} is not a valid OAuth scope (RFC 6749 §3.3)")
        return value

    @model_validator(mode="after")
    def _grant_fields(self) -> OAuthConfig:
        method = self.token_endpoint_auth_method
        if self.grant == "client_credentials":
            if self.client_id is None:
                raise ValueError("client_id: required when grant = 'client_credentials'")
            if self.client_metadata_url is not None:
                raise ValueError("client_metadata_url: only valid for grant = 'authorization_code'")
            if method == "none":
                raise ValueError("token_endpoint_auth_method: 'none' cannot authenticate a client")
            if method == "private_key_jwt" or (method is None and self.private_key is not None):
                if self.private_key is None:
                    raise ValueError("private_key: required for private_key_jwt")
                if self.client_secret is not None:
                    raise ValueError("client_secret: not used with private_key_jwt")
                _check_signing_key(self.private_key, self.signing_algorithm)
            elif self.client_secret is None:
                raise ValueError("client_secret (or private_key): required for client_credentials")
        else:
            if method == "private_key_jwt" or self.private_key is not None:
                raise ValueError("private_key_jwt: only valid for grant = 'client_credentials'")
            if self.client_secret is not None and self.client_id is None:
                raise ValueError("client_secret: needs client_id")
            if method in ("client_secret_basic", "client_secret_post") and not self.client_secret:
                raise ValueError(f"token_endpoint_auth_method {method!r}: needs client_secret")
        return self

    @property
    def scope(self) -> str | None:
        """The scopes as the space-separated string OAuth sends (None when unset)."""
        return " ".join(self.scopes) if self.scopes else None


def _check_signing_key(key: SecretStr, algorithm: str) -> None:
    """Refuse a key that cannot sign ``algorithm`` at load time, not at the first token
    request; pyjwt parses it exactly as it will when signing. Never echoes the key."""
    try:
        prepared = jwt.get_algorithm_by_name(algorithm).prepare_key(key.get_secret_value())
    except (jwt.InvalidKeyError, ValueError, TypeError):
        prepared = None
    if not hasattr(prepared, "sign"):  # unparsable, another key type, or a public key
        raise ValueError(f"private_key: not a PEM private key that can sign {algorithm}")


class UpstreamConfig(_Strict):
    """One approved upstream MCP server (one ``[[upstreams]]`` table)."""

    name: str = Field(pattern=NAME_PATTERN, description="namespace for its tools")
    transport: Literal["http", "stdio"]
    url: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    command: list[str] | None = None
    env: dict[str, SecretStr] = Field(default_factory=dict)
    cwd: str | None = None
    allow_tools: list[str] = Field(default_factory=list)
    expose: bool = False  # opt-in: re-offering an upstream's tools is a decision
    timeout_s: float = Field(10.0, gt=0, le=3_600)
    connect_timeout_s: float | None = Field(None, gt=0, le=3_600)
    required: bool = False
    pins: dict[str, str] = Field(default_factory=dict)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)
    health_interval_s: float = Field(30.0, ge=0, le=86_400)
    mode: Literal["auto", "legacy"] = "auto"
    oauth: OAuthConfig | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("allow_tools")
    @classmethod
    def _tool_names(cls, value: list[str]) -> list[str]:
        for tool in value:
            if not tool or len(tool) > 128:
                raise ValueError(f"tool name {tool!r} must be 1-128 characters")
        if len(set(value)) != len(value):
            raise ValueError("contains duplicates")
        return value

    @field_validator("pins")
    @classmethod
    def _pin_format(cls, value: dict[str, str]) -> dict[str, str]:
        for tool, pin in value.items():
            if not PIN_PATTERN.match(pin):
                raise ValueError(f"pin of {tool!r} must look like 'sha256:<64 hex digits>'")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", key):
                raise ValueError(f"{key!r} is not a valid HTTP header name")
        return value

    @model_validator(mode="after")
    def _transport_fields(self) -> UpstreamConfig:
        if self.transport == "http":
            if self.url is None:
                raise ValueError("url: required when transport = 'http'")
            if self.command is not None or self.env:
                raise ValueError("command/env: only valid when transport = 'stdio'")
            if self.oauth is not None and any(k.lower() == "authorization" for k in self.headers):
                raise ValueError("headers.Authorization: not with oauth (it sets that header)")
        else:
            if not self.command:
                raise ValueError("command: required (non-empty list) when transport = 'stdio'")
            if self.url is not None or self.headers or self.oauth is not None:
                raise ValueError("url/headers/oauth: only valid when transport = 'http'")
        stray = sorted(set(self.pins) - set(self.allow_tools))
        if stray:
            raise ValueError(f"pins: {', '.join(stray)} not in allow_tools")
        if self.reconnect.initial_backoff_s > self.reconnect.max_backoff_s:
            raise ValueError("reconnect: initial_backoff_s exceeds max_backoff_s")
        return self

    @property
    def effective_connect_timeout_s(self) -> float:
        """Connect timeout: ``connect_timeout_s`` if set, else ``timeout_s``."""
        return self.connect_timeout_s if self.connect_timeout_s is not None else self.timeout_s

    def redacted(self) -> dict[str, Any]:
        """The configuration as plain data with header and env values masked (for ``check``)."""
        data = self.model_dump(mode="json")
        data["headers"] = dict.fromkeys(self.headers, "***")
        data["env"] = dict.fromkeys(self.env, "***")
        if self.oauth is not None:
            for secret in ("client_secret", "private_key"):
                if getattr(self.oauth, secret) is not None:
                    data["oauth"][secret] = "***"
        return data


class UpstreamsFile(_Strict):
    """The whole file: a list of ``[[upstreams]]`` with unique names."""

    upstreams: list[UpstreamConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> UpstreamsFile:
        seen: set[str] = set()
        for upstream in self.upstreams:
            if upstream.name in seen:
                raise ValueError(f"upstream name {upstream.name!r} is used twice")
            seen.add(upstream.name)
        return self


def expand_env(value: str, environ: Mapping[str, str], *, where: str) -> str:
    """Replace every ``${VAR}``; an unset variable raises :class:`UpstreamConfigError`."""

    def repl(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in environ:
            raise UpstreamConfigError(f"{where}: environment variable {var} is not set")
        return environ[var]

    return _VAR.sub(repl, value)


def _expand_tree(value: Any, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        return expand_env(value, environ, where=where)
    if isinstance(value, list):
        return [_expand_tree(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand_tree(v, environ, f"{where}.{k}") for k, v in value.items()}
    return value


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"])
        msg = item["msg"].removeprefix("Value error, ")
        parts.append(f"field '{loc}': {msg}" if loc else msg)
    return "; ".join(parts)


def parse_upstreams(
    data: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    source: str = "upstream file",
) -> list[UpstreamConfig]:
    """Validate already-parsed TOML data (see :func:`load_upstreams`)."""
    env = os.environ if environ is None else environ
    unknown = sorted(set(data) - {"upstreams"})
    if unknown:
        raise UpstreamConfigError(f"{source}: unknown top-level key(s): {', '.join(unknown)}")
    raw_list = data.get("upstreams", [])
    if not isinstance(raw_list, list):
        raise UpstreamConfigError(f"{source}: 'upstreams' must be an array of tables")
    configs: list[UpstreamConfig] = []
    for index, raw in enumerate(raw_list, start=1):
        if not isinstance(raw, dict):
            raise UpstreamConfigError(f"{source}: upstream #{index} must be a table")
        label = (
            f"upstream {raw['name']!r}"
            if isinstance(raw.get("name"), str)
            else f"upstream #{index}"
        )
        expanded = dict(raw)
        for key in _EXPANDED_FIELDS:
            if key in expanded:
                expanded[key] = _expand_tree(
                    expanded[key], env, f"{source}: {label}: field '{key}'"
                )
        try:
            configs.append(UpstreamConfig.model_validate(expanded))
        except ValidationError as exc:
            raise UpstreamConfigError(f"{source}: {label}: {_describe(exc)}") from None
    try:
        UpstreamsFile(upstreams=configs)
    except ValidationError as exc:
        raise UpstreamConfigError(f"{source}: {_describe(exc)}") from None
    return configs


def load_upstreams(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> list[UpstreamConfig]:
    """Read and validate the TOML upstream file; raise one :class:`UpstreamConfigError`."""
    file = Path(path)
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UpstreamConfigError(f"upstream file {file}: not found") from None
    except OSError as exc:
        raise UpstreamConfigError(f"upstream file {file}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UpstreamConfigError(f"upstream file {file}: invalid TOML: {exc}") from None
    return parse_upstreams(data, environ=environ, source=f"upstream file {file}")
