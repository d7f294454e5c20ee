"""Which track classifier: the nearest centroid the model uses against
scikit-learn's LogisticRegression and SGDClassifier, on the same features.

    .venv/bin/python benchmarks/track_classifier_bench.py [DATA.csv] [--folds 10]

Features: the default pipeline's TF-IDF rows, fitted once on the whole corpus
(no label reaches them); labels: the track groups (track_groups.track_key).
Each classifier is scored by top-1 and top-3 accuracy over --folds folds
(each fold's labels held out) and trained on the talks before --year, asked
about that year's talks whose group it knows; fit time on the whole corpus
and the time of one query's top 3 (one talk's row, median of 2,000). About
4 minutes on the real corpus, nearly all of it LogisticRegression's fits.

Then what ``likely_tracks`` adds to ``Model.predict``: the CPU time of blocks
of 100 predictions of a model with its suggestion and of the same model with
the suggestion taken out, alternating in one process (medians per query).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import KFold
from sklearn.preprocessing import normalize

from text_similarity_model import Model
from text_similarity_model.corpus import clean_talks, read_talks_csv
from text_similarity_model.settings import REAL_CSV
from text_similarity_model.steps.pipeline import build_pipeline, fit_with_talk_vectors
from text_similarity_model.steps.track_classifier import TrackClassifier
from text_similarity_model.track_groups import track_key
from text_similarity_model.track_suggestions import NO_SUGGESTION

CLASSIFIERS = {
    "nearest centroid (TrackClassifier, the model's)": TrackClassifier,
    "LogisticRegression(C=10)": lambda: LogisticRegression(C=10, max_iter=1000),
    "SGDClassifier(log_loss, alpha=1e-5)": lambda: SGDClassifier(loss="log_loss", alpha=1e-5, random_state=0),
}


def top_k(classifier, rows, groups: np.ndarray) -> tuple[int, int]:
    """How many of ``rows`` have their group first, and among the first three."""
    order = np.argsort(-classifier.predict_proba(rows), axis=1, kind="stable")[:, :3]
    suggested = classifier.classes_[order]
    return int((suggested[:, 0] == groups).sum()), int((suggested == groups[:, None]).any(axis=1).sum())


def query_microseconds(classifier, rows) -> float:
    """Median time of one row's three most likely classes, as a service would ask."""
    times = []
    for index in range(2000):
        row = rows[index % rows.shape[0]]
        started = time.perf_counter()
        if isinstance(classifier, TrackClassifier):
            classifier.top(row.indices.astype(np.int32), row.data, 3)
        else:
            probabilities = classifier.predict_proba(row)[0]
            np.argsort(-probabilities)[:3]
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1e6)


class NoSuggestion:
    """A model's ``track_suggester`` that suggests nothing, at no cost."""

    def suggest(self, terms, weights):
        return NO_SUGGESTION

    def items(self, suggestion):
        return []


def predict_cost(talks, n_queries: int = 1000, rounds: int = 5) -> tuple[float, float]:
    """Median CPU µs per ``predict`` with the suggestion and without it."""
    with_tracks, without = Model(), Model()
    with_tracks.train(talks)
    without.train(talks)
    without.__dict__["track_suggester"] = NoSuggestion()
    rows = np.random.default_rng(2019).choice(len(talks), min(n_queries, len(talks)), replace=False)
    queries = [{"title": talks["title"].iloc[row], "description": talks["description"].iloc[row]} for row in rows]
    models = [with_tracks, without]
    for model in models:
        for query in queries[:50]:
            model.predict(query)
    blocks: dict[int, list[float]] = {0: [], 1: []}
    for round_ in range(rounds):
        for start in range(0, len(queries), 100):
            for which in ((0, 1) if (start // 100 + round_) % 2 else (1, 0)):
                started = time.process_time()
                for query in queries[start:start + 100]:
                    models[which].predict(query)
                blocks[which].append((time.process_time() - started) / len(queries[start:start + 100]))
    return float(np.median(blocks[0]) * 1e6), float(np.median(blocks[1]) * 1e6)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--year", type=int, default=2018)
    arguments = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # folds missing a rare class

    corpus, _ = clean_talks(read_talks_csv(arguments.data)[0])
    corpus = corpus[corpus["trilha"] != ""].reset_index(drop=True)
    # The talks' vectors as queries (the corpus' own rows may be BM25-weighted).
    rows = normalize(fit_with_talk_vectors(build_pipeline(), corpus[["title", "description"]]))
    groups = corpus["trilha"].map(track_key).to_numpy()
    years = corpus["ano"].to_numpy()
    before, during = years < arguments.year, years == arguments.year
    known = during & np.isin(groups, groups[before])

    print(f"corpus: {arguments.data} ({len(corpus)} talks, {len(set(groups))} track groups); "
          f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print(f"| classifier | {arguments.folds} folds top-1 | top-3 | {arguments.year} from earlier years top-1 "
          "| top-3 | fit, whole corpus | one query's top 3 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, make in CLASSIFIERS.items():
        hits = np.zeros(2)
        for train, test in KFold(arguments.folds, shuffle=True, random_state=0).split(rows):
            hits += top_k(make().fit(rows[train], groups[train]), rows[test], groups[test])
        folds = hits / len(groups)
        later = np.array(top_k(make().fit(rows[before], groups[before]), rows[known], groups[known])) / known.sum()
        started = time.perf_counter()
        whole = make().fit(rows, groups)
        fit = time.perf_counter() - started
        print(f"| {name} | {folds[0]:.3f} | {folds[1]:.3f} | {later[0]:.3f} | {later[1]:.3f} | {fit:.2f} s "
              f"| {query_microseconds(whole, rows):.0f} µs |")
    with_tracks, without = predict_cost(corpus)
    print(f"Model.predict, CPU per query (median of blocks, same process, alternating): {with_tracks:.1f} µs with "
          f"likely_tracks, {without:.1f} µs without ({100 * (with_tracks / without - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
