"""How good are the related talks? Retrieval metrics with the track as label.

A talk's title and description are the query; an answer talk is *relevant*
when it has the query's ``trilha``. Two protocols:

- :func:`leave_one_out`: every talk of the corpus against all the others.
  The pipeline is fitted once on the whole corpus and each query is left out
  of its own answer (and of its relevant count); its own words still count in
  the IDF (and in the latent space, when there is one). That is the standard
  cheap leave-one-out for retrieval: refitting the TF-IDF without the query
  barely moves the metrics (docs/quality.md has the figures).
- :func:`split_year`: the corpus is the talks before year Y and the queries
  the talks of year Y, the product's own use ("has anyone talked about this
  before?"). Queries of a track that doesn't exist before Y can't be answered
  well or badly and are left out.

Either way only the title and the description are read: the track is the
label, never a feature, and year and city are ignored. The corpus is cleaned
as :class:`~text_similarity_model.Model` cleans it (:func:`~.data.clean_talks`).

A third protocol, :func:`repeat_detection`, measures ``same_talk`` (the mark
of a re-given talk, :mod:`.repeats`): every talk against all the others, its
flags against the labels of :func:`.repeats.repeat_labels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..contract import LABEL, N_RESULTS
from ..corpus import clean_talks
from ..errors import DataError
from ..jsonable import jsonable
from .measures import DEFAULT_K, RANKING_DEPTH, RankingMetrics
from ..steps.pipeline import CONFIGURATIONS, build_pipeline, fit_with_talk_vectors
from .repeat_labels import RepeatLabels, repeat_labels


@dataclass
class Evaluation:
    """One configuration's metrics under one protocol."""

    configuration: str
    params: dict
    protocol: str
    n_corpus: int
    metrics: RankingMetrics
    query_labels: np.ndarray = field(repr=False)

    def overall(self) -> dict:
        """``{"precision@k", "mrr", "ndcg@k", "n_queries", "n_excluded"}``."""
        return self.metrics.means()

    def per_track(self) -> pd.DataFrame:
        """One row per track of the answerable queries, worst precision@k first:
        ``trilha``, ``queries``, ``precision@k``, ``mrr``, ``ndcg@k``."""
        k = self.metrics.k
        kept = self.metrics.answerable
        frame = pd.DataFrame(
            {
                LABEL: self.query_labels[kept],
                f"precision@{k}": self.metrics.precision[kept],
                "mrr": self.metrics.reciprocal_rank[kept],
                f"ndcg@{k}": self.metrics.ndcg[kept],
            }
        )
        table = frame.groupby(LABEL).agg(
            queries=(LABEL, "size"),
            **{name: (name, "mean") for name in (f"precision@{k}", "mrr", f"ndcg@{k}")},
        )
        return table.sort_values([f"precision@{k}", "mrr", "queries"], ascending=[True, True, False]).reset_index()


def labelled_corpus(talks: pd.DataFrame) -> pd.DataFrame:
    """``talks`` cleaned as for training, keeping only those with a track."""
    if LABEL not in talks.columns:
        raise DataError(f"the evaluation needs a {LABEL!r} column (each talk's track) as the label")
    corpus, _ = clean_talks(talks)
    corpus = corpus[corpus[LABEL] != ""].reset_index(drop=True)
    if len(corpus) < 2:
        raise DataError(f"the evaluation needs at least 2 talks with a {LABEL!r}; found {len(corpus)}")
    return corpus


def leave_one_out(talks: pd.DataFrame, params: dict, k: int = DEFAULT_K, configuration: str = "custom") -> Evaluation:
    """Each talk against all the others (see the module's docstring).

    ``params`` go to :func:`build_pipeline` (merged over its defaults).
    """
    corpus, cosine, talk_vectors = _fit_corpus(talks, params)
    return Evaluation(configuration, params, "leave-one-out", len(corpus),
                      _leave_one_out_metrics(corpus, cosine, talk_vectors, k),
                      corpus[LABEL].to_numpy())


def precision_by_k(talks: pd.DataFrame, configurations: dict | None = None, ks=range(1, 11)) -> pd.DataFrame:
    """Leave-one-out precision@k of each configuration for each k (one fit per
    configuration): columns ``configuration``, ``k``, ``precision``."""
    rows = []
    for name, params in (configurations or CONFIGURATIONS).items():
        corpus, cosine, talk_vectors = _fit_corpus(talks, params)
        for k in ks:
            precision = _leave_one_out_metrics(corpus, cosine, talk_vectors, k).means()[f"precision@{k}"]
            rows.append({"configuration": name, "k": k, "precision": precision})
    return pd.DataFrame(rows)


def _fit_corpus(talks: pd.DataFrame, params: dict):
    """The labelled corpus, the cosine step of a pipeline fitted on it and
    the corpus talks' vectors as queries (not the cosine step's rows, which
    may be weighted otherwise: BM25)."""
    corpus = labelled_corpus(talks)
    pipeline = build_pipeline(**params)
    talk_vectors = fit_with_talk_vectors(pipeline, corpus[["title", "description"]], corpus[LABEL].to_numpy())
    return corpus, pipeline[-1], talk_vectors


