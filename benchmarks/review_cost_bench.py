"""What one POST /review costs a gunicorn worker: memory of a refused body, CPU of the costliest valid one.

    .venv/bin/python benchmarks/review_cost_bench.py [DATA.csv] [--model MODEL.pkl] [--workers 1]
        [--only csv json typical letters costliest] [--typical-requests 20] [--total-chars N]
        [--timeout 150] [--env NAME=VALUE ...]

Each case gets a fresh gunicorn as `make run` starts it (the repo's
gunicorn.conf.py: gevent workers, the request log on in SQLite; WORKERS=1 by
default, so every figure is the one worker's), serving a model of DATA
(default: the real corpus; --model: a file `text_similarity_model train`
wrote). After a warm-up (one /predict, one /review of 2 talks), the worker's
RSS is read, its peak (VmHWM) reset to it (/proc/<pid>/clear_refs), and the
case's request is sent (the typical case: several, one after the other),
each on a new connection from a raw socket that stops sending as soon as an
answer arrives (so a server that refuses before reading the whole body is
measured as such). The worker's /proc is sampled every 50 ms meanwhile:

- csv: a refused 8 MB CSV body, a header then 4,000,000 one-character rows;
- json: a refused 8 MB JSON list of 2,666,666 empty submissions ``{}``;
- typical: 10 real talks of DATA as a JSON list, default n_results (the
  mean of --typical-requests requests, each with other talks);
- letters: a valid review at every limit the served OpenAPI document
  states (maxItems submissions, each with every field at its maxLength:
  title, abstract and description in pretalx's JSON), of seeded random
  words of 4-9 letters the corpus never saw, n_results at its maximum;
- costliest: the same with each new word pair wrapped in punctuation
  spaCy's tokenizer must split, ``(abcd,efghi).`` (worst_case_bench.py's
  costliest words: a word of letters only skips the tokenizer).
  With a total text budget per request (issue #20), --total-chars N
  spreads N characters over the submissions of these two instead.

Per case: the answer's status and seconds, the worker's RSS before the
request and its peak during it (the increase is the request's), the
worker's CPU (utime + stime from /proc/<pid>/stat) before and after, and
whether gunicorn killed it (its log's "WORKER TIMEOUT"). The memory figures
are the request's; the CPU includes the worker's own background (its
request-log writer), negligible beside these requests.
Targets (issue #20): a refused request's memory within tens of MB; the
costliest valid review well inside the worker timeout (30 s, gunicorn.conf.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import select
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests

from text_similarity_model.paths import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.worker_usage import cpu_seconds, model_file, reset_peak_rss, status_mb, workers_of  # noqa: E402
from benchmarks.worst_case_bench import TYPICAL, NewWords, fill  # noqa: E402
from tests.support.servers import alive, launch_gunicorn  # noqa: E402

CSV_ROWS = 4_000_000
JSON_ITEMS = (8_000_000 - 2) // 3  # "[" + "{}," * n + "]" fills 8,000,000 bytes
TYPICAL_SUBMISSIONS = 10
SAMPLE_SECONDS = 0.05
CASES = ("csv", "json", "typical", "letters", "costliest")


class Answer:
    """What came back for one request: status (None if nothing did), body, seconds, how it went."""

    def __init__(self, status: int | None, body: bytes, seconds: float, note: str):
        self.status, self.body, self.seconds, self.note = status, body, seconds, note

    def message(self) -> str:
        try:
            return str(json.loads(self.body).get("message", ""))[:160]
        except (ValueError, AttributeError):
            return self.body[:160].decode(errors="replace")


def post(url: str, path: str, body: bytes, content_type: str, timeout: float) -> Answer:
    """POST ``body`` on a new connection, stopping the upload as soon as the server answers
    (or closes); the answer read to the end (``Connection: close``)."""
    address = urlsplit(url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    data = memoryview(head + body)
    started = time.perf_counter()
    sent, notes, received = 0, [], []
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as connection:
        try:
            while sent < len(data):
                if select.select([connection], [], [], 0)[0]:
                    notes.append(f"answered after {sent - len(head):,} of {len(body):,} body bytes sent")
                    break
                sent += connection.send(data[sent:sent + 256 * 1024])
        except (BrokenPipeError, ConnectionResetError) as error:
            notes.append(f"upload stopped after {max(sent - len(head), 0):,} of {len(body):,} body bytes ({error.strerror})")
        except socket.timeout:
            notes.append(f"upload stalled after {max(sent - len(head), 0):,} body bytes for {timeout:g} s")
        try:
            while chunk := connection.recv(256 * 1024):
                received.append(chunk)
        except ConnectionResetError:
            notes.append("connection reset while reading the answer")
        except socket.timeout:
            notes.append(f"no complete answer within {timeout:g} s")
    seconds = time.perf_counter() - started
    raw = b"".join(received)
    head_end = raw.find(b"\r\n\r\n")
    status = None
    if raw.startswith(b"HTTP/") and head_end > 0:
        status = int(raw.split(b" ", 2)[1])
    elif not raw:
        notes.append("connection closed without an answer")
    return Answer(status, raw[head_end + 4:] if head_end > 0 else raw, seconds, "; ".join(notes))


class WorkerWatch:
    """Samples the workers' RSS, peak RSS and CPU every 50 ms while a request runs
    (the last sample stands for a worker killed meanwhile)."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.rss_before = {pid: status_mb(pid, "VmRSS") for pid in pids}
        self.cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        self.peak_reset = all(reset_peak_rss(pid) for pid in pids)
        self.peak = {pid: status_mb(pid, "VmHWM") for pid in pids}
        self.cpu = dict(self.cpu_before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in self.pids:
            peak, cpu = status_mb(pid, "VmHWM"), cpu_seconds(pid)
            if peak is not None and cpu is not None:
                self.peak[pid], self.cpu[pid] = max(self.peak[pid], peak), cpu

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


@contextmanager
def fresh_server(model: Path, workdir: Path, workers: int, extra_env: dict):
    """A new gunicorn (make run's settings), warmed up; yields it and its workers' pids."""
    server = launch_gunicorn(model, workdir, workers=workers, extra_env=extra_env)
    try:
        server.wait_healthy(timeout=120)
        requests.post(server.url + "/predict", json=TYPICAL, timeout=30).raise_for_status()
        requests.post(server.url + "/review", json=[TYPICAL, {"title": "Kubernetes em produção", "description": "containers"}],
                      timeout=30).raise_for_status()
        yield server, workers_of(server, workers)
    finally:
        server.stop()


def served_limits(url: str) -> dict:
    """POST /review's limits as the served OpenAPI document states them."""
    operation = requests.get(url + "/openapi.json", timeout=30).json()["paths"]["/review"]["post"]

    def find(node, key):
        if isinstance(node, dict):
            if key in node:
                return node
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                found = find(item, key)
                if found is not None:
                    return found
        return None

    n_results = next(parameter for parameter in operation["parameters"] if parameter["name"] == "n_results")
    submissions = find(operation["requestBody"], "maxItems")
    fields = submissions["items"]["properties"]
    return {"n_results": find(n_results["schema"], "maximum")["maximum"], "submissions": submissions["maxItems"],
            **{name: fields[name]["maxLength"] for name in ("title", "abstract", "description") if name in fields}}


def costliest_body(limits: dict, total_chars: int | None, split: bool, seed: int = 20) -> tuple[bytes, str]:
    """pretalx's JSON ({"results": [...]}) of ``limits["submissions"]`` submissions, every text field
    filled to its limit with new words (or ``total_chars`` spread over them in the same proportions):
    of letters only, or (``split``) wrapped in punctuation spaCy's tokenizer must split."""
    words = NewWords(seed)
    chunk = words.split_by_the_tokenizer if split else words.word
    count = limits["submissions"]
    lengths = {name: limits[name] for name in ("title", "abstract", "description") if name in limits}
    if total_chars is not None:
        per_submission = total_chars / count
        full = sum(lengths.values())
        lengths = {name: int(length * per_submission / full) for name, length in lengths.items()}

    def chunks():
        while True:
            yield chunk()

    results = [{"code": f"C{number:04d}", **{name: fill(length, chunks()) for name, length in lengths.items()}}
               for number in range(count)]
    text = sum(len(value) for result in results for name, value in result.items() if name != "code")
    kind = "new words in punctuation the tokenizer splits, as (abcd,efghi)." if split else "new words of letters"
    described = (f"{count} submissions of {' + '.join(f'{name} {length:,}' for name, length in lengths.items())} "
                 f"characters of {kind} ({text:,} in all)")
    return json.dumps({"results": results}).encode(), described


def costliest(url: str, total_chars: int | None, split: bool):
    limits = served_limits(url)
    body, described = costliest_body(limits, total_chars, split)
    return (f"{'costliest valid' if split else 'valid, letters only'}: {described}, n_results={limits['n_results']} "
            f"({len(body) / 1e6:.1f} MB of pretalx JSON)",
            [body], "application/json", f"?n_results={limits['n_results']}")


def typical_bodies(data: str, count: int, seed: int = 20) -> list[bytes]:
    """``count`` JSON lists of 10 real talks of ``data`` each (none repeated)."""
    with open(data, newline="", encoding="utf-8-sig") as handle:
        talks = [{"title": row["title"], "description": row["description"]} for row in csv.DictReader(handle)]
    random.Random(seed).shuffle(talks)
    return [json.dumps(talks[n * TYPICAL_SUBMISSIONS:(n + 1) * TYPICAL_SUBMISSIONS]).encode() for n in range(count)]


def run_case(model: Path, workdir: Path, arguments, make) -> tuple[str, dict]:
    """One case on a fresh server: ``make(url)`` gives (name, bodies, content type, query string)."""
    with fresh_server(model, workdir, arguments.workers, arguments.settings) as (server, pids):
        name, bodies, content_type, query = make(server.url)
        with WorkerWatch(pids) as watch:
            answers = [post(server.url, "/review" + query, body, content_type, arguments.timeout) for body in bodies]
        log = server.log()
        killed = [pid for pid in pids if f"WORKER TIMEOUT (pid:{pid})" in log or not alive(pid)]
    return name, {
        "answers": answers,
        "rss_before": sum(watch.rss_before.values()),
        "peak": max(watch.peak.values()) if len(pids) == 1 else None,
        "increase": max(watch.peak[pid] - watch.rss_before[pid] for pid in pids),
        "cpu": sum(watch.cpu[pid] - watch.cpu_before[pid] for pid in pids),
        "killed": killed,
        "peak_reset": watch.peak_reset,
    }


def refused_csv(url: str):
    body = b"title,description\n" + b"a\n" * CSV_ROWS
    return f"refused: CSV, {CSV_ROWS:,} one-character rows ({len(body) / 1e6:.1f} MB)", [body], "text/csv", ""


def refused_json(url: str):
    body = b"[" + b"{}," * (JSON_ITEMS - 1) + b"{}]"
    return (f"refused: JSON list of {JSON_ITEMS:,} empty submissions {{}} ({len(body) / 1e6:.1f} MB)", [body],
            "application/json", "")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--model", help="serve this model file (default: train DATA first)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1: the figures are that worker's)")
    parser.add_argument("--only", nargs="*", choices=CASES, help="measure only these cases")
    parser.add_argument("--typical-requests", type=int, default=20, help="typical reviews measured, each of other talks")
    parser.add_argument("--total-chars", type=int, help="costliest: spread this many characters over the submissions "
                                                         "(a total text budget per request) instead of filling every field")
    parser.add_argument("--timeout", type=float, default=150, help="seconds the client waits for an answer")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the server, e.g. GUNICORN_CMD_ARGS=--timeout=60")
    arguments = parser.parse_args()
    arguments.settings = dict(item.split("=", 1) for item in arguments.env)
    cases = arguments.only or CASES

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = model_file(arguments.data, arguments.model, workdir)
        makers = {
            "csv": refused_csv,
            "json": refused_json,
            "typical": lambda url: (f"typical: {TYPICAL_SUBMISSIONS} real talks, default n_results "
                                    f"(per request, mean of {arguments.typical_requests})",
                                    typical_bodies(arguments.data, arguments.typical_requests), "application/json", ""),
            "letters": lambda url: costliest(url, arguments.total_chars, split=False),
            "costliest": lambda url: costliest(url, arguments.total_chars, split=True),
        }
        for number, case in enumerate(cases):
            (workdir / str(number)).mkdir()
            name, result = run_case(model, workdir / str(number), arguments, makers[case])
            results[name] = result

    print(f"POST /review through gunicorn (gunicorn.conf.py: gevent, {arguments.workers} worker(s), a fresh server per case); "
          f"corpus {arguments.data}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print("| request | status | seconds | worker RSS before (MB) | peak (MB) | increase (MB) | worker CPU (s) | worker killed |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name, result in results.items():
        answers = result["answers"]
        statuses = ", ".join(sorted({str(answer.status or "none") for answer in answers}))
        seconds = sum(answer.seconds for answer in answers) / len(answers)
        cpu = f"{'>= ' if result['killed'] else ''}{result['cpu'] / len(answers):.3f}"  # a killed worker's last sample
        peak = "-" if result["peak"] is None else f"{result['peak']:,.0f}"
        killed = f"yes ({', '.join(map(str, result['killed']))})" if result["killed"] else "no"
        print(f"| {name} | {statuses} | {seconds:.2f} | {result['rss_before']:,.0f} | {peak} | {result['increase']:,.0f} "
              f"| {cpu} | {killed} |")
    typical = next((result["cpu"] / len(result["answers"]) for name, result in results.items() if name.startswith("typical")), None)
    for name, result in results.items():
        if typical and name.startswith(("costliest valid", "valid, letters only")):
            print(f"{name.split(':')[0]}: {result['cpu']:.2f} s of the worker's CPU, {result['cpu'] / typical:,.0f}x a typical "
                  f"review's {typical * 1000:.1f} ms; answered in {result['answers'][0].seconds:.1f} s "
                  f"(gunicorn.conf.py's worker timeout: 30 s, unless --env changed it)")
    for name, result in results.items():
        answer = result["answers"][-1]
        if answer.status != 200 or answer.note:
            print(f"{name}: {answer.status or 'no answer'} {answer.message()!r}{'; ' + answer.note if answer.note else ''}")
        if not result["peak_reset"]:
            print("  (the peak could not be reset before the request: it may be an earlier one's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
