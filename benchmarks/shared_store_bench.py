"""Two services sharing one model store: how long until both serve a version promoted without a signal?

    .venv/bin/python benchmarks/shared_store_bench.py [DATA.csv] [--workers 2] [--clients 4] [--wait 60]
        [--warmup 3] [--settle 3] [--poll 0.2] [--env NAME=VALUE ...]

As on two hosts sharing a volume: builds a store (MODELS_DIR) of two
versions of DATA (default: the real corpus) with the command line
(``update --version bench-old``, ``update --version bench-new``, then
``models promote bench-old``), starts two services as `make run` does (the
repo's gunicorn.conf.py, gevent, WORKERS workers each, the request log on)
on two loopback ports, both serving that one MODELS_DIR, each with its own
pid file; loads both from CLIENTS threads (``POST /predict``, keep-alive,
alternating between the services) and polls ``GET /version`` on each every
POLL s. After WARMUP s, runs ``text_similarity_model models promote
bench-new --pidfile /nonexistent``: the store changes, no service is
signalled. From the moment current.json names bench-new (its mtime: the
command's exit comes a second or more later), a service has switched once
every answer it gives (the load's answers carry the model version, the
polls too) is bench-new; the run ends when both have answered only bench-new
for SETTLE s, or WAIT s after the promotion.
Reports, per service and for both: seconds until switched (or "never within
WAIT s"), the old version's answers after the promotion, and the failed
requests (anything but 200, or no answer) over the whole load.
--env NAME=VALUE passes settings to both services (e.g. a store check interval).
Target (issue #20): both switch within the documented interval, 0 failed requests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from text_similarity_model.settings import REAL_CSV, REPO_ROOT
from text_similarity_model.store.versions import POINTER_FILE

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.worst_case_bench import TYPICAL  # noqa: E402
from tests.support.servers import launch_gunicorn  # noqa: E402

OLD, NEW = "bench-old", "bench-new"
NOT_SIGNALLED = "/nonexistent/gunicorn.pid"


def command(*words: str, models_dir: Path) -> str:
    """Run ``text_similarity_model WORDS --models-dir models_dir``; its output."""
    finished = subprocess.run([sys.executable, "-m", "text_similarity_model", *words, "--models-dir", str(models_dir)],
                              capture_output=True, text=True, env={**os.environ, "PIDFILE": NOT_SIGNALLED})
    if finished.returncode != 0:
        raise RuntimeError(f"text_similarity_model {' '.join(words)}: exit {finished.returncode}\n"
                           f"{finished.stdout}{finished.stderr}")
    return finished.stdout


class Observations:
    """Every answer from the services, as (seconds since start, service, ok, model version or None)."""

    def __init__(self):
        self.started = time.monotonic()
        self.rows: list[tuple[float, int, bool, str | None, str]] = []
        self.lock = threading.Lock()

    def add(self, service: int, ok: bool, version: str | None, kind: str) -> None:
        with self.lock:
            self.rows.append((time.monotonic() - self.started, service, ok, version, kind))

    def now(self) -> float:
        return time.monotonic() - self.started

    def switched_at(self, service: int, since: float) -> float | None:
        """When ``service`` gave its first NEW answer after its last OLD one (from ``since``), None if it still answers OLD."""
        with self.lock:
            answers = [(at, version) for at, who, ok, version, _ in self.rows if who == service and version and at >= since]
        last_old = max((at for at, version in answers if version != NEW), default=since)
        after = [at for at, version in answers if version == NEW and at >= last_old]
        if not after or (answers and answers[-1][1] != NEW):
            return None
        return after[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers per service (make run's default: one per core)")
    parser.add_argument("--clients", type=int, default=4, help="load threads, each alternating between the two services")
    parser.add_argument("--wait", type=float, default=60, help="seconds after the promotion before giving up")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before the promotion")
    parser.add_argument("--settle", type=float, default=3, help="seconds both must answer only the new version")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between GET /version on each service")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for both services")
    arguments = parser.parse_args()
    settings = dict(item.split("=", 1) for item in arguments.env)

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        store = workdir / "models"
        print(f"building the store {store}: two trainings of {arguments.data} ...", file=sys.stderr)
        for version in (OLD, NEW):
            command("update", arguments.data, "--version", version, "--force", "--pidfile", NOT_SIGNALLED, models_dir=store)
        command("models", "promote", OLD, "--pidfile", NOT_SIGNALLED, models_dir=store)

        servers = []
        try:
            for name in ("a", "b"):
                (workdir / name).mkdir()
                servers.append(launch_gunicorn(store, workdir / name, workers=arguments.workers,
                                               extra_env={"MODEL_PATH": "", "MODELS_DIR": str(store), **settings}))
            for server in servers:
                server.wait_healthy(timeout=120)
                served = requests.get(server.url + "/version", timeout=30).json()["model_version"]
                if served != OLD:
                    raise RuntimeError(f"{server.url} serves {served}, not {OLD}")
            seen = Observations()
            stop = threading.Event()

            def load(number: int) -> None:
                sessions = [requests.Session() for _ in servers]
                turn = number
                while not stop.is_set():
                    service = turn % len(servers)
                    turn += 1
                    try:
                        response = sessions[service].post(servers[service].url + "/predict", json=TYPICAL, timeout=30)
                        ok = response.status_code == 200
                        seen.add(service, ok, response.json().get("version") if ok else None, str(response.status_code))
                    except (requests.RequestException, ValueError) as error:
                        seen.add(service, False, None, type(error).__name__)
                        sessions[service] = requests.Session()

            def poll() -> None:
                while not stop.wait(arguments.poll):
                    for service, server in enumerate(servers):
                        try:
                            response = requests.get(server.url + "/version", timeout=10)
                            seen.add(service, response.status_code == 200, response.json().get("model_version"), "poll")
                        except (requests.RequestException, ValueError) as error:
                            seen.add(service, False, None, "poll " + type(error).__name__)

            threads = [threading.Thread(target=load, args=(n,)) for n in range(arguments.clients)]
            threads.append(threading.Thread(target=poll))
            for thread in threads:
                thread.start()
            try:
                time.sleep(arguments.warmup)
                asked = seen.now()
                said = command("models", "promote", NEW, "--pidfile", NOT_SIGNALLED, models_dir=store)
                promote_output = " / ".join(said.strip().splitlines())
                returned = seen.now()
                # The promotion is the moment current.json was written (its mtime; the rename keeps it), not the
                # command's exit, which follows after the interpreter's teardown.
                promoted = returned - (time.time() - (store / POINTER_FILE).stat().st_mtime)
                deadline = promoted + arguments.wait
                while seen.now() < deadline:
                    switched = [seen.switched_at(service, promoted) for service in range(len(servers))]
                    if all(at is not None and seen.now() - at >= arguments.settle for at in switched):
                        break
                    time.sleep(arguments.poll)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
        finally:
            for server in servers:
                server.stop()

    switched = [seen.switched_at(service, promoted) for service in range(len(servers))]
    print(f"two services (gunicorn.conf.py, {arguments.workers} workers each) sharing one MODELS_DIR; {arguments.clients} "
          f"load threads (POST /predict, keep-alive), GET /version every {arguments.poll:g} s; `models promote {NEW} "
          f"--pidfile {NOT_SIGNALLED}` after {arguments.warmup:g} s of load (current.json written {promoted - asked:.1f} s "
          f"after it started, its exit {returned - promoted:.1f} s later; it said {promote_output!r}); times from current.json's "
          f"writing; "
          f"{('settings ' + ' '.join(arguments.env) + '; ') if arguments.env else ''}corpus {arguments.data}; "
          f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print("| service | requests (load + polls) | failed | old version's answers after the promotion | switched to the new version after |")
    print("|---|---:|---:|---:|---|")
    for service in range(len(servers)):
        rows = [row for row in seen.rows if row[1] == service]
        failed = Counter(kind for _, _, ok, _, kind in rows if not ok)
        old_after = sum(1 for at, _, _, version, _ in rows if at >= promoted and version and version != NEW)
        when = f"never within {arguments.wait:g} s" if switched[service] is None \
            else f"{switched[service] - promoted:.2f} s"
        print(f"| {'ab'[service]} ({servers[service].url}) | {len(rows):,} | {sum(failed.values())}"
              f"{' ' + str(dict(failed)) if failed else ''} | {old_after:,} | {when} |")
    failed = sum(1 for row in seen.rows if not row[2])
    both = f"never within {arguments.wait:g} s" if None in switched \
        else f"{max(switched) - promoted:.2f} s"
    print(f"both services on {NEW}: {both}; failed requests: {failed} of {len(seen.rows):,}")
    return 0 if None not in switched and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
