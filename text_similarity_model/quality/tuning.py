"""Model selection: tune the pipeline with scikit-learn's ``RandomizedSearchCV``
or ``GridSearchCV``, scoring retrieval by track.

The talks are split into folds (:func:`query_folds`); each candidate
pipeline is fitted on the other folds with the tracks as labels
(``fit(X, y)``), and the held-out fold's talks are its queries: they are
never in the corpus they are scored against, so no query finds itself.
:class:`RankingScorer` reports precision@k (what the search ranks by), MRR
and nDCG@k, from :meth:`CosineSimilaritiesEstimator.ranking_metrics
<text_similarity_model.steps.similarity.CosineSimilaritiesEstimator.ranking_metrics>`.

Only the title and the description are features; the track is the label.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV

from .evaluation import LABEL, labelled_corpus
from ..jsonable import jsonable
from .measures import DEFAULT_K
from ..steps.pipeline import build_pipeline

#: What ``tune`` searches when no grid is given: every combination is a valid
#: pipeline; ``RandomizedSearchCV`` draws ``n_iter`` of them. ``tfidf__norm``
#: is there to show it can't matter: the cosine step normalises every vector
#: again, so configurations differing only by it score the same.
SEARCH_SPACE: dict[str, list] = {
    "lemmas__lemmatize": [True, False],
    "lemmas__strip_accents": [False, True],
    "lemmas__title_weight": [1, 2, 3, 4],
    "tfidf__sublinear_tf": [False, True],
    "tfidf__min_df": [1, 2, 3, 5],
    "tfidf__max_df": [1.0, 0.5, 0.2],
    "tfidf__ngram_range": [(1, 1), (1, 2)],
    "tfidf__norm": ["l2", "l1"],
    "cosine__latent_components": [0, 50, 100, 150],
    "cosine__latent_weight": [0.3, 0.5, 0.7],
}


def query_folds(n_splits: int = 5, random_state: int = 0) -> KFold:
    """The cross-validation splitter: shuffled folds of talks, reproducible.

    A plain ``KFold`` is enough: the held-out talks are only ever queries
    against a pipeline fitted on the other folds. (Tracks are not stratified:
    a query whose track has no talk in the training folds is left out of the
    fold's means, see :class:`~text_similarity_model.quality.measures.RankingMetrics`.)
    """
    return KFold(n_splits=n_splits, shuffle=True, random_state=random_state)


@dataclass(frozen=True)
class RankingScorer:
    """A multi-metric scorer for ``GridSearchCV(scoring=...)``: called with a
    fitted pipeline, the held-out talks and their tracks, returns
    ``{"precision@k", "mrr", "ndcg@k"}``. (A class, not a closure, so the
    search's worker processes can unpickle it.)"""

    k: int = DEFAULT_K

    def __call__(self, pipeline, X, y) -> dict[str, float]:
        queries = pipeline[:-1].transform(X)
        means = pipeline[-1].ranking_metrics(queries, y, k=self.k).means()
        return {name: means[name] for name in self.metric_names}

    @property
    def metric_names(self) -> tuple[str, str, str]:
        return f"precision@{self.k}", "mrr", f"ndcg@{self.k}"


@dataclass
class TuningResult:
    """The ranked table of a search and how it was run."""

    table: pd.DataFrame
    searched: list[str]
    n_talks: int
    n_splits: int
    k: int
    seconds: float

    def best_params(self) -> dict:
        return dict(self.table.iloc[0]["params"])

    def lines(self, top: int | None = None) -> list[str]:
        """The table as Markdown: rank, the searched parameters, mean P@k ±
        std over the folds, MRR, nDCG@k and the mean fit time of a fold."""
        k = self.k
        shown = self.table if top is None else self.table.head(top)
        names = [name.split("__", 1)[1] for name in self.searched]
        header = ["rank", *names, f"P@{k}", "MRR", f"nDCG@{k}", "fit s"]
        lines = [
            f"{len(self.table)} configurations x {self.n_splits} folds of {self.n_talks} talks"
            f" in {self.seconds:.0f} s; ranked by mean P@{k} over the held-out folds"
            + ("" if len(shown) == len(self.table) else f" (best {len(shown)} shown)"),
            "",
            "| " + " | ".join(header) + " |",
            "| ---: |" + " --- |" * len(names) + " ---: |" * 4,
        ]
        for row in shown.itertuples(index=False):
            values = [_format_value(row.params.get(name)) for name in self.searched]
            lines.append(
                f"| {row.rank} | " + " | ".join(values) + f" | {row.precision:.3f} ± {row.precision_std:.3f}"
                f" | {row.mrr:.3f} | {row.ndcg:.3f} | {row.fit_seconds:.2f} |"
            )
        return lines

    def to_json(self, top: int | None = None) -> dict:
        shown = self.table if top is None else self.table.head(top)
        return {
            "n_talks": self.n_talks,
            "n_splits": self.n_splits,
            "k": self.k,
            "seconds": self.seconds,
            "searched": self.searched,
            "configurations": [
                {
                    "rank": int(row.rank),
                    "params": jsonable(row.params),
                    f"precision@{self.k}": row.precision,
                    f"precision@{self.k}_std": row.precision_std,
                    "mrr": row.mrr,
                    f"ndcg@{self.k}": row.ndcg,
                    "fit_seconds": row.fit_seconds,
                }
                for row in shown.itertuples(index=False)
            ],
        }


def tune(
    talks: pd.DataFrame,
    grid: dict[str, list] | None = None,
    n_iter: int = 60,
    n_splits: int = 5,
    k: int = DEFAULT_K,
    n_jobs: int = 2,
    random_state: int = 0,
) -> TuningResult:
    """Search pipeline parameters by cross-validation on ``talks``.

    ``grid``: every combination of these values (``GridSearchCV``), the other
    parameters at their defaults; None draws ``n_iter`` configurations of
    :data:`SEARCH_SPACE` (``RandomizedSearchCV``). Returns the ranked table.
    """
    corpus = labelled_corpus(talks)
    X, y = corpus[["title", "description"]], corpus[LABEL].to_numpy()
    check_params(grid or SEARCH_SPACE)
    scorer = RankingScorer(k)
    started = time.perf_counter()
    # No Pipeline(memory=...) cache of the lemmas: it would make the fit
    # times of the table depend on which candidate happened to lemmatize first.
    search_options = dict(
        scoring=scorer, refit=False, cv=query_folds(n_splits, random_state), n_jobs=n_jobs, error_score="raise"
    )
    if grid is not None:
        search = GridSearchCV(build_pipeline(), grid, **search_options)
    else:
        search = RandomizedSearchCV(build_pipeline(), SEARCH_SPACE, n_iter=n_iter, random_state=random_state,
                                    **search_options)
    search.fit(X, y)
    seconds = time.perf_counter() - started
    searched = list((grid or SEARCH_SPACE).keys())
    return TuningResult(_ranked_table(search.cv_results_, scorer), searched, len(corpus), n_splits, k, seconds)


def check_params(grid: dict[str, list]) -> None:
    """Raise ``ValueError`` naming any parameter the pipeline doesn't have, or an empty value list."""
    known = build_pipeline().get_params()
    unknown = [name for name in grid if name not in known]
    if unknown:
        tunable = sorted(name for name in known if "__" in name)
        raise ValueError(f"unknown pipeline parameter {', '.join(unknown)}; parameters are: {', '.join(tunable)}")
    empty = [name for name, values in grid.items() if not len(values)]
    if empty:
        raise ValueError(f"no values to try for {', '.join(empty)}")


def parse_grid(specs: list[str]) -> dict[str, list]:
    """``["tfidf__min_df=1,2", "tfidf__ngram_range=(1,1),(1,2)", "tfidf__norm=l1,l2"]``
    -> ``{"tfidf__min_df": [1, 2], "tfidf__ngram_range": [(1, 1), (1, 2)], ...}``.

    Values are Python literals; a list that isn't one is taken as comma-separated words.
    """
    grid = {}
    for spec in specs:
        name, equals, values = spec.partition("=")
        if not equals or not name.strip() or not values.strip():
            raise ValueError(f"--param {spec!r}: write NAME=VALUE[,VALUE...], e.g. tfidf__min_df=1,2")
        try:
            parsed = ast.literal_eval(f"[{values}]")
        except (ValueError, SyntaxError):
            parsed = [_literal_or_word(value.strip()) for value in values.split(",")]
        grid[name.strip()] = parsed
    return grid


def _literal_or_word(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _ranked_table(results: dict, scorer: RankingScorer) -> pd.DataFrame:
    precision, mrr, ndcg = scorer.metric_names
    table = pd.DataFrame(
        {
            "params": results["params"],
            "precision": results[f"mean_test_{precision}"],
            "precision_std": results[f"std_test_{precision}"],
            "mrr": results[f"mean_test_{mrr}"],
            "ndcg": results[f"mean_test_{ndcg}"],
            "fit_seconds": results["mean_fit_time"],
        }
    )
    # Ties in P@k (e.g. configurations differing only by tfidf__norm): by MRR.
    table = table.sort_values(["precision", "mrr"], ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def _format_value(value) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(map(str, value)) + ")"
    return str(value)
