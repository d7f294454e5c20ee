"""Start real servers for tests and benchmarks: gunicorn on a free loopback port.

Ports: gunicorn gets a socket this process has bound to port 0 (``BIND=fd://N``),
so no other process can take its port between choosing and binding it. nginx and
the replicas of the stack bind ports chosen here: a start that finds one taken
is tried again on others (``Stack.wait_healthy``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from text_similarity_model.settings import REPO_ROOT

GUNICORN = Path(sys.executable).with_name("gunicorn")
LOAD_CLIENT = Path(__file__).with_name("load_client.py")


def free_port() -> int:
    """A port free now; another process may take it before it is bound: retry on a clash."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: What a server says when a port it was given was taken meanwhile.
PORT_TAKEN = ("Address already in use", "is not free")


def served_version(url: str) -> str:
    """The model version the service at ``url`` answers with (its /version)."""
    return requests.get(url + "/version", timeout=10).json()["model_version"]


def answered(url: str, endpoint: str = "predict", status: str = "200") -> int:
    """Requests to ``endpoint`` the service at ``url`` has answered with ``status``, over all its workers (its /metrics)."""
    text = requests.get(url + "/metrics", timeout=10).text
    return int(sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                   if sample.name == "palestras_http_requests_total"
                   and sample.labels == {"endpoint": endpoint, "status": status}))


def wait_until_answering(url: str, process: subprocess.Popen, name: str, log, deadline: float, verify=True) -> None:
    """Until ``url`` answers 200; raises with ``log()`` if ``process`` exits or
    ``deadline`` (time.monotonic) passes. A refused connection or a read timeout
    (listening, still booting on a loaded machine) is asked again."""
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log()}")
        try:
            if requests.get(url, timeout=2, verify=verify).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 in time:\n{log()}")
        time.sleep(0.05)


class Gunicorn:
    """A gunicorn process serving the API, and how to reach and signal it."""

    def __init__(self, process: subprocess.Popen, url: str, pidfile: Path, log_path: Path):
        self.process, self.url, self.pidfile, self.log_path = process, url, pidfile, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, number: int) -> None:
        os.kill(self.process.pid, number)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def wait_healthy(self, timeout: float = 20.0) -> float:
        """Seconds until /health answers 200; raises with the log if it never does."""
        started = time.monotonic()
        wait_until_answering(self.url + "/health", self.process, "gunicorn", self.log, started + timeout)
        return time.monotonic() - started

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def launch_gunicorn(model_path: Path, workdir: Path, database_url: str | None = None,
                    workers: int = 2, extra_env: dict | None = None, access_log: bool = True,
                    app_module: str | None = None, checkout: Path = REPO_ROOT) -> Gunicorn:
    """Start gunicorn with the repo's gunicorn.conf.py; doesn't wait for it.

    ``app_module`` serves another WSGI app with the same settings (default: wsgi:app);
    ``checkout`` serves another checkout's app with its settings (a benchmark's baseline).
    """
    listener = socket.create_server(("127.0.0.1", 0))  # gunicorn serves this very socket: no port to race for
    port = listener.getsockname()[1]
    pidfile = workdir / "gunicorn.pid"
    log_path = workdir / f"gunicorn-{port}.log"
    env = {
        **os.environ,
        "MODEL_PATH": str(model_path),
        "BIND": f"fd://{listener.fileno()}",
        "WORKERS": str(workers),
        "PIDFILE": str(pidfile),
        "DATABASE_URL": database_url or f"sqlite:///{workdir / 'requests.db'}",
        **(extra_env or {}),
    }
    command = [str(GUNICORN), "-c", str(checkout / "gunicorn.conf.py")]
    if not access_log:
        command += ["--access-logfile", "/dev/null"]
    if app_module:
        command.append(app_module)
    with listener, log_path.open("wb") as log_file:
        # Only gunicorn keeps the socket: once it exits, connections are refused.
        process = subprocess.Popen(command, cwd=checkout, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   pass_fds=(listener.fileno(),))
    return Gunicorn(process, f"http://127.0.0.1:{port}", pidfile, log_path)


@contextmanager
def running_gunicorn(model_path: Path, workdir: Path, **options):
    server = launch_gunicorn(model_path, workdir, **options)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@contextmanager
