"""The request log on SQLite and on a real PostgreSQL."""

import json
import shutil
import time

from api import create_app
from api.request_log import RequestLog

from tests.support.database import logged_rows

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
    _wait_for(lambda: request_log.counters.snapshot()["failed_writes"] > 0)
    stats = client.get("/stats").get_json()
    assert stats["request_log"]["failed_writes"] > 0 and stats["database"].startswith("unavailable")
    assert client.get("/health").get_json()["request_log"].startswith("failing")
    assert "can't write" in caplog.text

    shutil.rmtree(database)  # the database comes back (empty)
    assert client.post("/predict", json=query).status_code == 200
    _wait_for(lambda: request_log.counters.snapshot()["written"] == 6)
    request_log.close()
    assert len(logged_rows(f"sqlite:///{database}")) == 6  # the rows held during the outage too
    assert client.get("/stats").get_json()["requests"]["total"] == 6


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


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


def _row(title):
    from datetime import datetime, timezone

    return {"created_at": datetime.now(timezone.utc), "kind": "predict", "title": title, "description": "",
            "talk_index": None, "n_results": 3, "model_version": "v", "latency_ms": 0.1, "result_indexes": "[]"}
