"""The production stack (`make run-prod`, deploy/stack.py): real nginx in front of
real gunicorn replicas under supervisord, the request log on PostgreSQL when
PALESTRAS_TEST_DATABASE_URL is set, all on loopback."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from api import MAX_BODY_BYTES
from text_similarity_model.settings import REPO_ROOT, SAMPLE_CSV

from tests.support.database import logged_rows
from tests.support.require import skip_or_fail
from tests.support.load_client import error_kind
from tests.support.servers import NGINX, alive, answered, launch_stack, load, process_tree
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.gunicorn, pytest.mark.nginx, pytest.mark.slow]

CLI = [sys.executable, "-m", "text_similarity_model"]
QUERY = {"title": "Deploy de modelos de machine learning", "description": "API REST com Flask", "n_results": 3}


@pytest.fixture(scope="module")
def nginx():
    if not shutil.which(NGINX):
        skip_or_fail(f"nginx not installed ({NGINX}): apt install nginx", "PALESTRAS_REQUIRE_NGINX")


@pytest.fixture(scope="module")
def database_url(tmp_path_factory):
    """The PostgreSQL .ci/run starts, else SQLite; the tests tell their rows apart by title."""
    return os.environ.get("PALESTRAS_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'requests.db'}"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A model store whose current version is v1 (the sample corpus)."""
    folder = tmp_path_factory.mktemp("store") / "models"
    subprocess.run([*CLI, "update", str(SAMPLE_CSV), "--models-dir", str(folder), "--version", "v1",
                    "--pidfile", str(folder / "none.pid")], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def stack(nginx, models_dir, database_url, tmp_path_factory):
    """Two replicas; a rate limit no test's load reaches (one client address is all the tests have)."""
    server = launch_stack(tmp_path_factory.mktemp("stack"), models_dir, database_url,
                          extra_env={"RATE_LIMIT": "10000", "RATE_BURST": "10000", "WORKERS": "2"})
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture(scope="module")
def tls_stack(nginx, models_dir, database_url, certificate, tmp_path_factory):
    """HTTPS with a self-signed certificate, and a rate limit a burst exceeds: 5 a second, bursts of 5."""
    cert, key = certificate
    server = launch_stack(tmp_path_factory.mktemp("tls-stack"), models_dir, database_url, extra_env={
        "TLS_CERT": str(cert), "TLS_KEY": str(key), "RATE_LIMIT": "5", "RATE_BURST": "5", "WORKERS": "1"})
    try:
        server.wait_healthy(verify=str(cert))
        yield server
    finally:
        server.stop()


def versions(stack) -> list[str]:
    return [requests.get(url + "/version", timeout=10).json()["model_version"] for url in stack.replica_urls]


def wait_for_versions(stack, expected: str, timeout: float = 60) -> list[str]:
    """Every replica's version once all serve ``expected``, or when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while set(served := versions(stack)) != {expected} and time.monotonic() < deadline:
        time.sleep(0.2)
    return served


def test_predictions_answer_through_nginx(stack):
    response = requests.post(stack.url + "/predict", json=QUERY, timeout=10)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3
    assert response.headers["Server"] == "nginx"
    related = requests.get(stack.url + "/talks/0/related", timeout=10)
    assert related.status_code == 200, related.text


def test_json_and_the_page_are_gzipped_when_asked(stack):
    answer = requests.post(stack.url + "/predict", json={**QUERY, "n_results": 10}, stream=True, timeout=10,
                           headers={"Accept-Encoding": "gzip"})
    assert answer.headers["Content-Encoding"] == "gzip"
    assert b'"predictions"' in gzip.decompress(answer.raw.read())
    page = requests.get(stack.url + "/", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "gzip"
    plain = requests.get(stack.url + "/openapi.json", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers and plain.json()["openapi"].startswith("3.")


def test_static_files_come_from_nginx(stack):
    css = REPO_ROOT / "api" / "static" / "palestras.css"
    response = requests.get(stack.url + "/static/palestras.css", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert response.status_code == 200 and response.content == css.read_bytes()
    assert response.headers["Content-Type"] == "text/css"
    # nginx's ETag is the file's mtime and size in hex (Flask's is a hash): no replica was asked.
    assert response.headers["ETag"] == f'"{int(css.stat().st_mtime):x}-{css.stat().st_size:x}"'
    assert response.headers["Cache-Control"] == "max-age=3600"


def test_a_body_over_the_api_limit_is_refused_by_nginx_in_the_apis_words(stack):
    def by_replicas(status: str) -> int:  # /predict requests the replicas answered with ``status``
        return sum(answered(url, "predict", status) for url in stack.replica_urls)

    refused, bad = by_replicas("413"), by_replicas("400")
    over = requests.post(stack.url + "/predict", data=b"x" * (MAX_BODY_BYTES + 1), timeout=10,
                         headers={"Content-Type": "application/json"})
    assert over.status_code == 413
    assert over.json()["message"] == "request body over 64 KB; send a shorter title and description"
    at_limit = requests.post(stack.url + "/predict", data=b" " * MAX_BODY_BYTES, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert at_limit.status_code == 400  # read by nginx and passed on: the API says what's wrong with it
    # nginx answered the 413 itself (the API's answer would be the same): no replica counted it, while
    # the body at the limit reached one (counted once, or by each replica when they share their metrics).
    assert by_replicas("413") == refused and by_replicas("400") > bad


def test_a_call_s_review_passes_nginx_up_to_its_own_limit(stack):
    from api.review import MAX_REVIEW_BODY_BYTES

    # 200 submissions: a body well past /predict's 64 KB, within /review's limit.
    submissions = [{"id": f"S{i}", "title": f"Palestra {i} sobre Python", "description": "texto " * 120} for i in range(200)]
    answer = requests.post(stack.url + "/review?n_results=1", json=submissions, timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["summary"]["submissions"] == 200
    over = requests.post(stack.url + "/review", data=b"x" * (MAX_REVIEW_BODY_BYTES + 1), timeout=60,
                         headers={"Content-Type": "application/json"})
    assert over.status_code == 413
    assert "text_similarity_model review" in over.json()["message"]


def test_300_slow_connections_leave_predictions_answering(stack):
    host, port = stack.url.removeprefix("http://").split(":")
    slow = []

    def still_open(connection) -> bool:  # neither answered nor closed by nginx
        try:
            connection.recv(1, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        return False

    try:
        for _ in range(300):
            connection = socket.create_connection((host, int(port)), timeout=5)
            connection.settimeout(None)  # blocking: a recv with MSG_DONTWAIT then says at once whether data came
            connection.sendall(b"P")
            slow.append(connection)
        request = b"OST /predict HTTP/1.1\r\nHost: x\r\n"
        with load(stack.url, seconds=6, concurrency=4) as result:
            for byte in range(3):  # a byte every 2 s on each, as a slow client sends its headers
                time.sleep(2)
                for connection in slow:
                    connection.sendall(request[byte:byte + 1])
                if byte == 0:  # the load runs now: nginx holds every slow connection meanwhile
                    assert sum(map(still_open, slow)) == 300
        assert result["failed"] == 0 and result["ok"] > 0, result
    finally:
        for connection in slow:
            connection.close()


def test_a_model_switch_reaches_every_replica_with_no_failed_request(stack, models_dir):
    assert versions(stack) == ["v1", "v1"]
    # The commands find the stack's replicas by PROD_DIR, as `make train` and `make update` do.
    env = {**os.environ, "PROD_DIR": str(stack.prod_dir), "PIDFILE": str(stack.prod_dir / "no-such.pid")}
    with load(stack.url, seconds=300, concurrency=4, stop_when_done=True) as result:
        time.sleep(1)
        updated = subprocess.run([*CLI, "update", str(SAMPLE_CSV), "--models-dir", str(models_dir), "--version", "v2",
                                  "--force"], env=env, capture_output=True, text=True)
        assert updated.returncode == 0, updated.stdout + updated.stderr
        assert updated.stdout.count("reloading the service") == 2, updated.stdout
        assert wait_for_versions(stack, "v2") == ["v2", "v2"]
        # Back to v1 with nothing signalled, then `make reload` switches every replica.
        rolled = subprocess.run([*CLI, "models", "rollback", "--models-dir", str(models_dir),
                                 "--pidfile", str(stack.prod_dir / "no-such.pid")], capture_output=True, text=True)
        assert rolled.returncode == 0, rolled.stderr
        assert versions(stack) == ["v2", "v2"]
        reload = subprocess.run(["make", "--no-print-directory", "reload", f"PROD_DIR={stack.prod_dir}",
                                 f"PIDFILE={stack.prod_dir / 'no-such.pid'}"], cwd=REPO_ROOT, capture_output=True, text=True,
                                env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")})
        assert reload.returncode == 0, reload.stdout + reload.stderr
        assert wait_for_versions(stack, "v1") == ["v1", "v1"]
        time.sleep(1)
    assert result["failed"] == 0, result
    assert result["versions"].get("v1", 0) > 0 and result["versions"].get("v2", 0) > 0, result


def test_a_killed_replica_is_routed_around_and_restarted(stack):
    victim = stack.replica_pid(1)
    with load(stack.url, seconds=8, concurrency=4) as result:
        time.sleep(2)
        os.killpg(victim, signal.SIGKILL)  # its master and workers at once, as the OOM killer or a crash would
        # supervisord starts it again, and nginx sends it requests once it answers.
        deadline = time.monotonic() + 60
        while not (stack.replica_pidfiles()[0].is_file() and stack.replica_pid(1) != victim):
            assert time.monotonic() < deadline, "replica 1 not restarted within 60 s:\n" + stack.log()[-3000:]
            time.sleep(0.2)
    # nginx retries on the other replica every request the dead one hadn't begun to answer. One
    # whose answer was already streaming to the client can't be retried: at most the 4 in flight.
    assert result["failed"] <= 4 and set(result["statuses"]) <= {"200", "error"}, result
    stack.wait_healthy()


def test_tls_with_a_given_certificate(tls_stack, certificate):
    cert, _ = certificate
    assert tls_stack.url.startswith("https://")
    response = requests.post(tls_stack.url + "/predict", json=QUERY, timeout=10, verify=str(cert))
    assert response.status_code == 200 and len(response.json()["predictions"]) == 3
    with pytest.raises(requests.exceptions.SSLError):  # a client that checks certificates refuses a self-signed one
        requests.get(tls_stack.url + "/health", timeout=10)


def test_a_burst_from_one_client_is_limited_and_a_normal_pace_is_not(tls_stack, certificate):
    cert, _ = certificate

    def predict(_=None):
        return requests.post(tls_stack.url + "/predict", json=QUERY, timeout=30, verify=str(cert))

    with ThreadPoolExecutor(10) as pool:
        burst = list(pool.map(predict, range(40)))
    statuses = [response.status_code for response in burst]
    assert statuses.count(429) > 0 and statuses.count(200) >= 5, statuses
    limited = next(response for response in burst if response.status_code == 429)
    assert "too many requests" in limited.json()["message"] and limited.headers["Retry-After"] == "1"
    assert requests.get(tls_stack.url + "/health", timeout=10, verify=str(cert)).status_code == 200  # not limited

    time.sleep(2)  # the burst's allowance refills (5 a second)
    paced = []
    for _ in range(10):
        paced.append(predict().status_code)
        time.sleep(0.5)  # 2 a second: a person clicking quickly
    assert paced == [200] * 10


def test_a_replica_that_cannot_start_stops_the_stack_saying_why(nginx, tmp_path):
    missing = tmp_path / "no-such-model.pkl"
    server = launch_stack(tmp_path, model_path=missing, extra_env={"WORKERS": "1"})
    try:
        # Each replica exits at once, is tried again 3 times, then the stack stops: no nginx left answering 503.
        assert server.process.wait(timeout=300) == 0
    finally:
        server.stop()
    assert "could not be started (its messages are above): stopping the stack" in server.log()
    assert f"error: {missing}: no such model file" in server.log()


def test_sigterm_stops_everything_and_writes_the_request_log(stack, database_url):
    processes = process_tree(stack.process.pid)
    assert len(processes) >= 1 + 2 + 3 * 2  # supervisord, nginx and its workers, each replica's master and workers
    marker = f"shutdown-{uuid.uuid4().hex}"
    outcomes, stop = [], threading.Event()  # (the request's description, its status or error kind)

    def client(number):
        session = requests.Session()
        sent = 0
        while not stop.is_set():
            sent += 1
            description = f"{number}-{sent}"
            try:
                response = session.post(stack.url + "/predict", json={"title": marker, "description": description},
                                        timeout=30)
            except requests.RequestException as error:
                outcomes.append((description, error_kind(error)))
                break  # nginx has stopped accepting
            outcomes.append((description, response.status_code))

    clients = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in clients:
        thread.start()
    wait_until(lambda: sum(outcome == 200 for _, outcome in outcomes) >= 20)
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=90) == 0, stack.log()[-3000:]
    stop.set()
    for thread in clients:
        thread.join(timeout=60)
    assert not [pid for pid in processes if alive(pid)], stack.log()[-3000:]
    # Every request answered in full, or refused: never a 5xx, never a timeout...
    assert {outcome for _, outcome in outcomes} <= {200, "refused", "reset"}, outcomes
    logged = [row["description"] for row in logged_rows(database_url) if row["title"] == marker]
    answered_in_full = [description for description, outcome in outcomes if outcome == 200]
    assert answered_in_full and sorted(logged) == sorted(answered_in_full)
    # ...and a reset only of a request no replica had (it would be in the log).
    assert not set(logged) & {description for description, outcome in outcomes if outcome == "reset"}
    assert not list((stack.prod_dir / "replicas").glob("*.pid"))  # a later `make reload` finds no stale replica
