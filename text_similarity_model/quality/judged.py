"""Relevance judged by reading: rankings measured against graded (query, past talk) pairs.

A judged file (``../shared/data/judged_2018.json``, its format in ``JUDGED.md``)
names the corpus years a ranker is trained on and, per query talk, candidate
past talks graded by reading: 0 unrelated, 1 related, 2 same topic. Queries
and candidates are matched to the talks CSV by text (:func:`text_key`: title
and description, whitespace collapsed, case ignored), never by row. A text the
corpus holds more than once (talks differing only in case or spaces survive
:func:`~text_similarity_model.corpus.clean_talks`) gets its grade on every such row.

Measures of each query's top 10, then their means over the queries (a talk no
judgment grades counts as grade 0):

- nDCG@10, gain ``2**grade - 1``, the ideal order from the query's graded
  candidates; a query none of whose candidates is graded 1 or more scores 0;
- P@5 counting grade >= 1, and P@5 counting grade 2;
- the judged share of the top 10: where it is low (below
  :data:`MIN_JUDGED_SHARE`) the figures are floors, not measurements;
- same-track P@5, the old measure, a proxy: a talk whose ``trilha`` is the query's.

The measures themselves are those of :mod:`.measures`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..contract import LABEL
from ..corpus import clean_talks
from ..errors import JudgedFileError
from ..jsonable import jsonable
from .measures import graded_ndcg_at_k, precision_at_k

GRADES = (0, 1, 2)
NDCG_K = 10
P_K = 5

#: Below this judged share of its top 10 a ranker's figures are floors: judge its new pairs first (JUDGED.md).
MIN_JUDGED_SHARE = 0.8

#: The measures, in the order of the tables: key, the table's heading.
MEASURES = {
    "ndcg@10": "nDCG@10",
    "precision@5": "P@5 (grade ≥ 1)",
    "precision@5_grade2": "P@5 (grade 2)",
    "judged_share@10": "judged share of top 10",
    "same_track_precision@5": "same-track P@5 (proxy)",
}

_FORMAT = ('{"corpus_years": [2016, 2017], "judgments": [{"query_title", "query_description", '
           '"candidates": [{"title", "description", "grade"}]}]} (see JUDGED.md)')


def text_key(title, description) -> tuple[str, str]:
    """A talk's identity for matching: title and description, each run of whitespace one space, case folded."""
    return (" ".join(str(title or "").split()).casefold(), " ".join(str(description or "").split()).casefold())


@dataclass(frozen=True)
class JudgedQuery:
    title: str
    description: str
    #: The query talk's ``trilha`` in the talks CSV ("" when it has none).
    track: str
    #: Corpus index -> grade, for this query's judged talks.
    grades: dict[int, int]


@dataclass
class JudgedSet:
    """A judged file matched to a talks CSV: the training corpus and the graded queries."""

    source: str
    corpus_years: list[int]
    #: The CSV's talks of ``corpus_years``, cleaned as ``Model.train`` cleans them: row i is corpus index i.
    corpus: pd.DataFrame
    queries: list[JudgedQuery]
    #: Graded (query, candidate text) pairs, as the file counts them (a text may be several corpus rows).
    n_pairs: int

    def query_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"title": [q.title for q in self.queries],
                             "description": [q.description for q in self.queries]})

    def corpus_tracks(self) -> np.ndarray:
        if LABEL not in self.corpus.columns:
            return np.full(len(self.corpus), "", dtype=object)
        return self.corpus[LABEL].to_numpy(dtype=object)

    def scorer(self) -> "JudgedScorer":
        return JudgedScorer(tuple(q.grades for q in self.queries), tuple(q.track for q in self.queries),
                            tuple(self.corpus_tracks().tolist()))


def _fail(path, problem: str, fix: str):
    raise JudgedFileError(f"{path}: {problem}; {fix}")


def read_judged(path: str | Path, talks: pd.DataFrame, extra: str | Path | None = None) -> JudgedSet:
    """Read the judged file ``path`` and match it to ``talks`` (a talks CSV as
    :func:`~text_similarity_model.corpus.read_talks_csv` reads it); ``extra``: a
    second judged file of new pairs (same corpus years), merged in.

    Raises :class:`JudgedFileError` on one line naming the file and the fix: missing,
    not JSON, not of the format, a grade outside 0-2, a query or a candidate the CSV
    doesn't hold, a pair graded twice differently, an extra file changing a grade.
    """
    judged = _read_one(path, talks)
    if extra is not None:
        judged = merge_judgments(judged, _read_one(extra, talks))
    return judged


