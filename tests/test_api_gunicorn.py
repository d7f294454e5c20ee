"""The API under a real gunicorn on a free loopback port."""


import pytest
import requests

from text_similarity_model import Model

from tests.support.database import logged_rows
from tests.support.servers import answered, launch_gunicorn, load, running_gunicorn
from tests.support.waiting import wait_until
from tests.support.queries import QUERY

pytestmark = pytest.mark.gunicorn



@pytest.fixture(scope="module")
def server(sample_model_path, tmp_path_factory):
    with running_gunicorn(sample_model_path, tmp_path_factory.mktemp("gunicorn")) as server:
        yield server


def test_json_and_form_requests(server):
    by_json = requests.post(server.url + "/predict", json={**QUERY, "n_results": 4}, timeout=10)
    by_form = requests.post(server.url + "/predict", data={**QUERY, "n_results": 4}, timeout=10)
    assert by_json.status_code == by_form.status_code == 200
    assert by_json.json() == by_form.json()
    assert len(by_json.json()["predictions"]) == 4


def test_the_original_clients_form_request(server):
    """requests.post(url, data={"title": ..., "description": ..., "n_results": 10}), as in the talk."""
    response = requests.post(server.url + "/predict", data={**QUERY, "n_results": 10}, timeout=10)
    predictions = response.json()["predictions"]
    assert len(predictions) == 10
    assert [p["score"] for p in predictions] == sorted((p["score"] for p in predictions), reverse=True)


def test_version_matches_the_artifact(server, sample_model_path):
    body = requests.get(server.url + "/version", timeout=10).json()
    assert body["model_version"] == Model.deserialize(sample_model_path).version
    assert body["data_sha256"] == Model.deserialize(sample_model_path).metadata["data_sha256"]


def test_errors_are_json_and_headers_reveal_nothing(server):
    response = requests.get(server.url + "/nada", timeout=10)
    assert response.status_code == 404 and response.json()["message"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers.get("Server") == "gunicorn"  # no version
    response = requests.post(server.url + "/predict", data=b"x" * 70_000,
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413 and "64 KB" in response.json()["message"]


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_startup_with_a_bad_model_exits_with_one_clear_line(tmp_path, sample_model_path, problem):
    model_path = tmp_path / "model.pkl"
    if problem == "corrupt":
        model_path.write_bytes(sample_model_path.read_bytes()[:5000])
    server = launch_gunicorn(model_path, tmp_path)
    # It exits on its own, before forking a worker: no restart loop. (How fast is
    # not a test's business on a shared machine; it is ~3 s, most of it imports.)
    returncode = server.process.wait(timeout=60)
    assert returncode != 0
    errors = [line for line in server.log().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(model_path) in errors[0] and "make train" in errors[0]
    assert "Booting worker" not in server.log()


def test_request_log_with_two_workers_on_postgresql(sample_model_path, tmp_path, database_url):
    with running_gunicorn(sample_model_path, tmp_path, database_url=database_url, workers=2) as server:
        with load(server.url, seconds=300, concurrency=4, stop_when_done=True) as result:
            wait_until(lambda: answered(server.url) >= 40, timeout=120)
        assert result["failed"] == 0 and result["ok"] >= 40
        stats_before_stop = requests.get(server.url + "/stats", timeout=10).json()
    # SIGTERM: the workers wrote everything they had queued before exiting.
    assert len(logged_rows(database_url)) == result["ok"]
    assert stats_before_stop["database"] == "ok"
