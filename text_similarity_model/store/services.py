"""The running services that serve a model store, told to follow it.

A service (``make run``'s gunicorn, each replica of ``make run-prod``) loads
the store's current version again on ``SIGHUP``, with no failed request. The
commands that change the current version signal every service whose pid
file they are given (paths or glob patterns); a service no pid file reaches
(on another host) sees the change by itself within ``STORE_POLL_SECONDS``
(``ModelHolder.watch_store``).
"""

from __future__ import annotations

import glob
import os
import signal
from pathlib import Path


def reload_services(pidfiles: list[str]) -> list[int]:
    """``SIGHUP`` to each running service whose pid one of ``pidfiles`` holds
    (a glob matches several); returns the pids signalled. All at once: each
    replica keeps its old workers serving until the new ones are up, so no
    replica stops answering. A pid file whose process is gone is passed over."""
    signalled = []
    for path in sorted({match for pattern in pidfiles for match in (glob.glob(pattern) or [pattern])}):
        try:
            pid = int(Path(path).read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            continue
        signalled.append(pid)
    return signalled
