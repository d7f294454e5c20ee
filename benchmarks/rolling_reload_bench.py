"""A model switch across the production stack's replicas, under load through nginx.

    .venv/bin/python benchmarks/rolling_reload_bench.py [DATA.csv] [--seconds 12] [--rounds 2]

Starts the stack (deploy/stack.py, as `make run-prod`: nginx in front of 2
replicas of 2 sync workers) on a model store with two versions of DATA (default
the real corpus), and loads it with wrk through nginx (POST /predict, 8
connections) while, a few seconds in, the store's other version is promoted and
the replicas are told: not at all (the baseline), every replica at once (what
`make reload` and `make train` do), or one after the other, the second once the
first serves the new version. Reports requests/s, p99 and errors of each, and
the seconds from the first signal until every replica serves the new version.
Target: no errors in any mode.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from text_similarity_model.settings import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.http_bench import ensure_wrk, run_wrk  # noqa: E402
from tests.support.servers import launch_stack  # noqa: E402

CLI = [sys.executable, "-m", "text_similarity_model"]
MODES = ["no switch (baseline)", "every replica at once", "one replica after the other"]


def served(url: str) -> str:
    return requests.get(url + "/version", timeout=10).json()["model_version"]


def wait_for(url: str, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while served(url) != version:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not on {version} after {timeout} s")
        time.sleep(0.05)


def switch(stack, mode: str, version: str) -> float | None:
    """Tell the replicas as ``mode`` says; seconds until all serve ``version``."""
    if mode == MODES[0]:
        return None
    started = time.monotonic()
    for number, url in enumerate(stack.replica_urls, start=1):
        os.kill(stack.replica_pid(number), signal.SIGHUP)
        if mode == MODES[2]:
            wait_for(url, version)
    for url in stack.replica_urls:
        wait_for(url, version)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--seconds", type=int, default=12, help="length of each wrk run; the switch starts 3 s in")
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    wrk = ensure_wrk()

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        store = workdir / "models"
        for version in ("a", "b"):  # the one trained last is current
            subprocess.run([*CLI, "update", arguments.data, "--models-dir", str(store), "--version", version, "--force",
                            "--pidfile", str(workdir / "none.pid")], check=True, capture_output=True)
        stack = launch_stack(workdir, models_dir=store, replicas=2,
                             extra_env={"WORKERS": "2", "RATE_LIMIT": "1000000", "RATE_BURST": "1000000"})
        runs = {mode: [] for mode in MODES}
        try:
            stack.wait_healthy()
            run_wrk(wrk, stack.url, 2, 8, workdir)  # warm-up
            current = "b"
            for _ in range(arguments.rounds):
                for mode in MODES:
                    target = current if mode == MODES[0] else ("a" if current == "b" else "b")
                    if target != current:
                        subprocess.run([*CLI, "models", "promote", target, "--models-dir", str(store),
                                        "--pidfile", str(workdir / "none.pid")], check=True, capture_output=True)
                    with ThreadPoolExecutor(1) as pool:
                        load = pool.submit(run_wrk, wrk, stack.url, arguments.seconds, 8, workdir)
                        time.sleep(3)
                        switched = switch(stack, mode, target)
                        runs[mode].append({**load.result(), "switch_s": switched})
                    current = target
        finally:
            stack.stop()

    print(f"wrk -t2 -c8 -d{arguments.seconds}s POST /predict through nginx, 2 replicas x 2 sync workers, "
          f"{os.cpu_count()} cores, corpus {arguments.data}, {arguments.rounds} rounds, medians, {time.strftime('%Y-%m-%d')}")
    print("| model switch | requests/s | p99 (ms) | errors | all replicas on the new version after |")
    print("|---|---:|---:|---:|---:|")
    ok = True
    for mode, mode_runs in runs.items():
        errors = sum(run["errors"] for run in mode_runs)
        sockets = ", ".join(sorted({run["socket_errors"] for run in mode_runs}))
        ok = ok and errors == 0 and sockets == "none"
        switch_s = [run["switch_s"] for run in mode_runs if run["switch_s"] is not None]
        print(f"| {mode} | {statistics.median(run['requests_per_s'] for run in mode_runs):,.0f} | "
              f"{statistics.median(run['p99_ms'] for run in mode_runs):.1f} | {errors} (socket: {sockets}) | "
              f"{f'{statistics.median(switch_s):.2f} s' if switch_s else '-'} |")
    print(f"no errors in any mode: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
