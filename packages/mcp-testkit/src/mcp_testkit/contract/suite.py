"""``ContractSuite``: the behaviour every MCP server owes its clients, as inheritable tests.

A team subclasses it in a test module and describes its server with class attributes
(``target`` and the probes); pytest then runs every check over stdio and both HTTP eras::

    class TestMyServer(ContractSuite):
        target = ServerTarget(http_command=[...], stdio_command=[...], env={...})
        expected_tools = {"search"}
        read_only_tools = {"search"}
        pagination = [PaginationProbe("search", {"query": "a"})]

Checks that need something the target does not have (stdio, auth, a rate limit, a paginated
tool) are not run at all: that is a property of the target, not of the machine the tests run
on, so :mod:`mcp_testkit.contract.selection` deselects them at collection time using
:meth:`ContractSuite.not_applicable` (a skip would hide a real skip among them). The suite
therefore reads the target's *shape* (HTTP, stdio, ``auth_required``) from the class's
``target``; an ``mcp_target`` fixture may add run-time details but must keep that shape.
The target's processes are shared by the whole class.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import AsyncExitStack
from typing import Any, ClassVar, Final, NoReturn, TypeVar

import pytest
import pytest_asyncio
from fastmcp import Client
from hypothesis import HealthCheck, given, settings

from mcp_testkit.clients import ERA_OF, HTTP_TRANSPORTS, LiveTarget, TransportName, start_target
from mcp_testkit.contract import probes as p
from mcp_testkit.contract.fuzz import http_bodies, stdio_lines
from mcp_testkit.servers import ServerFactory, ServerTarget
from mcp_testkit.wire import McpHttp, RawStdio

__all__ = ["TRANSPORT_PARAMS", "ContractSuite"]

ProbeT = TypeVar("ProbeT", p.PaginationProbe, p.ContinuationProbe)
UNKNOWN_TOOL = "mcp-testkit-no-such-tool"
FORGED_TOKEN = "not-a-valid-token"  # noqa: S105 - a token every server must reject
TRANSPORT_PARAMS: Final[tuple[str, ...]] = ("mcp_transport", "raw_http")
"""The parametrized fixtures whose value names the transport a check item runs over."""
STDIO_CHECKS: Final[frozenset[str]] = frozenset(
    {"test_stdio_stdout_purity", "test_stdio_garbage_lines"}
)


def _required_string_tool(tools: Sequence[Any]) -> Any | None:
    """A tool with a required argument, to send it bad arguments."""
    for tool in tools:
        schema = tool.input_schema or {}
        if schema.get("required"):
            return tool
    return None


def _assert_jsonrpc_lines(lines: Sequence[bytes]) -> None:
    """Every stdout line of a stdio server must be one JSON-RPC message."""
    for number, line in enumerate(lines, 1):
        try:
            message = json.loads(line)
        except ValueError:
            raise AssertionError(f"stdout line {number} is not JSON: {line[:200]!r}") from None
        messages = message if isinstance(message, list) else [message]
        for item in messages:
            ok = isinstance(item, dict) and item.get("jsonrpc") == "2.0"
            assert ok, f"stdout line {number} is not a JSON-RPC message: {line[:200]!r}"


def _for_transport(probes: Sequence[ProbeT], transport: str | None) -> list[ProbeT]:
    return [x for x in probes if x.transports is None or transport in x.transports]


def _offers(target: ServerTarget, transport: str) -> bool:
    return target.has_stdio if transport == "stdio" else target.has_http


def _shape(target: ServerTarget) -> dict[str, bool]:
    """What decides which checks apply (see :meth:`ContractSuite.not_applicable`)."""
    return {
        "serves HTTP": target.has_http,
        "has stdio_command": target.has_stdio,
        "auth_required": target.auth_required,
    }


def _not_applicable(reason: str) -> NoReturn:
    """A check ran on a target it does not apply to: fail, because passing would be vacuous.

    Collection deselects such checks, so this only happens when a check method is called
    by hand or the plugin's selection hook is disabled.
    """
    pytest.fail(
        f"this contract check does not apply: {reason} (the suite deselects such checks "
        "at collection time; is mcp_testkit.contract.selection disabled?)",
        pytrace=False,
    )


def _assert_usable(raw: RawStdio) -> None:
    assert raw.is_running(), f"the stdio server exited with {raw.proc.poll()}"
    answer = raw.request("tools/list", {})
    assert "result" in answer, f"tools/list after bad input failed: {answer}"


class ClientPool:
    """Clients opened on first use and closed together at the end of the class."""

    def __init__(self, live: LiveTarget, stack: AsyncExitStack) -> None:
        self._live = live
        self._stack = stack
        self._clients: dict[str, Client[Any]] = {}

    async def get(self, transport: TransportName) -> Client[Any]:
        if transport not in self._clients:
            client = await self._stack.enter_async_context(self._live.client(transport))
            self._clients[transport] = client
        return self._clients[transport]


class ContractSuite:
    """Inherit, set ``target`` and the probes, and pytest runs the MCP contract checks."""

    target: ClassVar[ServerTarget] = ServerTarget()
    expected_tools: ClassVar[Collection[str]] = ()
    read_only_tools: ClassVar[Collection[str]] = ()
    pagination: ClassVar[Sequence[p.PaginationProbe]] = ()
    continuation: ClassVar[Sequence[p.ContinuationProbe]] = ()
    rate_limit: ClassVar[p.RateLimitProbe | None] = None
    fuzz_examples: ClassVar[int] = 50

    # --- which checks apply (read at collection time) --------------------------------

    @classmethod
    def not_applicable(cls, check: str, transport: str | None = None) -> str | None:
        """Why ``check`` (a test method name) over ``transport`` does not apply, else None.

        Decided from the class attributes alone (``target``'s shape and the probes), because
        collection happens before any fixture runs. Applies to a subclass's own tests too:
        one parametrized with a transport the target lacks is not applicable. Override and
        call ``super()`` to give checks of your own a condition.
        """
        target = cls.target
        if transport is not None and not _offers(target, transport):
            return f"the target offers no {transport} transport"
        if check == "test_pagination" and not _for_transport(cls.pagination, transport):
            return f"the target declares no paginated tool for {transport}"
        if check == "test_continuation" and not _for_transport(cls.continuation, transport):
            return f"the target declares no size-limited tool for {transport}"
        if check == "test_auth_challenge" and not target.auth_required:
            return "the target has no auth (ServerTarget.auth_required=False)"
        if check == "test_rate_limit_answer":
            if cls.rate_limit is None:
                return "the target configures no rate limit probe (`rate_limit` is None)"
            if not target.has_http:
                return "the target serves no HTTP"
        if check in STDIO_CHECKS and not target.has_stdio:
            return "the target has no stdio_command"
        return None

    # --- fixtures: one target per class ---------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def mcp_target(cls) -> ServerTarget:
        """The class's ``target``; override this fixture when the target is built at run time.

        An override adds run-time details (``cls.target.with_env(...)``, a fresh token) but
        keeps the shape of ``target``: the checks were chosen from it at collection time.
        """
        return cls.target

    @pytest.fixture(scope="class")
    @classmethod
    def mcp_live(
        cls, mcp_target: ServerTarget, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[LiveTarget]:
        declared, actual = _shape(cls.target), _shape(mcp_target)
        if declared != actual:
            differs = ", ".join(
                f"{key}: {declared[key]} in `target`, {actual[key]} from mcp_target"
                for key in declared
                if declared[key] != actual[key]
            )
            pytest.fail(
                f"{cls.__name__}: the mcp_target fixture changes the target's shape ({differs}); "
                "the checks were chosen from the class's `target` at collection time, so give "
                "`target` the same HTTP/stdio/auth_required and add run-time details in the "
                "fixture",
                pytrace=False,
            )
        with ServerFactory(tmp_path_factory.mktemp("contract-logs")) as servers:
            yield start_target(mcp_target, servers)

    @pytest_asyncio.fixture(scope="class", loop_scope="class")
    @classmethod
    async def contract_clients(cls, mcp_live: LiveTarget) -> AsyncIterator[ClientPool]:
        """One connected client per transport for the whole class (a stdio spawn is ~1 s)."""
        async with AsyncExitStack() as stack:
            yield ClientPool(mcp_live, stack)

    @pytest_asyncio.fixture(loop_scope="class")
    @classmethod
    async def mcp_client(
        cls, contract_clients: ClientPool, mcp_transport: TransportName
    ) -> Client[Any]:
        return await contract_clients.get(mcp_transport)

    @pytest.fixture(scope="class")
    @classmethod
    def raw_stdio(cls, mcp_live: LiveTarget) -> Iterator[RawStdio]:
        """One initialized raw stdio session shared by the stdio checks of the class."""
        if mcp_live.stdio is None:
            _not_applicable("the target has no stdio_command")
        with mcp_live.raw_stdio() as raw:
            assert "result" in raw.initialize(), "initialize failed over stdio"
            yield raw

    @pytest.fixture(params=HTTP_TRANSPORTS)
    @classmethod
    def raw_http(cls, request: pytest.FixtureRequest, mcp_live: LiveTarget) -> Iterator[McpHttp]:
        if not mcp_live.target.has_http:
            _not_applicable("the target serves no HTTP")
        with mcp_live.raw_http(ERA_OF[request.param]) as http:
            yield http

    # --- tools and errors (every transport) -----------------------------------------

    @pytest.mark.asyncio(loop_scope="class")
    async def test_tools_listed(self, mcp_client: Client[Any]) -> None:
        tools = {tool.name: tool for tool in await mcp_client.list_tools()}
        assert tools, "the server lists no tools"
        missing = set(self.expected_tools) - tools.keys()
        assert not missing, f"tools missing from tools/list: {sorted(missing)}"
        for tool in tools.values():
            assert (tool.input_schema or {}).get("type") == "object", (
                f"{tool.name}: inputSchema must be an object schema"
            )
        for name in self.read_only_tools:
            annotations = tools[name].annotations
            hint = annotations.read_only_hint if annotations is not None else None
            assert hint is True, f"{name}: readOnlyHint must be true, is {hint!r}"

    @pytest.mark.asyncio(loop_scope="class")
    async def test_error_shapes(self, mcp_client: Client[Any]) -> None:
        await p.call_expecting_error(mcp_client, UNKNOWN_TOOL, {})
        tool = _required_string_tool(await mcp_client.list_tools())
        if tool is not None:
            await p.call_expecting_error(mcp_client, tool.name, {})
            wrong = {key: {"not": ["a", "valid", "value"]} for key in tool.input_schema["required"]}
            await p.call_expecting_error(mcp_client, tool.name, wrong)
        # The session survives all of that.
        assert await mcp_client.list_tools()

    @pytest.mark.asyncio(loop_scope="class")
    async def test_pagination(self, mcp_client: Client[Any], mcp_transport: TransportName) -> None:
        probes = _for_transport(self.pagination, mcp_transport)
        if not probes:
            _not_applicable(f"the target declares no paginated tool for {mcp_transport}")
        for probe in probes:
            small = await p.collect_pages(mcp_client, probe, probe.small_page)
            duplicates = {item for item in small if small.count(item) > 1}
            assert not duplicates, f"{probe.tool}: items on more than one page: {duplicates}"
            assert len(small) > probe.small_page, (
                f"{probe.tool}: the probe's arguments give one page only; choose broader ones"
            )
            if probe.page_arg:
                large = await p.collect_pages(mcp_client, probe, probe.large_page)
                assert small == large, f"{probe.tool}: small pages differ from large pages"
            bad = {**probe.arguments, probe.cursor_arg: "not-a-cursor"}
            await p.call_expecting_error(mcp_client, probe.tool, bad)
            if probe.tamper_evident:
                sized = {probe.page_arg: probe.small_page} if probe.page_arg else {}
                first = await mcp_client.call_tool(probe.tool, {**probe.arguments, **sized})
                cursor = p.first_page_cursor(first, probe)
                assert cursor, f"{probe.tool}: the first page has no cursor to tamper with"
                await p.call_expecting_error(
                    mcp_client, probe.tool, {**probe.arguments, probe.cursor_arg: p.tamper(cursor)}
                )

    @pytest.mark.asyncio(loop_scope="class")
    async def test_continuation(
        self, mcp_client: Client[Any], mcp_transport: TransportName
    ) -> None:
        probes = _for_transport(self.continuation, mcp_transport)
        if not probes:
            _not_applicable(f"the target declares no size-limited tool for {mcp_transport}")
        for probe in probes:
            parts = await p.collect_continuation(mcp_client, probe)
            assert len(parts) >= probe.min_parts, (
                f"{probe.tool}: {len(parts)} part(s), expected at least {probe.min_parts}"
            )
            if probe.expected_text is not None:
                assert "".join(parts) == probe.expected_text, (
                    f"{probe.tool}: the reassembled text differs from the original"
                )

    # --- HTTP answers (both eras, raw) ------------------------------------------------

    def test_auth_challenge(self, mcp_live: LiveTarget, raw_http: McpHttp) -> None:
        if not mcp_live.target.auth_required:
            _not_applicable("the target has no auth (ServerTarget.auth_required=False)")
        with McpHttp(raw_http.mcp_url, era=raw_http.era) as anonymous:
            answer = anonymous.list_tools()
            assert answer.status == 401, f"no token: expected 401, got {answer}"
            challenge = answer.headers.get("www-authenticate", "")
            assert challenge.lower().startswith("bearer "), f"bad challenge: {challenge!r}"
            assert "resource_metadata=" in challenge, f"no resource_metadata: {challenge!r}"
            metadata_url = challenge.split("resource_metadata=", 1)[1].split('"')[1]
            metadata = anonymous.get(metadata_url)
            assert metadata.status_code == 200, f"GET {metadata_url}: {metadata.status_code}"
            assert "resource" in metadata.json(), f"RFC 9728 metadata: {metadata.text}"
        with McpHttp(raw_http.mcp_url, era=raw_http.era, token=FORGED_TOKEN) as forged:
            answer = forged.list_tools()
            assert answer.status == 401, f"bad token: expected 401, got {answer}"
            assert "invalid_token" in answer.headers.get("www-authenticate", "")
        if mcp_live.target.token is not None:
            answer = raw_http.list_tools()
            assert answer.status == 200, f"with token: {answer}"
            assert answer.result is not None, f"with token: {answer}"

    def test_rate_limit_answer(
        self, mcp_live: LiveTarget, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        probe = self.rate_limit
        if probe is None:
            _not_applicable("the target configures no rate limit probe (`rate_limit` is None)")
        target = mcp_live.target
        if not target.has_http:
            _not_applicable("the target serves no HTTP")
        with ServerFactory(tmp_path_factory.mktemp("rate-limit-logs")) as servers:
            live = mcp_live
            if target.url is None:
                live = start_target(target.with_env(**probe.env), servers)
            for era in ERA_OF.values():
                with live.raw_http(era) as http:
                    answers = []
                    for _ in range(probe.max_calls):
                        answers.append(http.call_tool(probe.tool, probe.arguments))
                        if answers[-1].status == 429:
                            break
                    limited = answers[-1]
                    assert limited.status == 429, (
                        f"{era}: no 429 after {len(answers)} calls: {limited}"
                    )
                    retry_after = limited.headers.get("retry-after", "")
                    assert retry_after.isdigit(), f"{era}: Retry-After is {retry_after!r}"
                    body = limited.body
                    is_rpc = isinstance(body, dict) and body.get("jsonrpc") == "2.0"
                    assert is_rpc, f"{era}: 429 body is not JSON-RPC: {limited.response.text!r}"
                    error = limited.error or {}
                    assert isinstance(error.get("code"), int), f"{era}: no error code: {body}"
                    assert isinstance(error.get("message"), str), f"{era}: no message: {body}"

    def test_http_fuzz(self, raw_http: McpHttp) -> None:
        @settings(
            max_examples=self.fuzz_examples,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(body=http_bodies())
        def never_a_5xx(body: bytes) -> None:
            response = raw_http.post(body, headers=raw_http.routing_headers(_routing_view(body)))
            assert response.status_code < 500, (
                f"{raw_http.era}: {response.status_code} for body {body[:300]!r}: "
                f"{response.text[:300]!r}"
            )

        never_a_5xx()
        answer = raw_http.list_tools()
        assert answer.status == 200, f"after fuzzing: {answer}"
        assert answer.result is not None, f"after fuzzing: {answer}"

    # --- stdio ----------------------------------------------------------------------

    def test_stdio_stdout_purity(self, raw_stdio: RawStdio) -> None:
        """Every byte on stdout is protocol: calls that log, fail or get garbage included."""
        tools = raw_stdio.request("tools/list", {})["result"]["tools"]
        for tool in tools:
            if not tool.get("inputSchema", {}).get("required"):
                raw_stdio.request("tools/call", {"name": tool["name"], "arguments": {}})
        raw_stdio.request("tools/call", {"name": UNKNOWN_TOOL, "arguments": {}})
        raw_stdio.send(b"this is not JSON")
        _assert_usable(raw_stdio)
        _assert_jsonrpc_lines(raw_stdio.lines)

    def test_stdio_garbage_lines(self, raw_stdio: RawStdio) -> None:
        @settings(
            max_examples=self.fuzz_examples,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(line=stdio_lines())
        def survives(line: bytes) -> None:
            raw_stdio.send(line)
            _assert_usable(raw_stdio)

        survives()
        _assert_jsonrpc_lines(raw_stdio.lines)


def _routing_view(body: bytes) -> dict[str, Any]:
    """What the modern routing headers are derived from: the body's method and dict params.

    Fuzzed bodies are often not a JSON object, or carry non-object ``params``; those give
    headers from what is there (or none) instead of breaking the check's own client.
    """
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    params = value.get("params")
    view = {"method": value.get("method")}
    return {**view, "params": params} if isinstance(params, dict) else view
