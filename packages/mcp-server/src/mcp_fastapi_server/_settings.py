"""Every knob, read once from the environment (prefix ``MCP_``) and ``.env``.

The names are the public surface fixed in the interface spec; a bad value stops start-up
with one line naming the variable (see :func:`load_settings`).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

__all__ = [
    "FOREIGN_NAMES",
    "FOREIGN_PREFIXES",
    "RateLimit",
    "Settings",
    "SettingsError",
    "UnknownToolError",
    "describe_unknown",
    "load_settings",
    "parse_rate_limit",
    "setting_names",
    "unknown_variables",
    "warn_unknown_variables",
]

LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOOPBACK_ORIGINS = [
    "http://127.0.0.1:*",
    "http://localhost:*",
    "http://[::1]:*",
    "https://127.0.0.1:*",
    "https://localhost:*",
    "https://[::1]:*",
]
ALLOWED_ALGORITHMS = frozenset(
    {
        "HS256", "HS384", "HS512",
        "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512",
        "ES256", "ES384",
        "EdDSA",
    }
)  # fmt: skip

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day|s|m|h|d)s?\s*$")
_PERIODS = {"second": 1, "s": 1, "minute": 60, "m": 60, "hour": 3600, "h": 3600, "day": 86400}
_PERIODS["d"] = 86400


class SettingsError(ValueError):
    """A setting is invalid; the message names the variable and the problem."""


class UnknownToolError(SettingsError):
    """A setting (``MCP_TOOLS_ENABLED``, ``MCP_TOOL_SCOPES``, ``MCP_RATE_LIMIT_TOOLS``) names
    a tool nobody registered."""


class RateLimit(tuple[int, float]):
    """``(limit, period_seconds)``; parsed from ``"10/second"``, ``"60/minute"``, ``"5/10s"``."""

    __slots__ = ()

    def __new__(cls, limit: int, period: float) -> RateLimit:
        return super().__new__(cls, (limit, period))

    @property
    def limit(self) -> int:
        return self[0]

    @property
    def period(self) -> float:
        return self[1]

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


def parse_rate_limit(text: str) -> RateLimit:
    """Parse ``N/unit`` or ``N/Kunit`` into a :class:`RateLimit`; raise ``ValueError``."""
    match = _RATE_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate like '10/second' or '60/minute'")
    count, mult, unit = int(match[1]), int(match[2] or 1), match[3]
    if count < 1 or mult < 1:
        raise ValueError(f"{text!r}: a rate needs a positive count and period")
    return RateLimit(count, float(mult * _PERIODS[unit]))


def _split_list(value: Any) -> Any:
    """Accept a comma list (``a,b``) or a JSON array for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """The toolkit's configuration; every field maps to ``MCP_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="MCP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # Serving
    enabled: bool = True
    http_path: str = "/mcp"
    http_stateless: bool = True
    http_sse_enabled: bool = False
    tools_enabled: CommaList = Field(default_factory=lambda: ["*"])
    docs_dir: Path | None = None
    index_path: Path | None = None
    page_size: int = Field(20, ge=1, le=1000)
    max_response_bytes: int = Field(65536, ge=1024)
    max_request_bytes: int = Field(1_048_576, ge=1024)
    allowed_hosts: CommaList = Field(default_factory=lambda: list(LOOPBACK_HOSTS))
    allowed_origins: CommaList = Field(default_factory=lambda: list(LOOPBACK_ORIGINS))
    cursor_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    conformance: bool = False
    trust_proxy_headers: bool = False
    stdio_drain_timeout_s: float = Field(30.0, ge=0, le=3600)

    # Authentication
    auth_mode: Literal["none", "jwt"] = "none"
    auth_allow_anonymous: bool = False
    auth_jwt_jwks_url: str | None = None
    auth_jwt_public_key: SecretStr | None = None
    auth_jwt_secret: SecretStr | None = None
    auth_jwt_algorithms: CommaList = Field(default_factory=lambda: ["RS256"])
    auth_jwt_issuer: str | None = None
    auth_jwt_audience: str | None = None
    auth_leeway_s: int = Field(30, ge=0, le=3600)
    auth_required_scopes: CommaList = Field(default_factory=list)
    tool_scopes: dict[str, list[str]] = Field(default_factory=dict)
    resource_url: str | None = None
    auth_servers: CommaList = Field(default_factory=list)

    # Rate limits
    redis_url: SecretStr | None = None
    redis_mode: Literal["standalone", "cluster", "sentinel"] = "standalone"
    redis_tls_ca_file: Path | None = None
    redis_tls_cert_file: Path | None = None
    redis_tls_key_file: Path | None = None
    redis_sentinels: CommaList = Field(default_factory=list)
    redis_sentinel_master: str | None = None
    redis_sentinel_password: SecretStr | None = None
    rate_limit_enabled: bool = True
    redis_key_prefix: str = "mcp:"
    rate_limit_default: str = "60/minute"
    rate_limit_tools: dict[str, str] = Field(default_factory=dict)
    rate_limit_failure_mode: Literal["open", "closed"] = "open"
    redis_timeout_ms: int = Field(50, ge=1, le=10_000)

    # Observability
    metrics_enabled: bool = True
    metrics_path: str = "/metrics"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    # Upstreams
    upstreams_file: Path | None = None

    @field_validator(
        "tools_enabled",
        "allowed_hosts",
        "allowed_origins",
        "auth_jwt_algorithms",
        "auth_required_scopes",
        "auth_servers",
        "redis_sentinels",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("index_path", mode="before")
    @classmethod
    def _index_path_set(cls, value: Any) -> Any:
        # Empty means unset (in memory): an image's ENV can only be emptied, not unset.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("index_path")
    @classmethod
    def _index_path(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError(f"{value} is a directory; name a file, e.g. {value / 'search.db'}")
        if value is not None and not value.parent.is_dir():
            raise ValueError(f"the folder {value.parent} does not exist")
        return value

    @field_validator("http_path", "metrics_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value == "/" or value.endswith("/") or " " in value:
            raise ValueError("must start with '/', not end with '/', and not be '/' itself")
        return value

    @field_validator("auth_jwt_algorithms")
    @classmethod
    def _algorithms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one algorithm")
        bad = [alg for alg in value if alg not in ALLOWED_ALGORITHMS]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} not allowed; choose from {', '.join(sorted(ALLOWED_ALGORITHMS))}"
            )
        return value

    @field_validator("rate_limit_default")
    @classmethod
    def _rate_default(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @field_validator("rate_limit_tools")
    @classmethod
    def _rate_tools(cls, value: dict[str, str]) -> dict[str, str]:
        for tool, rate in value.items():
            try:
                parse_rate_limit(rate)
            except ValueError as exc:
                raise ValueError(f"tool {tool!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _jwt_key_source(self) -> Settings:
        if self.auth_mode != "jwt":
            return self
        sources = [
            name
            for name, value in (
                ("MCP_AUTH_JWT_JWKS_URL", self.auth_jwt_jwks_url),
                ("MCP_AUTH_JWT_PUBLIC_KEY", self.auth_jwt_public_key),
                ("MCP_AUTH_JWT_SECRET", self.auth_jwt_secret),
            )
            if value
        ]
        if len(sources) != 1:
            raise ValueError(
                "MCP_AUTH_MODE=jwt needs exactly one key source of MCP_AUTH_JWT_JWKS_URL, "
                f"MCP_AUTH_JWT_PUBLIC_KEY, MCP_AUTH_JWT_SECRET (got {len(sources)})"
            )
        return self

    @field_validator("redis_tls_ca_file", "redis_tls_cert_file", "redis_tls_key_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not (value.is_file() and os.access(value, os.R_OK)):
            raise ValueError(f"{str(value)!r} is not a readable file")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for item in value:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{item!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _redis_topology(self) -> Settings:
        check_redis_settings(self)
        return self

    # Derived values used on hot paths are computed once here.
    @property
    def default_rate(self) -> RateLimit:
        return parse_rate_limit(self.rate_limit_default)

    def masked(self) -> dict[str, Any]:
        """The effective configuration as ``MCP_*`` names, secrets masked (for ``check``)."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            raw = getattr(self, name)
            if isinstance(raw, SecretStr):
                value = "********" if raw.get_secret_value() else ""
            out[f"MCP_{name.upper()}"] = value
        return out


