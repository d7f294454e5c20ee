"""Ranking measures for related-talks retrieval: the one implementation of P@k,
MRR and nDCG@k that ``evaluate``, ``tune``, the estimator's ``score()``, the
judged evaluation (:mod:`.judged`, graded nDCG) and the check before a promotion use.

A query's answer is a ranked list of corpus talks (best first); ``hits`` marks
which of them are relevant (in the evaluation: same track as the query). All
functions work on one query; :func:`ranking_metrics` applies them to many.

- precision@k: relevant talks among the first k, divided by k (an answer
  shorter than k counts its missing places as misses).
- reciprocal rank: 1 / rank of the first relevant talk within the first
  :data:`RANKING_DEPTH`, 0 when there is none; its mean is the MRR.
- nDCG@k: DCG of the first k (gain 1 for a relevant talk at rank r, discounted
  by log2(r + 1)) over the ideal DCG, the one of a ranking that puts all of
  the ``min(k, n_relevant)`` relevant talks the corpus holds first.

A query with no relevant talk in the corpus can't be answered well or badly:
its metrics are NaN and the means leave it out (``n_excluded`` counts them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Defined with the other constants the components share (the command line reads them without NumPy).
from ..contract import DEFAULT_K, RANKING_DEPTH  # noqa: F401  (re-exported: quality's own names)


def precision_at_k(hits: np.ndarray, k: int) -> float:
    """``hits``: booleans for the ranked answer, best first."""
    return float(np.count_nonzero(hits[:k])) / k


def reciprocal_rank(hits: np.ndarray, depth: int = RANKING_DEPTH) -> float:
    first = np.flatnonzero(hits[:depth])
    return 1.0 / (first[0] + 1) if len(first) else 0.0


def dcg_at_k(gains, k: int) -> float:
    """Discounted cumulative gain of the first ``k`` gains (best first): the
    gain at rank r is divided by log2(r + 1)."""
    gains = np.asarray(gains, dtype=float)[:k]
    return float(gains @ (1.0 / np.log2(np.arange(2, len(gains) + 2))))


def ndcg_at_k(hits: np.ndarray, n_relevant: int, k: int) -> float:
    """``n_relevant``: relevant talks in the whole corpus (not only in ``hits``)."""
    if n_relevant < 1:
        return float("nan")
    return dcg_at_k(hits, k) / dcg_at_k(np.ones(min(k, n_relevant)), k)


def graded_ndcg_at_k(gains, ideal_gains, k: int) -> float:
    """nDCG@k with graded gains: ``gains`` of the ranked answer (best first),
    ``ideal_gains`` of every judged talk of the query (any order), from which the
    ideal ranking is built. A query whose ideal DCG is 0 (nothing relevant was
    found for it) scores 0, as trec_eval counts it, so that means over a judged
    set compare every ranker on the same queries."""
    ideal = dcg_at_k(np.sort(np.asarray(ideal_gains, dtype=float))[::-1], k)
    return dcg_at_k(gains, k) / ideal if ideal > 0 else 0.0


@dataclass
class RankingMetrics:
    """Per-query metrics of a set of queries (arrays of shape (n_queries,)).

    Queries without any relevant talk in the corpus have NaN metrics.
    """

    k: int
    precision: np.ndarray
    reciprocal_rank: np.ndarray
    ndcg: np.ndarray
    n_relevant: np.ndarray

    @property
    def answerable(self) -> np.ndarray:
        """Boolean mask of the queries with at least one relevant talk."""
        return self.n_relevant > 0

    @property
    def n_excluded(self) -> int:
        return int(np.count_nonzero(~self.answerable))

    def means(self) -> dict[str, float]:
        """``{"precision@k", "mrr", "ndcg@k", "n_queries", "n_excluded"}`` over the answerable queries."""
        kept = self.answerable
        if not kept.any():
            mean = lambda values: float("nan")  # noqa: E731
        else:
            mean = lambda values: float(values[kept].mean())  # noqa: E731
        return {
            f"precision@{self.k}": mean(self.precision),
            "mrr": mean(self.reciprocal_rank),
            f"ndcg@{self.k}": mean(self.ndcg),
            "n_queries": int(np.count_nonzero(kept)),
            "n_excluded": self.n_excluded,
        }


def ranking_metrics(
    rankings: Sequence[np.ndarray],
    query_labels: Sequence,
    corpus_labels: Sequence,
    n_relevant: Sequence[int],
    k: int = DEFAULT_K,
    depth: int = RANKING_DEPTH,
) -> RankingMetrics:
    """Metrics of each query's ranking.

    Parameters
    ----------
    rankings : n_queries arrays of corpus indices, best first (the query
        itself already left out when it is in the corpus).
    query_labels : n_queries labels; a talk is relevant when its label equals its query's.
    corpus_labels : n_documents labels.
    n_relevant : n_queries counts of relevant talks in the corpus (query excluded).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    corpus_labels = np.asarray(corpus_labels, dtype=object)
    n_queries = len(rankings)
    precision = np.full(n_queries, np.nan)
    reciprocal = np.full(n_queries, np.nan)
    ndcg = np.full(n_queries, np.nan)
    n_relevant = np.asarray(n_relevant, dtype=np.int64)
    for query, (ranking, label) in enumerate(zip(rankings, query_labels)):
        if n_relevant[query] < 1:
            continue
        hits = corpus_labels[np.asarray(ranking[:depth], dtype=np.intp)] == label
        precision[query] = precision_at_k(hits, k)
        reciprocal[query] = reciprocal_rank(hits, depth)
        ndcg[query] = ndcg_at_k(hits, int(n_relevant[query]), k)
    return RankingMetrics(k, precision, reciprocal, ndcg, n_relevant)


def same_label_metrics(
    rankings: Sequence[np.ndarray],
    query_labels: Sequence,
    corpus_labels: Sequence,
    k: int = DEFAULT_K,
    exclude: Sequence[int] | None = None,
    depth: int = RANKING_DEPTH,
) -> RankingMetrics:
    """:func:`ranking_metrics` where a corpus talk is relevant to a query with
    the same label (e.g. its track), compared as text.

    ``exclude``: one corpus index per query, the query itself when the
    queries are corpus talks (leave-one-out): not counted among its relevant
    talks (its ranking must already leave it out).
    """
    corpus_labels = np.asarray(corpus_labels, dtype=object).astype(str)
    query_labels = np.asarray(query_labels, dtype=object).astype(str)
    values, counts = np.unique(corpus_labels, return_counts=True)
    label_counts = dict(zip(values.tolist(), counts.tolist()))
    n_relevant = np.array([label_counts.get(label, 0) for label in query_labels], dtype=np.int64)
    if exclude is not None:
        n_relevant -= corpus_labels[np.asarray(exclude, dtype=np.intp)] == query_labels
    return ranking_metrics(rankings, query_labels, corpus_labels, n_relevant, k, depth)
