"""Conformance fixtures: absent by default, and each one behaving as the official suite wants.

Served by the real stack (``create_app`` → ``mount_mcp`` → the ASGI chain) on uvicorn, with
sessions on, and driven by a real fastmcp ``Client`` in the handshake era: the suite's own
client speaks 2025-11-25 with sessions, and sampling/elicitation need that back channel.
The suite itself runs in ``tools/conformance/run.py`` (``uv run nox -s conformance``).
"""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as mt
import pytest
from fastmcp import Client
from fastmcp.client.logging import LogMessage
from fastmcp.client.transports import StreamableHttpTransport

from mcp_fastapi_server import Settings, build_runtime, create_app
from mcp_fastapi_server._conformance import FIXTURE_PROMPTS, FIXTURE_TOOLS, RED_PIXEL_PNG
from mcp_fastapi_server.tools import default_registry
from mcp_testkit.asgi import running_asgi

FIXTURE_NAMES = {fn.__name__ for fn in FIXTURE_TOOLS}
# Sampling, logging and subscriptions are what the suite (protocol 2025-11-25) exercises;
# the SDK flags them as removed in 2026-07-28, which is not what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


async def test_fixtures_are_never_registered_by_default() -> None:
    assert not FIXTURE_NAMES & {spec.name for spec in default_registry().select(["*"])}
    async with Client(build_runtime(Settings()).mcp) as client:
        assert not FIXTURE_NAMES & {t.name for t in await client.list_tools()}
        assert await client.list_resources() == []
        assert await client.list_prompts() == []
        caps = client.initialize_result
        assert caps is None or caps.capabilities.completions is None


@pytest.fixture
async def fixture_server() -> AsyncIterator[str]:
    app = create_app(Settings(conformance=True, http_stateless=False))
    with running_asgi(app) as srv:
        yield f"{srv.url}/mcp"


def legacy_client(url: str, **handlers: Any) -> Client[Any]:
    return Client(StreamableHttpTransport(url), mode="legacy", timeout=30, **handlers)


async def test_listing_has_every_fixture_next_to_the_curated_tools(fixture_server: str) -> None:
    async with legacy_client(fixture_server) as client:
        tools = {t.name: t for t in await client.list_tools()}
        assert set(tools) >= FIXTURE_NAMES
        assert {"health", "search", "fetch", "metadata"} <= set(tools)
        assert all(t.description and t.input_schema for t in tools.values())
        assert {p.name for p in await client.list_prompts()} == set(FIXTURE_PROMPTS)
        uris = {str(r.uri) for r in await client.list_resources()}
        assert {"test://static-text", "test://static-binary", "test://watched-resource"} <= uris
        templates = [t.uri_template for t in await client.list_resource_templates()]
        assert templates == ["test://template/{id}/data"]
        caps = client.initialize_result.capabilities
        assert caps.completions is not None
        assert caps.resources is not None
        assert caps.resources.subscribe is True


async def test_content_fixtures(fixture_server: str) -> None:
    async with legacy_client(fixture_server) as client:
        text = await client.call_tool("test_simple_text")
        assert [c.model_dump(exclude_none=True) for c in text.content] == [
            {"type": "text", "text": "This is a simple text response for testing."}
        ]
        image = (await client.call_tool("test_image_content")).content[0]
        assert isinstance(image, mt.ImageContent)
        assert image.mime_type == "image/png"
        assert base64.b64decode(image.data) == RED_PIXEL_PNG
        audio = (await client.call_tool("test_audio_content")).content[0]
        assert isinstance(audio, mt.AudioContent)
        assert audio.mime_type == "audio/wav"
        with wave.open(io.BytesIO(base64.b64decode(audio.data))) as wav:
            assert wav.getnframes() > 0
        embedded = (await client.call_tool("test_embedded_resource")).content[0]
        assert isinstance(embedded, mt.EmbeddedResource)
        assert str(embedded.resource.uri) == "test://embedded-resource"
        mixed = (await client.call_tool("test_multiple_content_types")).content
        assert [c.type for c in mixed] == ["text", "image", "resource"]
        error = await client.call_tool("test_error_handling", raise_on_error=False)
        assert error.is_error
        assert error.content[0].text == "This tool intentionally returns an error for testing"