class _RedisSettingError(ValueError):
    """Raised inside validation with the variable's name, so the message names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def check_redis_settings(settings: Settings) -> None:
    """The Redis settings agree with each other and ``MCP_REDIS_URL`` parses.

    Raises ``ValueError`` whose message starts with the variable at fault; the URL itself
    (it may hold a password) never appears in a message.
    """
    tls = [
        name
        for name, value in (
            ("MCP_REDIS_TLS_CA_FILE", settings.redis_tls_ca_file),
            ("MCP_REDIS_TLS_CERT_FILE", settings.redis_tls_cert_file),
            ("MCP_REDIS_TLS_KEY_FILE", settings.redis_tls_key_file),
        )
        if value is not None
    ]
    sentinel = [
        name
        for name, value in (
            ("MCP_REDIS_SENTINELS", settings.redis_sentinels),
            ("MCP_REDIS_SENTINEL_MASTER", settings.redis_sentinel_master),
            ("MCP_REDIS_SENTINEL_PASSWORD", settings.redis_sentinel_password),
        )
        if value
    ]
    if settings.redis_url is None:
        for name in ([] if settings.redis_mode == "standalone" else ["MCP_REDIS_MODE"]) + tls:
            raise _RedisSettingError(name, "needs MCP_REDIS_URL (unset: limits are in process)")
        for name in sentinel:
            raise _RedisSettingError(name, "needs MCP_REDIS_MODE=sentinel and MCP_REDIS_URL")
        return
    from redis.connection import parse_url

    url = settings.redis_url.get_secret_value()
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme not in ("redis", "rediss", "unix"):
        raise _RedisSettingError(
            "MCP_REDIS_URL", "must start with redis://, rediss:// (TLS) or unix://"
        )
    try:
        options = parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise _RedisSettingError("MCP_REDIS_URL", str(exc)) from None
    if settings.redis_tls_key_file is not None and settings.redis_tls_cert_file is None:
        raise _RedisSettingError(
            "MCP_REDIS_TLS_KEY_FILE", "needs MCP_REDIS_TLS_CERT_FILE (the client certificate)"
        )
    if tls and scheme != "rediss":
        raise _RedisSettingError(tls[0], "needs a rediss:// MCP_REDIS_URL (TLS)")
    mode = settings.redis_mode
    if mode != "sentinel" and sentinel:
        raise _RedisSettingError(sentinel[0], "is used only with MCP_REDIS_MODE=sentinel")
    if mode == "cluster":
        if scheme == "unix":
            raise _RedisSettingError("MCP_REDIS_URL", "a Redis Cluster is not reached by unix://")
        if int(options.get("db") or 0) != 0:
            raise _RedisSettingError(
                "MCP_REDIS_URL",
                "a Redis Cluster has only database 0 (SELECT is not allowed in cluster mode)",
            )
    if mode == "sentinel":
        if not settings.redis_sentinels:
            raise _RedisSettingError("MCP_REDIS_SENTINELS", "name at least one sentinel host:port")
        if not settings.redis_sentinel_master:
            raise _RedisSettingError(
                "MCP_REDIS_SENTINEL_MASTER", "name the master the sentinels monitor"
            )
        if scheme == "unix":
            raise _RedisSettingError(
                "MCP_REDIS_URL", "in sentinel mode the master is reached over TCP, not unix://"
            )


# MCP_* names that are not settings of this server but of the project's own tooling or of
# the official conformance suite and harness; never reported as typos.
FOREIGN_PREFIXES = ("MCP_TESTKIT_", "MCP_TOOLKIT_", "MCP_HARNESS_")
FOREIGN_NAMES = frozenset(
    {"MCP_CONFORMANCE_CONTEXT", "MCP_CONFORMANCE_SCENARIO", "MCP_BEARER_TOKEN"}
)


def setting_names() -> list[str]:
    """Every variable a setting reads: ``MCP_<FIELD>``."""
    return [f"MCP_{name.upper()}" for name in Settings.model_fields]


def unknown_variables(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> dict[str, str | None]:
    """``MCP_*`` names in the environment (and ``.env``) that no setting reads, each with
    the closest setting name (``None`` when nothing is close), e.g. ``MCP_PAGESIZE`` →
    ``MCP_PAGE_SIZE``."""
    names: set[str] = {
        key.upper()
        for key in (os.environ if environ is None else environ)
        if key.upper().startswith("MCP_")
    }
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        names |= {key.upper() for key in dotenv_values(env_file) if key.upper().startswith("MCP_")}
    known = setting_names()
    out: dict[str, str | None] = {}
    for name in sorted(names - set(known)):
        if name in FOREIGN_NAMES or name.startswith(FOREIGN_PREFIXES):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        out[name] = close[0] if close else None
    return out


def describe_unknown(unknown: Mapping[str, str | None]) -> list[str]:
    """One line per unknown variable, for the start-up warning and ``check``."""
    return [
        f"{name} is not a setting" + (f"; did you mean {close}?" if close else "")
        for name, close in unknown.items()
    ]


def warn_unknown_variables(logger: logging.Logger) -> None:
    """Log a warning per unknown ``MCP_*`` variable (a typo never passes in silence)."""
    for line in describe_unknown(unknown_variables()):
        logger.warning("%s (ignored)", line)


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`; turn a validation error into one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [str(part) for part in err["loc"] if part != "__root__"]
            name = f"MCP_{loc[0].upper()}" if loc else "settings"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {msg}" if loc else msg)
        raise SettingsError("; ".join(lines)) from None
    except PydanticSettingsError as exc:
        # Raised before validation when a complex value (dict/list) is not valid JSON.
        match = re.search(r'field "(\w+)"', str(exc))
        name = f"MCP_{match[1].upper()}" if match else "settings"
        raise SettingsError(f"{name}: not valid JSON") from None
