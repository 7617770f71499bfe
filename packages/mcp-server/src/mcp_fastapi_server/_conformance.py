"""Fixtures of the official MCP conformance suite, for ``MCP_CONFORMANCE=true`` only.

The server suite (npm ``@modelcontextprotocol/conformance``) checks a server through tools,
resources and prompts with exact names and behaviour (the SDK "everything server"
contract). :func:`register_fixtures` adds exactly those to the runtime's FastMCP instance,
so the suite exercises the same stack as production: the same ``build_runtime``, the same
ASGI chain (Host/Origin guard, body limit, auth, rate limit, access log) and the same
FastMCP middleware. They never enter the curated
:class:`~mcp_fastapi_server.ToolRegistry`,
and ``mcp-server serve`` refuses ``MCP_CONFORMANCE=true`` on a non-loopback bind.

Written by hand because no library ships these fixtures for Python: the reference server
is a TypeScript example in the suite's repository, not part of any package.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import wave
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as mt
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.prompts import Message
from fastmcp.tools import Tool, ToolResult

__all__ = ["FIXTURE_PROMPTS", "FIXTURE_RESOURCES", "FIXTURE_TOOLS", "register_fixtures"]

# A 1x1 red PNG: the smallest valid image the image/mixed/prompt scenarios accept.
RED_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
_PNG_B64 = base64.b64encode(RED_PIXEL_PNG).decode("ascii")
_STEP_DELAY_S = 0.05  # the suite asks for ~50 ms between log/progress notifications


def _silent_wav() -> bytes:
    """A valid 8 kHz mono WAV of 10 ms silence (``audio/wav`` must be real audio bytes)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)
    return buffer.getvalue()


_WAV_B64 = base64.b64encode(_silent_wav()).decode("ascii")


def _text(text: str) -> mt.TextContent:
    return mt.TextContent(type="text", text=text)


def _image() -> mt.ImageContent:
    return mt.ImageContent(type="image", data=_PNG_B64, mime_type="image/png")


def _embedded_text(uri: str, text: str, mime_type: str = "text/plain") -> mt.EmbeddedResource:
    return mt.EmbeddedResource(
        type="resource",
        resource=mt.TextResourceContents(uri=uri, mime_type=mime_type, text=text),
    )


def _result(*content: mt.ContentBlock) -> ToolResult:
    # No structured content: the suite compares the content blocks only.
    return ToolResult(content=list(content))


# --- tools --------------------------------------------------------------------------------


async def test_simple_text() -> ToolResult:
    """Return one text item (scenario tools-call-simple-text)."""
    return _result(_text("This is a simple text response for testing."))


async def test_image_content() -> ToolResult:
    """Return a base64 PNG image (scenario tools-call-image)."""
    return _result(_image())


async def test_audio_content() -> ToolResult:
    """Return base64 WAV audio (scenario tools-call-audio)."""
    return _result(mt.AudioContent(type="audio", data=_WAV_B64, mime_type="audio/wav"))


async def test_embedded_resource() -> ToolResult:
    """Return an embedded text resource (scenario tools-call-embedded-resource)."""
    return _result(
        _embedded_text("test://embedded-resource", "This is an embedded resource content.")
    )


async def test_multiple_content_types() -> ToolResult:
    """Return text, image and an embedded resource (scenario tools-call-mixed-content)."""
    payload = json.dumps({"test": "data", "value": 123}, separators=(",", ":"))
    return _result(
        _text("Multiple content types test:"),
        _image(),
        _embedded_text("test://mixed-content-resource", payload, "application/json"),
    )


async def test_tool_with_logging(ctx: Context) -> ToolResult:
    """Send three info log notifications ~50 ms apart (scenario tools-call-with-logging)."""
    await ctx.info("Tool execution started")
    await asyncio.sleep(_STEP_DELAY_S)
    await ctx.info("Tool processing data")
    await asyncio.sleep(_STEP_DELAY_S)
    await ctx.info("Tool execution completed")
    return _result(_text("Tool with logging executed successfully"))


async def test_error_handling() -> ToolResult:
    """Always fail with an isError result (scenario tools-call-error)."""
    # ToolError text passes through mask_error_details; any other exception would be masked.
    raise ToolError("This tool intentionally returns an error for testing")


