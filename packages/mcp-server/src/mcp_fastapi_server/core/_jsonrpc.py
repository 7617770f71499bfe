"""JSON-RPC error codes: the standard ones and the server-defined ones this toolkit answers.

Both transports use the same codes: over HTTP they travel in the body of a 4xx/5xx answer
(see :mod:`mcp_fastapi_server.http`), over stdio in a plain JSON-RPC error.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "FORBIDDEN",
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
    "UNAUTHORIZED",
    "UNAVAILABLE",
]

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
HEADER_MISMATCH: Final = -32020
# Our own server-defined codes (JSON-RPC reserves -32000..-32099 for servers).
UNAUTHORIZED: Final = -32001
FORBIDDEN: Final = -32003
RATE_LIMITED: Final = -32029
PAYLOAD_TOO_LARGE: Final = -32013
UNAVAILABLE: Final = -32050
