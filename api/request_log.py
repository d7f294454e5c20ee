"""The request log: every answered query, written in the background.

SQLite by default, PostgreSQL (or anything SQLAlchemy Core speaks) through
``DATABASE_URL``. Requests only put a row on an in-process queue; a writer
thread per worker inserts them in batches, so workers never wait on the
database nor on each other. When the database is unavailable, answers go on,
rows wait (up to ``max_pending``) and are retried, the failure is logged and
counted; ``close()`` (gunicorn's ``worker_exit``, or interpreter exit) writes
what is still queued.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from text_similarity_model.steps.text import without_lone_surrogates

from .metrics import RequestLogCounters

log = logging.getLogger(__name__)

metadata = sa.MetaData()
prediction_requests = sa.Table(
    "prediction_requests",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "predict" or "related"
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("talk_index", sa.Integer, nullable=True),  # the talk asked about, for "related"
    sa.Column("n_results", sa.Integer, nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("result_indexes", sa.Text, nullable=False),  # JSON list of corpus rows
)
#: ``POST /review`` calls. Submissions to a call for papers are unpublished:
#: the log keeps that a review happened, of how many, never their text.
review_requests = sa.Table(
    "review_requests",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("n_submissions", sa.Integer, nullable=False),
    sa.Column("n_results", sa.Integer, nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
)

_STOP = object()


def storable(text: str) -> str:
    """Text as stored: verbatim, except what no database can hold.

    NUL characters (refused by PostgreSQL) and lone surrogates (not encodable
    as UTF-8) become U+FFFD.
    """
    return without_lone_surrogates(text).replace("\x00", "\ufffd")


class RequestLog:
    """Queue rows from request handlers; a per-process thread writes them.

    ``counters`` (the app's metrics' :class:`RequestLogCounters`, else a
    registry of its own) count what happens to the rows, over every worker.
    """

    def __init__(self, url: str, flush_interval: float = 0.2, max_pending: int = 50_000,
                 retry_interval: float = 1.0, counters: RequestLogCounters | None = None):
        self.url = url
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.retry_interval = retry_interval
        self.counters = counters or RequestLogCounters()
        self._pid = None
        self._start_lock = threading.Lock()
        self._engine_pid = None
        self._engine = None
        # SQLite: the file's path, and its (device, inode) when last connected.
        self._sqlite_path = _sqlite_path(url)
        self._sqlite_file = None
        self._schema_ready = False
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
        self._ensure_writer()
        self._queue.put(row)  # counted as queued by the writer, once per batch: no lock per request

    def record_review(self, n_submissions: int, n_results: int, model_version: str, latency_ms: float) -> None:
        """A ``POST /review`` call: when, how many submissions, which model, how long; no text."""
        row = {
            "created_at": datetime.now(timezone.utc),
            "n_submissions": n_submissions,
            "n_results": n_results,
            "model_version": model_version,
            "latency_ms": latency_ms,
        }
        self._ensure_writer()
        self._queue.put(row)

    def start(self) -> None:
        """Start this process's writer now rather than at the first request
        (gunicorn's ``post_worker_init``: see gunicorn.conf.py)."""
        self._ensure_writer()

    def close(self, timeout: float = 15.0) -> None:
        """Write what is queued and stop the writer (idempotent)."""
        if self._pid != os.getpid():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._pid = None

    # -- writer thread -------------------------------------------------------

    def _ensure_writer(self) -> None:
        # Threads don't survive fork: each gunicorn worker starts its own.
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._write_forever, name="request-log", daemon=True)
            self._thread.start()
            self._pid = os.getpid()
            atexit.register(self.close)

    def _write_forever(self) -> None:
        pending: list[dict] = []
        # Rows are written at most once per flush_interval, all that queued
        # up in one transaction: one per request would cost more than the
        # prediction itself, and hold the GIL the requests need.
        next_write = time.monotonic() + self.flush_interval
        stopping = False
        reported_pending = 0
        while not stopping:
            if pending:
                # Sleep until the next write instead of waking for each row:
                # a thread switch per request costs the requests the GIL.
                time.sleep(max(next_write - time.monotonic(), 0.0))
                item = None
            else:
                try:
                    item = self._queue.get(timeout=self.flush_interval)
                except queue.Empty:
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
                except queue.Empty:
                    break
            if len(pending) > received:
                self.counters.add("queued", len(pending) - received)
            if len(pending) > self.max_pending:
                overflow = len(pending) - self.max_pending
                del pending[:overflow]
                self.counters.add("dropped_rows", overflow)
                log.error("request log: database unavailable too long; dropped %d oldest rows", overflow)
            now = time.monotonic()
            if pending and (stopping or now >= next_write):
                written = self._write(pending)
                if written:
                    pending = []
                next_write = now + (self.flush_interval if written else self.retry_interval)
            if len(pending) != reported_pending:  # once per batch at most, like the counters
                reported_pending = len(pending)
                self.counters.set_pending(reported_pending)
        if pending:
            self.counters.add("dropped_rows", len(pending))
            self.counters.set_pending(0)
            log.error("request log: %d rows could not be written before shutdown", len(pending))

    def _write(self, rows: list[dict]) -> bool:
        """Insert ``rows``; True when done (rows refused by the database are counted and dropped)."""
        try:
            with self.engine().begin() as connection:
                self._create_schema(connection)
                for table, table_rows in _by_table(rows):
                    connection.execute(table.insert(), table_rows)
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
                with self.engine().begin() as connection:
                    connection.execute(_table_of(row).insert(), [row])
                self.counters.add("written")
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
                return self._failed(len(rows), error)
            except SQLAlchemyError as error:
                self.counters.add("rejected_rows")
                log.error("request log: row refused by the database (%s)", error.__class__.__name__)
        return True

    def _failed(self, n_rows: int, error: Exception) -> bool:
        self.counters.add("failed_writes")
        self._schema_ready = False  # the database may come back empty (a new SQLite file)
        if self.healthy:
            log.error("request log: can't write %d rows (%s); answers go on, retrying",
                      n_rows, str(error).splitlines()[0][:200])
        self.healthy = False
        return False

    # -- database ------------------------------------------------------------

    def engine(self) -> sa.Engine:
        if self._engine_pid != os.getpid():  # never share connections across fork
            self._engine = create_engine(self.url)
            self._engine_pid = os.getpid()
            self._schema_ready = False
            self._sqlite_file = None
        if self._sqlite_path is not None:
            # The pooled connection writes to the file it opened, even after that
            # file is moved, deleted or replaced. Follow the path: the identity is
            # taken *before* connecting, so a file swapped in between is noticed
            # on the next call (one needless reconnect at worst, never a stale one).
            # No lock: two threads racing here at worst both reconnect.
            now_at_path = _file_identity(self._sqlite_path, create=True)
            if now_at_path != self._sqlite_file:
                self._engine.dispose()
                self._schema_ready = False
                self._sqlite_file = now_at_path
        return self._engine

    def _create_schema(self, connection) -> None:
        if not self._schema_ready:
            metadata.create_all(connection, checkfirst=True)
            self._schema_ready = True

    def stats(self, window: int = 10_000) -> dict:
        """Request counts and latency percentiles (of the last ``window`` requests)."""
        answer: dict = {"request_log": self.counters.snapshot()}
        try:
            with self.engine().connect() as connection:
                self._create_schema(connection)
                connection.commit()
                table = prediction_requests
                by_kind = dict(connection.execute(
                    sa.select(table.c.kind, sa.func.count()).group_by(table.c.kind)).all())
                first, last = connection.execute(
                    sa.select(sa.func.min(table.c.created_at), sa.func.max(table.c.created_at))).one()
                reviews = connection.execute(sa.select(sa.func.count()).select_from(review_requests)).scalar_one()
                latencies = connection.execute(
                    sa.select(table.c.latency_ms).order_by(table.c.id.desc()).limit(window)).scalars().all()
        except SQLAlchemyError as error:
            answer["database"] = f"unavailable: {str(error).splitlines()[0][:200]}"
            return answer
        answer["database"] = "ok"
        answer["requests"] = {"total": sum(by_kind.values()), **by_kind}
        if reviews:
            answer["requests"]["review"] = reviews  # not in the total nor the latencies: a batch, not a query
        answer["first_request_at"] = _iso(first)
        answer["last_request_at"] = _iso(last)
        if latencies:
            p50, p90, p99 = np.percentile(np.asarray(latencies), [50, 90, 99])
            answer["latency_ms"] = {"window": len(latencies), "p50": round(float(p50), 3),
                                    "p90": round(float(p90), 3), "p99": round(float(p99), 3),
                                    "max": round(float(max(latencies)), 3)}
        return answer


