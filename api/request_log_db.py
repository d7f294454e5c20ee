"""The request log's database: its tables, engines, writes, retention and the
figures ``GET /stats`` reads.

``request_totals`` keeps each kind's count and first and last time as rows are
written (in the same transaction), so ``/stats`` reads a few rows whatever the
log's size; retention deletes old rows in bounded batches and leaves the totals
alone: they count every request since the log began.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from text_similarity_model.steps.text import without_lone_surrogates

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
#: Per kind ("predict", "related", "review"): requests logged since the log
#: began, the first and the last one's time. Kept by the writers as they insert.
request_totals = sa.Table(
    "request_totals",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("requests", sa.BigInteger, nullable=False),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
)
REVIEW = "review"

#: Seconds a PostgreSQL connection may take to be made, and milliseconds a
#: statement may run: a database that stops answering fails a write (retried
#: later) instead of holding the writer, or a /stats request, for ever.
CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 5_000
#: A connection whose server has vanished (no reset: a host down, a cut
#: network) is found dead by TCP keepalive in ~25 s, and data left unacknowledged
#: for 30 s fails it, instead of waiting on the socket for hours.
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def storable(text: str) -> str:
    """Text as stored: verbatim, except what no database can hold.

    NUL characters (refused by PostgreSQL) and lone surrogates (not encodable
    as UTF-8) become U+FFFD.
    """
    return without_lone_surrogates(text).replace("\x00", "\ufffd")


def create_engine(url: str, sqlite_busy_timeout: float = 10.0) -> sa.Engine:
    """An engine for ``url``; SQLite waits up to ``sqlite_busy_timeout`` seconds
    for another writer's lock (the writer thread waits long, a request briefly)."""
    engine = _create_engine(url, sqlite_busy_timeout)
    # A batch goes in as one multi-row INSERT (SQLAlchemy's "insertmanyvalues",
    # which it uses without RETURNING only when asked): a per-row executemany
    # costs the writer thread a GIL hand-off per row, slowing the requests.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def _create_engine(url: str, sqlite_busy_timeout: float) -> sa.Engine:
    if url.startswith("sqlite"):
        database = sqlite_path(url)
        if database is not None:
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError:  # connecting fails and says why, as a failed write the writer retries
                pass
        # One pooled connection: closing the last connection to a WAL database
        # checkpoints it, which per batch cost about as much as the inserts. A file
        # moved or replaced is still followed by path (RequestLog).
        engine = sa.create_engine(url, connect_args={"timeout": sqlite_busy_timeout}, pool_size=1)

        @sa.event.listens_for(engine, "connect")
        def _concurrent_writers(connection, _record):
            # WAL lets the workers' writer threads and /stats readers overlap.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("postgresql+psycopg"):
        return sa.create_engine(url, pool_pre_ping=True, connect_args=dict(POSTGRES_CONNECT_ARGS))
    return sa.create_engine(url, pool_pre_ping=True)


def create_schema(connection) -> None:
    """Create what is missing; a log from before ``request_totals`` gets its totals counted once."""
    had_totals = sa.inspect(connection).has_table(request_totals.name)
    metadata.create_all(connection, checkfirst=True)
    if had_totals:
        return
    for table, kind in ((prediction_requests, prediction_requests.c.kind), (review_requests, sa.literal(REVIEW))):
        counted = (sa.select(kind, sa.func.count(), sa.func.min(table.c.created_at), sa.func.max(table.c.created_at))
                   .group_by(kind).having(sa.func.count() > 0))
        connection.execute(request_totals.insert().from_select(["kind", "requests", "first_at", "last_at"], counted))


def insert(connection, rows: list[dict]) -> None:
    """Insert ``rows`` (predictions and reviews mixed) and count them in the totals, in ``connection``'s transaction."""
    for table, table_rows in _by_table(rows):
        connection.execute(table.insert(), table_rows)
    for kind, (count, first, last) in _totals_of(rows).items():
        totals = request_totals.c
        later = sa.case((totals.last_at < last, last), else_=totals.last_at)
        updated = connection.execute(request_totals.update().where(totals.kind == kind)
                                     .values(requests=totals.requests + count, last_at=later))
        if updated.rowcount == 0:  # the kind's first row (two writers racing here: one retries, see RequestLog)
            connection.execute(request_totals.insert().values(kind=kind, requests=count, first_at=first, last_at=last))