async def test_logging_and_progress_reach_the_client_during_the_call(
    fixture_server: str,
) -> None:
    logs: list[LogMessage] = []
    progress: list[tuple[float, float | None]] = []

    async def on_log(message: LogMessage) -> None:
        logs.append(message)

    async def on_progress(value: float, total: float | None, _message: str | None) -> None:
        progress.append((value, total))

    async with legacy_client(fixture_server, log_handler=on_log) as client:
        await client.set_logging_level("debug")
        await client.call_tool("test_tool_with_logging")
        await client.call_tool("test_tool_with_progress", progress_handler=on_progress)
    assert [(m.level, m.data["msg"]) for m in logs] == [
        ("info", "Tool execution started"),
        ("info", "Tool processing data"),
        ("info", "Tool execution completed"),
    ]
    assert progress == [(0, 100), (50, 100), (100, 100)]


async def test_sampling_and_elicitation_go_back_to_the_client(fixture_server: str) -> None:
    schemas: list[dict[str, Any]] = []

    async def sample(messages: list[mt.SamplingMessage], params: Any, _ctx: Any) -> str:
        assert params.max_tokens == 100
        content = messages[0].content
        assert isinstance(content, mt.TextContent)
        return f"echo {content.text}"

    async def elicit(_message: str, _type: Any, params: Any, _ctx: Any) -> dict[str, Any]:
        schema = params.requested_schema
        schemas.append(schema)
        props = schema["properties"]
        if "username" in props:
            return {"username": "ada", "email": "ada@example.com"}
        return {k: v["default"] for k, v in props.items() if "default" in v}

    async with legacy_client(
        fixture_server, sampling_handler=sample, elicitation_handler=elicit
    ) as client:
        sampled = await client.call_tool("test_sampling", {"prompt": "hi"})
        assert sampled.content[0].text == "LLM response: echo hi"
        asked = await client.call_tool("test_elicitation", {"message": "who?"})
        assert "action=accept" in asked.content[0].text
        assert "ada@example.com" in asked.content[0].text
        defaults = await client.call_tool("test_elicitation_sep1034_defaults")
        assert "John Doe" in defaults.content[0].text
        await client.call_tool("test_elicitation_sep1330_enums")
    assert schemas[0]["required"] == ["username", "email"]
    assert schemas[1]["properties"]["age"] == {
        "type": "integer",
        "description": "User age",
        "default": 30,
    }
    enums = schemas[2]["properties"]
    assert enums["legacyEnum"]["enumNames"] == ["Option One", "Option Two", "Option Three"]
    assert enums["titledMulti"]["items"]["anyOf"][0] == {"const": "value1", "title": "First Choice"}


async def test_sampling_without_a_client_handler_is_a_tool_error(fixture_server: str) -> None:
    async with legacy_client(fixture_server) as client:
        result = await client.call_tool("test_sampling", {"prompt": "hi"}, raise_on_error=False)
    assert result.is_error
    assert "does not support sampling" in result.content[0].text


async def test_resources_prompts_completion_and_subscriptions(fixture_server: str) -> None:
    async with legacy_client(fixture_server) as client:
        text = (await client.read_resource("test://static-text"))[0]
        assert isinstance(text, mt.TextResourceContents)
        assert text.mime_type == "text/plain"
        binary = (await client.read_resource("test://static-binary"))[0]
        assert isinstance(binary, mt.BlobResourceContents)
        assert binary.mime_type == "image/png"
        assert base64.b64decode(binary.blob) == RED_PIXEL_PNG
        templated = (await client.read_resource("test://template/123/data"))[0]
        assert isinstance(templated, mt.TextResourceContents)
        assert json.loads(templated.text)["id"] == "123"

        simple = await client.get_prompt("test_simple_prompt")
        assert simple.messages[0].content.text == "This is a simple prompt for testing."
        with_args = await client.get_prompt(
            "test_prompt_with_arguments", {"arg1": "hello", "arg2": "world"}
        )
        assert "arg1='hello'" in with_args.messages[0].content.text
        embedded = await client.get_prompt(
            "test_prompt_with_embedded_resource", {"resourceUri": "test://x"}
        )
        assert [m.content.type for m in embedded.messages] == ["resource", "text"]
        image = await client.get_prompt("test_prompt_with_image")
        assert [m.content.type for m in image.messages] == ["image", "text"]

        ref = mt.PromptReference(type="ref/prompt", name="test_prompt_with_arguments")
        completion = await client.complete(ref, {"name": "arg1", "value": "par"})
        assert completion.values == ["paris", "park", "party"]
        other = mt.PromptReference(type="ref/prompt", name="test_simple_prompt")
        assert (await client.complete(other, {"name": "x", "value": ""})).values == []

        session = client.session
        await session.subscribe_resource("test://watched-resource")
        await session.unsubscribe_resource("test://watched-resource")
