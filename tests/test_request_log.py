"""The request log on SQLite and on a real PostgreSQL."""

import json
import re
import shutil
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa

from api import create_app
from api.request_log import RequestLog

from tests.support.database import logged_rows
from tests.support.servers import running_gunicorn
from tests.support.stalled_server import StalledServer
from tests.support.waiting import wait_until

HOSTILE = {
    "title": "<script>alert('x')</script> Robert'); DROP TABLE prediction_requests;--",
    "description": "😀 Привет 日本語 \"aspas\" %s %(x)s ? :param \\ \x00 fim",
}


def test_each_prediction_is_recorded(sample_model_path, database_url):
    app = create_app({"MODEL_PATH": str(sample_model_path), "DATABASE_URL": database_url})
    client = app.test_client()
    answer = client.post("/predict", json={"title": "Kubernetes", "description": "deploy de containers",
                                           "n_results": 4}).get_json()
    related = client.get("/talks/7/related?n_results=2").get_json()
    assert client.post("/predict", json={"title": "", "description": ""}).status_code == 400  # not logged
    app.extensions["palestras"].request_log.close()

    first, second = logged_rows(database_url)
    assert first["kind"] == "predict" and first["title"] == "Kubernetes"
    assert first["description"] == "deploy de containers" and first["n_results"] == 4
    assert first["model_version"] == "sample-test" and first["latency_ms"] > 0
    assert json.loads(first["result_indexes"]) == [p["index"] for p in answer["predictions"]]
    assert first["created_at"].year >= 2026
    assert second["kind"] == "related" and second["talk_index"] == 7
    assert json.loads(second["result_indexes"]) == [p["index"] for p in related["predictions"]]


def test_hostile_text_is_stored_verbatim_through_parameters(sample_model_path, database_url):
    app = create_app({"MODEL_PATH": str(sample_model_path), "DATABASE_URL": database_url})
    response = app.test_client().post("/predict", json=HOSTILE)
    assert response.status_code == 200
    app.extensions["palestras"].request_log.close()
    (row,) = logged_rows(database_url)
    assert row["title"] == HOSTILE["title"]
    # NUL is the one character PostgreSQL can't store: it becomes U+FFFD.
    assert row["description"] == HOSTILE["description"].replace("\x00", "\ufffd")


def test_close_writes_everything_queued(database_url):
    log = RequestLog(database_url)
    for number in range(1500):
        log.record("predict", f"talk {number}", "", 3, "v", 0.5, [number])
    log.close()
    rows = logged_rows(database_url)
    assert [row["title"] for row in rows] == [f"talk {number}" for number in range(1500)]
    assert log.counters.snapshot()["written"] == 1500


def test_an_unavailable_database_fails_no_request_and_logging_resumes(sample_model_path, tmp_path, caplog):
    database = tmp_path / "requests.db"
    app = create_app({"MODEL_PATH": str(sample_model_path), "DATABASE_URL": f"sqlite:///{database}"})
    request_log = app.extensions["palestras"].request_log
    request_log.retry_interval = 0.1
    client = app.test_client()
    query = {"title": "Testes automatizados", "description": "pytest e TDD"}

    database.mkdir()  # a folder where the database file should be: SQLite can't open it
    for _ in range(5):
        assert client.post("/predict", json=query).status_code == 200
    wait_until(lambda: request_log.counters.snapshot()["failed_writes"] > 0)
    stats = client.get("/stats").get_json()
    assert stats["request_log"]["failed_writes"] > 0 and stats["database"].startswith("unavailable")
    assert client.get("/health").get_json()["request_log"].startswith("failing")
    assert "can't write" in caplog.text

    shutil.rmtree(database)  # the database comes back (empty)
    assert client.post("/predict", json=query).status_code == 200
    wait_until(lambda: request_log.counters.snapshot()["written"] == 6)
    request_log.close()
    assert len(logged_rows(f"sqlite:///{database}")) == 6  # the rows held during the outage too
    assert client.get("/stats").get_json()["requests"]["total"] == 6


def test_a_replaced_sqlite_file_is_followed_by_its_path(tmp_path):
    """The log keeps a pooled connection; when its file is deleted or
    replaced (log rotation, a cleanup), rows go to the file now at the path,
    not to the unlinked one."""
    path = tmp_path / "requests.db"
    log = RequestLog(f"sqlite:///{path}")
    assert log._write([_row("before")])
    path.unlink()
    for leftover in tmp_path.glob("requests.db-*"):
        leftover.unlink()
    assert log._write([_row("after")])
    assert [row["title"] for row in logged_rows(f"sqlite:///{path}")] == ["after"]


