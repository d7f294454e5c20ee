"""Slow clients against gunicorn's worker classes: does POST /predict still answer?

    .venv/bin/python benchmarks/slow_clients_bench.py [DATA.csv] [--seconds 15] [--connections 50]

For each worker class below, launches gunicorn as ``make run`` does (the
repo's gunicorn.conf.py, one worker per core; the class given through
GUNICORN_CMD_ARGS, which overrides the file) on a model of DATA (default: the
real corpus), then times ``POST /predict`` from one client, each request on a
new connection, for SECONDS: first alone, then while CONNECTIONS slow clients
(tests/support/slow_clients.py) each send a byte of their headers every 2 s.
A request failing is one not answered 200 within 10 s.
Target (issue #14): with 50 slow connections, p99 under 100 ms and no failures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from text_similarity_model.settings import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from tests.support.servers import running_gunicorn  # noqa: E402
from tests.support.slow_clients import SlowClients, time_predictions  # noqa: E402

#: What GUNICORN_CMD_ARGS adds to gunicorn.conf.py for each option ("default": the file as it is).
OPTIONS = {
    "default": "",
    "sync": "--worker-class sync",
    "gthread-4": "--worker-class gthread --threads 4",
    "gthread-64": "--worker-class gthread --threads 64",
    "gevent": "--worker-class gevent",
}
TARGET_P99_MS = 100


def measure(model: Path, workdir: Path, arguments_for_gunicorn: str, seconds: float, connections: int) -> dict:
    with running_gunicorn(model, workdir, workers=os.cpu_count() or 1, access_log=False,
                          extra_env={"GUNICORN_CMD_ARGS": arguments_for_gunicorn}) as server:
        time_predictions(server.url, 1)  # warm-up
        alone = time_predictions(server.url, seconds)
        with SlowClients(int(server.url.rsplit(":", 1)[1]), connections, interval=2.0, seconds=seconds + 30) as slow:
            time.sleep(1)  # every slow connection accepted and waiting
            attacked = time_predictions(server.url, seconds)
        return {"alone": alone, "attacked": attacked, "slow": slow.summary()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--seconds", type=float, default=15, help="how long requests are timed, alone and attacked")
    parser.add_argument("--connections", type=int, default=50, help="slow connections held")
    parser.add_argument("--only", nargs="*", choices=OPTIONS, help="measure only these options")
    arguments = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = workdir / "model.pkl"
        subprocess.run([sys.executable, "-m", "text_similarity_model", "train-file", arguments.data, str(model)],
                       check=True, capture_output=True)
        for number, name in enumerate(arguments.only or OPTIONS):
            (workdir / str(number)).mkdir()
            results[name] = measure(model, workdir / str(number), OPTIONS[name], arguments.seconds, arguments.connections)

    print(f"POST /predict from one client, a new connection each, {arguments.seconds:g} s alone then {arguments.seconds:g} s "
          f"with {arguments.connections} slow connections (a byte every 2 s); gunicorn.conf.py, {os.cpu_count()} workers; "
          f"corpus {arguments.data}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print("| worker class (GUNICORN_CMD_ARGS) | alone: requests, p50 / p99 ms | slow clients: requests | failures | p50 / p99 / max ms "
          "| slow connections closed by the server |")
    print("|---|---|---:|---:|---|---:|")
    passed = {}
    for name, result in results.items():
        alone, attacked = result["alone"], result["attacked"]
        passed[name] = attacked["failures"] == 0 and attacked["p99_ms"] < TARGET_P99_MS
        print(f"| {name} ({OPTIONS[name] or 'gunicorn.conf.py as it is'}) "
              f"| {alone['requests']:,}, {alone['p50_ms']:.1f} / {alone['p99_ms']:.1f} "
              f"| {attacked['requests']:,} | {attacked['failures']} "
              f"| {attacked['p50_ms']:.1f} / {attacked['p99_ms']:.1f} / {attacked['max_ms']:.0f} "
              f"| {result['slow']['closed_by_server']} |")
    print(f"meet the target (no failures, p99 < {TARGET_P99_MS} ms under slow clients): "
          f"{', '.join(name for name, ok in passed.items() if ok) or 'none'}")
    first = next(iter(results))
    return 0 if passed[first] else 1


if __name__ == "__main__":
    sys.exit(main())
