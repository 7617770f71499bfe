"""pytest fixtures for the fake upstreams (registered through ``mcp_testkit.plugin``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from mcp_testkit.fakes import FakeHttpServer, FakeOptions, OAuthFake, oauth_upstream, stdio_command

__all__ = ["fake_http_upstream", "fake_log", "fake_oauth_upstream", "fake_stdio_upstream"]


@pytest.fixture
def fake_log(tmp_path: Path) -> Path:
    """Where fakes write their JSON-lines log (see ``mcp_testkit.fakes.read_events``)."""
    return tmp_path / "fake-upstream.jsonl"


@pytest.fixture
def fake_http_upstream(tmp_path: Path) -> Iterator[Callable[..., FakeHttpServer]]:
    """Factory: ``fake_http_upstream(log=..., error_file=...)`` starts a fake over HTTP.

    Every server it started is stopped (and reaped) at teardown.
    """
    started: list[FakeHttpServer] = []

    def start(**options: object) -> FakeHttpServer:
        server = FakeHttpServer(
            FakeOptions(**options),  # type: ignore[arg-type]
            stderr_path=tmp_path / f"fake-http-{len(started)}.stderr",
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fake_stdio_upstream() -> Callable[..., tuple[list[str], dict[str, str]]]:
    """Factory: ``fake_stdio_upstream(crash_after=2)`` → ``(command, env)`` for a stdio child."""

    def command(**options: object) -> tuple[list[str], dict[str, str]]:
        return stdio_command(FakeOptions(**options))  # type: ignore[arg-type]

    return command


@pytest.fixture
def fake_oauth_upstream() -> Iterator[Callable[..., OAuthFake]]:
    """Factory: ``fake_oauth_upstream(required_scopes=["read"])`` serves an OAuth-protected
    fake (see :func:`mcp_testkit.fakes.oauth_upstream`); all are stopped at teardown."""
    with ExitStack() as stack:

        def start(**options: object) -> OAuthFake:
            return stack.enter_context(oauth_upstream(**options))  # type: ignore[arg-type]

        yield start