def test_a_moved_sqlite_folder_is_seen_by_stats_whoever_connected_first(tmp_path):
    """/stats must not answer "ok" from a pooled connection to a file that has
    left its path, even when no write has happened since that connection opened
    (what failed in CI: a worker whose connection outlived its file's move)."""
    folder = tmp_path / "db"
    log = RequestLog(f"sqlite:///{folder / 'requests.db'}")
    assert log.stats()["database"] == "ok"  # a connection to the file is now pooled, nothing written yet
    folder.rename(tmp_path / "db-away")
    folder.write_text("not a folder")
    assert log.stats()["database"].startswith("unavailable")
    assert not log._write([_row("during")])
    folder.unlink()
    (tmp_path / "db-away").rename(folder)
    assert log.stats()["database"] == "ok"
    assert log._write([_row("after")])
    assert [row["title"] for row in logged_rows(f"sqlite:///{folder / 'requests.db'}")] == ["after"]


def _row(title, created_at=None, kind="predict"):
    return {"created_at": created_at or datetime.now(timezone.utc), "kind": kind, "title": title, "description": "",
            "talk_index": None, "n_results": 3, "model_version": "v", "latency_ms": 0.1, "result_indexes": "[]"}


def _review_row(created_at=None):
    return {"created_at": created_at or datetime.now(timezone.utc), "n_submissions": 12, "n_results": 5,
            "model_version": "v", "latency_ms": 80.0}


# -- /stats on a long log, retention --------------------------------------------------------------


