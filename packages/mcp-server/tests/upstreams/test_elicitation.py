"""An exposed upstream tool that elicits: the question reaches the caller of that call,
and only that caller; everybody else's answer is a decline.

Real parts throughout: mcp-server on stateful (or stateless) streamable HTTP in uvicorn,
FastMCP clients as downstream callers, and the testkit's fake upstream in its own
process, over HTTP (handshake era or 2026-07-28) or stdio.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import StreamableHttpTransport
from mcp_types import ElicitRequestFormParams, TextContent
from prometheus_client import CollectorRegistry

from mcp_fastapi_server import Settings, mount_mcp
from mcp_testkit.asgi import running_asgi
from mcp_testkit.fakes import FakeHttpServer, read_events, stdio_command

#: How the fake upstream is reached, and so how its question travels to us:
#: http-legacy (server-initiated request on the call's POST stream), http-modern
#: (SEP-2322 InputRequiredResult, handled in the calling task), stdio-legacy (the
#: session's receive loop: no link to the call at all).
UPSTREAMS = ["http-legacy", "http-modern", "stdio-legacy"]

Asked = list[tuple[str, dict[str, Any]]]


def upstream_file(
    tmp_path: Path, kind: str, start_http: Callable[..., FakeHttpServer], timeout_s: float = 30
) -> Path:
    log = tmp_path / "upstream.jsonl"
    lines = ["[[upstreams]]", 'name = "up"', 'allow_tools = ["ask", "echo"]', "expose = true"]
    lines += [f"timeout_s = {timeout_s}", "required = true"]
    if kind == "stdio-legacy":
        command, env = stdio_command()
        env["FAKE_LOG"] = str(log)
        lines += ['transport = "stdio"', f"command = {json.dumps(command)}"]
        lines += ["env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }"]
    else:
        lines += ['transport = "http"', f"url = {json.dumps(start_http(log=log).url)}"]
    if kind.endswith("-legacy"):
        lines.append('mode = "legacy"')
    path = tmp_path / "upstreams.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def app_with_upstream(
    tmp_path: Path,
    kind: str,
    start_http: Callable[..., FakeHttpServer],
    *,
    stateless: bool = False,
    timeout_s: float = 30,
) -> FastAPI:
    """mcp-server in a FastAPI app, exposing the fake's ``ask`` as ``up_ask``."""
    app = FastAPI()
    settings = Settings(
        _env_file=None,
        upstreams_file=upstream_file(tmp_path, kind, start_http, timeout_s),
        http_stateless=stateless,
    )
    assert mount_mcp(app, settings, metrics_registry=CollectorRegistry()) is not None
    return app


def caller(
    url: str,
    answer: Callable[[str], ElicitResult[Any]] | None,
    asked: Asked,
    *,
    mode: str = "legacy",
) -> Client[Any]:
    """A downstream client that records each question; ``answer=None``: no capability."""

    async def handler(
        message: str, response_type: object, params: object, context: object
    ) -> ElicitResult[Any]:
        assert isinstance(params, ElicitRequestFormParams)
        asked.append((message, dict(params.requested_schema)))
        assert answer is not None
        return answer(message)

    return Client(
        StreamableHttpTransport(f"{url}/mcp"),
        mode=mode,
        elicitation_handler=handler if answer is not None else None,
    )


async def ask(client: Client[Any], question: str, together: int = 1) -> dict[str, Any]:
    result = await client.call_tool("up_ask", {"question": question, "together": together})
    assert not result.is_error
    assert result.structured_content is not None
    return result.structured_content


def upstream_saw(tmp_path: Path) -> dict[str, tuple[str, Any]]:
    """What the upstream received per question: (action, content)."""
    events = read_events(tmp_path / "upstream.jsonl", "elicited")
    return {e["question"]: (e["action"], e["content"]) for e in events}


@pytest.mark.parametrize("kind", UPSTREAMS)
async def test_an_accept_with_partial_content_reaches_the_upstream_with_defaults(
    tmp_path: Path, fake_http_upstream: Callable[..., FakeHttpServer], kind: str
) -> None:
    app = app_with_upstream(tmp_path, kind, fake_http_upstream)
    asked: Asked = []
    with running_asgi(app) as srv:
        reply = ElicitResult(action="accept", content={"answer": "Ada"})
        async with caller(srv.url, lambda _: reply, asked) as client:
            got = await ask(client, "Who are you?")
    full = {"answer": "Ada", "color": "blue", "count": 3}
    assert got == {"question": "Who are you?", "action": "accept", "content": full}
    assert upstream_saw(tmp_path) == {"Who are you?": ("accept", full)}
    [(message, schema)] = asked
    assert message == "Who are you?"
    assert schema["properties"]["color"]["default"] == "blue"


@pytest.mark.parametrize("kind", ["http-legacy", "stdio-legacy"])
@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_the_callers_decline_or_cancel_reaches_the_upstream(
    tmp_path: Path, fake_http_upstream: Callable[..., FakeHttpServer], kind: str, action: str
) -> None:
    app = app_with_upstream(tmp_path, kind, fake_http_upstream)
    asked: Asked = []
    with running_asgi(app) as srv:
        async with caller(srv.url, lambda _: ElicitResult(action=action), asked) as client:
            got = await ask(client, "Proceed?")
    assert got == {"question": "Proceed?", "action": action, "content": None}
    assert upstream_saw(tmp_path) == {"Proceed?": (action, None)}
    assert [m for m, _ in asked] == ["Proceed?"]


