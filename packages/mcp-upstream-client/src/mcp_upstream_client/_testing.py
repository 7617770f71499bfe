"""Test mode (in the style of hynek/stamina): no real backoff sleeps in test suites."""

from __future__ import annotations

__all__ = ["is_testing", "set_testing"]

_TESTING = False


def set_testing(on: bool = True) -> None:
    """Turn test mode on or off: reconnect backoff delays become zero.

    Breaker timing is not touched here; tests drive it with an injected clock
    (``UpstreamManager(clock=...)``) so open → half-open needs no sleep either.
    """
    global _TESTING
    _TESTING = on


def is_testing() -> bool:
    """Whether :func:`set_testing` turned test mode on."""
    return _TESTING
