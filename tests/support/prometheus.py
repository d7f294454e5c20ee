"""A real Prometheus server (Debian's ``prometheus``) on a free loopback port,
scraping given targets every second, and queries through its HTTP API."""

from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.require import skip_or_fail
from tests.support.servers import PORT_TAKEN, free_port, wait_until_answering
from tests.support.waiting import wait_until

SCRAPE_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: palestras
    static_configs:
      - targets: [{targets}]
"""


def prometheus_binary() -> str:
    """The prometheus command; skips the test here, fails it in CI (PALESTRAS_REQUIRE_PROMETHEUS=1)."""
    binary = shutil.which("prometheus")
    if binary is None:
        skip_or_fail("no prometheus on PATH: apt-get install prometheus", "PALESTRAS_REQUIRE_PROMETHEUS")
    return binary


class Prometheus:
    def __init__(self, process: subprocess.Popen, url: str, log_path: Path):
        self.process, self.url, self.log_path = process, url, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def query(self, promql: str) -> list[dict]:
        """The instant vector ``promql`` evaluates to now: [{"metric": {...}, "value": [time, "text"]}]."""
        answer = requests.get(self.url + "/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, promql: str, expected: float, timeout: float = 60.0) -> list[dict]:
        """Query until ``promql`` is one series whose value is ``expected``; raises,
        with the last answer, if it isn't within ``timeout`` (a bound, not a measure)."""
        last: list = []

        def found():
            last[:] = self.query(promql)
            return len(last) == 1 and float(last[0]["value"][1]) == expected

        wait_until(found, timeout, interval=0.2,
                   message=lambda: f"{promql} is {last}, not {expected}, after {timeout} s\n{self.log()[-2000:]}")
        return last


@contextmanager
def running_prometheus(targets: list[str], workdir: Path):
    """Prometheus scraping ``targets`` (``host:port`` each) every second, its
    storage in ``workdir``; killed on leaving the block, whatever happened."""
    binary = prometheus_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(SCRAPE_CONFIG.format(targets=", ".join(f'"{target}"' for target in targets)))
    for attempt in range(5):
        port = free_port()
        log_path = workdir / "prometheus.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT)
        server = Prometheus(process, f"http://127.0.0.1:{port}", log_path)
        try:
            wait_until_answering(server.url + "/-/ready", process, "prometheus", server.log, time.monotonic() + 30)
            break
        except RuntimeError:
            if process.poll() is None:  # never ready: killed, whatever happened
                process.kill()
                process.wait()
                raise
            if PORT_TAKEN[0] not in server.log() or attempt == 4:
                raise
            # The port was taken by another process meanwhile: another one.
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
