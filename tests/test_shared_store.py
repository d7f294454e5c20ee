"""Replicas on several hosts follow one store: services that share a model
store (a volume every host mounts) but no pid files each notice by themselves
that the current version changed (a stat of current.json every
STORE_POLL_SECONDS) and switch as on SIGHUP, with no failed request.

Two `make run`-style services (the repo's gunicorn.conf.py, each its own port
and pid file) on one MODELS_DIR stand for two hosts.
"""

import threading
import time
from collections import Counter

import pytest
import requests

from text_similarity_model.settings import STORE_POLL_SECONDS
from text_similarity_model.store import ModelStore
from text_similarity_model.store.promotion import update

from tests.support.cli import run_cli
from tests.support.queries import QUERY
from tests.support.servers import launch_gunicorn

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]


@pytest.fixture
def store(tmp_path, sample_csv):
    store = ModelStore(tmp_path / "models")
    for name in ("v1", "v2"):
        update(sample_csv, store, version=name, echo=lambda line: None)
    store.promote("v1")
    return store


@pytest.fixture
def two_services(store, tmp_path):
    """Two services on ``store`` with the default STORE_POLL_SECONDS, as two hosts would run them."""
    services = []
    try:
        for host in ("host-a", "host-b"):
            (tmp_path / host).mkdir()
            services.append(launch_gunicorn(None, tmp_path / host, workers=2, extra_env={
                "MODEL_PATH": "", "MODELS_DIR": str(store.folder), "STORE_POLL_SECONDS": ""}))
        for service in services:
            service.wait_healthy(timeout=120)
        yield services
    finally:
        for service in services:
            service.stop()


class Load:
    """Client threads in a loop, each sending POST /predict to every service in turn; every
    answer kept as (service, status or error, version) for the test's thread to judge."""

    def __init__(self, services, threads=4):
        self.services, self.answers, self.lock = services, [], threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(n,)) for n in range(threads)]

    def _send(self, number):
        sessions = [requests.Session() for _ in self.services]
        turn = number
        while not self.stopping.is_set():
            which = turn % len(self.services)
            turn += 1
            try:
                response = sessions[which].post(self.services[which].url + "/predict", json=QUERY, timeout=30)
                answer = (which, str(response.status_code), response.json().get("version"))
            except (requests.RequestException, ValueError) as error:  # a reset counts: a failed request
                answer = (which, type(error).__name__, None)
                sessions[which] = requests.Session()
            with self.lock:
                self.answers.append(answer)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exception):
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def last_versions(self, which, count=20):
        with self.lock:
            return [version for service, _, version in self.answers if service == which][-count:]


def test_a_promotion_that_signals_no_service_reaches_both(store, two_services, tmp_path):
    with Load(two_services) as load:
        while any(not load.last_versions(which) for which in (0, 1)):  # both answering under load first
            time.sleep(0.05)
        promoted = run_cli("models", "promote", "v2", "--models-dir", store.folder,
                           "--pidfile", "/nonexistent/gunicorn.pid")
        assert promoted.returncode == 0, promoted.stderr
        assert "no running service" in promoted.stdout  # nobody was signalled
        # Within the documented interval plus a reload; the deadline only bounds a failing test.
        deadline = time.monotonic() + 20 * float(STORE_POLL_SECONDS.default) + 60
        while not all(set(load.last_versions(which)) == {"v2"} for which in (0, 1)):
            assert time.monotonic() < deadline, [service.log()[-2000:] for service in two_services]
            time.sleep(0.1)
    outcomes = Counter(status for _, status, _ in load.answers)
    assert outcomes == {"200": len(load.answers)}, outcomes
    for which, service in enumerate(two_services):
        versions = Counter(version for answered, _, version in load.answers if answered == which)
        assert versions["v1"] > 0 and versions["v2"] > 0, versions
        assert service.process.poll() is None
        assert "current.json changed: loading the store's current version (serving v1)" in service.log()
        assert "model reloaded: version v2 replaces v1" in service.log()


def test_the_watch_reloads_for_a_new_version_only(store):
    """What the watch decides at each look, in process: a switch of version (or a pointer the
    reload must refuse) is one; a rewrite for the served version (pruning does it) or a switch a
    SIGHUP has already loaded (one host: the command signals and the watch sees it too) is not."""
    from api.model_holder import ModelHolder

    holder = ModelHolder(store=store)
    seen = holder.pointer_stamp
    assert holder.store_switched(seen) == (False, seen)
    store._write_pointer(["v1", "v2"])  # the same version, rewritten
    switched, seen = holder.store_switched(seen)
    assert not switched and seen == store.pointer_stamp()
    store.promote("v2")
    switched, seen = holder.store_switched(seen)
    assert switched
    assert holder.store_switched(seen) == (False, seen)  # said once per change
    store.promote("v1")
    store.promote("v2")
    assert holder.reload() and holder.version_name == "v2"  # a SIGHUP got there first
    assert holder.store_switched(None)[0] is False
    (store.folder / "current.json").write_text("[]")
    assert holder.store_switched(seen)[0] is True  # the reload says what is wrong


def test_a_bad_interval_stops_the_start_in_one_line(store, tmp_path):
    (tmp_path / "host").mkdir()
    service = launch_gunicorn(None, tmp_path / "host", workers=1, extra_env={
        "MODEL_PATH": "", "MODELS_DIR": str(store.folder), "STORE_POLL_SECONDS": "often"})
    assert service.process.wait(timeout=120) != 0
    assert "error: STORE_POLL_SECONDS='often': not a number of seconds (0 or more)" in service.log()
    assert "Traceback" not in service.log()
