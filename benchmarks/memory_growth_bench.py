"""A worker's memory over many hostile predictions: does it grow without bound?

    .venv/bin/python benchmarks/memory_growth_bench.py [DATA.csv] [--model MODEL.pkl] [--requests 20000]
        [--every 1000] [--words 220] [--clients 4] [--workers 1] [--seed 20] [--env NAME=VALUE ...]

Starts gunicorn as `make run` does (the repo's gunicorn.conf.py: gevent
workers, the request log on in SQLite; WORKERS=1 by default) on a model of
DATA (default: the real corpus; --model: a file `text_similarity_model
train` wrote), then sends REQUESTS ``POST /predict`` from CLIENTS threads,
each on its own keep-alive connection: a constant title and a description
of WORDS random 9-letter words, seeded and never repeated across the whole
run (word i is a seeded permutation of i over the 26^9 words), so every
word is new to spaCy, which keeps each in its vocabulary and string store.
Every EVERY requests the RSS (/proc/<pid>/status) of each worker is read.
Prints the series, the growth from the start, the worker pids seen (a pid
that changes is a worker gunicorn replaced, e.g. once ``max_requests`` is
set; gunicorn's "Autorestarting worker" lines are counted too) and the
failed requests (anything but 200).
Target (issue #20): a worker's RSS bounded, whatever the number of requests.
"""

from __future__ import annotations

import argparse
import os
import random
import string
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from text_similarity_model.paths import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.worker_usage import model_file, status_mb, workers_of  # noqa: E402
from tests.support.servers import alive, launch_gunicorn  # noqa: E402

WORD_LENGTH = 9
WORDS = len(string.ascii_lowercase) ** WORD_LENGTH


class UnseenWords:
    """The i-th of 26^9 nine-letter words, never the same for two i: i * a + b modulo
    26^9 (a prime to 26, a and b seeded) written in base 26."""

    def __init__(self, seed: int):
        draw = random.Random(seed)
        self.offset = draw.randrange(WORDS)
        self.step = draw.randrange(WORDS // 2) * 2 + 1  # odd
        while self.step % 13 == 0:
            self.step += 2

    def word(self, index: int) -> str:
        number = (index * self.step + self.offset) % WORDS
        letters = []
        for _ in range(WORD_LENGTH):
            number, digit = divmod(number, 26)
            letters.append(string.ascii_lowercase[digit])
        return "".join(letters)

    def description(self, request: int, count: int) -> str:
        return " ".join(self.word(request * count + n) for n in range(count))


def rss_by_worker(server) -> dict[int, float]:
    rss = {}
    for pid in server.worker_pids():
        if alive(pid):
            value = status_mb(pid, "VmRSS")
            if value is not None:
                rss[pid] = value
    return rss


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--model", help="serve this model file (default: train DATA first)")
    parser.add_argument("--requests", type=int, default=20_000, help="hostile predictions sent")
    parser.add_argument("--every", type=int, default=1_000, help="read the workers' RSS every this many requests")
    parser.add_argument("--words", type=int, default=220, help="new words per request's description")
    parser.add_argument("--clients", type=int, default=4, help="client threads, each with a keep-alive connection")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the server, e.g. GUNICORN_CMD_ARGS='--max-requests 5000'")
    arguments = parser.parse_args()
    settings = dict(item.split("=", 1) for item in arguments.env)
    words = UnseenWords(arguments.seed)

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = model_file(arguments.data, arguments.model, workdir)
        server = launch_gunicorn(model, workdir, workers=arguments.workers, extra_env=settings)
        try:
            server.wait_healthy(timeout=120)
            first_pids = workers_of(server, arguments.workers)
            for _ in range(3 * arguments.workers):  # warm-up: normal predictions
                requests.post(server.url + "/predict", json={"title": "Python", "description": "dados e APIs"},
                              timeout=30).raise_for_status()
            lock = threading.Lock()
            state = {"next": 0, "done": 0, "failed": 0, "errors": []}
            started = time.monotonic()
            series = [(0, 0.0, rss_by_worker(server))]
            seen = set(first_pids)

            def client() -> None:
                session = requests.Session()
                while True:
                    with lock:
                        number = state["next"]
                        if number >= arguments.requests:
                            return
                        state["next"] += 1
                    body = {"title": "palestra", "description": words.description(number, arguments.words)}
                    try:
                        status = session.post(server.url + "/predict", json=body, timeout=60).status_code
                        error = None if status == 200 else f"status {status}"
                    except requests.RequestException as failure:
                        error = repr(failure)
                        session = requests.Session()
                    with lock:
                        state["done"] += 1
                        if error:
                            state["failed"] += 1
                            if len(state["errors"]) < 5:
                                state["errors"].append(error)
                        if state["done"] % arguments.every == 0 or state["done"] == arguments.requests:
                            rss = rss_by_worker(server)
                            seen.update(rss)
                            series.append((state["done"], time.monotonic() - started, rss))
                            print(f"{state['done']:>7,} requests, {time.monotonic() - started:6.0f} s: "
                                  f"{', '.join(f'{pid}: {value:,.0f} MB' for pid, value in rss.items())}", file=sys.stderr)

            threads = [threading.Thread(target=client) for _ in range(arguments.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            log = server.log()
        finally:
            server.stop()

    restarts = log.count("Autorestarting worker")
    print(f"POST /predict, {arguments.requests:,} requests of {arguments.words} new {WORD_LENGTH}-letter words each "
          f"(seed {arguments.seed}), {arguments.clients} keep-alive clients; gunicorn.conf.py, {arguments.workers} worker(s)"
          f"{' with ' + ' '.join(arguments.env) if arguments.env else ''}; "
          f"corpus {arguments.data}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print("| requests | seconds | worker RSS (MB) | largest (MB) | growth from start (MB) |")
    print("|---:|---:|---|---:|---:|")
    start_largest = max(series[0][2].values())
    for done, seconds, rss in series:
        largest = max(rss.values(), default=float("nan"))
        per_worker = ", ".join(f"{value:,.0f}" + (f" (pid {pid})" if arguments.workers > 1 or pid not in first_pids else "")
                               for pid, value in rss.items())
        print(f"| {done:,} | {seconds:.0f} | {per_worker} | {largest:,.0f} | {largest - start_largest:+,.0f} |")
    end_largest = max(series[-1][2].values(), default=float("nan"))
    peak = max(max(rss.values(), default=0) for _, _, rss in series)
    replaced = sorted(seen - set(first_pids))
    print(f"{state['done']:,} requests in {elapsed:.0f} s ({state['done'] / elapsed:.0f}/s); failed: {state['failed']}"
          f"{' ' + str(state['errors']) if state['errors'] else ''}")
    print(f"largest worker RSS: {start_largest:,.0f} MB at the start, {end_largest:,.0f} MB at the end "
          f"({end_largest - start_largest:+,.0f} MB, {end_largest / start_largest - 1:+.0%}), {peak:,.0f} MB at most")
    print(f"workers replaced by gunicorn: {len(replaced)} new pid(s) seen in the samples{' ' + str(replaced) if replaced else ''}; "
          f"'Autorestarting worker' in its log: {restarts}")
    return 0 if state["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
