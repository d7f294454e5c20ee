"""What ``GET /stats`` costs on a long request log, and what retention deletes.

    .venv/bin/python benchmarks/request_log_bench.py [--rows 200000] [--calls 30] [--database-url URL]

Fills a fresh request log (SQLite in a temporary folder by default; a
PostgreSQL URL with ``--database-url``: its request-log tables are dropped
first, so never point it at a service's database) with ROWS prediction rows
and ROWS/100 review rows through the writer's own insert path, then calls
``RequestLog.stats()`` CALLS times and reports the median wall time and this
process' CPU time a call (SQLite runs in-process: its work is in the CPU
figure; PostgreSQL's is in the wall time only). With ``--retention``, the
rows are dated 0 to 60 days back and the writer's retention pass removes
those over ``REQUEST_LOG_DAYS`` (30): its time and batches are reported.

Run it on two checkouts (``git worktree add /tmp/before COMMIT``) to compare:
the figures of a shared machine move; the ratio between checkouts measured
in the same minutes is what to quote.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from api import request_log as request_log_module
from api.request_log import RequestLog

BATCH = 5_000


def fill(log: RequestLog, rows: int, days: float) -> None:
    """``rows`` predictions (and rows/100 reviews), oldest first, spread over ``days`` back from now."""
    now = datetime.now(timezone.utc)
    step = timedelta(days=days) / max(rows, 1)
    for start in range(0, rows, BATCH):
        batch = []
        for number in range(start, min(start + BATCH, rows)):
            created_at = now - timedelta(days=days) + step * number
            batch.append({"created_at": created_at, "kind": "related" if number % 5 == 0 else "predict",
                          "title": f"Palestra {number} sobre Python e dados", "description": "texto " * 20,
                          "talk_index": number % 2500 if number % 5 == 0 else None, "n_results": 5,
                          "model_version": "bench", "latency_ms": 0.5 + (number % 997) / 100,
                          "result_indexes": "[1, 2, 3, 4, 5]"})
            if number % 100 == 0:
                batch.append({"created_at": created_at, "n_submissions": 50, "n_results": 5,
                              "model_version": "bench", "latency_ms": 120.0})
        assert log._write(batch), "could not write to the request log"


def time_stats(log: RequestLog, calls: int) -> dict:
    walls, cpus = [], []
    answer = log.stats()  # connects, creates nothing: the tables exist
    for _ in range(calls):
        wall, cpu = time.perf_counter(), time.process_time()
        answer = log.stats()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert answer["database"] == "ok", answer
    return {"wall_ms_median": round(statistics.median(walls) * 1000, 2),
            "cpu_ms_median": round(statistics.median(cpus) * 1000, 2),
            "requests": answer["requests"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--retention", action="store_true", help="also time the retention pass (after this change)")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="request-log-bench-") as folder:
        url = arguments.database_url or f"sqlite:///{Path(folder) / 'requests.db'}"
        engine = request_log_module.create_engine(url)
        request_log_module.metadata.drop_all(engine)
        engine.dispose()
        log = RequestLog(url)
        started = time.perf_counter()
        fill(log, arguments.rows, days=60 if arguments.retention else 1)
        result = {"database": url.split(":", 1)[0], "rows": arguments.rows,
                  "fill_s": round(time.perf_counter() - started, 1), "stats": time_stats(log, arguments.calls)}
        if arguments.retention:
            wall, cpu = time.perf_counter(), time.process_time()
            deleted = log.apply_retention()
            result["retention"] = {"deleted_rows": deleted, "wall_s": round(time.perf_counter() - wall, 2),
                                   "cpu_s": round(time.process_time() - cpu, 2)}
            result["stats_after_retention"] = time_stats(log, arguments.calls)
        log.engine().dispose()
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