def merge_judgments(base: JudgedSet, extra: JudgedSet) -> JudgedSet:
    """``base`` with ``extra``'s pairs added (its new queries too). A grade is never
    changed: an ``extra`` that grades a pair of ``base`` differently is refused."""
    if sorted(extra.corpus_years) != sorted(base.corpus_years):
        _fail(extra.source, f"corpus years {extra.corpus_years} differ from {base.source}'s {base.corpus_years}",
              "judge the extra pairs against the same corpus")
    # Pairs count texts, as the files do: a text several corpus rows hold is one pair.
    texts = list(map(text_key, base.corpus["title"], base.corpus["description"]))
    by_text = {text_key(q.title, q.description): q for q in extra.queries}
    queries, new_pairs = [], set()
    for query in base.queries:
        grades = dict(query.grades)
        more = by_text.pop(text_key(query.title, query.description), None)
        for index, grade in (more.grades.items() if more else ()):
            if grades.get(index, grade) != grade:
                _fail(extra.source, f"changes the grade {grades[index]} of {base.source} to {grade} for "
                                    f"{base.corpus['title'].iloc[index]!r} under query {query.title!r}",
                      "never change an existing grade: keep only new pairs in the extra file")
            if index not in grades:
                new_pairs.add((len(queries), texts[index]))
            grades[index] = grade
        queries.append(JudgedQuery(query.title, query.description, query.track, grades))
    for query in by_text.values():
        new_pairs |= {(len(queries), texts[index]) for index in query.grades}
        queries.append(query)
    return JudgedSet(f"{base.source} + {extra.source}", base.corpus_years, base.corpus, queries,
                     base.n_pairs + len(new_pairs))


def _read_one(path: str | Path, talks: pd.DataFrame) -> JudgedSet:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(path, "no such file", "pass the judged file (e.g. ../shared/data/judged_2018.json)")
    except IsADirectoryError:
        _fail(path, "is a folder", "pass the judged JSON file inside it")
    except UnicodeDecodeError:
        _fail(path, "not UTF-8 text", "save the judged file as UTF-8 JSON")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        _fail(path, f"not JSON ({error.msg} at line {error.lineno} column {error.colno})",
              f"fix the file or pass the judged JSON file, {_FORMAT}")
    if not isinstance(raw, dict) or not isinstance(raw.get("judgments"), list) or not raw["judgments"]:
        _fail(path, 'no "judgments" list', f"expected {_FORMAT}")
    years = raw.get("corpus_years")
    if (not isinstance(years, list) or not years
            or not all(isinstance(year, int) and not isinstance(year, bool) for year in years)):
        _fail(path, 'no "corpus_years" list of years', f"expected {_FORMAT}")
    if "ano" not in talks.columns:
        _fail(path, "names corpus years but the talks CSV has no 'ano' column", "pass the CSV the file was judged on")

    in_years = pd.to_numeric(talks["ano"], errors="coerce").fillna(0).astype("int64").isin(years).to_numpy()
    if not in_years.any():
        _fail(path, f"the talks CSV has no talk of the corpus years {years}", "pass the CSV the file was judged on")
    corpus, _ = clean_talks(talks[in_years])
    corpus_rows: dict[tuple[str, str], list[int]] = {}
    for index, key in enumerate(map(text_key, corpus["title"], corpus["description"])):
        corpus_rows.setdefault(key, []).append(index)
    # Queries may be talks of any year of the CSV (their track comes from it).
    tracks = talks[LABEL].tolist() if LABEL in talks.columns else [""] * len(talks)
    query_tracks = {key: str(track) for key, track in zip(map(text_key, talks["title"], talks["description"]), tracks)}

    queries, missing_queries, missing_candidates, bad_grades = [], [], [], []
    n_pairs = 0
    for number, judgment in enumerate(raw["judgments"], 1):
        if not isinstance(judgment, dict) or not isinstance(judgment.get("candidates"), list):
            _fail(path, f'judgment {number} has no "candidates" list', f"expected {_FORMAT}")
        title, description = judgment.get("query_title"), judgment.get("query_description")
        if not isinstance(title, str) or not isinstance(description, str):
            _fail(path, f'judgment {number} has no "query_title" and "query_description" strings', f"expected {_FORMAT}")
        track = query_tracks.get(text_key(title, description))
        if track is None:
            missing_queries.append(title)
        grades: dict[int, int] = {}
        for candidate in judgment["candidates"]:
            if (not isinstance(candidate, dict) or not isinstance(candidate.get("title"), str)
                    or not isinstance(candidate.get("description"), str)):
                _fail(path, f'judgment {number} has a candidate without "title" and "description" strings',
                      f"expected {_FORMAT}")
            grade = candidate.get("grade")
            if isinstance(grade, bool) or not isinstance(grade, int) or grade not in GRADES:
                bad_grades.append((title, candidate["title"], grade))
                continue
            rows = corpus_rows.get(text_key(candidate["title"], candidate["description"]))
            if rows is None:
                missing_candidates.append((title, candidate["title"]))
                continue
            n_pairs += 1
            for index in rows:
                if grades.get(index, grade) != grade:
                    _fail(path, f"query {title!r} grades {candidate['title']!r} twice, differently",
                          "keep one grade per (query, candidate)")
                grades[index] = grade
        queries.append(JudgedQuery(title, description, track or "", grades))
    if bad_grades:
        query, candidate, grade = bad_grades[0]
        _fail(path, f"{len(bad_grades)} grades outside 0-2 (e.g. {grade!r} for {candidate!r} under query {query!r})",
              "grade each candidate 0 (unrelated), 1 (related) or 2 (same topic)")
    if missing_queries:
        _fail(path, f"{len(missing_queries)} queries not found in the talks CSV (e.g. {missing_queries[0]!r})",
              "pass the CSV the file was judged on: queries match it by title and description")
    if missing_candidates:
        query, candidate = missing_candidates[0]
        _fail(path, f"{len(missing_candidates)} candidates not found among the CSV's talks of {years} "
                    f"(e.g. {candidate!r} under query {query!r})",
              "pass the CSV the file was judged on: candidates match it by title and description")
    return JudgedSet(str(path), list(years), corpus, queries, n_pairs)


