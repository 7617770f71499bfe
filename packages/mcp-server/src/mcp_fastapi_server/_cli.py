"""The ``mcp-server`` command: ``stdio | serve | check | pin | index``.

Every failure to start is one line on stderr and exit code 2; stdout is reserved for
protocol bytes in ``stdio`` and for the printed configuration in ``check``/``pin``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from mcp_fastapi_server._settings import (
    Settings,
    SettingsError,
    load_settings,
    warn_unknown_variables,
)

__all__ = ["main"]

logger = logging.getLogger("mcp_fastapi_server")


class StartupError(Exception):
    """A configuration that must not start; the message is shown as is."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _freeze_startup_heap(*, collect: bool = True) -> None:
    """Move everything built at start-up (modules, the app, models, the index) out of the
    garbage collector's sight. Those objects live as long as the process, yet every full
    collection walks them again; the app's heap is several times bare FastMCP's, and the
    collections triggered by per-request garbage cost ~10 % of a call's CPU without this.
    Only our own processes do this: ``mount_mcp`` never touches a host's collector.
    ``collect=False`` skips the sweep first (tens of ms), for the stdio cold start."""
    if collect:
        gc.collect()
    gc.freeze()


def _configure_logging(settings: Settings, *, fastmcp: bool = True) -> None:
    from mcp_fastapi_server.observability import configure_logging

    configure_logging(settings, stream=sys.stderr, fastmcp=fastmcp)
    warn_unknown_variables(logger)


def check_bind(settings: Settings, host: str) -> None:
    """Refuse unsafe binds: anonymous access or conformance fixtures off loopback."""
    if is_loopback(host):
        return
    if settings.conformance:
        raise StartupError(
            f"MCP_CONFORMANCE=true registers test fixtures; refusing to bind {host} (use 127.0.0.1)"
        )
    if settings.auth_mode == "none" and not settings.auth_allow_anonymous:
        raise StartupError(
            f"refusing to bind {host} with MCP_AUTH_MODE=none: set MCP_AUTH_MODE=jwt, "
            "or MCP_AUTH_ALLOW_ANONYMOUS=true to serve anonymous callers on purpose"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from mcp_fastapi_server._app import create_app

    settings = load_settings()
    check_bind(settings, args.host)
    _configure_logging(settings)
    app = create_app(settings)
    _freeze_startup_heap()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,  # our handlers (configure_logging) apply to uvicorn's loggers too
        access_log=False,  # the MCP access line is ours; uvicorn's would duplicate it
        timeout_graceful_shutdown=args.graceful_timeout,
        lifespan="on",
    )
    logger.info("serving MCP at http://%s:%d%s", args.host, args.port, settings.http_path)
    # After its graceful shutdown uvicorn re-raises SIGTERM through the handler that was
    # there before it started; with the default one the process dies by the signal (-15)
    # and supervisors report a crash. The shutdown is complete by then: exit 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.Server(config).run()
    except SystemExit as exc:
        if exc.code != STARTUP_FAILURE:
            raise
        # uvicorn has logged the lifespan's error (e.g. a misconfigured Redis) above.
        print("mcp-server serve: start-up failed; the cause is logged above", file=sys.stderr)
        return 2
    return 0


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


def cmd_stdio(_args: argparse.Namespace) -> int:
    from mcp_fastapi_server._runtime import build_runtime
    from mcp_fastapi_server.stdio import run_stdio

    settings = load_settings()
    _configure_logging(settings)
    runtime = build_runtime(settings, transport="stdio")
    _freeze_startup_heap(collect=False)
    asyncio.run(run_stdio(runtime.mcp, drain_timeout_s=settings.stdio_drain_timeout_s))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from mcp_fastapi_server._check import run_check

    settings = load_settings()
    report = asyncio.run(run_check(settings, offline=args.offline))
    print(json.dumps(report.config, indent=2, default=str))
    for line in report.found:
        print(f"ok: {line}", file=sys.stderr)
    for line in report.problems:
        print(f"mcp-server check: {line}", file=sys.stderr)
    if not report.ok:
        return 2
    what = "configuration OK (not connected: --offline)" if args.offline else "configuration OK"
    print(what, file=sys.stderr)
    return 0


def cmd_pin(_args: argparse.Namespace) -> int:
    from mcp_fastapi_server.upstreams import print_pins

    settings = load_settings()
    return asyncio.run(print_pins(settings))


def cmd_index(_args: argparse.Namespace) -> int:
    from mcp_fastapi_server.documents import index_documents

    settings = load_settings()
    _configure_logging(settings, fastmcp=False)
    for line in index_documents(settings).lines():
        print(line)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcp-server", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("stdio", help="serve MCP over stdio (logs on stderr)").set_defaults(
        func=cmd_stdio
    )
    serve = sub.add_parser("serve", help="run the reference FastAPI app with MCP mounted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds in-flight requests get to finish on SIGTERM",
    )
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser(
        "check",
        help="validate settings, print them (secrets masked), connect to Redis and upstreams",
    )
    check.add_argument("--offline", action="store_true", help="validate only; connect to nothing")
    check.set_defaults(func=cmd_check)
    sub.add_parser("pin", help="print tool-definition pins of configured upstreams").set_defaults(
        func=cmd_pin
    )
    sub.add_parser(
        "index", help="build or update the search index at MCP_INDEX_PATH (changed files only)"
    ).set_defaults(func=cmd_index)
    return p


def _refusal(exc: BaseException) -> BaseException | None:
    """The configuration error behind a failed start, also from inside a task group."""
    from mcp_fastapi_server.limits import StoreMisconfiguredError

    if isinstance(exc, SettingsError | StartupError | ValueError | StoreMisconfiguredError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _refusal(inner)
            if found is not None:
                return found
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise
        print(f"mcp-server {args.command}: {refusal}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
