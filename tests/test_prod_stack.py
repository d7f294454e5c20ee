"""The production stack (`make run-prod`, deploy/stack.py): real nginx in front of
real gunicorn replicas under supervisord, the request log on PostgreSQL when
PALESTRAS_TEST_DATABASE_URL is set, all on loopback."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from api import MAX_BODY_BYTES
from text_similarity_model.settings import REPO_ROOT, SAMPLE_CSV

from tests.support.cli import CLI
from tests.support.database import logged_rows
from tests.support.require import skip_or_fail
from tests.support.load_client import error_kind
from tests.support.servers import (NGINX, Stack, alive, answered, free_port, launch_gunicorn, launch_stack, load,
                                   process_tree, wait_until_answering)
from tests.support.waiting import wait_until
from tests.support.queries import QUERY

pytestmark = [pytest.mark.gunicorn, pytest.mark.nginx, pytest.mark.slow]



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
    """Two replicas; a rate limit no test's load reaches (one client address is all the tests have);
    no polling of the store (tests/test_shared_store.py tests it)."""
    server = launch_stack(tmp_path_factory.mktemp("stack"), models_dir, database_url,
                          extra_env={"RATE_LIMIT": "10000", "RATE_BURST": "10000", "WORKERS": "2",
                                     # switches come from the signals under test, not from the replicas' own polling
                                     "STORE_POLL_SECONDS": "0"})
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
                                 f"MODELS_DIR={models_dir}",
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


# -- nginx's own errors, limits and logs --------------------------------------

EDGE_READ_TIMEOUT = 5


@pytest.fixture(scope="module")
def edge_stack(nginx, models_dir, tmp_path_factory):
    """A stack of its own for nginx's limits and errors (the module's `stack` is stopped by a test):
    /review's rate limit as by default, another operator address, one worker a replica, which a
    test stops (SIGSTOP) to make a request slower than nginx's read timeout: the app itself can't
    honestly be made that slow (gunicorn's worker timeout ends any request before nginx's). The read
    timeout is EDGE_READ_TIMEOUT s here instead of 35, so that those tests wait seconds, not
    minutes; gunicorn's own timeout is lifted (GUNICORN_CMD_ARGS, this fixture only) so that a
    master resumed after a stop doesn't kill its worker for having been stopped."""
    server = launch_stack(tmp_path_factory.mktemp("edge-stack"), models_dir, extra_env={
        "WORKERS": "1", "GUNICORN_CMD_ARGS": "--timeout 600", "RATE_LIMIT": "10000", "RATE_BURST": "10000",
        "OPERATOR_ALLOW": "127.0.0.1 ::1 127.0.0.3", "READ_TIMEOUT": str(EDGE_READ_TIMEOUT)})
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


class FromAddress(requests.adapters.HTTPAdapter):
    """Connections from another loopback address (127.0.0.2...): to nginx, another client."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs, source_address=(self.address, 0))


def client_at(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def raw_answer(url: str, request: bytes) -> tuple[int, dict, bytes]:
    """Send ``request`` as it is and read the answer: (status, headers, body)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            if "Content-Length" in headers and len(body) >= int(headers["Content-Length"]):
                break
    return int(lines[0].split()[1]), headers, body


def assert_api_error(status: int, headers, body: bytes, expected_status: int, words: str) -> None:
    assert status == expected_status, (status, body)
    assert headers["Content-Type"] == "application/json", headers
    assert words in json.loads(body)["message"], body


