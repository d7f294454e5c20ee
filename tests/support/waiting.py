"""Waiting on a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
               message: str | Callable[[], str] = "condition not met in time") -> T:
    """Call ``condition`` until it returns something true, and return that; fail
    the test with ``message`` (or what it returns: e.g. a server's log) after
    ``timeout`` seconds. The timeout is only a bound for a test that would
    otherwise hang: generous, never what the test measures."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(interval)
    return result
