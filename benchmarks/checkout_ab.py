"""This checkout against another one (a commit before a change): the service under wrk and the command's --help.

    git worktree add /tmp/before COMMIT   # or: git archive COMMIT | tar -x -C /tmp/before
    .venv/bin/python benchmarks/checkout_ab.py /tmp/before [--after DIR] [--seconds 10] [--rounds 5] [--help-runs 30]

Each checkout is run with this venv's packages, its own code first on the path
(``PYTHONPATH``), and its own C kernel if built there (``python setup.py
build_ext --inplace`` in it; without it, that side ranks with NumPy and the
comparison says nothing). Each trains its own model of the real corpus with its
own command (a model file names the modules it was pickled from, which a
change of layout moves), so both serve the same talks with the same
parameters of their time.

(1) HTTP: both services up at once (gunicorn.conf.py's 2 workers each),
loaded in turn with wrk round after round (POST /predict, n_results = 3, as
``http_bench.py``); medians of requests/s, p50, p99, and the workers' CPU per
request, the figure a shared machine moves least. (2) ``python -m
text_similarity_model --help``: CPU of the process, runs alternating between
the checkouts; median and minimum.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from text_similarity_model.settings import REAL_CSV, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.http_bench import ensure_wrk, run_wrk  # noqa: E402
from benchmarks.worker_usage import CLOCK_TICKS, cpu_seconds  # noqa: E402
from tests.support.servers import launch_gunicorn  # noqa: E402


def run_in(checkout: Path, *arguments: str, **options) -> subprocess.CompletedProcess:
    """``python -m text_similarity_model ARGUMENTS`` with ``checkout``'s code (this venv's packages)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    return subprocess.run([sys.executable, "-m", "text_similarity_model", *arguments], cwd=checkout, env=env,
                          capture_output=True, text=True, **options)


def train_in(checkout: Path, data: str, model: Path) -> None:
    """A model file trained by ``checkout``'s own command (``train-file``; ``train`` before #18)."""
    for verb in ("train-file", "train"):
        if run_in(checkout, verb, data, str(model)).returncode == 0:
            return
    raise SystemExit(f"error: {checkout} could not train {data} (tried train-file and train)")


def workers_cpu_seconds(server) -> float:
    """CPU seconds of the server's workers so far, those gunicorn has replaced included
    (``max_requests``): the live ones' own, plus what the master has reaped of its children."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS  # cutime, cstime: fields 16 and 17 of proc(5)
    return reaped + sum(cpu_seconds(pid) or 0 for pid in server.worker_pids())


def compare_http(checkouts: dict[str, Path], data: str, seconds: int, rounds: int, connections: int) -> dict:
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        servers = {}
        try:
            for number, (name, checkout) in enumerate(checkouts.items()):
                (workdir / str(number)).mkdir()
                model = workdir / f"model-{number}.pkl"
                train_in(checkout, data, model)
                servers[name] = launch_gunicorn(model, workdir / str(number), access_log=False, checkout=checkout,
                                                extra_env={"PYTHONPATH": str(checkout)})
            for server in servers.values():
                server.wait_healthy(60)
                run_wrk(wrk, server.url, 2, connections, workdir)  # warm-up
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
    return {name: {figure: statistics.median(run[figure] for run in name_runs)
                   for figure in ("requests_per_s", "p50_ms", "p99_ms", "cpu_us")}
            | {"errors": sum(run["errors"] for run in name_runs),
               "per_round": [run["requests_per_s"] for run in name_runs]}
            for name, name_runs in runs.items()}


def compare_help(checkouts: dict[str, Path], runs: int) -> dict:
    cpu = {name: [] for name in checkouts}
    for _ in range(runs):
        for name, checkout in checkouts.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            run_in(checkout, "--help", check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return {name: {"median_ms": statistics.median(values), "min_ms": min(values)} for name, values in cpu.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the other checkout (e.g. the commit before a change)")
    parser.add_argument("--after", type=Path, default=REPO_ROOT, help="default: this checkout")
    parser.add_argument("--data", default=str(REAL_CSV))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--help-runs", type=int, default=30)
    arguments = parser.parse_args(argv)
    checkouts = {"before": arguments.before.resolve(), "after": arguments.after.resolve()}
    for name, checkout in checkouts.items():
        if not (checkout / "text_similarity_model").is_dir():
            parser.error(f"{name}: {checkout} is not a checkout of palestras (no text_similarity_model/)")

    print(f"before: {checkouts['before']}\nafter: {checkouts['after']}\n")
    http = compare_http(checkouts, arguments.data, arguments.seconds, arguments.rounds, arguments.connections)
    print(f"wrk -t2 -c{arguments.connections} -d{arguments.seconds}s POST /predict, {arguments.rounds} rounds "
          "alternating, both services up at once; medians")
    print("| checkout | requests/s | p50 (ms) | p99 (ms) | workers' CPU per request (µs) | errors | per round |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, row in http.items():
        print(f"| {name} | {row['requests_per_s']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
              f"{row['cpu_us']:.0f} | {row['errors']} | {', '.join(f'{rate:,.0f}' for rate in row['per_round'])} |")
    ratios = [after / before for before, after in zip(http["before"]["per_round"], http["after"]["per_round"])]
    print(f"after / before per round: {', '.join(f'{ratio:.0%}' for ratio in ratios)}\n")

    help_cpu = compare_help(checkouts, arguments.help_runs)
    print(f"python -m text_similarity_model --help, CPU of the process, {arguments.help_runs} runs each, alternating:")
    for name, row in help_cpu.items():
        print(f"  {name}: median {row['median_ms']:.0f} ms, min {row['min_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
