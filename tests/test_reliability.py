"""Faults under a real gunicorn: model reloads, killed workers and trainings,
a vanishing database, graceful shutdown."""

import signal
import subprocess

import pandas as pd
import pytest
import requests

from text_similarity_model import Model

from tests.support.database import logged_rows
from tests.support.servers import answered, launch_gunicorn, load, running_gunicorn, served_version
from tests.support.waiting import wait_until
from tests.support.cli import CLI, train_file

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]

@pytest.fixture
def model_path(tmp_path, sample_csv):
    path = tmp_path / "model.pkl"
    train_file(sample_csv, path, "v1")
    return path


def answered_more(server, count: int = 30) -> None:
    """Until the load has had ``count`` more predictions answered (the load runs meanwhile)."""
    target = answered(server.url) + count
    wait_until(lambda: answered(server.url) >= target, timeout=60, message=lambda: server.log()[-3000:])


def test_reload_switches_models_without_a_failed_request(model_path, tmp_path, sample_csv):
    with running_gunicorn(model_path, tmp_path) as server:
        train_file(sample_csv, model_path, "v2")  # a new file alone changes nothing...
        assert served_version(server.url) == "v1"
        with load(server.url, seconds=300, stop_when_done=True) as result:
            answered_more(server)
            old_workers = set(server.worker_pids())
            server.signal(signal.SIGHUP)  # ...until `make reload` sends this
            wait_until(lambda: served_version(server.url) == "v2", timeout=60)
            # A gevent worker told to go still accepts for up to a second (its loop's tick), on v1.
            wait_until(lambda: not old_workers & set(server.worker_pids()), timeout=60,
                       message=lambda: f"old workers {old_workers} still running:\n{server.log()[-3000:]}")
            answered_more(server)
        assert result["failed"] == 0, result
        assert result["versions"].get("v1", 0) > 0 and result["versions"].get("v2", 0) > 0
        assert served_version(server.url) == "v2"


def test_reload_refuses_a_model_that_fails_verification(model_path, tmp_path):
    with running_gunicorn(model_path, tmp_path) as server:
        content = bytearray(model_path.read_bytes())
        content[-100] ^= 0xFF  # a flipped byte: the manifest's hash no longer matches
        model_path.write_bytes(bytes(content))
        with load(server.url, seconds=300, stop_when_done=True) as result:
            answered_more(server)
            server.signal(signal.SIGHUP)
            wait_until(lambda: "refused new model" in server.log(), timeout=60)
            answered_more(server)
        assert result["failed"] == 0, result
        assert served_version(server.url) == "v1"
        assert "refused new model" in server.log()


def test_a_killed_worker_is_replaced_under_load(model_path, tmp_path):
    with running_gunicorn(model_path, tmp_path, workers=2) as server:
        with load(server.url, seconds=300, stop_when_done=True) as result:
            answered_more(server)
            victim = server.worker_pids()[0]
            subprocess.run(["kill", "-KILL", str(victim)], check=True)
            wait_until(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids(), timeout=60,
                       message=lambda: f"worker {victim} not replaced:\n{server.log()[-3000:]}")
            assert requests.get(server.url + "/health", timeout=5).status_code == 200
            answered_more(server)  # by both workers again
        # Only requests the killed worker was answering can fail: at most the load's 4 in flight.
        # (How fast gunicorn replaces a worker is gunicorn's business: not measured here.)
        assert result["failed"] <= 4 and set(result["statuses"]) <= {"200", "error"}, result


def test_the_database_going_away_fails_no_prediction(model_path, tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    url = f"sqlite:///{folder / 'requests.db'}"

    def stats():
        return requests.get(server.url + "/stats", timeout=10).json()

    with running_gunicorn(model_path, tmp_path, database_url=url) as server:
        with load(server.url, seconds=2) as before:
            pass
        folder.rename(tmp_path / "db-away")
        folder.write_text("not a folder")  # the database can't be opened at its path
        with load(server.url, seconds=3) as during:
            pass
        assert during["failed"] == 0 and during["ok"] > 0
        wait_until(lambda: stats()["request_log"]["failed_writes"] > 0, message=lambda: server.log()[-3000:])
        assert stats()["database"].startswith("unavailable")
        assert "can't write" in server.log()

        folder.unlink()
        (tmp_path / "db-away").rename(folder)  # the database is back
        with load(server.url, seconds=2) as after:
            pass
        wait_until(lambda: "database is back" in server.log() and stats()["database"] == "ok",
                   message=lambda: server.log()[-3000:])
    # Nothing lost: the rows held during the outage were written when it ended.
    assert len(logged_rows(url)) == before["ok"] + during["ok"] + after["ok"]


def test_graceful_shutdown_completes_requests_in_flight_and_writes_the_log(model_path, tmp_path):
    server = launch_gunicorn(model_path, tmp_path, workers=2)
    server.wait_healthy()
    with load(server.url, seconds=300, concurrency=6, stop_when_done=True, mark=True) as result:
        answered_more(server)
        server.signal(signal.SIGTERM)
        # Leaving the block stops the load: its requests in flight are answered or refused.
        # (A load kept up until the end can keep a gevent worker serving past SIGTERM, each
        # response closing its connection and the next one accepted again: seen once in ~10 runs.)
    assert server.process.wait(timeout=60) == 0
    statuses = set(result["statuses"]) - {"200", "error"}
    assert not statuses, result  # no 5xx: a request is answered or never accepted
    assert set(result["error_kinds"]) <= {"refused", "reset"}, result  # no timeout either
    logged = {row["title"] for row in logged_rows(f"sqlite:///{tmp_path / 'requests.db'}")}
    assert len(logged) == result["ok"]  # every answered request, and only those, was logged
    # A reset is a failure when the service had the request: it would be in the log (a prediction is
    # logged before it is answered). The resets allowed are of requests no worker read: connections
    # still in the listening socket's queue when the last worker closed it (gunicorn's workers share
    # one socket), which the client can't tell from a refusal until it has sent its request.
    assert not logged & set(result["reset_titles"]), result


def test_a_training_killed_midway_leaves_the_previous_model_serving(model_path, tmp_path, sample_talks):
    # A corpus big enough that the kill lands during training.
    big = pd.concat([sample_talks.assign(title=sample_talks["title"] + f" ({copy})") for copy in range(60)])
    big_csv = tmp_path / "big.csv"
    big.to_csv(big_csv, index=False)
    before = model_path.read_bytes()
    training = subprocess.Popen([*CLI, "train-file", str(big_csv), str(model_path), "--version", "v-killed"],
                                stderr=subprocess.PIPE, text=True)
    assert "lemmatizing" in training.stderr.read(200)  # it is working on the corpus now
    training.send_signal(signal.SIGKILL)
    training.wait()
    assert model_path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with running_gunicorn(model_path, tmp_path) as server:
        assert served_version(server.url) == "v1"
        assert requests.post(server.url + "/predict", json={"title": "Python", "description": ""}).status_code == 200
    assert Model.deserialize(model_path).version == "v1"
