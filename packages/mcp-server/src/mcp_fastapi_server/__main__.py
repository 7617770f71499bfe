"""``python -m mcp_fastapi_server ...`` is the ``mcp-server`` command."""

from __future__ import annotations

import sys

from mcp_fastapi_server._cli import main

sys.exit(main())
