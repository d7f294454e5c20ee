"""Soak: minutes of mixed load against gunicorn with the request log on.

    .venv/bin/python benchmarks/soak.py [--minutes 5] [--clients 6]

Mixed traffic from client threads on loopback: valid predictions (JSON and
form), invalid requests (400/404/405/413/415) and related-talks by index.
Checks: zero 5xx; every accepted request (200 on /predict and
/talks/<i>/related) is in the request log afterwards; the workers' memory
(RSS) grows less than 10% between the end of the warm-up and the end.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests
import sqlalchemy as sa

from text_similarity_model.settings import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from tests.support.servers import launch_gunicorn  # noqa: E402

WORDS = ("python dados api rest flask deploy kubernetes testes segurança nuvem java javascript "
         "agilidade arquitetura microsserviços machine learning modelo docker banco postgresql").split()


def random_text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def one_request(session: requests.Session, url: str, rng: random.Random, n_talks: int) -> tuple[str, int, bool]:
    """Send one request of a random kind; return (kind, status, counts_in_log)."""
    roll = rng.random()
    if roll < 0.45:
        body = {"title": random_text(rng, 4), "description": random_text(rng, 20), "n_results": rng.randint(1, 10)}
        response = session.post(url + "/predict", json=body, timeout=30)
        return "predict-json", response.status_code, response.status_code == 200
    if roll < 0.60:
        body = {"title": random_text(rng, 3), "description": random_text(rng, 10), "n_results": str(rng.randint(1, 50))}
        response = session.post(url + "/predict", data=body, timeout=30)
        return "predict-form", response.status_code, response.status_code == 200
    if roll < 0.80:
        response = session.get(f"{url}/talks/{rng.randrange(n_talks)}/related?n_results={rng.randint(1, 5)}", timeout=30)
        return "related", response.status_code, response.status_code == 200
    invalid = rng.choice([
        lambda: session.post(url + "/predict", json={"title": 1, "description": None}, timeout=30),
        lambda: session.post(url + "/predict", json={"title": "", "description": ""}, timeout=30),
        lambda: session.post(url + "/predict", json={"title": "x", "description": "y", "n_results": 10**9}, timeout=30),
        lambda: session.post(url + "/predict", data=b"\xff\xfe", headers={"Content-Type": "application/json"}, timeout=30),
        lambda: session.post(url + "/predict", data="texto", headers={"Content-Type": "text/plain"}, timeout=30),
        lambda: session.post(url + "/predict", json={"title": "a" * 70_000, "description": ""}, timeout=30),
        lambda: session.get(f"{url}/talks/{n_talks + rng.randrange(1000)}/related", timeout=30),
        lambda: session.get(url + "/predict", timeout=30),
        lambda: session.get(url + "/nada", timeout=30),
    ])
    response = invalid()
    return "invalid", response.status_code, False


def worker_rss_kb(server) -> dict[int, int]:
    rss = {}
    for pid in server.worker_pids():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1])
    return rss


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--warmup-seconds", type=float, default=20.0)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = workdir / "model.pkl"
        subprocess.run([sys.executable, "-m", "text_similarity_model", "train-file", arguments.data, str(model)],
                       check=True, capture_output=True)
        database_url = f"sqlite:///{workdir / 'requests.db'}"
        server = launch_gunicorn(model, workdir, workers=2, access_log=False, database_url=database_url)
        server.wait_healthy()
        n_talks = requests.get(server.url + "/version", timeout=10).json()["n_documents"]

        counts, statuses, lock = Counter(), Counter(), threading.Lock()
        logged, failures = [0], []
        started = time.monotonic()
        deadline = started + arguments.warmup_seconds + arguments.minutes * 60

        def client(seed: int) -> None:
            rng, session = random.Random(seed), requests.Session()
            while time.monotonic() < deadline:
                try:
                    kind, status, in_log = one_request(session, server.url, rng, n_talks)
                except requests.RequestException as error:
                    kind, status, in_log = "error", 0, False
                    with lock:
                        failures.append(repr(error))
                with lock:
                    counts[kind] += 1
                    statuses[status] += 1
                    logged[0] += in_log

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(arguments.clients)]
        for thread in threads:
            thread.start()
        time.sleep(arguments.warmup_seconds)
        rss_start = worker_rss_kb(server)
        for thread in threads:
            thread.join()
        rss_end = worker_rss_kb(server)
        elapsed = time.monotonic() - started
        server.stop()  # SIGTERM: the workers write what they still hold

        engine = sa.create_engine(database_url)
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT count(*) FROM prediction_requests")).scalar_one()

    total = sum(counts.values())
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    growth = max((rss_end[pid] - rss_start[pid]) / rss_start[pid] for pid in rss_start if pid in rss_end) \
        if set(rss_start) & set(rss_end) else float("nan")
    print(f"soak: {elapsed / 60:.1f} min, {arguments.clients} clients, gunicorn 2 workers, request log on (SQLite), "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"requests: {total} ({total / elapsed:.0f}/s); by kind: {dict(counts)}")
    print(f"statuses: {dict(sorted(statuses.items()))}; client errors: {len(failures)} {failures[:3]}")
    print(f"5xx: {server_errors} (target 0): {'OK' if server_errors == 0 else 'FAILED'}")
    print(f"accepted requests: {logged[0]}, rows in the request log: {rows}: {'OK' if rows == logged[0] else 'FAILED'}")
    print(f"worker RSS after warm-up {sorted(rss_start.values())} kB, at the end {sorted(rss_end.values())} kB: "
          f"max growth {growth:.1%} (target < 10%): {'OK' if growth < 0.10 else 'FAILED'}")
    ok = server_errors == 0 and rows == logged[0] and growth < 0.10 and not failures
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
