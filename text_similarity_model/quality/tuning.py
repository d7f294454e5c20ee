"""Model selection: tune the pipeline with scikit-learn's ``RandomizedSearchCV``
or ``GridSearchCV``, scoring retrieval by track, or by relevance judged by reading.

The talks are split into folds (:func:`query_folds`); each candidate
pipeline is fitted on the other folds with the tracks as labels
(``fit(X, y)``), and the held-out fold's talks are its queries: they are
never in the corpus they are scored against, so no query finds itself.
:class:`RankingScorer` reports precision@k (what the search ranks by), MRR
and nDCG@k, from :meth:`CosineSimilaritiesEstimator.ranking_metrics
<text_similarity_model.steps.similarity.CosineSimilaritiesEstimator.ranking_metrics>`.

Only the title and the description are features; the track is the label.

With a judged file (``tune --judged``), relevance judged by reading scores
instead, the primary measure (docs/quality.md): each configuration is fitted on
the judged file's corpus years and ranked by the judged nDCG@10 of its queries
(:class:`~.judged.JudgedScorer`), one split, the judged queries never in the corpus.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV

from .evaluation import LABEL, labelled_corpus
from .judged import JudgedSet
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


@dataclass(frozen=True)
class Metric:
    """A column of the tuning table: its ``column`` in the table, its ``name`` in the
    scorer's (and the JSON's) results, its ``label`` in the printed table."""

    column: str
    name: str
    label: str


def track_metrics(k: int) -> tuple[Metric, ...]:
    """What :class:`RankingScorer` reports, ranked by the first (then the second)."""
    return (Metric("precision", f"precision@{k}", f"P@{k}"), Metric("mrr", "mrr", "MRR"),
            Metric("ndcg", f"ndcg@{k}", f"nDCG@{k}"))


def judged_metrics() -> tuple[Metric, ...]:
    """What :class:`~.judged.JudgedScorer` reports, ranked by judged nDCG@10 (then P@5)."""
    from .judged import MEASURES

    columns = ("ndcg", "precision", "precision_grade2", "judged_share", "same_track_precision")
    return tuple(Metric(column, name, label) for column, (name, label) in zip(columns, MEASURES.items()))


@dataclass
class TuningResult:
    """The ranked table of a search and how it was run."""

    table: pd.DataFrame
    searched: list[str]
    n_talks: int
    n_splits: int
    k: int
    seconds: float
    #: The table's measures, the first ranking it; default: the track scorer's.
    metrics: tuple[Metric, ...] = ()
    #: How the configurations were scored, for the table's first line.
    protocol: str = ""

    def __post_init__(self):
        self.metrics = self.metrics or track_metrics(self.k)
        self.protocol = self.protocol or f"{self.n_splits} folds of {self.n_talks} talks"

    def best_params(self) -> dict:
        return dict(self.table.iloc[0]["params"])

    def lines(self, top: int | None = None) -> list[str]:
        """The table as Markdown: rank, the searched parameters, the measures (the
        first ± its std over the folds, when there are folds) and the mean fit time."""
        shown = self.table if top is None else self.table.head(top)
        names = [name.split("__", 1)[1] for name in self.searched]
        first = self.metrics[0]
        header = ["rank", *names, *(metric.label for metric in self.metrics), "fit s"]
        lines = [
            f"{len(self.table)} configurations x {self.protocol} in {self.seconds:.0f} s; ranked by mean "
            f"{first.label}" + (" over the held-out folds" if self.n_splits > 1 else "")
            + ("" if len(shown) == len(self.table) else f" (best {len(shown)} shown)"),
            "",
            "| " + " | ".join(header) + " |",
            "| ---: |" + " --- |" * len(names) + " ---: |" * (len(self.metrics) + 1),
        ]
        for row in shown.to_dict(orient="records"):
            values = [_format_value(row["params"].get(name)) for name in self.searched]
            measures = [f"{row[metric.column]:.3f}" for metric in self.metrics]
            if self.n_splits > 1:
                measures[0] += f" ± {row[f'{first.column}_std']:.3f}"
            lines.append(f"| {row['rank']} | " + " | ".join(values + measures) + f" | {row['fit_seconds']:.2f} |")
        return lines

    def to_json(self, top: int | None = None) -> dict:
        shown = self.table if top is None else self.table.head(top)
        first = self.metrics[0]
        return {
            "n_talks": self.n_talks,
            "n_splits": self.n_splits,
            "k": self.k,
            "seconds": self.seconds,
            "searched": self.searched,
            "ranked_by": first.name,
            "configurations": [
                {
                    "rank": int(row["rank"]),
                    "params": jsonable(row["params"]),
                    # NaN (e.g. same-track P@5 when no query has a track) is null: strict JSON has no NaN.
                    **jsonable({metric.name: row[metric.column] for metric in self.metrics}),
                    f"{first.name}_std": jsonable(row[f"{first.column}_std"]),
                    "fit_seconds": row["fit_seconds"],
                }
                for row in shown.to_dict(orient="records")
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
    judged: JudgedSet | None = None,
) -> TuningResult:
    """Search pipeline parameters on ``talks``.

    ``grid``: every combination of these values (``GridSearchCV``), the other
    parameters at their defaults; None draws ``n_iter`` configurations of
    :data:`SEARCH_SPACE` (``RandomizedSearchCV``). Returns the ranked table.

    Scored by track over ``n_splits`` folds of talks by default; with ``judged``
    (:func:`~.judged.read_judged` of ``talks``), each configuration is fitted on
    the judged corpus and ranked by the judged nDCG@10 of its queries (one split:
    the judged queries are never in the corpus).
    """
    check_params(grid or SEARCH_SPACE)
    if judged is None:
        corpus = labelled_corpus(talks)
        X, y = corpus[["title", "description"]], corpus[LABEL].to_numpy()
        scorer, cv, metrics, protocol = RankingScorer(k), query_folds(n_splits, random_state), track_metrics(k), ""
        n_talks = len(corpus)
    else:
        X = pd.concat([judged.corpus[["title", "description"]], judged.query_frame()], ignore_index=True)
        n_corpus, n_queries = len(judged.corpus), len(judged.queries)
        # The queries' positions in the judged set: how the scorer finds their grades.
        y = np.concatenate([np.full(n_corpus, -1), np.arange(n_queries)])
        scorer, cv, metrics = judged.scorer(), [(np.arange(n_corpus), np.arange(n_corpus, n_corpus + n_queries))], \
            judged_metrics()
        years = ", ".join(map(str, judged.corpus_years))
        protocol = f"{n_queries} judged queries against the {n_corpus:,} talks of {years}"
        n_talks, n_splits = n_corpus, 1
    started = time.perf_counter()
    # No Pipeline(memory=...) cache of the lemmas: it would make the fit
    # times of the table depend on which candidate happened to lemmatize first.
    search_options = dict(scoring=scorer, refit=False, cv=cv, n_jobs=n_jobs, error_score="raise")
    if grid is not None:
        search = GridSearchCV(build_pipeline(), grid, **search_options)
    else:
        search = RandomizedSearchCV(build_pipeline(), SEARCH_SPACE, n_iter=n_iter, random_state=random_state,
                                    **search_options)
    search.fit(X, y)
    seconds = time.perf_counter() - started
    searched = list((grid or SEARCH_SPACE).keys())
    return TuningResult(_ranked_table(search.cv_results_, metrics), searched, n_talks, n_splits, k, seconds,
                        metrics, protocol)


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


def _ranked_table(results: dict, metrics: tuple[Metric, ...]) -> pd.DataFrame:
    first, second = metrics[0], metrics[1]
    table = pd.DataFrame({"params": results["params"],
                          **{metric.column: results[f"mean_test_{metric.name}"] for metric in metrics},
                          f"{first.column}_std": results[f"std_test_{first.name}"],
                          "fit_seconds": results["mean_fit_time"]})
    # Ties in the first measure (e.g. configurations differing only by tfidf__norm): by the second.
    table = table.sort_values([first.column, second.column], ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def _format_value(value) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(map(str, value)) + ")"
    return str(value)