@pytest.mark.parametrize(
    ("mode", "handler", "stateless", "reason"),
    [
        ("legacy", False, False, "did not declare the elicitation capability"),
        ("auto", True, False, "speaks 2026-07-28, which has no back channel"),
        ("legacy", True, True, "has no back channel (stateless HTTP)"),
    ],
    ids=["no-capability", "modern-caller", "stateless-http"],
)
async def test_a_caller_that_cannot_be_asked_gets_a_decline_not_a_crash(
    tmp_path: Path,
    fake_http_upstream: Callable[..., FakeHttpServer],
    caplog: pytest.LogCaptureFixture,
    mode: str,
    handler: bool,
    stateless: bool,
    reason: str,
) -> None:
    app = app_with_upstream(tmp_path, "http-legacy", fake_http_upstream, stateless=stateless)
    asked: Asked = []
    answer = (lambda _: ElicitResult(action="accept", content={"answer": "x"})) if handler else None
    with running_asgi(app) as srv:
        async with caller(srv.url, answer, asked, mode=mode) as client:
            got = await ask(client, "Anyone there?")
            echoed = await client.call_tool("up_echo", {"text": "still up"})
            assert echoed.content[0].text == "still up"
    assert got == {"question": "Anyone there?", "action": "decline", "content": None}
    assert upstream_saw(tmp_path) == {"Anyone there?": ("decline", None)}
    assert asked == []
    [declined] = [r for r in caplog.records if "elicitation declined" in r.getMessage()]
    assert reason in declined.getMessage()
    assert declined.upstream == "up"  # type: ignore[attr-defined]
    assert declined.rpc_id is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", UPSTREAMS)
async def test_concurrent_questions_never_reach_the_other_caller(
    tmp_path: Path,
    fake_http_upstream: Callable[..., FakeHttpServer],
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    """Both calls are in flight while both questions are open (``together=2``).

    Linked questions (HTTP, either era) go to their own caller; a stdio upstream's
    cannot be told apart, so both are declined and nobody is asked.
    """
    app = app_with_upstream(tmp_path, kind, fake_http_upstream)
    asked_a: Asked = []
    asked_b: Asked = []

    def reply(name: str) -> Callable[[str], ElicitResult[Any]]:
        return lambda _: ElicitResult(action="accept", content={"answer": name})

    with running_asgi(app) as srv:
        async with (
            caller(srv.url, reply("alice"), asked_a) as alice,
            caller(srv.url, reply("bob"), asked_b) as bob,
        ):
            got_a, got_b = await asyncio.gather(
                ask(alice, "Alice's secret?", together=2), ask(bob, "Bob's secret?", together=2)
            )
    seen = upstream_saw(tmp_path)
    if kind == "stdio-legacy":
        assert (asked_a, asked_b) == ([], [])
        assert got_a["action"] == got_b["action"] == "decline"
        assert seen == {"Alice's secret?": ("decline", None), "Bob's secret?": ("decline", None)}
        reasons = [r.reason for r in caplog.records if hasattr(r, "reason")]
        assert reasons == ["2 exposed calls in flight; whose question is unknown"] * 2
    else:
        assert [m for m, _ in asked_a] == ["Alice's secret?"]
        assert [m for m, _ in asked_b] == ["Bob's secret?"]
        assert got_a["content"] == {"answer": "alice", "color": "blue", "count": 3}
        assert got_b["content"] == {"answer": "bob", "color": "blue", "count": 3}
        assert seen["Alice's secret?"][1]["answer"] == "alice"
        assert seen["Bob's secret?"][1]["answer"] == "bob"


async def test_a_question_still_open_when_the_call_ends_is_withdrawn(
    tmp_path: Path,
    fake_http_upstream: Callable[..., FakeHttpServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The caller never answers; the upstream call times out, the question is withdrawn
    (the upstream gets a decline) and the server keeps serving."""
    app = app_with_upstream(tmp_path, "http-legacy", fake_http_upstream, timeout_s=1)
    asked: Asked = []
    never = asyncio.Event()

    async def stall(message: str, *_: object) -> ElicitResult[Any]:
        asked.append((message, {}))
        await never.wait()
        raise AssertionError("unreachable")

    with running_asgi(app) as srv:
        client = Client(
            StreamableHttpTransport(f"{srv.url}/mcp"), mode="legacy", elicitation_handler=stall
        )
        async with client:
            failed = await client.call_tool(
                "up_ask", {"question": "Still there?"}, raise_on_error=False
            )
            assert failed.is_error
            assert "no answer within 1s" in str(failed.content[0])
            echoed = await client.call_tool("up_echo", {"text": "still up"})
            assert echoed.content == [TextContent(type="text", text="still up")]
    assert [m for m, _ in asked] == ["Still there?"]
    reasons = [r.reason for r in caplog.records if hasattr(r, "reason")]
    assert reasons == ["the call ended while asking"]