# -- measures ------------------------------------------------------------------


def query_measures(grades: dict[int, int], track: str, ranking, corpus_tracks) -> dict[str, float]:
    """The :data:`MEASURES` of one query's ``ranking`` (corpus indices, best first);
    ``grades``: corpus index -> grade of its judged talks; ``track``: its ``trilha``
    ("" leaves the same-track measure NaN)."""
    ranking = np.asarray(ranking, dtype=np.intp)[:NDCG_K]
    ranked_grades = np.array([grades.get(int(index), 0) for index in ranking], dtype=np.int64)
    ideal = 2.0 ** np.fromiter(grades.values(), dtype=np.int64, count=len(grades)) - 1
    return {
        "ndcg@10": graded_ndcg_at_k(2.0 ** ranked_grades - 1, ideal, NDCG_K),
        "precision@5": precision_at_k(ranked_grades >= 1, P_K),
        "precision@5_grade2": precision_at_k(ranked_grades == 2, P_K),
        "judged_share@10": precision_at_k(np.array([int(index) in grades for index in ranking], dtype=bool), NDCG_K),
        "same_track_precision@5": (precision_at_k(np.asarray(corpus_tracks, dtype=object)[ranking] == track, P_K)
                                   if track else float("nan")),
    }


@dataclass(frozen=True)
class JudgedScorer:
    """A multi-metric scorer for scikit-learn's searches (:mod:`.tuning`): called
    with a pipeline fitted on the judged corpus, the queries' texts and their
    positions in the judged set, returns the means of :data:`MEASURES`. (A class
    of plain data, so the search's worker processes can unpickle it.)"""

    grades: tuple[dict[int, int], ...]
    tracks: tuple[str, ...]
    corpus_tracks: tuple[str, ...]

    def __call__(self, pipeline, X, y) -> dict[str, float]:
        rankings = [indices for indices, _ in pipeline[-1].top_k(pipeline[:-1].transform(X), NDCG_K)]
        return self.measures(rankings, [int(position) for position in y]).mean().to_dict()

    def measures(self, rankings, positions=None) -> pd.DataFrame:
        """One row per query (``positions`` in the judged set, default all), :data:`MEASURES` columns."""
        positions = range(len(self.grades)) if positions is None else positions
        corpus_tracks = np.asarray(self.corpus_tracks, dtype=object)
        rows = [query_measures(self.grades[position], self.tracks[position], ranking, corpus_tracks)
                for position, ranking in zip(positions, rankings)]
        return pd.DataFrame(rows, columns=list(MEASURES))

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(MEASURES)


