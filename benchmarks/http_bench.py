"""HTTP throughput and latency: the service against the framework floor.

    .venv/bin/python benchmarks/http_bench.py [--seconds 10] [--rounds 4] [--connections 8]

Starts, with the same gunicorn settings (the repo's gunicorn.conf.py, 2
workers, access log off for both), (a) benchmarks/floor_app.py and (b) the
real service on a model of the real corpus with its request log on (SQLite),
and (c) the production stack (deploy/stack.py, as `make run-prod`: nginx in
front of 1 replica of 2 workers, access logs on), loaded both through nginx
and on its replica's port directly, and through nginx again while 300 slow
clients hold connections to it (each sends a request's headers a byte every
2 s, reconnecting when nginx drops it); then loads them in turn, round after
round, with wrk from loopback and the same POST /predict (n_results=3), and
reports the median requests/s, p50 and p99 of each. Also measures the cold
start: launching gunicorn to the first 200 on /predict (start to first answer).
Targets: service >= 60% of the floor's throughput, no errors; start to first answer <= 2 s;
through nginx >= 80% of the replica's port directly, no errors.
wrk comes from Debian's packages; installed here if missing (needs root).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from text_similarity_model.settings import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from tests.support.servers import NGINX, launch_gunicorn, launch_stack  # noqa: E402

QUERY = {
    "title": "Criando e fazendo deploy de uma API REST para modelos de aprendizagem de máquina",
    "description": "Nesta palestra vamos treinar um modelo usando o scikit-learn e usar o Flask para "
                   "construir uma API REST capaz de disponibilizar o modelo como um serviço web.",
    "n_results": 3,
}


STACK_NGINX = "stack (make run-prod): through nginx to 1 replica"
STACK_DIRECT = "stack: the same replica's port directly"
STACK_SLOW = "stack: through nginx, 300 slow clients connected"
SLOW_CLIENTS = 300


@contextmanager
def slow_clients(url: str, count: int = SLOW_CLIENTS, interval: float = 2.0):
    """``count`` connections to ``url`` sending a request's headers a byte every
    ``interval`` s; one that nginx closes (its header timeout) is opened again."""
    host, port = url.removeprefix("http://").split(":")
    request = b"POST /predict HTTP/1.1\r\nHost: x\r\n"
    connections = [socket.create_connection((host, int(port))) for _ in range(count)]
    sent = [0] * count
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(interval):
            for number, connection in enumerate(connections):
                try:
                    connection.sendall(request[sent[number] % len(request):][:1])
                    sent[number] += 1
                except OSError:
                    connection.close()
                    connections[number], sent[number] = socket.create_connection((host, int(port))), 0

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for connection in connections:
            connection.close()


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    print("installing wrk from Debian's packages...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, seconds: int, connections: int, workdir: Path) -> dict:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        # A Lua long string: the JSON goes in verbatim (LuaJIT has no \\u escapes).
        f"wrk.body = [==[{json.dumps(QUERY, ensure_ascii=False)}]==]\n"
    )
    output = subprocess.run(
        [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script), url + "/predict"],
        capture_output=True, text=True, check=True,
    ).stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
    }


def cold_start(model: Path, workdir: Path) -> tuple[float, float]:
    """Seconds from launching gunicorn to the first 200 on POST /predict, and
    the CPU seconds gunicorn's master and workers had spent by then (what a
    shared machine's other work doesn't inflate).

    gunicorn serves a socket bound before it starts (launch_gunicorn): the
    request is accepted by the kernel at once and waits in the listen backlog
    until a worker takes it, so one request with a long timeout measures the
    start to the first answer (a short timeout would give up on a slow start)."""
    started = time.monotonic()
    server = launch_gunicorn(model, workdir, workers=2)
    try:
        while time.monotonic() - started < 30:
            try:
                if requests.post(server.url + "/predict", json=QUERY, timeout=30).status_code == 200:
                    seconds = time.monotonic() - started
                    return seconds, sum(map(cpu_seconds, [server.process.pid, *server.worker_pids()]))
            except requests.ConnectionError:
                time.sleep(0.01)
        raise RuntimeError("no 200 within 30 s:\n" + server.log())
    finally:
        server.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far (/proc/PID/stat), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=4, help="wrk runs per app, alternating floor and service")
    parser.add_argument("--connections", type=int, default=8)
    arguments = parser.parse_args()
    wrk = ensure_wrk()

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        model = workdir / "model.pkl"
        subprocess.run([sys.executable, "-m", "text_similarity_model", "train-file", arguments.data, str(model)],
                       check=True, capture_output=True)
        apps = {"floor (constant flask_restful answer)": "benchmarks.floor_app:app",
                "palestras service, request log on": None}
        servers, urls, stack = {}, {}, None
        try:
            # All up at once, loaded in turn (an idle server costs nothing):
            # each round measures every one back to back, so drifts in the
            # machine's speed hit all alike.
            for name, module in apps.items():
                (workdir / name[:5]).mkdir()
                servers[name] = launch_gunicorn(model, workdir / name[:5], workers=2, access_log=False,
                                                app_module=module)
                urls[name] = servers[name].url
            for server in servers.values():
                server.wait_healthy()
            if shutil.which(NGINX):
                (workdir / "stack").mkdir()
                # A rate limit wrk never reaches: the figure is nginx's cost, not the limiter's refusals.
                stack = launch_stack(workdir / "stack", model_path=model, replicas=1,
                                     extra_env={"WORKERS": "2", "RATE_LIMIT": "1000000", "RATE_BURST": "1000000"})
                stack.wait_healthy()
                urls[STACK_NGINX], urls[STACK_DIRECT] = stack.url, stack.replica_urls[0]
                urls[STACK_SLOW] = stack.url
            else:
                print(f"nginx not installed ({NGINX}): the stack is left out (apt install nginx)", file=sys.stderr)
            for url in set(urls.values()):
                run_wrk(wrk, url, 2, arguments.connections, workdir)  # warm-up
            runs = {name: [] for name in urls}
            for _ in range(arguments.rounds):
                for name, url in urls.items():
                    if name == STACK_SLOW:
                        with slow_clients(url):
                            runs[name].append(run_wrk(wrk, url, arguments.seconds, arguments.connections, workdir))
                    else:
                        runs[name].append(run_wrk(wrk, url, arguments.seconds, arguments.connections, workdir))
        finally:
            for server in servers.values():
                server.stop()
            if stack:
                stack.stop()
        colds = [cold_start(model, workdir) for _ in range(3)]
        cold, cold_cpu = min(colds)

    results = {name: {"requests_per_s": statistics.median([run["requests_per_s"] for run in name_runs]),
                      "p50_ms": statistics.median([run["p50_ms"] for run in name_runs]),
                      "p99_ms": statistics.median([run["p99_ms"] for run in name_runs]),
                      "errors": sum(run["errors"] for run in name_runs),
                      "socket_errors": ", ".join(sorted({run["socket_errors"] for run in name_runs}))}
               for name, name_runs in runs.items()}
    floor_runs, service_runs = list(runs.values())[:2]
    round_ratios = [service["requests_per_s"] / floor["requests_per_s"] for floor, service in zip(floor_runs, service_runs)]
    floor, service = list(results.values())[:2]
    ratio = service["requests_per_s"] / floor["requests_per_s"]
    overridden = f"with {os.environ['GUNICORN_CMD_ARGS']}" if os.environ.get("GUNICORN_CMD_ARGS") else "as configured"
    print(f"wrk -t2 -c{arguments.connections} -d{arguments.seconds}s POST /predict (n_results=3), {arguments.rounds} rounds "
          f"alternating floor and service (medians below), gunicorn.conf.py's 2 workers {overridden}, "
          f"{os.cpu_count()} cores, "
          f"corpus {arguments.data}, {time.strftime('%Y-%m-%d')}")
    print("| app | requests/s | p50 (ms) | p99 (ms) | errors |")
    print("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['requests_per_s']:,.0f} | {result['p50_ms']:.2f} | {result['p99_ms']:.2f} | "
              f"{result['errors']} (socket: {result['socket_errors']}) |")
    print(f"service / floor throughput: {ratio:.0%} (target >= 60%): {'OK' if ratio >= 0.6 else 'MISSED'}; "
          f"per round: {', '.join(f'{r:.0%}' for r in round_ratios)}")
    print(f"start to first answer, launch to first 200 on /predict: {cold:.2f} s, best of 3 "
          f"({', '.join(f'{seconds:.2f}' for seconds, _ in colds)}) (target <= 2 s): {'OK' if cold <= 2 else 'MISSED'}; "
          f"CPU of gunicorn's master and workers by then: {cold_cpu:.2f} s "
          f"({', '.join(f'{cpu:.2f}' for _, cpu in colds)})")
    ok = ratio >= 0.6 and cold <= 2 and service["errors"] == 0 and service["socket_errors"] == "none"
    if STACK_NGINX in results:
        nginx, direct = results[STACK_NGINX], results[STACK_DIRECT]
        stack_ratio = nginx["requests_per_s"] / direct["requests_per_s"]
        per_round = [a["requests_per_s"] / b["requests_per_s"] for a, b in zip(runs[STACK_NGINX], runs[STACK_DIRECT])]
        print(f"through nginx / the replica's port directly: {stack_ratio:.0%} (target >= 80%): "
              f"{'OK' if stack_ratio >= 0.8 else 'MISSED'}; per round: {', '.join(f'{r:.0%}' for r in per_round)}")
        slow = results[STACK_SLOW]
        print(f"with {SLOW_CLIENTS} slow clients connected to nginx: p99 {slow['p99_ms']:.2f} ms against "
              f"{nginx['p99_ms']:.2f} ms without (target: under 100 ms), {slow['errors']} errors")
        ok = (ok and stack_ratio >= 0.8 and slow["p99_ms"] < 100
              and all(r["errors"] == 0 and r["socket_errors"] == "none" for r in (nginx, slow)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