def delete_older_than(connection, cutoff: datetime, batch: int) -> int:
    """Delete up to ``batch`` rows of each table logged before ``cutoff``; how many were deleted."""
    deleted = 0
    for table in (prediction_requests, review_requests):
        oldest = sa.select(table.c.id).where(table.c.created_at < cutoff).limit(batch)
        deleted += connection.execute(table.delete().where(table.c.id.in_(oldest))).rowcount
    return deleted


def read_stats(connection, window: int) -> dict:
    """The /stats figures: requests by kind since the log began, the first and
    last one's time, latency percentiles of the last ``window`` predictions."""
    if not sa.inspect(connection).has_table(request_totals.name):  # no row written yet
        return {"requests": {"total": 0}, "first_request_at": None, "last_request_at": None}
    totals = {kind: (count, first, last) for kind, count, first, last in connection.execute(sa.select(request_totals))}
    reviews = totals.pop(REVIEW, None)
    table = prediction_requests
    latencies = connection.execute(
        sa.select(table.c.latency_ms).order_by(table.c.id.desc()).limit(window)).scalars().all()
    answer: dict = {"requests": {"total": sum(count for count, _, _ in totals.values()),
                                 **{kind: count for kind, (count, _, _) in totals.items()}}}
    if reviews:
        answer["requests"][REVIEW] = reviews[0]  # not in the total nor the latencies: a batch, not a query
    answer["first_request_at"] = _iso(min((first for _, first, _ in totals.values()), default=None, key=_utc))
    answer["last_request_at"] = _iso(max((last for _, _, last in totals.values()), default=None, key=_utc))
    if latencies:
        p50, p90, p99 = np.percentile(np.asarray(latencies), [50, 90, 99])
        answer["latency_ms"] = {"window": len(latencies), "p50": round(float(p50), 3),
                                "p90": round(float(p90), 3), "p99": round(float(p99), 3),
                                "max": round(float(max(latencies)), 3)}
    return answer


def table_of(row: dict) -> sa.Table:
    return review_requests if "n_submissions" in row else prediction_requests


def _by_table(rows: list[dict]) -> list[tuple[sa.Table, list[dict]]]:
    groups: dict[str, tuple[sa.Table, list[dict]]] = {}
    for row in rows:
        table = table_of(row)
        groups.setdefault(table.name, (table, []))[1].append(row)
    return list(groups.values())


def _totals_of(rows: list[dict]) -> dict[str, tuple[int, datetime, datetime]]:
    totals: dict[str, tuple[int, datetime, datetime]] = {}
    for row in rows:
        kind = row.get("kind", REVIEW)
        count, first, last = totals.get(kind, (0, row["created_at"], row["created_at"]))
        totals[kind] = (count + 1, min(first, row["created_at"]), max(last, row["created_at"]))
    return totals


def sqlite_path(url: str) -> str | None:
    """The file of an ``sqlite:///...`` URL (None for other databases or memory)."""
    if not url.startswith("sqlite"):
        return None
    database = sa.engine.make_url(url).database
    return database if database and database != ":memory:" else None


def file_identity(path: str, create: bool = False) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none.

    ``create`` makes an empty file first when there is none (SQLite takes it as
    a new database), so that the identity is known before a connection creates
    the file. An existing file is never opened here: closing any descriptor of
    a file drops every POSIX lock this process holds on it, SQLite's included,
    and another process would then take a live WAL database for unused and
    delete its -wal and -shm files (writes lost, "disk I/O error").
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if not create:
            return None
        try:
            with open(path, "ab"):
                pass
            status = os.stat(path)
        except OSError:
            return None
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _utc(value) -> datetime:
    """SQLite gives back naive datetimes (stored as UTC), PostgreSQL aware ones."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _utc(value).isoformat().replace("+00:00", "Z")
