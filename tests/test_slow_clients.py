"""Slow clients on `make run`'s configuration (issue #14): the service keeps answering."""

import os

import pytest

from tests.support.servers import running_gunicorn
from tests.support.slow_clients import SlowClients, time_predictions

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]

CONNECTIONS = 50


def test_50_slow_connections_do_not_stop_predictions(sample_model_path, tmp_path):
    # gunicorn.conf.py as `make run` uses it: one worker per core (WORKERS unset).
    with running_gunicorn(sample_model_path, tmp_path, workers=os.cpu_count() or 1) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with SlowClients(port, CONNECTIONS, interval=2.0, seconds=60) as slow:
            timed = time_predictions(server.url, seconds=8)
        assert "Traceback" not in server.log()
    assert slow.refused == 0
    assert timed["failures"] == 0, timed
    assert timed["requests"] > 100, timed
    # The target is p99 < 100 ms (benchmarks/slow_clients_bench.py measures it);
    # a shared CI machine can stall any process for a while, so the test only
    # holds it to what the sync worker could never do: each of its failures
    # above was a 10 s wait, and its p99 under this load was seconds.
    assert timed["p99_ms"] < 1000, timed
