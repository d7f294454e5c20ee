"""Slow clients: connections that open a ``POST /predict`` and send its headers
a byte every few seconds, never finishing them (issue #14's attack).

    python tests/support/slow_clients.py PORT [--connections 50] [--interval 2] [--seconds 60]

Holds CONNECTIONS sockets to 127.0.0.1:PORT for SECONDS, each sending one
byte every INTERVAL seconds; a socket the server closes is opened again, so
that CONNECTIONS are always held. Prints one JSON line: {"connections": N,
"opened": N, "closed_by_server": N, "refused": N}. Loopback only, bounded in
time. Tests and benchmarks use :class:`SlowClients` in-process, and
:func:`time_predictions` for the other client whose answers they time.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time

import requests


# Headers that never end: the server waits for the blank line after them.
PARTIAL_REQUEST = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 64\r\nX-Slow: " + b"s" * 100_000)


class SlowClients:
    """``with SlowClients(port, 50):`` holds 50 slow connections while the block runs."""

    def __init__(self, port: int, connections: int = 50, interval: float = 2.0, seconds: float = 300.0):
        self.port, self.connections, self.interval, self.seconds = port, connections, interval, seconds
        self.opened = self.closed_by_server = self.refused = 0
        self._sockets: list[tuple[socket.socket, int]] = []  # each with how many bytes it sent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)

    def __enter__(self) -> SlowClients:
        self._sockets = [self._open() for _ in range(self.connections)]
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        for sock, _ in self._sockets:
            if sock is not None:
                sock.close()

    def summary(self) -> dict:
        return {"connections": self.connections, "opened": self.opened,
                "closed_by_server": self.closed_by_server, "refused": self.refused}

    def _open(self) -> tuple[socket.socket | None, int]:
        """A new connection that has sent its first byte (None if it was refused)."""
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(PARTIAL_REQUEST[:1])
        except OSError:
            self.refused += 1
            return None, 0
        self.opened += 1
        return sock, 1

    def _trickle(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self._stop.wait(self.interval) and time.monotonic() < deadline:
            for number, (sock, sent) in enumerate(self._sockets):
                if sock is not None:
                    try:
                        sock.sendall(PARTIAL_REQUEST[sent:sent + 1])
                        self._sockets[number] = (sock, sent + 1)
                        continue
                    except OSError:  # the server gave up on it
                        self.closed_by_server += 1
                        sock.close()
                self._sockets[number] = self._open()


# Its own copy of tests/support/queries.py's: this file also runs as a script.
QUERY = {"title": "Deploy de modelos de machine learning", "description": "API REST com Flask e scikit-learn",
         "n_results": 5}


def time_predictions(url: str, seconds: float | None = None, timeout: float = 10.0, count: int | None = None,
                     stop_at_failure: bool = False) -> dict:
    """``POST /predict`` one after another for ``seconds`` (or ``count`` times, or until one fails),
    each on a new connection (as a new visitor's: the server must accept it),
    ``timeout`` seconds at most. Returns {"requests": N, "failures": N (not
    200, or no answer in time), "p50_ms", "p99_ms", "max_ms"} of the answered ones."""
    if not url.startswith("http://127."):
        raise ValueError("time_predictions only targets loopback")
    latencies, failures = [], 0
    deadline = time.monotonic() + seconds if seconds is not None else float("inf")
    while time.monotonic() < deadline and (count is None or len(latencies) + failures < count):
        started = time.perf_counter()
        try:
            ok = requests.post(url + "/predict", json=QUERY, timeout=timeout).status_code == 200
        except requests.RequestException:
            ok = False
        if ok:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            failures += 1
            if stop_at_failure:
                break
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99 or [float("nan")] * 99
    return {"requests": len(latencies) + failures, "failures": failures, "p50_ms": cuts[49], "p99_ms": cuts[98],
            "max_ms": max(latencies, default=float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between two bytes of a connection")
    parser.add_argument("--seconds", type=float, default=60.0)
    arguments = parser.parse_args()
    with SlowClients(arguments.port, arguments.connections, arguments.interval, arguments.seconds) as clients:
        time.sleep(arguments.seconds)
    print(json.dumps(clients.summary()))


if __name__ == "__main__":
    main()
