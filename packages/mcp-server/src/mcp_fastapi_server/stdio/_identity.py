"""Who calls over stdio: whoever started the process, as ``local:<OS user>``."""

from __future__ import annotations

import getpass

__all__ = ["local_subject"]


def local_subject() -> str:
    """``local:<OS user>``, the subject stdio calls are limited and logged under."""
    try:
        return f"local:{getpass.getuser()}"
    except (OSError, KeyError):  # no passwd entry / no USER in a bare container
        return "local:unknown"
