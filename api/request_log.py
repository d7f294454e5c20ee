"""The request log: every answered query, written in the background.

SQLite by default, PostgreSQL (or anything SQLAlchemy Core speaks) through
``DATABASE_URL``; the tables, the writes and the ``/stats`` figures are in
``request_log_db.py``. Requests only put a row on an in-process queue; a writer
thread per worker inserts them in batches, so workers never wait on the
database nor on each other. The writer is a real OS thread, also in a gevent
worker: a database that waits (SQLite's busy wait, a PostgreSQL that stops
answering) holds the writer, never the worker's other requests.

When the database is unavailable or stalls, answers go on, rows wait and are
retried, the failure is logged and counted; what waits is bounded in bytes
(``max_pending_bytes``: past it new rows are dropped, counted) and in rows.
The writer also deletes rows older than ``REQUEST_LOG_DAYS``, a bounded batch
at a time between its writes. ``close()`` (gunicorn's ``worker_exit``, or
interpreter exit) writes what is still queued.
"""

from __future__ import annotations

import _queue
import atexit
import logging
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from text_similarity_model import settings

from . import request_log_db as db
from .metrics import RequestLogCounters
from .request_log_db import create_engine, metadata, prediction_requests, review_requests, storable  # noqa: F401

log = logging.getLogger(__name__)

_STOP = object()

#: Bytes a queued row is counted for beyond its text: the dict, its keys, the
#: datetime and numbers (measured with tracemalloc: ~1 KB on CPython 3.11).
ROW_OVERHEAD_BYTES = 1024