# -- evaluating configurations ----------------------------------------------------


@dataclass
class JudgedEvaluation:
    """One configuration's measures on a judged set."""

    configuration: str
    params: dict
    #: One row per query, :data:`MEASURES` columns.
    per_query: pd.DataFrame = field(repr=False)

    def overall(self) -> dict[str, float]:
        return {name: float(self.per_query[name].mean()) for name in MEASURES}


def fit_on_judged_corpus(judged: JudgedSet, params: dict | None = None, pipeline=None):
    """A pipeline fitted on the judged corpus: ``build_pipeline(**params)``, or a
    clone of ``pipeline`` (e.g. a stored model's, to measure its exact configuration)."""
    from sklearn.base import clone

    from ..steps.pipeline import build_pipeline

    fresh = build_pipeline(**(params or {})) if pipeline is None else clone(pipeline)
    if "lemmas__progress" in fresh.get_params():
        fresh.set_params(lemmas__progress=False)
    return fresh.fit(judged.corpus[["title", "description"]])


def evaluate_pipeline(judged: JudgedSet, fitted, configuration: str = "custom", params: dict | None = None
                      ) -> JudgedEvaluation:
    """The measures of a pipeline fitted on ``judged.corpus`` (:func:`fit_on_judged_corpus`), its
    queries ranked as a batch (the ranking :meth:`Model.predict` gives, without building answers)."""
    rankings = [indices for indices, _ in fitted[-1].top_k(fitted[:-1].transform(judged.query_frame()), NDCG_K)]
    return JudgedEvaluation(configuration, params or {}, judged.scorer().measures(rankings))


def evaluate_configurations(judged: JudgedSet, configurations: dict[str, dict] | None = None) -> list[JudgedEvaluation]:
    """Each named configuration (default: baseline and default) trained on the judged corpus and measured."""
    from ..steps.pipeline import CONFIGURATIONS

    return [evaluate_pipeline(judged, fit_on_judged_corpus(judged, params), name, params)
            for name, params in (configurations or CONFIGURATIONS).items()]


# -- reports -------------------------------------------------------------------


def report_lines(judged: JudgedSet, evaluations: list[JudgedEvaluation], source: str = "") -> list[str]:
    """What was measured, then one Markdown row per configuration, then a warning for
    any configuration whose top 10 is too little judged for its figures to be measurements."""
    years = ", ".join(map(str, judged.corpus_years))
    lines = [f"judged relevance{source} ({judged.source}): {len(judged.queries)} queries, {judged.n_pairs:,} graded "
             f"pairs, against the {len(judged.corpus):,} talks of {years}",
             "nDCG@10 gain 2^grade - 1; unjudged talks count 0; same-track P@5 is a proxy, not judged",
             "",
             "| configuration | " + " | ".join(MEASURES.values()) + " |",
             "| --- |" + " ---: |" * len(MEASURES)]
    for evaluation in evaluations:
        means = evaluation.overall()
        lines.append(f"| {evaluation.configuration} | " + " | ".join(f"{means[name]:.3f}" for name in MEASURES) + " |")
    for evaluation in evaluations:
        share = evaluation.overall()["judged_share@10"]
        if share < MIN_JUDGED_SHARE:
            lines.append(f"{evaluation.configuration}: only {share:.0%} of its top 10 is judged, so its figures are "
                         "floors: judge its unjudged talks (blind, by JUDGED.md's rubric) into an extra file")
    return lines


def report_json(judged: JudgedSet, evaluations: list[JudgedEvaluation]) -> dict:
    return {
        "protocol": "judged",
        "judged": judged.source,
        "corpus_years": judged.corpus_years,
        "n_corpus": len(judged.corpus),
        "n_queries": len(judged.queries),
        "n_pairs": judged.n_pairs,
        "configurations": [
            {
                "configuration": evaluation.configuration,
                "params": jsonable(evaluation.params),
                "overall": jsonable(evaluation.overall()),
                "queries": [{"title": query.title, **jsonable(row)}
                            for query, row in zip(judged.queries, evaluation.per_query.to_dict(orient="records"))],
            }
            for evaluation in evaluations
        ],
    }
