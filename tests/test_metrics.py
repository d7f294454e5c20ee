"""GET /metrics: what a monitoring system reads, from the Flask app, from a
real gunicorn (workers and replicas summed), and through a real Prometheus."""

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import LATENCY_BUCKETS
from text_similarity_model import Model

from tests.support.prometheus import running_prometheus
from tests.support.servers import running_gunicorn
from tests.support.queries import QUERY
from tests.support.cli import train_file
from tests.support.waiting import wait_until

BLANK = {"title": " ", "description": ""}


def samples(text: str) -> dict:
    """{(sample name, frozenset of its labels): value} of a /metrics answer."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_by_endpoint_and_status_and_name_the_model(client):
    for _ in range(3):
        assert client.post("/predict", json=QUERY).status_code == 200
    assert client.post("/predict", json=BLANK).status_code == 400
    assert client.get("/talks/2/related").status_code == 200
    assert client.get("/talks/99999").status_code == 404
    assert client.get("/nada").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain" and "version=0.0.4" in response.content_type
    metrics = samples(response.get_data(as_text=True))
    requests_total = "palestras_http_requests_total"
    assert value(metrics, requests_total, endpoint="predict", status="200") == 3
    assert value(metrics, requests_total, endpoint="predict", status="400") == 1
    assert value(metrics, requests_total, endpoint="related", status="200") == 1
    assert value(metrics, requests_total, endpoint="talk", status="404") == 1
    assert value(metrics, requests_total, endpoint="unmatched", status="404") == 1
    # The model ranked only the valid requests; every answered one was timed.
    assert value(metrics, "palestras_prediction_duration_seconds_count", endpoint="predict") == 3
    assert value(metrics, "palestras_prediction_duration_seconds_bucket", endpoint="predict", le="+Inf") == 3
    assert value(metrics, "palestras_http_request_duration_seconds_count", endpoint="predict") == 4
    assert value(metrics, "palestras_prediction_duration_seconds_sum", endpoint="related") > 0
    (info,) = [labels for name, labels in metrics if name == "palestras_model_info"]
    assert dict(info)["version"] == "sample-test"


def test_stats_reads_the_request_log_counters_from_the_metrics(client, app):
    for _ in range(4):
        client.post("/predict", json=QUERY)
    app.extensions["palestras"].request_log.close()  # write what is queued
    counters = client.get("/stats").get_json()["request_log"]
    metrics = samples(client.get("/metrics").get_data(as_text=True))
    assert counters["written"] == value(metrics, "palestras_request_log_written_rows_total") == 4
    assert counters["pending"] == value(metrics, "palestras_request_log_pending_rows") == 0
    assert counters["failed_writes"] == value(metrics, "palestras_request_log_failed_writes_total") == 0


def _predictions(url: str, count: int) -> None:
    for _ in range(count):
        assert requests.post(url + "/predict", json=QUERY, timeout=10).status_code == 200


def _metrics_of(server) -> dict:
    response = requests.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    return samples(response.text)


def _private_metrics_dir_of(server) -> Path:
    """The metrics directory gunicorn.conf.py made for ``server``, as its log says."""
    (match,) = re.findall(r"metrics of the workers in (\S+) \(removed at exit\)", server.log())
    return Path(match)


@pytest.mark.gunicorn
def test_replicas_sharing_a_metrics_directory_report_their_sum_and_leave_it_in_place(sample_model_path, tmp_path):
    shared = tmp_path / "metrics"
    for folder in (shared, tmp_path / "a", tmp_path / "b"):
        folder.mkdir()
    (shared / "kept.txt").write_text("the caller's directory")
    # One worker each: a worker still booting when SIGTERM comes misses it, and
    # gunicorn then waits out its graceful timeout (not this test's subject).
    shared_dir = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    with running_gunicorn(sample_model_path, tmp_path / "a", workers=1, extra_env=shared_dir) as a, \
            running_gunicorn(sample_model_path, tmp_path / "b", workers=1, extra_env=shared_dir) as b:
        _predictions(a.url, 3)
        _predictions(b.url, 4)
        for server in (a, b):  # whichever worker of whichever replica answers
            metrics = _metrics_of(server)
            assert value(metrics, "palestras_http_requests_total", endpoint="predict", status="200") == 7
    assert (shared / "kept.txt").exists() and list(shared.glob("counter_*.db"))


@pytest.mark.gunicorn
def test_a_private_metrics_directory_is_removed_when_gunicorn_stops(sample_model_path, tmp_path):
    # One worker: answering /health, it has booted; a second one still booting
    # would miss SIGTERM, and gunicorn be killed after its graceful timeout.
    with running_gunicorn(sample_model_path, tmp_path, workers=1, extra_env={"PROMETHEUS_MULTIPROC_DIR": ""}) as server:
        _predictions(server.url, 2)
        directory = _private_metrics_dir_of(server)
        assert directory.is_dir() and list(directory.glob("counter_*.db"))
    assert not directory.exists()


def _served_versions(server) -> set[str]:
    return {dict(labels)["version"] for name, labels in _metrics_of(server) if name == "palestras_model_info"}


@pytest.mark.gunicorn
@pytest.mark.slow
def test_the_model_info_follows_a_reload(sample_csv, tmp_path):
    model_path = tmp_path / "model.pkl"
    train_file(sample_csv, model_path, "v1")
    with running_gunicorn(model_path, tmp_path) as server:
        assert _served_versions(server) == {"v1"}
        train_file(sample_csv, model_path, "v2")
        server.signal(1)  # SIGHUP: new workers on v2; the old ones finish and go, with their series
        wait_until(lambda: _served_versions(server) == {"v2"}, timeout=30,
                   message=lambda: f"{_served_versions(server)}\n{server.log()[-3000:]}")
        _predictions(server.url, 2)
        assert _served_versions(server) == {"v2"}


@pytest.mark.gunicorn
@pytest.mark.slow
def test_prometheus_scrapes_the_service_and_answers_promql_with_its_numbers(sample_model_path, tmp_path):
    version = Model.deserialize(sample_model_path).version
    (tmp_path / "gunicorn").mkdir()
    with running_gunicorn(sample_model_path, tmp_path / "gunicorn", workers=2) as server, \
            running_prometheus([server.url.removeprefix("http://")], tmp_path / "prometheus") as prometheus:
        # Concurrent clients, so that both workers answer some: the sums are the service's.
        with ThreadPoolExecutor(4) as clients:
            list(clients.map(lambda _: _predictions(server.url, 1), range(10)))
        for _ in range(3):
            assert requests.post(server.url + "/predict", json=BLANK, timeout=10).status_code == 400
        for index in (1, 2):
            assert requests.get(f"{server.url}/talks/{index}/related", timeout=10).status_code == 200

        prometheus.wait_for('up{job="palestras"}', 1)
        prometheus.wait_for('sum(palestras_http_requests_total{endpoint="predict",status="200"})', 10)
        prometheus.wait_for('sum(palestras_http_requests_total{endpoint="predict",status="400"})', 3)
        prometheus.wait_for('sum(palestras_http_requests_total{endpoint="related",status="200"})', 2)
        prometheus.wait_for('sum(palestras_prediction_duration_seconds_count{endpoint="predict"})', 10)
        prometheus.wait_for(f'palestras_model_info{{version="{version}"}}', 1)
        # Every bucket of the latency histograms, +Inf included.
        prometheus.wait_for('count(palestras_prediction_duration_seconds_bucket{endpoint="predict"})', len(LATENCY_BUCKETS) + 1)
        prometheus.wait_for('sum(palestras_http_request_duration_seconds_bucket{endpoint="predict",le="+Inf"})', 13)
        prometheus.wait_for("sum(palestras_request_log_written_rows_total)", 12)
        prometheus.wait_for("sum(palestras_request_log_pending_rows)", 0)
