"""palestras beside a BM25 library (bm25s), same queries, same k, one run:
judged relevance and the latency of one query.

    .venv/bin/python benchmarks/peer_bench.py [--rounds 5] [--judged J.json] [--data DATA.csv]

Both are trained on the judged file's corpus (the talks of 2016-2017 for the
shared file, 1,108):

- bm25s with its defaults (Lucene BM25, k1 = 1.5, b = 0.75), spaCy's Portuguese
  stop words, the title counted twice (``title\\ntitle\\ndescription``, corpus and
  queries alike); per query ``tokenize`` + ``retrieve(k)``, talks scoring 0 left
  out (as ours leaves out talks sharing no word);
- palestras: ``Model(**DEFAULT_PARAMS).predict``, the product's own path.

Judged relevance: each judged query's answer of k talks measured against the
graded pairs (:mod:`text_similarity_model.quality.judged`): nDCG@10, P@5 (grade >= 1),
P@5 (grade 2), judged share of the top 10. At k = 5 the answer holds 5 talks, so
nDCG@10 and the judged share count those 5 only.

Latency: every talk of the CSV outside the corpus years (1,393 of 2018 for the
shared files: text the models never saw), title + description, at k = 5 and 20.
Each round times both on all the queries in alternating blocks of 100, so that
the noise of a shared machine hits both alike, on this thread's CPU time
(``time.thread_time``: a preempted query isn't charged for the wait). A round
gives each one's p50 and p99 and its p50's ratio to bm25s' p50 of the same round;
the figures are the medians over the rounds.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import bm25s
import numpy as np
import pandas as pd
from spacy.lang.pt.stop_words import STOP_WORDS

from text_similarity_model import Model
from text_similarity_model.corpus import read_talks_csv
from text_similarity_model.quality.judged import MEASURES, read_judged
from text_similarity_model.settings import REAL_CSV, REAL_JUDGED
from text_similarity_model.steps.pipeline import DEFAULT_PARAMS

STOPWORDS = sorted(STOP_WORDS)
BLOCK = 100
KS = (5, 20)


def bm25s_text(title: str, description: str) -> str:
    return f"{title}\n{title}\n{description}"


class Bm25sPeer:
    """bm25s fitted on a corpus DataFrame; :meth:`search` as a service using bm25s would answer."""

    def __init__(self, corpus: pd.DataFrame, k1: float = 1.5, b: float = 0.75):
        texts = [bm25s_text(t, d) for t, d in zip(corpus["title"], corpus["description"])]
        self.retriever = bm25s.BM25(k1=k1, b=b)
        self.retriever.index(bm25s.tokenize(texts, stopwords=STOPWORDS, show_progress=False), show_progress=False)
        self.n_documents = len(texts)

    def search(self, query: dict, k: int) -> np.ndarray:
        """Corpus indices, best first."""
        tokens = bm25s.tokenize([bm25s_text(query["title"], query["description"])], stopwords=STOPWORDS,
                                return_ids=False, show_progress=False)
        if not any(token in self.retriever.vocab_dict for token in tokens[0]):
            return np.empty(0, dtype=np.intp)
        documents, scores = self.retriever.retrieve(tokens, k=min(k, self.n_documents), show_progress=False,
                                                    n_threads=0)
        return documents[0][scores[0] > 0]


def palestras_ranker(corpus: pd.DataFrame):
    model = Model(version="peer-bench", **DEFAULT_PARAMS)
    model.train(corpus)

    def search(query: dict, k: int) -> np.ndarray:
        return np.array([p["index"] for p in model.predict(query, k)["predictions"]], dtype=np.intp)

    return search


def judged_rows(judged, rankers: dict, ks=KS) -> list[dict]:
    scorer = judged.scorer()
    queries = [{"title": q.title, "description": q.description} for q in judged.queries]
    rows = []
    for k in ks:
        for name, search in rankers.items():
            means = scorer.measures([search(query, k) for query in queries]).mean()
            rows.append({"ranker": name, "k": k, **{measure: float(means[measure]) for measure in MEASURES}})
    return rows


def timing_rows(rankers: dict, queries: list[dict], rounds: int, ks=KS) -> list[dict]:
    for search in rankers.values():  # warm up: caches, first calls
        for query in queries[:50]:
            search(query, max(ks))
    samples = {(name, k): [] for k in ks for name in rankers}
    gc.collect()
    gc.freeze()
    try:
        for round_number in range(rounds):
            for k in ks:
                times = {name: [] for name in rankers}
                for block in range(0, len(queries), BLOCK):
                    for name, search in rankers.items():
                        for query in queries[block:block + BLOCK]:
                            started = time.thread_time()
                            search(query, k)
                            times[name].append(time.thread_time() - started)
                reference = np.percentile(times["bm25s"], 50)
                for name, seconds in times.items():
                    p50, p99 = np.percentile(np.asarray(seconds) * 1e6, [50, 99])
                    samples[(name, k)].append((p50, p99, np.percentile(seconds, 50) / reference))
            print(f"round {round_number + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        gc.unfreeze()
    rows = []
    for (name, k), values in samples.items():
        p50, p99, ratio = np.median(np.asarray(values), axis=0)
        rows.append({"ranker": name, "k": k, "p50_us": float(p50), "p99_us": float(p99), "p50_ratio": float(ratio)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judged", default=str(REAL_JUDGED))
    parser.add_argument("--data", default=str(REAL_CSV))
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args(argv)
    talks, _ = read_talks_csv(arguments.data)
    judged = read_judged(arguments.judged, talks)
    years = pd.to_numeric(talks["ano"], errors="coerce").fillna(0).astype("int64")
    held_out = talks[~years.isin(judged.corpus_years).to_numpy()]
    queries = [{"title": t, "description": d} for t, d in zip(held_out["title"], held_out["description"])]
    started = time.perf_counter()
    bm25 = Bm25sPeer(judged.corpus)
    bm25_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rankers = {"bm25s": bm25.search, "palestras": palestras_ranker(judged.corpus)}
    palestras_seconds = time.perf_counter() - started

    print(f"corpus: the {len(judged.corpus):,} talks of {', '.join(map(str, judged.corpus_years))}; "
          f"judged: {len(judged.queries)} queries of {judged.source}; timed: {len(queries):,} talks outside the corpus "
          f"years; bm25s {bm25s.__version__} (k1=1.5, b=0.75, pt stop words, title x2), palestras DEFAULT_PARAMS "
          f"{DEFAULT_PARAMS}; indexing: bm25s {bm25_seconds:.1f} s, palestras {palestras_seconds:.1f} s")
    judged_table = {(row["ranker"], row["k"]): row for row in judged_rows(judged, rankers)}
    timing = timing_rows(rankers, queries, arguments.rounds)
    print(f"medians of {arguments.rounds} rounds, CPU time of this thread per query; 2 cores, shared machine")
    print("\n| ranker | k | nDCG@10 | P@5 (grade ≥ 1) | P@5 (grade 2) | judged share of top 10 "
          "| p50 (µs) | p99 (µs) | p50 / bm25s p50 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in timing:
        figures = judged_table[(row["ranker"], row["k"])]
        print(f"| {row['ranker']} | {row['k']} | {figures['ndcg@10']:.3f} | {figures['precision@5']:.3f} "
              f"| {figures['precision@5_grade2']:.3f} | {figures['judged_share@10']:.3f} | {row['p50_us']:.0f} "
              f"| {row['p99_us']:.0f} | {row['p50_ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