def load(url: str, seconds: float, concurrency: int = 4, stop_when_done: bool = False, mark: bool = False):
    """Run tests/support/load_client.py against ``url`` in another process; yields a dict
    filled with its counts when the block ends (waiting for it to finish, or,
    with ``stop_when_done``, stopping it then: ``seconds`` is only a bound).
    ``mark``: each request's title is its own (see load_client.py)."""
    process = subprocess.Popen([sys.executable, str(LOAD_CLIENT), url, str(seconds),
                                str(concurrency), *(["mark"] if mark else [])], stdout=subprocess.PIPE, text=True)
    result: dict = {}
    try:
        yield result
    finally:
        if stop_when_done:
            process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=seconds + 60)
        import json

        result.update(json.loads(output))


STACK = REPO_ROOT / "deploy" / "stack.py"
NGINX = "/usr/sbin/nginx"


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except OSError:  # gone meanwhile
                pass
    return tree


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Stack:
    """The production stack (deploy/stack.py: supervisord, nginx, gunicorn replicas)."""

    def __init__(self, process: subprocess.Popen, url: str, replica_urls: list[str], prod_dir: Path, log_path: Path,
                 relaunch=None):
        self.process, self.url, self.replica_urls = process, url, replica_urls
        self.prod_dir, self.log_path = prod_dir, log_path
        self._relaunch = relaunch  # the same stack on other ports

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def replica_pidfiles(self) -> list[Path]:
        return [self.prod_dir / "replicas" / f"replica-{n}.pid" for n in range(1, len(self.replica_urls) + 1)]

    def replica_pid(self, number: int) -> int:
        """The gunicorn master of replica ``number`` (from 1)."""
        return int(self.replica_pidfiles()[number - 1].read_text())

    def wait_healthy(self, timeout: float = 120.0, verify=True) -> None:
        """Until /health answers 200 on every replica, then through nginx; raises with the log if not.
        (Asked before the replicas are up, nginx would count them failed for a few seconds.)"""
        deadline = time.monotonic() + timeout
        for attempt in range(5):
            try:
                for url in [*self.replica_urls, self.url]:
                    wait_until_answering(url + "/health", self.process, "the stack", self.log, deadline, verify=verify)
                return
            except RuntimeError:
                # A port chosen free was taken by another process before the stack bound it: other ports.
                if self.process.poll() is None or not any(taken in self.log() for taken in PORT_TAKEN) or attempt == 4:
                    raise
                self.process, self.url, self.replica_urls, self.log_path = self._relaunch()

    def stop(self, timeout: float = 90.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in reversed(process_tree(self.process.pid)):
                    os.kill(pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def launch_stack(workdir: Path, models_dir: Path | None = None, database_url: str | None = None, replicas: int = 2,
                 extra_env: dict | None = None, model_path: Path | None = None) -> Stack:
    """Start deploy/stack.py (what `make run-prod` runs) on free loopback ports, serving the
    store ``models_dir`` or the file ``model_path``; doesn't wait for it.
    ``extra_env`` e.g. TLS_CERT, TLS_KEY, RATE_LIMIT, WORKERS."""
    def start():
        port, replica_ports = free_port(), [free_port() for _ in range(replicas)]
        log_path = workdir / f"stack-{port}.log"
        env = {
            **os.environ,
            "BIND": f"127.0.0.1:{port}",
            "REPLICAS": str(replicas),
            "REPLICA_PORTS": " ".join(map(str, replica_ports)),
            "PROD_DIR": str(prod_dir),
            **({"MODELS_DIR": str(models_dir)} if models_dir else {}),
            "MODEL_PATH": str(model_path or ""),
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'requests.db'}",
            **(extra_env or {}),
        }
        scheme = "https" if env.get("TLS_CERT") else "http"
        # Appended to: supervisord writes its programs' output by opening /dev/stdout again.
        with log_path.open("ab") as log_file:
            process = subprocess.Popen([sys.executable, str(STACK)], cwd=REPO_ROOT, env=env,
                                       stdout=log_file, stderr=subprocess.STDOUT)
        return process, f"{scheme}://127.0.0.1:{port}", [f"http://127.0.0.1:{p}" for p in replica_ports], log_path

    prod_dir = workdir / "prod"
    process, url, replica_urls, log_path = start()
    return Stack(process, url, replica_urls, prod_dir, log_path, relaunch=start)
