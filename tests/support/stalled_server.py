"""A TCP server on 127.0.0.1 that accepts connections and never answers: what a
database whose host hangs looks like to its clients (no refusal, no reset)."""

from __future__ import annotations

import socket
import threading


class StalledServer:
    """``with StalledServer() as server:`` listens on ``server.port``; each
    connection is accepted, read and left unanswered until the block ends.
    ``server.accepted`` counts them."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="stalled-server", daemon=True)

    def __enter__(self) -> StalledServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone would not)
        except OSError:
            pass
        self._listener.close()
        for connection in self._connections:
            connection.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed: the block has ended
                return
            self._connections.append(connection)
            self.accepted += 1
