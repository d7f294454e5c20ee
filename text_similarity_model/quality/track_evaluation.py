"""How good are the suggested tracks? Top-1 and top-3 accuracy of the track
classifier (:class:`.TrackClassifier`), each query's own label held out.

A query is a talk; its suggestion is right at k when its track group
(:func:`.track_groups.track_key`) is among the k most likely. Two protocols,
as for the related talks (:mod:`.evaluation`):

- :func:`leave_one_out`: the classifier is fitted on every talk, and each
  talk is scored against centroids from which its own row is taken out: the
  exact leave-one-out of a nearest-centroid classifier, refitting nothing
  (:meth:`.TrackClassifier.leave_one_out_cosines`). Its words still count in
  the TF-IDF's vocabulary and IDF, which never see a label.
- :func:`split_year`: the pipeline and the classifier are fitted on the talks
  before year Y, and the talks of Y are the queries.

A talk whose group has no other talk (leave-one-out), or none before Y, can't
be suggested right and is left out, counted. The most frequent groups of the
training talks, suggested to every query, are the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..contract import LABEL
from ..errors import DataError
from ..jsonable import jsonable
from ..steps.pipeline import build_pipeline, fit_with_talk_vectors
from ..steps.track_classifier import TrackClassifier
from ..track_groups import track_key
from ..track_suggestions import TrackSuggester
from .evaluation import labelled_corpus

#: The ks reported.
KS = (1, 3)


@dataclass
class TrackEvaluation:
    """The suggestion's accuracy under one protocol."""

    protocol: str
    #: Talks the classifier learned from, and their groups.
    n_corpus: int
    n_groups: int
    #: Per query: its group, the rank of its group among the suggestion
    #: (0: first; -1: not suggested at all) and the baseline's rank of it.
    groups: np.ndarray = field(repr=False)
    ranks: np.ndarray = field(repr=False)
    baseline_ranks: np.ndarray = field(repr=False)
    #: Per query: whether its group can be suggested (it has another talk to learn from).
    answerable: np.ndarray = field(repr=False)
    #: Per group key, the name people read.
    names: dict = field(repr=False, default_factory=dict)

    def overall(self) -> dict:
        """``{"top1", "top3", "baseline_top1", "baseline_top3", "n_queries", "n_excluded"}``."""
        kept = self.answerable
        figures = {}
        for k in KS:
            figures[f"top{k}"] = _accuracy(self.ranks[kept], k)
            figures[f"baseline_top{k}"] = _accuracy(self.baseline_ranks[kept], k)
        return {**figures, "n_queries": int(kept.sum()), "n_excluded": int((~kept).sum())}

    def per_group(self) -> pd.DataFrame:
        """One row per group of the answerable queries, worst top-3 first:
        ``group``, ``name``, ``queries``, ``top1``, ``top3``."""
        kept = self.answerable
        frame = pd.DataFrame({"group": self.groups[kept], **{f"top{k}": _hits(self.ranks[kept], k) for k in KS}})
        table = frame.groupby("group").agg(queries=("group", "size"), **{f"top{k}": (f"top{k}", "mean") for k in KS})
        table = table.sort_values(["top3", "top1", "queries"], ascending=[True, True, False]).reset_index()
        table.insert(1, "name", table["group"].map(self.names))
        return table

    def lines(self, source: str = "", worst: int | None = None) -> list[str]:
        overall = self.overall()
        if self.protocol == "leave-one-out":
            lines = [f"suggested tracks, leave-one-out over {self.n_corpus} talks{source}: each talk's track group "
                     f"against a classifier fitted without it, {self.n_groups} groups"]
            reason = "their group has no other talk"
        else:
            year = self.protocol.split()[-1]
            lines = [f"suggested tracks, {self.protocol}{source}: {len(self.ranks)} talks of {year} against a "
                     f"classifier fitted on the {self.n_corpus} talks before it, {self.n_groups} groups"]
            reason = f"their group has no talk before {year}"
        if overall["n_excluded"]:
            lines.append(f"{overall['n_excluded']} of {len(self.ranks)} queries left out: {reason}")
        lines += ["", "| suggestion | top-1 | top-3 | queries |", "| --- | ---: | ---: | ---: |",
                  f"| track classifier | {overall['top1']:.3f} | {overall['top3']:.3f} | {overall['n_queries']} |",
                  f"| most frequent groups | {overall['baseline_top1']:.3f} | {overall['baseline_top3']:.3f} |"
                  f" {overall['n_queries']} |"]
        groups = self.per_group()
        shown = groups if worst is None else groups.head(worst)
        lines += ["", "per track group, worst top-3 first"
                  + ("" if len(shown) == len(groups) else f" ({len(shown)} of {len(groups)})") + ":", "",
                  "| group | queries | top-1 | top-3 |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {row.name} | {row.queries} | {row.top1:.3f} | {row.top3:.3f} |" for row in shown.itertuples()]
        return lines

    def json(self) -> dict:
        return {"protocol": self.protocol, "n_corpus": self.n_corpus, "n_groups": self.n_groups,
                "overall": jsonable(self.overall()), "groups": self.per_group().to_dict(orient="records")}


