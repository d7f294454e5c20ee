"""Faults under a real gunicorn: model reloads, killed workers and trainings,
a vanishing database, graceful shutdown."""

import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import requests

from text_similarity_model import Model

from tests.support.database import logged_rows
from tests.support.servers import launch_gunicorn, load, running_gunicorn

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]

TRAIN = [sys.executable, "-m", "text_similarity_model", "train-file"]


def version_of(server) -> str:
    return requests.get(server.url + "/version", timeout=10).json()["model_version"]


def train(data, model_path, version):
    subprocess.run([*TRAIN, str(data), str(model_path), "--version", version], check=True, capture_output=True)


@pytest.fixture
def model_path(tmp_path, sample_csv):
    path = tmp_path / "model.pkl"
    train(sample_csv, path, "v1")
    return path


def test_reload_switches_models_without_a_failed_request(model_path, tmp_path, sample_csv):
    with running_gunicorn(model_path, tmp_path) as server:
        train(sample_csv, model_path, "v2")  # a new file alone changes nothing...
        assert version_of(server) == "v1"
        with load(server.url, seconds=6) as result:
            time.sleep(1.5)
            server.signal(signal.SIGHUP)  # ...until `make reload` sends this
        assert result["failed"] == 0, result
        assert result["versions"].get("v1", 0) > 0 and result["versions"].get("v2", 0) > 0
        assert version_of(server) == "v2"


def test_reload_refuses_a_model_that_fails_verification(model_path, tmp_path):
    with running_gunicorn(model_path, tmp_path) as server:
        content = bytearray(model_path.read_bytes())
        content[-100] ^= 0xFF  # a flipped byte: the manifest's hash no longer matches
        model_path.write_bytes(bytes(content))
        with load(server.url, seconds=4) as result:
            time.sleep(1)
            server.signal(signal.SIGHUP)
        assert result["failed"] == 0, result
        assert version_of(server) == "v1"
        assert "refused new model" in server.log()


def test_a_killed_worker_is_replaced_under_load(model_path, tmp_path):
    with running_gunicorn(model_path, tmp_path, workers=2) as server:
        with load(server.url, seconds=8) as result:
            time.sleep(2)
            victim = server.worker_pids()[0]
            killed_at = time.monotonic()
            subprocess.run(["kill", "-KILL", str(victim)], check=True)
            while not (len(server.worker_pids()) == 2 and victim not in server.worker_pids()):
                assert time.monotonic() - killed_at < 5, "worker not replaced within 5 s"
                time.sleep(0.05)
            assert requests.get(server.url + "/health", timeout=5).status_code == 200
            recovered = time.monotonic() - killed_at
        assert recovered < 5
        assert result["failed"] <= 0.005 * result["sent"], result


def test_the_database_going_away_fails_no_prediction(model_path, tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    url = f"sqlite:///{folder / 'requests.db'}"
    with running_gunicorn(model_path, tmp_path, database_url=url) as server:
        with load(server.url, seconds=2) as before:
            pass
        folder.rename(tmp_path / "db-away")
        folder.write_text("not a folder")  # the database can't be opened at its path
        with load(server.url, seconds=3) as during:
            pass
        assert during["failed"] == 0 and during["ok"] > 0
        time.sleep(1.5)
        stats = requests.get(server.url + "/stats", timeout=10).json()
        assert "request_log" in stats, (stats, server.log()[-3000:])
        assert stats["request_log"]["failed_writes"] > 0
        assert stats["database"].startswith("unavailable")
        assert "can't write" in server.log()

        folder.unlink()
        (tmp_path / "db-away").rename(folder)  # the database is back
        with load(server.url, seconds=2) as after:
            pass
        time.sleep(1.5)
        assert requests.get(server.url + "/stats", timeout=10).json()["database"] == "ok"
        assert "database is back" in server.log()
    # Nothing lost: the rows held during the outage were written when it ended.
    assert len(logged_rows(url)) == before["ok"] + during["ok"] + after["ok"]


def test_graceful_shutdown_completes_requests_in_flight_and_writes_the_log(model_path, tmp_path):
    server = launch_gunicorn(model_path, tmp_path, workers=2)
    server.wait_healthy()
    with load(server.url, seconds=5, concurrency=6) as result:
        time.sleep(2)
        server.signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    statuses = set(result["statuses"]) - {"200", "error"}
    assert not statuses, result  # no 5xx: a request is answered or never accepted
    assert all("ConnectionError" in error or "Connection refused" in error for error in result["errors"]), result
    assert len(logged_rows(f"sqlite:///{tmp_path / 'requests.db'}")) == result["ok"]


def test_a_training_killed_midway_leaves_the_previous_model_serving(model_path, tmp_path, sample_talks):
    # A corpus big enough that the kill lands during training.
    big = pd.concat([sample_talks.assign(title=sample_talks["title"] + f" ({copy})") for copy in range(60)])
    big_csv = tmp_path / "big.csv"
    big.to_csv(big_csv, index=False)
    before = model_path.read_bytes()
    training = subprocess.Popen([*TRAIN, str(big_csv), str(model_path), "--version", "v-killed"],
                                stderr=subprocess.PIPE, text=True)
    assert "lemmatizing" in training.stderr.read(200)  # it is working on the corpus now
    training.send_signal(signal.SIGKILL)
    training.wait()
    assert model_path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with running_gunicorn(model_path, tmp_path) as server:
        assert version_of(server) == "v1"
        assert requests.post(server.url + "/predict", json={"title": "Python", "description": ""}).status_code == 200
    assert Model.deserialize(model_path).version == "v1"
