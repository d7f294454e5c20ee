"""gunicorn's gevent worker, answering what gunicorn refuses itself as the API does.

A request line over ``limit_request_line``, a malformed header, too many
headers: gunicorn answers those before the app sees the request, with an
HTML page of its own (``gunicorn.util.write_error``, called by
``Worker.handle_error``, which also decides the status, logs the error and
writes the access log line). This worker keeps all of that and writes the
answer as every other of the API: JSON ``{"message": ...}``, saying what to
fix. ``gunicorn.conf.py`` names it as ``worker_class``.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

# What a client does about each status gunicorn answers.
_FIXES = {
    400: "send a well-formed HTTP/1.1 request",
    414: "send fewer or shorter query parameters: GET /openapi.json states their limits",
    431: "send fewer or shorter headers",
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s replacement: the same answer, as JSON."""
    if status_int >= 500:
        message = "internal error; it is logged on the server"
    else:
        what = f"{reason}: {mesg[:200]}" if mesg else reason
        message = f"{what}; {_FIXES.get(status_int, 'the API is described at GET /openapi.json')}"
    body = json.dumps({"message": message}).encode() + b"\n"
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorsGeventWorker(GeventWorker):
    """gunicorn's gevent worker whose own error answers are JSON."""

    def init_process(self):
        # In the worker's process only: the master answers no requests.
        util.write_error = write_json_error
        super().init_process()
