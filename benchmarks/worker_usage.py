"""What a gunicorn worker uses, read from /proc; the model a benchmark serves.

Shared by review_cost_bench.py, memory_growth_bench.py and shared_store_bench.py.
Linux only (/proc/<pid>/status, /proc/<pid>/stat, /proc/<pid>/clear_refs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from text_similarity_model.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from tests.support.servers import alive  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def status_mb(pid: int, field: str) -> float | None:
    """A size line of /proc/<pid>/status (``VmRSS``, ``VmHWM``...) in MB, None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat(5)


def reset_peak_rss(pid: int) -> bool:
    """Set ``pid``'s VmHWM back to its current RSS (Linux >= 4.0), so the next
    peak belongs to what follows; False where the kernel doesn't allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def workers_of(server, count: int, timeout: float = 30.0) -> list[int]:
    """The pids of ``server``'s (tests/support/servers.py's Gunicorn) workers, once it has ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [pid for pid in server.worker_pids() if alive(pid)]
        if len(pids) == count:
            return pids
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn has workers {pids}, not {count}:\n{server.log()[-3000:]}")
        time.sleep(0.05)


def model_file(data: str, model: str | None, workdir: Path) -> Path:
    """``model`` if given (a file `text_similarity_model train` wrote, its manifest beside it), else ``data`` trained into ``workdir``."""
    if model:
        return Path(model)
    path = workdir / "model.pkl"
    print(f"training {data} into {path} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "text_similarity_model", "train", data, str(path)], check=True, capture_output=True)
    return path