def test_every_error_nginx_answers_itself_is_the_api_s_json(edge_stack):
    # A request nginx can't read, a request line or a header over its buffers.
    assert_api_error(*raw_answer(edge_stack.url, b"NOT HTTP AT ALL\r\n\r\n"), 400, "malformed request")
    long_query = "&".join(f"track=trilha-{n:04d}-" + "x" * 90 for n in range(100))
    assert_api_error(*raw_answer(edge_stack.url, f"GET /talks?{long_query} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
                     414, "request line over 8 KB")
    big_cookie = f"GET /health HTTP/1.1\r\nHost: x\r\nCookie: {'c' * 9000}\r\n\r\n".encode()
    assert_api_error(*raw_answer(edge_stack.url, big_cookie), 431, "a request header over 8 KB")
    # Files nginx serves itself: no such file, or a method it doesn't take there.
    missing = requests.get(edge_stack.url + "/static/no-such.css", timeout=10)
    assert_api_error(missing.status_code, missing.headers, missing.content, 404, "no such file;")
    posted = requests.post(edge_stack.url + "/static/palestras.css", timeout=10)
    assert_api_error(posted.status_code, posted.headers, posted.content, 405, "GET and HEAD")
    # An error of the API itself passes as the API wrote it.
    unknown = requests.get(edge_stack.url + "/no-such-endpoint", timeout=10)
    assert unknown.status_code == 404 and "openapi.json" in unknown.json()["message"]


def test_stats_and_metrics_answer_only_operator_addresses(edge_stack):
    for path in ("/stats", "/metrics"):
        assert requests.get(edge_stack.url + path, timeout=10).status_code == 200  # loopback: OPERATOR_ALLOW's default
        assert client_at("127.0.0.3").get(edge_stack.url + path, timeout=10).status_code == 200  # added to it here
        elsewhere = client_at("127.0.0.2").get(edge_stack.url + path, timeout=10)
        assert_api_error(elsewhere.status_code, elsewhere.headers, elsewhere.content, 403, "OPERATOR_ALLOW")
    # Everything else is everyone's.
    assert client_at("127.0.0.2").get(edge_stack.url + "/health", timeout=10).status_code == 200
    assert client_at("127.0.0.2").post(edge_stack.url + "/predict", json=QUERY, timeout=10).status_code == 200


def log_lines(stack, words: str) -> list[str]:
    """The stack's log lines holding ``words``, once there is one (nginx writes its buffer every second)."""
    deadline = time.monotonic() + 30
    while not (lines := [line for line in stack.log().splitlines() if words in line]):
        assert time.monotonic() < deadline, f"no log line with {words}:\n" + stack.log()[-3000:]
        time.sleep(0.2)
    return lines


def test_the_log_has_each_request_with_the_client_s_address(edge_stack):
    marker = f"/talks/0/related?n_results=2&marker={uuid.uuid4().hex}"
    assert client_at("127.0.0.2").get(edge_stack.url + marker, timeout=10).status_code == 200
    lines = log_lines(edge_stack, marker)
    assert len(lines) == 1, lines  # once: by nginx, not again by the replica (which saw only nginx's address)
    assert lines[0].startswith("127.0.0.2 ") and f'"GET {marker} HTTP/1.1" 200 ' in lines[0], lines


def test_reviews_have_a_rate_limit_of_their_own(edge_stack):
    review = [{"title": "Palestra sobre Python", "description": "Flask e APIs"}]
    client = client_at("127.0.0.4")  # an address of its own: the other tests' reviews don't count
    answers = [client.post(edge_stack.url + "/review?n_results=1", json=review, timeout=60) for _ in range(10)]
    # The defaults: 6 a minute (one more every 10 s), bursts of 3. The stack's prediction limit is far above.
    statuses = [answer.status_code for answer in answers]
    assert statuses[:4] == [200] * 4 and 429 in statuses[4:], statuses
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert limited.headers["Retry-After"] == "10"
    assert_api_error(429, limited.headers, limited.content, 429, "at most 6 a minute")
    assert client.post(edge_stack.url + "/predict", json=QUERY, timeout=10).status_code == 200  # predictions: their own limit


def test_plain_http_on_the_https_port_is_answered_in_json(tls_stack):
    status, headers, body = raw_answer(tls_stack.url.replace("https://", "http://"),
                                       b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_api_error(status, headers, body, 400, "HTTPS only")


# -- replicas that fail, time out, or are gone ----------------------------------

@contextmanager
def frozen(stack, number: int):
    """Replica ``number``'s master and worker stopped: its port accepts connections, nothing answers."""
    group = stack.replica_pid(number)
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def supervisorctl(stack, *arguments: str) -> str:
    done = subprocess.run([str(Path(sys.executable).with_name("supervisorctl")), "-c",
                           str(stack.prod_dir / "supervisord.conf"), *arguments], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


SMALL_REVIEW = [{"title": f"Palestra {n} sobre Python", "description": "Flask e APIs"} for n in range(3)]


def test_a_review_is_never_replayed_on_another_replica(edge_stack):
    agent = f"review-{uuid.uuid4().hex}"
    with frozen(edge_stack, 1), frozen(edge_stack, 2):
        answer = requests.post(edge_stack.url + "/review?n_results=1", json=SMALL_REVIEW, timeout=200,
                               headers={"User-Agent": agent})
    assert_api_error(answer.status_code, answer.headers, answer.content, 504,
                     f"no answer from the service within {EDGE_READ_TIMEOUT} s")
    # nginx's log names every replica it sent the request to: one, not the other after the first timed out.
    (line,) = log_lines(edge_stack, agent)
    assert len(re.search(r" replica=(.+) replica_status=", line)[1].split(", ")) == 1, line


def test_a_request_timing_out_on_the_last_replica_leaves_it_serving(edge_stack):
    assert "stopped" in supervisorctl(edge_stack, "stop", "replica-1")
    try:
        with frozen(edge_stack, 2):
            slow = requests.post(edge_stack.url + "/review?n_results=1", json=SMALL_REVIEW, timeout=200)
        assert_api_error(slow.status_code, slow.headers, slow.content, 504, "no answer")
        # nginx counted a failure on replica 2, and replica 1 refuses connections: it still sends to replica 2.
        statuses = [requests.post(edge_stack.url + "/predict", json=QUERY, timeout=120).status_code for _ in range(5)]
        assert statuses == [200] * 5
        # No replica at all: 503, in the API's words.
        assert "stopped" in supervisorctl(edge_stack, "stop", "replica-2")
        down = requests.post(edge_stack.url + "/predict", json=QUERY, timeout=60)
        assert_api_error(down.status_code, down.headers, down.content, 503, "not answering")
        assert down.headers["Retry-After"] == "5"
    finally:
        supervisorctl(edge_stack, "start", "replica-1", "replica-2")
        edge_stack.wait_healthy()


# -- starting and stopping -------------------------------------------------------

def launch_on(workdir, ports: list[int], models_dir, extra_env: dict | None = None) -> Stack:
    """launch_stack on given ports (BIND's first, then the replicas'), e.g. those of a stack that ran before."""
    launched = launch_stack(workdir, models_dir, extra_env={
        "BIND": f"127.0.0.1:{ports[0]}", "REPLICA_PORTS": " ".join(map(str, ports[1:])), **(extra_env or {})})
    return Stack(launched.process, f"http://127.0.0.1:{ports[0]}", [f"http://127.0.0.1:{p}" for p in ports[1:]],
                 launched.prod_dir, launched.log_path)


def test_the_port_opens_once_a_replica_answers(nginx, models_dir, tmp_path):
    server = launch_stack(tmp_path, models_dir, extra_env={"WORKERS": "1"})
    try:
        host, port = server.url.removeprefix("http://").split(":")
        deadline = time.monotonic() + 120
        while True:  # until nginx's port accepts a connection
            assert server.process.poll() is None and time.monotonic() < deadline, server.log()[-3000:]
            with socket.socket() as probe:
                if probe.connect_ex((host, int(port))) == 0:
                    break
            time.sleep(0.01)
        statuses = [requests.post(server.url + "/predict", json=QUERY, timeout=60).status_code for _ in range(20)]
        assert statuses == [200] * 20, server.log()[-3000:]
    finally:
        server.stop()


def test_a_stack_killed_outright_leaves_nothing_running_and_starts_again(nginx, models_dir, tmp_path):
    server = launch_stack(tmp_path, models_dir, extra_env={"WORKERS": "1"})
    ports = [int(url.rsplit(":", 1)[1]) for url in [server.url, *server.replica_urls]]
    try:
        server.wait_healthy()
        processes = process_tree(server.process.pid)
        # As a terminal or a process manager might: TERM, and KILL before supervisord has stopped anything.
        server.process.send_signal(signal.SIGTERM)
        server.process.kill()
        server.process.wait()
        deadline = time.monotonic() + 60  # replicas stop gracefully: well within gunicorn's 30 s
        while left := [pid for pid in processes if alive(pid)]:
            assert time.monotonic() < deadline, f"still running: {left}\n" + server.log()[-3000:]
            time.sleep(0.1)
    finally:
        server.stop()
    again = launch_on(tmp_path, ports, models_dir, extra_env={"WORKERS": "1"})
    try:
        again.wait_healthy()  # every replica, then nginx
        assert all(requests.get(url + "/health", timeout=10).status_code == 200 for url in again.replica_urls)
        assert requests.post(again.url + "/predict", json=QUERY, timeout=10).status_code == 200
    finally:
        again.stop()


def test_a_start_clears_what_a_killed_stack_left(nginx, models_dir, tmp_path):
    ports = [free_port() for _ in range(3)]
    replicas = (tmp_path / "prod" / "replicas")
    replicas.mkdir(parents=True)
    # replica-1.pid names a live process that is not a replica (a pid reused since): gunicorn would
    # refuse to start ("Already running on PID"). replica-2 still runs, on its port, from a previous run.
    (replicas / "replica-1.pid").write_text(f"{os.getpid()}\n")
    leftover = launch_gunicorn(Path(""), tmp_path, workers=1, extra_env={
        "MODEL_PATH": "", "MODELS_DIR": str(models_dir), "BIND": f"127.0.0.1:{ports[2]}",
        "PIDFILE": str(replicas.resolve() / "replica-2.pid")})
    try:
        wait_until_answering(f"http://127.0.0.1:{ports[2]}/health", leftover.process, "the leftover replica",
                             leftover.log, time.monotonic() + 60)
        server = launch_on(tmp_path, ports, models_dir, extra_env={"WORKERS": "1"})
        try:
            server.wait_healthy()
            assert leftover.process.wait(timeout=60) == 0  # stopped by the start, gracefully
            assert f"replica-1.pid: pid {os.getpid()} is not a replica of this stack" in server.log()
            assert f"replica-2 (pid {leftover.process.pid}) of a previous run is still running on its own" in server.log()
            assert all(requests.get(url + "/health", timeout=10).status_code == 200 for url in server.replica_urls)
        finally:
            server.stop()
    finally:
        leftover.stop()
