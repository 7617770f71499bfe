"""Pure-ASGI middleware in front of FastMCP's streamable-HTTP app, one concern per module.

Order (outermost first): observe (request id, access log, metrics) → Host/Origin guard →
body limit + JSON-RPC parse → authentication/scopes → rate limit → FastMCP.
Each passes non-HTTP scopes and paths outside the MCP endpoint straight through.
"""