class RequestLog:
    """Queue rows from request handlers; a per-process thread writes them.

    ``counters`` (the app's metrics' :class:`RequestLogCounters`, else a
    registry of its own) count what happens to the rows, over every worker.
    ``retention_days`` (default: ``REQUEST_LOG_DAYS``; 0 keeps every row):
    the writer deletes older rows, ``retention_batch`` rows a table at a time,
    every ``retention_interval`` seconds.
    """

    def __init__(self, url: str, flush_interval: float = 0.2, max_pending: int = 50_000,
                 retry_interval: float = 1.0, counters: RequestLogCounters | None = None,
                 max_pending_bytes: int = 32 * 1024 * 1024, retention_days: float | None = None,
                 retention_interval: float = 3600.0, retention_batch: int = 5_000):
        self.url = url
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.retry_interval = retry_interval
        self.retention_days = float(settings.REQUEST_LOG_DAYS.get()) if retention_days is None else retention_days
        self.retention_interval = retention_interval
        self.retention_batch = retention_batch
        self.counters = counters or RequestLogCounters()
        self._pid = None
        # Real locks (also under gevent), held for no more than a few
        # statements that never yield: a greenlet can't wait on another here.
        self._start_lock = _real("_thread", "allocate_lock")()
        self._bytes_lock = _real("_thread", "allocate_lock")()
        self._pending_bytes = 0
        self._overflowing = False
        # The writer thread writes, requests read (/stats): each its own engine,
        # so that no connection pool is shared between a thread and the greenlets.
        self._writer_db = _Database(url, sqlite_busy_timeout=10.0)
        self._reader_db = _Database(url, sqlite_busy_timeout=0.2)
        self.healthy = True

    # -- producer side (request handlers) ------------------------------------

    def record(self, kind: str, title: str, description: str, n_results: int, model_version: str,
               latency_ms: float, result_indexes: list[int], talk_index: int | None = None) -> None:
        row = {
            "created_at": datetime.now(timezone.utc),
            "kind": kind,
            "title": storable(title),
            "description": storable(description),
            "talk_index": talk_index,
            "n_results": n_results,
            "model_version": model_version,
            "latency_ms": latency_ms,
            "result_indexes": "[" + ", ".join(map(str, result_indexes)) + "]",  # a JSON list of ints
        }
        size = ROW_OVERHEAD_BYTES + sys.getsizeof(row["title"]) + sys.getsizeof(row["description"]) + len(
            row["result_indexes"])
        self._put(row, size)

    def record_review(self, n_submissions: int, n_results: int, model_version: str, latency_ms: float) -> None:
        """A ``POST /review`` call: when, how many submissions, which model, how long; no text."""
        row = {
            "created_at": datetime.now(timezone.utc),
            "n_submissions": n_submissions,
            "n_results": n_results,
            "model_version": model_version,
            "latency_ms": latency_ms,
        }
        self._put(row, ROW_OVERHEAD_BYTES)

    def _put(self, row: dict, size: int) -> None:
        self._ensure_writer()
        with self._bytes_lock:
            refused = self._pending_bytes + size > self.max_pending_bytes
            if not refused:
                self._pending_bytes += size
            first_refused, self._overflowing = refused and not self._overflowing, refused
        if refused:  # the database has not taken rows for a while: memory stays bounded
            self.counters.add("dropped_rows")
            if first_refused:
                log.error("request log: %d bytes of rows wait for the database; dropping new rows until it "
                          "takes them", self.max_pending_bytes)
            return
        self._queue.put((row, size))  # counted as queued by the writer, once per batch: no lock per request

    @property
    def pending_bytes(self) -> int:
        """Bytes of the rows queued or held by the writer, not yet written."""
        return self._pending_bytes

    def start(self) -> None:
        """Start this process's writer now rather than at the first request
        (gunicorn's ``post_worker_init``: see gunicorn.conf.py)."""
        self._ensure_writer()

    def close(self, timeout: float = 15.0) -> None:
        """Write what is queued and stop the writer (idempotent)."""
        if self._pid != os.getpid():
            return
        self._queue.put(_STOP)
        if self._stopped.acquire(timeout=timeout):
            self._stopped.release()
        self._pid = None

    # -- writer thread -------------------------------------------------------

    def _ensure_writer(self) -> None:
        # Threads don't survive fork: each gunicorn worker starts its own.
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            # The C queue, never gevent's: the writer thread blocks on it, the greenlets only put.
            self._queue = _queue.SimpleQueue()
            self._pending_bytes, self._overflowing = 0, False
            self._stopped = _real("_thread", "allocate_lock")()
            self._stopped.acquire()  # released by the writer when it ends
            _start_thread(self._write_forever, "request-log")
            self._pid = os.getpid()
            atexit.register(self.close)

    def _write_forever(self) -> None:
        try:
            self._write_until_stopped(_real("time", "sleep"))
        finally:
            self._stopped.release()

    def _write_until_stopped(self, sleep) -> None:
        pending: list[tuple[dict, int]] = []
        # Rows are written at most once per flush_interval, all that queued
        # up in one transaction: one per request would cost more than the
        # prediction itself, and hold the GIL the requests need.
        next_write = time.monotonic() + self.flush_interval
        next_retention = time.monotonic() + self.flush_interval
        stopping = False
        reported_pending = 0
        while not stopping:
            if pending:
                # Sleep until the next write instead of waking for each row:
                # a thread switch per request costs the requests the GIL.
                sleep(max(next_write - time.monotonic(), 0.0))
                item = None
            else:
                try:
                    item = self._queue.get(timeout=self.flush_interval)
                except _queue.Empty:
                    item = None
            received = len(pending)
            while True:
                if item is _STOP:
                    stopping = True
                    break
                if item is not None:
                    pending.append(item)
                try:
                    item = self._queue.get_nowait()
                except _queue.Empty:
                    break
            if len(pending) > received:
                self.counters.add("queued", len(pending) - received)
            if len(pending) > self.max_pending:
                overflow = len(pending) - self.max_pending
                self._forget(pending[:overflow])
                del pending[:overflow]
                self.counters.add("dropped_rows", overflow)
                log.error("request log: database unavailable too long; dropped %d oldest rows", overflow)
            now = time.monotonic()
            if pending and (stopping or now >= next_write):
                written = self._write([row for row, _ in pending])
                if written:
                    self._forget(pending)
                    pending = []
                # From the attempt's end: a write that waited (a busy SQLite, a stalled server) is not retried at once.
                next_write = time.monotonic() + (self.flush_interval if written else self.retry_interval)
            if len(pending) != reported_pending:  # once per batch at most, like the counters
                reported_pending = len(pending)
                self.counters.set_pending(reported_pending)
            if not stopping and not pending and now >= next_retention:
                # One batch between two writes: a long backlog of old rows delays no write.
                finished = self._retention_step()
                next_retention = now + (self.retention_interval if finished else 0.0)
        if pending:
            self._forget(pending)
            self.counters.add("dropped_rows", len(pending))
            self.counters.set_pending(0)
            log.error("request log: %d rows could not be written before shutdown", len(pending))

    def _forget(self, items: list[tuple[dict, int]]) -> None:
        with self._bytes_lock:
            self._pending_bytes -= sum(size for _, size in items)

    def _write(self, rows: list[dict]) -> bool:
        """Insert ``rows``; True when done (rows refused by the database are counted and dropped)."""
        try:
            with self._writer_db.engine().begin() as connection:
                self._writer_db.ensure_schema(connection)
                db.insert(connection, rows)
        except DBAPIError as error:
            if error.connection_invalidated or isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError)):
                return self._failed(len(rows), error)
            return self._write_one_by_one(rows)
        except SQLAlchemyError as error:
            return self._failed(len(rows), error)
        self.counters.add("written", len(rows))
        if not self.healthy:
            log.warning("request log: database is back; writing again")
        self.healthy = True
        return True

    def _write_one_by_one(self, rows: list[dict]) -> bool:
        # One bad row must not keep the batch out forever: find and drop it.
        for row in rows:
            try:
                with self._writer_db.engine().begin() as connection:
                    self._writer_db.ensure_schema(connection)
                    db.insert(connection, [row])
                self.counters.add("written")
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
                return self._failed(len(rows), error)
            except SQLAlchemyError as error:
                self.counters.add("rejected_rows")
                log.error("request log: row refused by the database (%s)", error.__class__.__name__)
        return True

    def _failed(self, n_rows: int, error: Exception) -> bool:
        self.counters.add("failed_writes")
        self._writer_db.schema_ready = False  # the database may come back empty (a new SQLite file)
        if self.healthy:
            log.error("request log: can't write %d rows (%s); answers go on, retrying",
                      n_rows, str(error).splitlines()[0][:200])
        self.healthy = False
        return False

    # -- retention -----------------------------------------------------------

    def _retention_step(self) -> bool:
        """Delete one batch of rows older than ``retention_days``; True when none is left.
        (The first step, at the writer's start, also makes the schema: /stats reads it.)"""
        cutoff = datetime.now(timezone.utc) - timedelta(days=self.retention_days)
        try:
            with self._writer_db.engine().begin() as connection:
                self._writer_db.ensure_schema(connection)
                if self.retention_days <= 0:
                    return True
                deleted = db.delete_older_than(connection, cutoff, self.retention_batch)
        except SQLAlchemyError as error:  # tried again at the next interval; writes say if the database is down
            log.warning("request log: could not delete old rows (%s)", str(error).splitlines()[0][:200])
            return True
        return deleted < self.retention_batch

    def apply_retention(self) -> int:
        """Delete every row older than ``retention_days`` now, batch after batch; how many.
        (The writer does this by itself; for benchmarks and maintenance.)"""
        cutoff = datetime.now(timezone.utc) - timedelta(days=self.retention_days)
        total = 0
        while self.retention_days > 0:
            with self._writer_db.engine().begin() as connection:
                self._writer_db.ensure_schema(connection)
                deleted = db.delete_older_than(connection, cutoff, self.retention_batch)
            total += deleted
            if deleted < self.retention_batch:
                break
        return total

    # -- reading -------------------------------------------------------------

    def engine(self) -> sa.Engine:
        """The engine requests read with (``/stats``)."""
        return self._reader_db.engine()

    def stats(self, window: int = 10_000) -> dict:
        """Request counts and latency percentiles (of the last ``window`` requests)."""
        answer: dict = {"request_log": self.counters.snapshot()}
        try:
            with self.engine().connect() as connection:
                figures = db.read_stats(connection, window)
        except SQLAlchemyError as error:
            answer["database"] = f"unavailable: {str(error).splitlines()[0][:200]}"
            return answer
        answer["database"] = "ok"
        answer.update(figures)
        return answer