def leave_one_out(talks: pd.DataFrame, params: dict | None = None) -> TrackEvaluation:
    """Each talk's suggestion by a classifier fitted without its row (see the
    module's docstring); ``params`` go to :func:`build_pipeline`."""
    corpus = labelled_corpus(talks)
    # The talks' vectors as queries: what a suggestion classifies.
    vectors = fit_with_talk_vectors(build_pipeline(**(params or {})), corpus[["title", "description"]])
    groups = corpus[LABEL].map(track_key).to_numpy()
    classifier = TrackClassifier().fit(vectors, groups)
    cosines, own = classifier.leave_one_out_cosines(vectors, groups)
    counts = classifier.class_counts_
    baseline = np.array([_rank_of(counts, position, held_out=1) for position in own])
    return TrackEvaluation("leave-one-out", len(corpus), len(counts), groups, _ranks(cosines, own), baseline,
                           counts[own] > 1, _names(classifier, corpus))


def split_year(talks: pd.DataFrame, year: int, params: dict | None = None) -> TrackEvaluation:
    """The talks of ``year``'s suggestions by a classifier fitted on the talks before it."""
    corpus = labelled_corpus(talks)
    if "ano" not in corpus.columns:
        raise DataError("--split-year needs an 'ano' column (each talk's year)")
    before, queries = corpus[corpus["ano"].between(1, year - 1)], corpus[corpus["ano"] == year]
    if before.empty or queries.empty:
        raise DataError(f"--split-year {year} needs talks before {year} and talks of {year}; "
                        f"the years are {sorted(set(corpus['ano']) - {0})}")
    pipeline = build_pipeline(**(params or {}))
    vectors = fit_with_talk_vectors(pipeline, before[["title", "description"]])
    features = pipeline[:-1]
    classifier = TrackClassifier().fit(vectors, before[LABEL].map(track_key).to_numpy())
    groups = queries[LABEL].map(track_key).to_numpy()
    known = np.isin(groups, classifier.classes_)
    own = np.where(known, np.searchsorted(classifier.classes_, groups), 0)
    cosines = classifier.decision_function(features.transform(queries[["title", "description"]]))
    baseline = np.array([_rank_of(classifier.class_counts_, position) for position in own])
    return TrackEvaluation(f"split-year {year}", len(before), len(classifier.classes_), groups,
                           np.where(known, _ranks(cosines, own), -1), baseline, known, _names(classifier, before))


def _ranks(cosines: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Per row, the rank of class ``own`` by decreasing cosine (ties by class
    position), as the suggestion orders them; -1 when the row shares nothing
    with any class (nothing is suggested) or with its own."""
    rows = np.arange(len(own))
    own_cosines = cosines[rows, own]
    positions = np.arange(cosines.shape[1])
    ahead = (cosines > own_cosines[:, None]) | ((cosines == own_cosines[:, None]) & (positions < own[:, None]))
    return np.where(own_cosines > 0, ahead.sum(axis=1), -1)


def _rank_of(counts: np.ndarray, position: int, held_out: int = 0) -> int:
    """The rank of class ``position`` when classes are ordered by decreasing
    ``counts`` (its own less ``held_out``: the query's talk), ties by position."""
    own = counts[position] - held_out
    return int((counts > own).sum() - (counts[position] > own) + (counts[:position] == own).sum())


def _hits(ranks: np.ndarray, k: int) -> np.ndarray:
    return (ranks >= 0) & (ranks < k)


def _accuracy(ranks: np.ndarray, k: int) -> float:
    return float(_hits(ranks, k).mean()) if len(ranks) else float("nan")


def _names(classifier: TrackClassifier, corpus: pd.DataFrame) -> dict:
    """Group key -> its name, as suggestions give it."""
    return {group.key: group.name for group in TrackSuggester(classifier, corpus[LABEL]).groups}
