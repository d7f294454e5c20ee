"""How training, the model file, loading, memory and predict grow with the corpus.

    .venv/bin/python benchmarks/scale_bench.py [--sizes 10000,100000,1000000]

Builds synthetic corpora by recombining sentences of the real corpus (titles,
description sentences, tracks, years and cities drawn independently), then,
for each size, in fresh processes: trains with the training command (time and
peak memory), measures the model file, and loads it and answers queries as
the service does (load time, peak memory while serving, predict p50/p99 with
n_results=3). Targets at 1M talks: predict p50 <= 20 ms, serving peak memory
<= 4 GB, training <= 15 min; cost no worse than linear in the corpus size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from text_similarity_model.settings import REAL_CSV

SERVE_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
started = time.perf_counter()
from text_similarity_model import Model
model = Model.deserialize(sys.argv[1])
loaded = time.perf_counter() - started
queries = json.loads(open(sys.argv[2], encoding="utf-8").read())
for query in queries[:20]:
    model.predict(query, 3)
times = []
for query in queries:
    begin = time.perf_counter()
    model.predict(query, 3)
    times.append(time.perf_counter() - begin)
p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
print(json.dumps({"load_s": loaded, "p50_ms": p50, "p99_ms": p99,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def synthetic_corpus(source: Path, size: int, destination: Path, seed: int = 0) -> None:
    """Write ``size`` talks recombined from the sentences of ``source``."""
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(seed)
    titles = [row["title"] for row in rows]
    sentences = [s for row in rows for s in re.split(r"(?<=[.!?])\s+", row["description"]) if len(s) > 20]
    editions = [(row["trilha"], row["ano"], row["cidade"], row["trilha_url"]) for row in rows]
    with destination.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "description", "trilha", "ano", "cidade", "trilha_url"])
        chunk = 100_000
        for start in range(0, size, chunk):
            n = min(chunk, size - start)
            title_ids = rng.integers(len(titles), size=n)
            edition_ids = rng.integers(len(editions), size=n)
            n_sentences = rng.integers(2, 5, size=n)
            sentence_ids = rng.integers(len(sentences), size=(n, 4))
            for i in range(n):
                description = " ".join(sentences[j] for j in sentence_ids[i, : n_sentences[i]])
                writer.writerow([titles[title_ids[i]], description, *editions[edition_ids[i]]])


def measure(size: int, source: Path, workdir: Path) -> dict:
    data = workdir / f"talks-{size}.csv"
    model = workdir / f"model-{size}.pkl"
    synthetic_corpus(source, size, data)
    started = time.perf_counter()
    training = subprocess.run(
        ["/usr/bin/time", "-f", "peak_rss_kb=%M", sys.executable, "-m", "text_similarity_model", "train-file",
         str(data), str(model)], capture_output=True, text=True)
    train_s = time.perf_counter() - started
    if training.returncode != 0:
        raise RuntimeError(training.stderr[-3000:])
    train_peak_mb = int(re.search(r"peak_rss_kb=(\d+)", training.stderr).group(1)) / 1024

    with data.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        queries = [{"title": row["title"], "description": row["description"]} for _, row in zip(range(300), reader)]
    queries_path = workdir / "queries.json"
    queries_path.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    serving = json.loads(subprocess.run([sys.executable, "-c", SERVE_SCRIPT, str(model), str(queries_path)],
                                        check=True, capture_output=True, text=True).stdout)
    result = {"size": size, "train_s": train_s, "train_peak_mb": train_peak_mb,
              "artifact_mb": model.stat().st_size / 1e6, **serving}
    data.unlink()
    model.unlink()
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--data", default=str(REAL_CSV))
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    if not Path("/usr/bin/time").exists():
        subprocess.run(["apt-get", "install", "-y", "-qq", "time"], check=True)

    results = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            result = measure(size, Path(arguments.data), Path(folder))
            results.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)

    print(f"synthetic corpora recombined from {arguments.data}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print("| talks | training | training peak RSS | model file | load | serving peak RSS | predict p50 | predict p99 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['size']:,} | {r['train_s']:.1f} s | {r['train_peak_mb']:,.0f} MB | {r['artifact_mb']:,.1f} MB | "
              f"{r['load_s']:.2f} s | {r['peak_rss_mb']:,.0f} MB | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
    largest = results[-1]
    if len(results) > 1:
        first = results[0]
        growth = largest["size"] / first["size"]
        print(f"growth from {first['size']:,} to {largest['size']:,} talks ({growth:.0f}x): training "
              f"{largest['train_s'] / first['train_s']:.0f}x, file {largest['artifact_mb'] / first['artifact_mb']:.0f}x, "
              f"predict p50 {largest['p50_ms'] / first['p50_ms']:.0f}x")
    ok = True
    if largest["size"] >= 1_000_000:
        ok = largest["p50_ms"] <= 20 and largest["peak_rss_mb"] <= 4096 and largest["train_s"] <= 900
        print(f"targets at {largest['size']:,}: predict p50 <= 20 ms, serving peak <= 4 GB, training <= 15 min: "
              f"{'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
