"""What the Prometheus metrics cost a request.

    .venv/bin/python benchmarks/metrics_bench.py [--baseline DIR] [--seconds 10] [--rounds 4] [--connections 8]

(1) In process: the metrics calls that one answered POST /predict makes
(follow the served model, time the prediction, count and time the request),
in µs per request, in multiprocess mode (as under gunicorn: values in
mmap'd files) and in a single process (the Flask test client).

(2) With ``--baseline DIR``, a checkout of the commit before the metrics
(``git archive COMMIT | tar -x -C DIR``; it is served with this checkout's
installed packages and C kernel): both services up at once on a model of
the real corpus, loaded in turn with wrk round after round (as
``http_bench.py`` does with the floor), medians reported. The workers' CPU
time per request is the figure to compare on a shared machine: requests/s
moves with whatever else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from text_similarity_model.settings import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.http_bench import ensure_wrk, run_wrk  # noqa: E402
from tests.support.servers import launch_gunicorn  # noqa: E402

CALLS = 200_000


def measure_calls() -> dict:
    """µs per request of the metrics calls /predict makes (run in a fresh
    process: prometheus_client picks its mode when imported)."""
    from types import SimpleNamespace

    from api.metrics import Metrics

    metrics = Metrics()
    model = SimpleNamespace(version="bench", metadata={})
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(CALLS):
            metrics.follow_model(model)
            metrics.observe_prediction("predict", 0.0003)
            metrics.observe_request("predict", 200, 0.0009)
        best = min(best, (time.perf_counter() - started) / CALLS * 1e6)
    return {"multiprocess": metrics.multiprocess, "us_per_request": best}


def calls_in_a_fresh_process(multiprocess_dir: str | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir
    output = subprocess.run([sys.executable, __file__, "--calls-only"], env=env, check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output)


def workers_cpu_seconds(server) -> float:
    """CPU time (user + system) the server's workers have used: unlike
    requests/s, hardly moved by the other processes on a shared machine."""
    total = 0
    for pid in server.worker_pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def compare_http(baseline: Path, data: str, seconds: int, rounds: int, connections: int) -> dict:
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = workdir / "model.pkl"
        subprocess.run([sys.executable, "-m", "text_similarity_model", "train-file", data, str(model)],
                       check=True, capture_output=True)
        checkouts = {"before (no metrics)": baseline, "with metrics": REPO_ROOT}
        servers = {}
        try:
            for number, (name, checkout) in enumerate(checkouts.items()):
                (workdir / str(number)).mkdir()
                servers[name] = launch_gunicorn(model, workdir / str(number), workers=2, access_log=False, checkout=checkout)
            for server in servers.values():
                server.wait_healthy()
                run_wrk(wrk, server.url, 2, connections, workdir)  # warm-up
            metrics_status = {name: requests.get(server.url + "/metrics", timeout=10).status_code
                              for name, server in servers.items()}
            assert metrics_status == {"before (no metrics)": 404, "with metrics": 200}, metrics_status
            runs = {name: [] for name in servers}
            for _ in range(rounds):
                for name, server in servers.items():
                    cpu_before = workers_cpu_seconds(server)
                    run = run_wrk(wrk, server.url, seconds, connections, workdir)
                    run["cpu_us"] = (workers_cpu_seconds(server) - cpu_before) / run["requests"] * 1e6
                    runs[name].append(run)
        finally:
            for server in servers.values():
                server.stop()
    return {name: {"requests_per_s": statistics.median(run["requests_per_s"] for run in name_runs),
                   "p50_ms": statistics.median(run["p50_ms"] for run in name_runs),
                   "p99_ms": statistics.median(run["p99_ms"] for run in name_runs),
                   "cpu_us": statistics.median(run["cpu_us"] for run in name_runs),
                   "errors": sum(run["errors"] for run in name_runs),
                   "per_round": [run["requests_per_s"] for run in name_runs]}
            for name, name_runs in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit before the metrics")
    parser.add_argument("--data", default=str(REAL_CSV))
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=4, help="wrk runs per service, alternating")
    parser.add_argument("--connections", type=int, default=8)
    arguments = parser.parse_args()
    if arguments.calls_only:
        print(json.dumps(measure_calls()))
        return 0

    with tempfile.TemporaryDirectory() as multiprocess_dir:
        files = calls_in_a_fresh_process(multiprocess_dir)
    memory = calls_in_a_fresh_process(None)
    print(f"metrics calls of one POST /predict, best of 5 x {CALLS:,} ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores):")
    print(f"  multiprocess mode (gunicorn): {files['us_per_request']:.2f} µs")
    print(f"  one process (Flask test client): {memory['us_per_request']:.2f} µs")
    if arguments.baseline:
        results = compare_http(arguments.baseline, arguments.data, arguments.seconds, arguments.rounds, arguments.connections)
        print(f"wrk -t2 -c{arguments.connections} -d{arguments.seconds}s POST /predict (n_results=3), {arguments.rounds} rounds "
              f"alternating, gunicorn 2 sync workers, corpus {arguments.data}; medians:")
        print("| service | workers' CPU per request (µs) | requests/s | p50 (ms) | p99 (ms) | errors | requests/s per round |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, result in results.items():
            print(f"| {name} | {result['cpu_us']:.0f} | {result['requests_per_s']:,.0f} | {result['p50_ms']:.2f} | "
                  f"{result['p99_ms']:.2f} | {result['errors']} | {', '.join(f'{rate:,.0f}' for rate in result['per_round'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
