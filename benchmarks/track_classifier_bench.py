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

from text_similarity_model.corpus import clean_talks, read_talks_csv
from text_similarity_model.settings import REAL_CSV
from text_similarity_model.steps.pipeline import build_pipeline
from text_similarity_model.steps.track_classifier import TrackClassifier
from text_similarity_model.track_groups import track_key

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--year", type=int, default=2018)
    arguments = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # folds missing a rare class

    corpus, _ = clean_talks(read_talks_csv(arguments.data)[0])
    corpus = corpus[corpus["trilha"] != ""].reset_index(drop=True)
    rows = normalize(build_pipeline()[:-1].fit_transform(corpus[["title", "description"]]))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
