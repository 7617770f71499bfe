"""Request id and traceparent validation: what a caller may choose, and what it may not."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_fastapi_server.core import (
    new_request_id,
    parse_request_id,
    parse_traceparent,
)

VALID_TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "value", ["abc", "A.b_c:d-1", "x" * 128, b"0f1e2d", "req-2026-11-25T10:00:00"]
)
def test_accepts_safe_ids(value: str | bytes) -> None:
    expected = value.decode() if isinstance(value, bytes) else value
    assert parse_request_id(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "x" * 129, "has space", "new\nline", '{"json":1}', "ümlaut", "a/b", "tab\t", None],
)
def test_rejects_unsafe_ids(value: str | None) -> None:
    assert parse_request_id(value) is None


@given(st.binary(max_size=200))
def test_parse_request_id_never_crashes_and_only_returns_safe_ids(raw: bytes) -> None:
    got = parse_request_id(raw)
    if got is not None:
        assert re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", got)
        assert got.encode() == raw


def test_new_ids_are_unique_hex() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert all(parse_request_id(i) == i for i in ids)


def test_traceparent_valid() -> None:
    assert parse_traceparent(VALID_TP) == VALID_TP
    assert parse_traceparent(VALID_TP.encode()) == VALID_TP
    future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
    assert parse_traceparent(future) == future


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        VALID_TP.upper(),  # must be lowercase hex
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        VALID_TP + "-extra",  # version 00 has exactly four fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        None,
    ],
)
def test_traceparent_invalid(value: str | None) -> None:
    assert parse_traceparent(value) is None