def _table_of(row: dict) -> sa.Table:
    return review_requests if "n_submissions" in row else prediction_requests


def _by_table(rows: list[dict]) -> list[tuple[sa.Table, list[dict]]]:
    groups: dict[str, tuple[sa.Table, list[dict]]] = {}
    for row in rows:
        table = _table_of(row)
        groups.setdefault(table.name, (table, []))[1].append(row)
    return list(groups.values())


def create_engine(url: str) -> sa.Engine:
    engine = _create_engine(url)
    # A batch goes in as one multi-row INSERT (SQLAlchemy's "insertmanyvalues",
    # which it uses without RETURNING only when asked): a per-row executemany
    # costs the writer thread a GIL hand-off per row, slowing the requests.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def _create_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        database = _sqlite_path(url)
        if database is not None:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One pooled connection: closing the last connection to a WAL database
        # checkpoints it, which per batch cost about as much as the inserts. A file
        # moved or replaced is still followed by path (RequestLog.engine).
        engine = sa.create_engine(url, connect_args={"timeout": 10}, pool_size=1)

        @sa.event.listens_for(engine, "connect")
        def _concurrent_writers(connection, _record):
            # WAL lets the workers' writer threads and /stats readers overlap.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 3})


def _sqlite_path(url: str) -> str | None:
    """The file of an ``sqlite:///...`` URL (None for other databases or memory)."""
    if not url.startswith("sqlite"):
        return None
    database = sa.engine.make_url(url).database
    return database if database and database != ":memory:" else None


def _file_identity(path: str, create: bool = False) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none.

    ``create`` makes an empty file first (SQLite takes it as a new database),
    so that the identity is known before a connection creates the file.
    """
    try:
        if create:
            with open(path, "ab"):
                pass
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat().replace("+00:00", "Z")