def _leave_one_out_metrics(corpus: pd.DataFrame, cosine, talk_vectors, k: int) -> RankingMetrics:
    return cosine.ranking_metrics(talk_vectors, corpus[LABEL].to_numpy(), k=k, exclude=np.arange(len(corpus)))


def split_year(talks: pd.DataFrame, params: dict, year: int, k: int = DEFAULT_K, configuration: str = "custom") -> Evaluation:
    """The talks of ``year`` against the corpus of the talks before it."""
    corpus = labelled_corpus(talks)
    if "ano" not in corpus.columns:
        raise DataError("--split-year needs an 'ano' column (each talk's year)")
    before, queries = corpus[corpus["ano"].between(1, year - 1)], corpus[corpus["ano"] == year]
    if before.empty or queries.empty:
        years = sorted(set(corpus["ano"]) - {0})
        raise DataError(
            f"--split-year {year} needs talks before {year} and talks of {year}; the years are {years}"
        )
    pipeline = build_pipeline(**params).fit(before[["title", "description"]], before[LABEL].to_numpy())
    query_vectors = pipeline[:-1].transform(queries[["title", "description"]])
    query_labels = queries[LABEL].to_numpy()
    metrics = pipeline[-1].ranking_metrics(query_vectors, query_labels, k=k)
    return Evaluation(configuration, params, f"split-year {year}", len(before), metrics, query_labels)


def evaluate_configurations(
    talks: pd.DataFrame, k: int = DEFAULT_K, split_year_at: int | None = None, configurations: dict | None = None
) -> list[Evaluation]:
    """Evaluate each named configuration (default: baseline and default) under one protocol."""
    evaluations = []
    for name, params in (configurations or CONFIGURATIONS).items():
        if split_year_at is None:
            evaluations.append(leave_one_out(talks, params, k, name))
        else:
            evaluations.append(split_year(talks, params, split_year_at, k, name))
    return evaluations


# -- reports -------------------------------------------------------------------


def report_lines(evaluations: list[Evaluation], source: str = "", max_tracks: int | None = None) -> list[str]:
    """The overall table (one row per configuration) and the per-track table
    of the last configuration, worst tracks first, as Markdown tables."""
    first = evaluations[0]
    k = first.metrics.k
    overall = first.overall()
    n_queries = overall["n_queries"] + overall["n_excluded"]
    if first.protocol == "leave-one-out":
        lines = [f"leave-one-out over {first.n_corpus} talks{source}: each talk against all the others,"
                 f" relevant = same {LABEL}"]
        reason = f"their {LABEL} has no other talk"
    else:
        year = first.protocol.split()[-1]
        lines = [f"{first.protocol}{source}: {n_queries} talks of {year} against the {first.n_corpus}"
                 f" talks before it, relevant = same {LABEL}"]
        reason = f"their {LABEL} has no talk before {year}"
    if overall["n_excluded"]:
        lines.append(f"{overall['n_excluded']} of {n_queries} queries left out: {reason}")
    lines += ["", f"| configuration | P@{k} | MRR | nDCG@{k} | queries |", "| --- | ---: | ---: | ---: | ---: |"]
    for evaluation in evaluations:
        means = evaluation.overall()
        lines.append(
            f"| {evaluation.configuration} | {means[f'precision@{k}']:.3f} | {means['mrr']:.3f} |"
            f" {means[f'ndcg@{k}']:.3f} | {means['n_queries']} |"
        )

    last = evaluations[-1]
    tracks = last.per_track()
    if len(evaluations) > 1:
        reference = evaluations[0].per_track().set_index(LABEL)[f"precision@{k}"]
        tracks[f"P@{k} {evaluations[0].configuration}"] = tracks[LABEL].map(reference)
    shown = tracks if max_tracks is None else tracks.head(max_tracks)
    lines += ["", f"per {LABEL}, {last.configuration} configuration, worst P@{k} first"
              + ("" if len(shown) == len(tracks) else f" ({len(shown)} of {len(tracks)})") + ":", ""]
    header = [LABEL, "queries", f"P@{k}", "MRR", f"nDCG@{k}"] + list(tracks.columns[5:])
    lines += ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for row in shown.itertuples(index=False):
        values = [row[0], str(row[1])] + [f"{value:.3f}" for value in row[2:]]
        lines.append("| " + " | ".join(values) + " |")
    return lines


def report_json(evaluations: list[Evaluation]) -> dict:
    """Everything :func:`report_lines` shows, as JSON-serialisable data."""
    first = evaluations[0]
    return {
        "protocol": first.protocol,
        "k": first.metrics.k,
        "mrr_depth": RANKING_DEPTH,
        "n_corpus": first.n_corpus,
        "configurations": [
            {
                "name": evaluation.configuration,
                "params": jsonable(evaluation.params),
                "overall": evaluation.overall(),
                "tracks": evaluation.per_track().to_dict(orient="records"),
            }
            for evaluation in evaluations
        ],
    }