def test_stats_costs_as_much_on_a_long_log_as_on_a_short_one(tmp_path):
    """Counted in SQLite's virtual machine instructions (a progress handler, no clock):
    /stats must not read the whole log on each call."""

    def instructions_of_stats(rows: int) -> int:
        log = RequestLog(f"sqlite:///{tmp_path / f'{rows}.db'}")
        for start in range(0, rows, 5_000):
            kinds = ("predict", "predict", "related")
            assert log._write([_row(f"talk {n}", kind=kinds[n % 3]) for n in range(start, min(start + 5_000, rows))]
                              + [_review_row()])
        log.engine().dispose()  # the next connection gets the counter
        steps = []
        sa.event.listen(log.engine(), "connect",
                        lambda connection, _: connection.set_progress_handler(lambda: steps.append(1), 100))
        stats = log.stats(window=100)
        assert stats["requests"]["total"] == rows and stats["requests"]["review"] == -(-rows // 5_000)
        assert stats["latency_ms"]["window"] == 100
        return len(steps) * 100

    short, long = instructions_of_stats(1_000), instructions_of_stats(20_000)
    assert long < 1.5 * short, (short, long)


def test_the_writer_deletes_rows_older_than_request_log_days_in_bounded_batches(database_url, monkeypatch):
    monkeypatch.delenv("REQUEST_LOG_DAYS", raising=False)
    assert RequestLog(database_url).retention_days == 30  # the default (text_similarity_model/settings.py)
    monkeypatch.setenv("REQUEST_LOG_DAYS", "20")
    log = RequestLog(database_url, retention_batch=10)
    assert log.retention_days == 20
    now = datetime.now(timezone.utc)
    assert log._write([_row(f"old {n}", created_at=now - timedelta(days=21, minutes=n)) for n in range(25)]
                      + [_review_row(now - timedelta(days=40)), _row("recent", created_at=now - timedelta(days=19)),
                         _review_row()])
    deletes = []  # (rows deleted, thread) of each DELETE statement

    @sa.event.listens_for(log._writer_db.engine(), "after_cursor_execute")
    def _count_deletes(connection, cursor, statement, *_):
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append((cursor.rowcount, threading.get_ident()))

    log.start()  # the writer: nothing is deleted on the request path
    wait_until(lambda: [row["title"] for row in logged_rows(database_url)] == ["recent"])
    log.close()
    assert max(count for count, _ in deletes) <= 10 and sum(count for count, _ in deletes) == 26
    assert threading.get_ident() not in {thread for _, thread in deletes}
    engine = create_engine_for(database_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM review_requests")).scalar_one() == 1
    engine.dispose()
    stats = log.stats()  # the totals count every request since the log began
    assert stats["requests"] == {"total": 26, "predict": 26, "review": 2}


def test_a_log_from_before_the_totals_is_counted_once(database_url):
    from api.request_log_db import prediction_requests, review_requests

    engine = create_engine_for(database_url)
    first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with engine.begin() as connection:  # the tables as the log had them
        prediction_requests.create(connection)
        review_requests.create(connection)
        connection.execute(prediction_requests.insert(), [_row("a", first), _row("b"), _row("c", kind="related")])
        connection.execute(review_requests.insert(), [_review_row()])
    engine.dispose()
    log = RequestLog(database_url)
    log.record("predict", "d", "", 3, "v", 0.2, [1])
    log.close()
    stats = log.stats()
    assert stats["requests"] == {"total": 4, "predict": 3, "related": 1, "review": 1}
    assert stats["first_request_at"] == "2026-01-02T03:04:05Z"


def create_engine_for(url):
    from api.request_log_db import create_engine

    return create_engine(url)


# -- a database that waits: bounded memory, no request held ----------------------------------------


def test_a_stalled_postgresql_holds_no_request_and_bounded_memory():
    """A server that accepts and never answers (a hung host): the writer waits on
    it, requests only queue rows, and what waits is bounded in bytes."""
    with StalledServer() as stalled:
        log = RequestLog(f"postgresql://palestras@127.0.0.1:{stalled.port}/palestras", retry_interval=0.1,
                         max_pending_bytes=100_000)
        log.record("predict", "first", "", 3, "v", 0.1, [1])
        wait_until(lambda: stalled.accepted)  # the writer is connecting, and gets no answer
        text = "palavra " * 500  # 4 KB, the longest a query's text is
        for number in range(200):
            log.record("predict", text, text, 3, "v", 0.1, [number])
        assert log.pending_bytes <= 100_000
        assert log.counters.snapshot()["dropped_rows"] >= 200 - 100_000 // 8_000
        wait_until(lambda: log.counters.snapshot()["failed_writes"] > 0)  # the connection timed out: retried
        assert log.counters.snapshot()["written"] == 0 and not log.healthy
    log.close()


@pytest.mark.postgres
def test_a_statement_postgresql_leaves_unanswered_fails_the_write_until_it_answers(postgres_url):
    log = RequestLog(postgres_url, retry_interval=0.2)
    assert log._write([_row("before")])  # the tables exist
    blocker = create_engine_for(postgres_url).connect()
    blocker.execute(sa.text("LOCK TABLE prediction_requests IN ACCESS EXCLUSIVE MODE"))  # the insert waits on it
    try:
        log.record("predict", "during", "", 3, "v", 0.1, [1])
        # The statement timeout ends the wait: a failed write, retried (without it: no failure, ever).
        wait_until(lambda: log.counters.snapshot()["failed_writes"] > 0, timeout=60)
    finally:
        blocker.rollback()
        blocker.close()
    wait_until(lambda: log.counters.snapshot()["written"] == 2)
    log.close()
    assert [row["title"] for row in logged_rows(postgres_url)] == ["before", "during"]


@pytest.mark.gunicorn
def test_sqlite_busy_waits_never_hold_a_gevent_workers_other_requests(sample_model_path, tmp_path):
    database = tmp_path / "requests.db"
    url = f"sqlite:///{database}"
    query = {"title": "Testes automatizados", "description": "pytest e TDD"}
    with running_gunicorn(sample_model_path, tmp_path, database_url=url, workers=1) as server:
        assert requests.post(server.url + "/predict", json=query, timeout=10).status_code == 200
        wait_until(lambda: len(logged_rows(url)) == 1)
        holder = sqlite3.connect(database, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database: the log's insert waits for it
        try:
            assert requests.post(server.url + "/predict", json=query, timeout=10).status_code == 200
            # The writer waits for the lock (10 s, then the write fails and is retried); the worker
            # answers meanwhile. (The 5 s timeout only bounds a request that would wait with it.)
            wait_until(lambda: requests.get(server.url + "/health", timeout=5).json()["request_log"] != "ok",
                       timeout=60)
        finally:
            holder.rollback()
            holder.close()
        wait_until(lambda: len(logged_rows(url)) == 2)
        assert requests.get(server.url + "/health", timeout=5).json()["request_log"] == "ok"


# -- what the review page says is kept -----------------------------------------------------------

#: Each column of a review's row, and how the page /revisar names it.
REVIEW_COLUMNS_ON_THE_PAGE = {"created_at": "quando foi feita", "n_submissions": "quantas submissões",
                              "n_results": "quantas palestras por submissão", "model_version": "a versão do modelo",
                              "latency_ms": "o tempo de resposta"}


def test_the_review_page_says_what_the_log_keeps_and_for_how_long(sample_model_path, tmp_path, monkeypatch):
    from api.request_log_db import review_requests

    monkeypatch.setenv("REQUEST_LOG_DAYS", "7")
    url = f"sqlite:///{tmp_path / 'requests.db'}"
    app = create_app({"MODEL_PATH": str(sample_model_path), "DATABASE_URL": url})
    client = app.test_client()
    page = client.get("/revisar").get_data(as_text=True)
    said = " ".join(re.search(r'<p class="dica" id="o-que-fica">(.*?)</p>', page, re.S).group(1).split())
    # A review: its counts, never its text.
    assert set(REVIEW_COLUMNS_ON_THE_PAGE) == {column.name for column in review_requests.columns} - {"id"}
    assert all(phrase in said for phrase in REVIEW_COLUMNS_ON_THE_PAGE.values()) and "nunca o texto" in said
    # A search: its text, for REQUEST_LOG_DAYS days.
    assert "com o título e a descrição pesquisados" in said and "por 7 dias" in said
    assert client.post("/predict", json={"title": "Kubernetes", "description": "containers"}).status_code == 200
    app.extensions["palestras"].request_log.close()
    (row,) = logged_rows(url)
    assert (row["title"], row["description"]) == ("Kubernetes", "containers")