class _Database:
    """One engine per process for ``url``; for SQLite, connected to the file now at the path."""

    def __init__(self, url: str, sqlite_busy_timeout: float):
        self.url, self.sqlite_busy_timeout = url, sqlite_busy_timeout
        self._pid = None
        self._engine = None
        # SQLite: the file's path, and its (device, inode) when last connected.
        self._sqlite_path = db.sqlite_path(url)
        self._sqlite_file = None
        self.schema_ready = False

    def engine(self) -> sa.Engine:
        if self._pid != os.getpid():  # never share connections across fork
            self._engine = create_engine(self.url, self.sqlite_busy_timeout)
            self._pid = os.getpid()
            self.schema_ready = False
            self._sqlite_file = None
        if self._sqlite_path is not None:
            # The pooled connection writes to the file it opened, even after that
            # file is moved, deleted or replaced. Follow the path: the identity is
            # taken *before* connecting, so a file swapped in between is noticed
            # on the next call (one needless reconnect at worst, never a stale one).
            # No lock: two threads racing here at worst both reconnect.
            now_at_path = db.file_identity(self._sqlite_path, create=True)
            if now_at_path != self._sqlite_file:
                self._engine.dispose()
                self.schema_ready = False
                self._sqlite_file = now_at_path
        return self._engine

    def ensure_schema(self, connection) -> None:
        if not self.schema_ready:
            db.create_schema(connection)
            self.schema_ready = True


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))


def _real(module: str, name: str):
    """The standard library's ``module.name``, as it was before gevent patched it (if it did)."""
    if _gevent_patched():
        return sys.modules["gevent.monkey"].get_original(module, name)
    return getattr(sys.modules.get(module) or __import__(module), name)


def _start_thread(target, name: str) -> None:
    """Run ``target`` in a new OS thread. gevent's patched ``threading`` would
    make it a greenlet, which blocks the whole worker whenever it waits in C."""
    if _gevent_patched():
        _real("_thread", "start_new_thread")(target, ())
    else:
        threading.Thread(target=target, name=name, daemon=True).start()