async def test_tool_with_progress(ctx: Context) -> ToolResult:
    """Report progress 0, 50, 100 of 100 (scenario tools-call-with-progress)."""
    for step, progress in enumerate((0, 50, 100)):
        if step:
            await asyncio.sleep(_STEP_DELAY_S)
        await ctx.report_progress(progress, 100)
    return _result(_text("Tool with progress executed successfully"))


def _require_capability(ctx: Context, capability: mt.ClientCapabilities, name: str) -> None:
    if not ctx.session.check_client_capability(capability):
        raise ToolError(f"the client does not support {name}")


async def test_sampling(prompt: str, ctx: Context) -> ToolResult:
    """Ask the client's LLM through sampling/createMessage (scenario tools-call-sampling)."""
    _require_capability(ctx, mt.ClientCapabilities(sampling=mt.SamplingCapability()), "sampling")
    # FastMCP 4.2's Context has no sampling helper; the SDK session call is the public way.
    result = await ctx.session.create_message(
        messages=[mt.SamplingMessage(role="user", content=_text(prompt))],
        max_tokens=100,
        related_request_id=ctx.request_id,
    )
    content = result.content
    text = content.text if isinstance(content, mt.TextContent) else str(content)
    return _result(_text(f"LLM response: {text}"))


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> mt.ElicitResult:
    # ctx.elicit() builds the schema from Python types; these scenarios need raw JSON
    # Schema (defaults, oneOf, enumNames), so the SDK session call is used directly.
    _require_capability(
        ctx, mt.ClientCapabilities(elicitation=mt.ElicitationCapability()), "elicitation"
    )
    return await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)


async def test_elicitation(message: str, ctx: Context) -> ToolResult:
    """Ask the user for username and email (scenario tools-call-elicitation)."""
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    answer = await _elicit(ctx, message, schema)
    return _result(_text(f"User response: action={answer.action}, content={answer.content}"))