# -- re-given talks ------------------------------------------------------------

#: How many false flags and missed repeats the report names (``--json``: all).
_EXAMPLES_SHOWN = 10


@dataclass
class RepeatEvaluation:
    """``same_talk`` on every pair of a corpus' talks against the labels."""

    labels: RepeatLabels
    #: The pairs ``(i, j)``, ``i < j``, the rule flags.
    flagged: set[tuple[int, int]]
    #: ``{"min_title_similarity": ..., "min_description_similarity": ...}``.
    thresholds: dict
    #: The corpus talks' titles, to name the pairs.
    titles: list[str] = field(repr=False)
    #: Of the talks given more than once, how many have one of their repeats
    #: among their ``N_RESULTS`` related talks, marked ``same_talk``.
    n_shown: int = 0

    def overall(self) -> dict:
        """``precision``, ``recall`` (of the labelled pairs) and the counts they come from."""
        found = len(self.flagged & self.labels.pairs)
        return {
            "precision": found / len(self.flagged) if self.flagged else float("nan"),
            "recall": found / len(self.labels.pairs) if self.labels.pairs else float("nan"),
            "labelled_pairs": len(self.labels.pairs),
            "flagged_pairs": len(self.flagged),
            "found_pairs": found,
            "talks_given_again": self.labels.n_talks,
            f"shown_in_top_{N_RESULTS}": self.n_shown,
        }

    def false_flags(self) -> list[tuple[int, int]]:
        return sorted(self.flagged - self.labels.pairs)

    def missed(self) -> list[tuple[int, int]]:
        return sorted(self.labels.pairs - self.flagged)

    def lines(self, source: str = "") -> list[str]:
        overall = self.overall()
        lines = [f"re-given talks{source}: each talk against all the others, same_talk against the labels",
                 *self.labels.lines(),
                 "rule: same_talk when the TF-IDF cosine of the titles >= {min_title_similarity}, or of the"
                 " descriptions >= {min_description_similarity}, or their mean >= {min_mean_similarity}"
                 .format(**self.thresholds),
                 "",
                 "| precision | recall | flagged pairs | labelled pairs | found |",
                 "| ---: | ---: | ---: | ---: | ---: |",
                 f"| {overall['precision']:.3f} | {overall['recall']:.3f} | {overall['flagged_pairs']} |"
                 f" {overall['labelled_pairs']} | {overall['found_pairs']} |",
                 "",
                 f"shown: {self.n_shown} of the {self.labels.n_talks} talks given more than once have a repeat among"
                 f" their {N_RESULTS} related talks, marked same_talk"]
        for name, pairs in (("false flags", self.false_flags()), ("missed", self.missed())):
            shown = pairs[:_EXAMPLES_SHOWN]
            lines += ["", f"{name}: {len(pairs)}" + (f" (the first {len(shown)})" if len(shown) < len(pairs) else "")]
            lines += [f"  {first} {self.titles[first]!r} ~ {second} {self.titles[second]!r}" for first, second in shown]
        return lines

    def json(self) -> dict:
        return {
            "protocol": "re-given talks",
            "labels": {"shared_titles": self.labels.shared_titles,
                       "shared_descriptions": self.labels.shared_descriptions,
                       "near_identical_titles": self.labels.near_identical_titles,
                       "near_identical_descriptions": self.labels.near_identical_descriptions,
                       "groups": len(self.labels.groups), "pairs": len(self.labels.pairs),
                       "same_edition_pairs": self.labels.same_edition_pairs},
            "thresholds": self.thresholds,
            "overall": jsonable(self.overall()),
            "false_flags": self._named(self.false_flags()),
            "missed": self._named(self.missed()),
        }

    def _named(self, pairs: list[tuple[int, int]]) -> list[dict]:
        return [{"talks": list(pair), "titles": [self.titles[talk] for talk in pair]} for pair in pairs]


def repeat_detection(talks: pd.DataFrame, params: dict | None = None) -> RepeatEvaluation:
    """``same_talk`` of a model trained on ``talks`` (``params`` as for
    :func:`build_pipeline`), on every pair of its talks, against the labels.

    Leave-one-out, as :func:`leave_one_out`: the model is trained once, each
    talk is a query against all the others (never itself), its words still
    counting in the IDF. A pair is flagged when the rule holds for it
    (cosines are symmetric: either talk may be the query); precision is the
    share of flagged pairs that are labelled, recall the share of labelled
    pairs that are flagged.
    """
    from ..model import Model  # the model imports this package's light modules only

    corpus, _ = clean_talks(talks)
    model = Model(**(params or {}))
    model.train(corpus)
    detector = model.repeats
    labels = repeat_labels(corpus)
    shown = sum(any(prediction["same_talk"] and prediction["index"] in group
                    for prediction in model.related(talk, N_RESULTS)["predictions"])
                for group in map(set, labels.groups) for talk in group)
    return RepeatEvaluation(labels, detector.corpus_pairs(), detector.get_params(), corpus["title"].tolist(), shown)
