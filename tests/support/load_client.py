"""A load generator in its own process: POST /predict in a loop, count outcomes.

    python tests/support/load_client.py URL SECONDS [CONCURRENCY] [mark]

Stops after SECONDS, or earlier on SIGTERM. Prints one JSON line: {"sent": N, "ok": N, "failed": N, "statuses": {...},
"errors": [...first few...], "error_kinds": {...}, "versions": {...}}. An error's kind is "refused" (no
connection: nothing was sent), "reset" (the connection broke with the request sent: it may have been
accepted and dropped), "timeout" or "other". With ``mark``, each request's title ends with a mark of its
own, and "reset_titles" lists those of the reset requests, for the caller to look up in the request log.
Bounded in time; loopback only.
"""

import json
import signal
import sys
import threading
import time
from collections import Counter

import requests
import urllib3

QUERIES = [
    {"title": "Deploy de modelos de machine learning", "description": "API REST com Flask", "n_results": 5},
    {"title": "Kubernetes em produção", "description": "containers e observabilidade", "n_results": 3},
    {"title": "Testes automatizados", "description": "pytest, TDD e integração contínua", "n_results": 10},
]


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    mark = len(sys.argv) > 4 and sys.argv[4] == "mark"
    if not url.startswith(("http://127.", "http://localhost")):
        sys.exit("load_client only targets loopback")
    deadline = time.monotonic() + seconds
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # the test is done early: report now
    statuses, versions, errors, error_kinds, reset_titles = Counter(), Counter(), [], Counter(), []
    lock = threading.Lock()

    def worker(number: int) -> None:
        session = requests.Session()
        sent = 0
        while time.monotonic() < deadline and not stop.is_set():
            query = QUERIES[(number + sent) % len(QUERIES)]
            if mark:
                query = {**query, "title": f"{query['title']} [{number}-{sent}]"}
            sent += 1
            try:
                response = session.post(url + "/predict", json=query, timeout=10)
                key, version = str(response.status_code), response.json().get("version")
            except (requests.RequestException, ValueError) as error:
                key, version = "error", None
                with lock:
                    error_kinds[error_kind(error)] += 1
                    if mark and error_kind(error) == "reset":
                        reset_titles.append(query["title"])
                    if len(errors) < 5:
                        errors.append(repr(error))
            with lock:
                statuses[key] += 1
                if version:
                    versions[version] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = sum(statuses.values())
    print(json.dumps({"sent": sent, "ok": statuses["200"], "failed": sent - statuses["200"],
                      "statuses": statuses, "errors": errors, "error_kinds": error_kinds, "versions": versions,
                      "reset_titles": reset_titles}))


def error_kind(error: Exception) -> str:
    """"refused" when no connection could be made; "reset" when one broke after the request was sent."""
    if isinstance(error, requests.Timeout):
        return "timeout"
    if isinstance(error, requests.ConnectionError):
        cause = error.args[0] if error.args else None
        reason = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the real reason
        if isinstance(reason, urllib3.exceptions.NewConnectionError) or isinstance(reason, ConnectionRefusedError):
            return "refused"
        return "reset"
    return "other"


if __name__ == "__main__":
    main()