async def test_elicitation_sep1034_defaults(ctx: Context) -> ToolResult:
    """Elicit with a default for every primitive type (scenario elicitation-sep1034-defaults)."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verified", "default": True},
        },
        "required": [],
    }
    answer = await _elicit(ctx, "Please review and update the form fields with defaults", schema)
    return _result(
        _text(f"Elicitation completed: action={answer.action}, content={answer.content}")
    )


async def test_elicitation_sep1330_enums(ctx: Context) -> ToolResult:
    """Elicit with all five enum shapes of SEP-1330 (scenario elicitation-sep1330-enums)."""
    options = ["option1", "option2", "option3"]
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": options},
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"},
                ],
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": options}},
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"},
                    ]
                },
            },
        },
        "required": [],
    }
    answer = await _elicit(ctx, "Please select options from the enum fields", schema)
    return _result(
        _text(f"Elicitation completed: action={answer.action}, content={answer.content}")
    )


async def test_reconnection(ctx: Context) -> ToolResult:
    """Close the POST SSE stream mid-call, then answer (pending scenario server-sse-polling)."""
    await asyncio.sleep(_STEP_DELAY_S)
    await ctx.close_sse_stream()  # a no-op without an event store: the answer stays on POST
    await asyncio.sleep(_STEP_DELAY_S)
    return _result(_text("Reconnection test completed successfully"))


async def json_schema_2020_12_tool(
    name: str | None = None, address: dict[str, Any] | None = None
) -> ToolResult:
    """Tool with JSON Schema 2020-12 features (pending scenario json-schema-2020-12)."""
    return _result(_text(f"Received name={name!r}, address={address!r}"))


# The suite checks that these keywords survive in tools/list (SEP-1613); the function's
# arguments stay validated by its signature.
_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}

FIXTURE_TOOLS: tuple[Callable[..., Awaitable[ToolResult]], ...] = (
    test_simple_text,
    test_image_content,
    test_audio_content,
    test_embedded_resource,
    test_multiple_content_types,
    test_tool_with_logging,
    test_error_handling,
    test_tool_with_progress,
    test_sampling,
    test_elicitation,
    test_elicitation_sep1034_defaults,
    test_elicitation_sep1330_enums,
    test_reconnection,
    json_schema_2020_12_tool,
)


def _fixture_tool(fn: Callable[..., Awaitable[ToolResult]]) -> Tool:
    # output_schema=None: the fixtures answer with content blocks, like the reference server.
    tool = Tool.from_function(fn, output_schema=None, tags={"conformance"})
    if fn is json_schema_2020_12_tool:
        tool = tool.model_copy(update={"parameters": _SCHEMA_2020_12})
    return tool


# --- resources, prompts, completion, subscriptions ----------------------------------------

FIXTURE_RESOURCES = (
    "test://static-text",
    "test://static-binary",
    "test://watched-resource",
    "test://template/{id}/data",
)
FIXTURE_PROMPTS = (
    "test_simple_prompt",
    "test_prompt_with_arguments",
    "test_prompt_with_embedded_resource",
    "test_prompt_with_image",
)
_COMPLETIONS = ("paris", "park", "party", "test_value_1", "test_value_2")


def _register_resources(mcp: FastMCP[Any]) -> None:
    @mcp.resource(
        "test://static-text",
        name="static-text",
        description="A static text resource for testing",
        mime_type="text/plain",
    )
    def static_text() -> str:
        return "This is the content of the static text resource."

    @mcp.resource(
        "test://static-binary",
        name="static-binary",
        description="A static binary resource (PNG) for testing",
        mime_type="image/png",
    )
    def static_binary() -> bytes:
        return RED_PIXEL_PNG

    @mcp.resource(
        "test://watched-resource",
        name="watched-resource",
        description="A resource clients may subscribe to",
        mime_type="text/plain",
    )
    def watched_resource() -> str:
        return "Watched resource content"

    @mcp.resource(
        "test://template/{id}/data",
        name="template-data",
        description="A resource template with an id parameter",
        mime_type="application/json",
    )
    def template_data(id: str) -> str:  # the URI template names it `id`
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


def _register_prompts(mcp: FastMCP[Any]) -> None:
    @mcp.prompt(name="test_simple_prompt", description="A simple prompt without arguments")
    def simple_prompt() -> str:
        return "This is a simple prompt for testing."

    @mcp.prompt(name="test_prompt_with_arguments", description="A prompt with two arguments")
    def prompt_with_arguments(arg1: str, arg2: str) -> str:
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"

    @mcp.prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt that embeds the resource it is given",
    )
    def prompt_with_embedded_resource(resourceUri: str) -> list[Message]:  # the suite names it so
        return [
            Message(_embedded_text(resourceUri, "Embedded resource content for testing.")),
            Message("Please process the embedded resource above."),
        ]

    @mcp.prompt(name="test_prompt_with_image", description="A prompt with an image")
    def prompt_with_image() -> list[Message]:
        return [Message(_image()), Message("Please analyze the image above.")]


def _complete(
    ref: mt.PromptReference | mt.ResourceTemplateReference,
    argument: mt.CompletionArgument,
    _context: mt.CompletionContext | None,
) -> list[str]:
    """Suggestions for ``test_prompt_with_arguments`` arguments that start with the input."""
    if not isinstance(ref, mt.PromptReference) or ref.name != "test_prompt_with_arguments":
        return []
    return [value for value in _COMPLETIONS if value.startswith(argument.value)]


def _register_subscriptions(mcp: FastMCP[Any]) -> None:
    """Accept resources/subscribe and /unsubscribe (scenarios resources-(un)subscribe).

    FastMCP 4.2 has no public subscription API, so the SDK's low-level server (a private
    attribute of FastMCP) gets the two handlers; registering them is also what makes the
    server advertise ``resources.subscribe: true``. Nothing is ever pushed: the fixture
    resources never change.
    """
    subscribed: set[str] = set()

    async def subscribe(_ctx: Any, params: mt.SubscribeRequestParams) -> mt.EmptyResult:
        subscribed.add(str(params.uri))
        return mt.EmptyResult()

    async def unsubscribe(_ctx: Any, params: mt.UnsubscribeRequestParams) -> mt.EmptyResult:
        subscribed.discard(str(params.uri))
        return mt.EmptyResult()

    lowlevel = mcp._mcp_server
    lowlevel.add_request_handler("resources/subscribe", mt.SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", mt.UnsubscribeRequestParams, unsubscribe)


def register_fixtures(mcp: FastMCP[Any]) -> None:
    """Add every fixture tool, resource, prompt, completion and subscription handler."""
    for fn in FIXTURE_TOOLS:
        mcp.add_tool(_fixture_tool(fn))
    _register_resources(mcp)
    _register_prompts(mcp)
    mcp.add_completion_handler(_complete)
    _register_subscriptions(mcp)
