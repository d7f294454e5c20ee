"""Training and loading costs on the real corpus.

    .venv/bin/python benchmarks/train_bench.py [DATA.csv]

Reports the training command's wall time end to end (a fresh process, as a
user runs it), the artifact's size, and ``Model.deserialize`` plus the first
``predict`` in a fresh process (so lazy loading can't hide a cost; imports
are counted too and shown apart). Targets: training <= 15 s, artifact <= 10 MB,
deserialize + first predict <= 1.5 s.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from text_similarity_model.settings import REAL_CSV

RUNS = 3

LOAD_SCRIPT = """
import json, sys, time
started = time.perf_counter()
from text_similarity_model import Model
imported = time.perf_counter()
model = Model.deserialize(sys.argv[1])
loaded = time.perf_counter()
model.predict({"title": "API REST com Flask", "description": "deploy de modelos de machine learning"}, 3)
predicted = time.perf_counter()
print(json.dumps({"import": imported - started, "deserialize": loaded - imported, "first_predict": predicted - loaded}))
"""


def main() -> int:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REAL_CSV
    if not data.is_file():
        print(f"{data}: not found; pass a talks CSV", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "model.pkl"
        train_times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "text_similarity_model", "train-file", str(data), str(model)],
                           check=True, capture_output=True)
            train_times.append(time.perf_counter() - started)
        size_mb = model.stat().st_size / 1e6
        loads = [json.loads(subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(model)], check=True,
                                           capture_output=True, text=True).stdout) for _ in range(RUNS)]

    train = min(train_times)
    load = min(l["import"] + l["deserialize"] + l["first_predict"] for l in loads)
    imports = min(l["import"] for l in loads)
    rows = [
        ("training command, end to end", f"{train:.1f} s", "<= 15 s", train <= 15),
        ("artifact size", f"{size_mb:.1f} MB", "<= 10 MB", size_mb <= 10),
        ("import + deserialize + 1st predict", f"{load:.2f} s", "<= 1.5 s", load <= 1.5),
        ("  of which: import the package", f"{imports:.2f} s", "", True),
    ]
    with data.open(encoding="utf-8", newline="") as handle:
        n_talks = sum(1 for _ in csv.reader(handle)) - 1
    print(f"data: {data} ({n_talks} talks), "
          f"{os.cpu_count()} cores, best of {RUNS}")
    print(f"| {'measure':<34} | {'value':>9} | {'target':<8} | ok  |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 10}|-----|")
    for name, value, target, ok in rows:
        print(f"| {name:<34} | {value:>9} | {target:<8} | {'yes' if ok else 'NO':<3} |")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
