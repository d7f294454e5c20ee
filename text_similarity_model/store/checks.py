"""The checks a candidate version must pass against the current one before a
promotion (Google's Rules of Machine Learning #9: detect problems before
exporting a model):

- data sanity: enough talks (``min_talks_share`` of the current model's), no
  (year, city) edition of the current model missing, the current model's
  columns present, few empty and duplicate rows;
- quality: leave-one-out precision@5 and MRR (the ``evaluate`` protocol, on a
  fixed-seed sample of at most ``max_queries`` talks) not lower than the
  current version's by more than ``quality_tolerance``. Each version's
  figures are measured at its training, on its own data, and kept in its report.

When the candidate's pipeline configuration differs from the current version's
(a new default), those figures compare two configurations by the same-track
proxy, which steered the defaults wrong (docs/quality.md). Then
(:func:`configuration_checks`):

- bad data is still caught with the configuration held the same: the current
  version's configuration is trained on the candidate's data and measured by
  the same leave-one-out, against the current version's figures;
- the configurations are compared on the judged file (``JUDGED_FILE``, each
  trained on its corpus years): the candidate is refused only if its judged
  nDCG@10 is lower by more than ``judged_tolerance``. Without a judged file
  the check says so and passes: the proxy alone refuses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..contract import LABEL, TEXT_COLUMNS
from ..quality.measures import DEFAULT_K, RANKING_DEPTH, same_label_metrics
from .thresholds import Thresholds
from .versions import StoredVersion

if TYPE_CHECKING:  # the model (spaCy, scikit-learn, pandas) loads only when a command trains or reads one
    from ..model import Model


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``detail`` holds both numbers, e.g. ``talks: 312 < 80% of 2,501 (current V)``."""

    name: str
    passed: bool
    detail: str


def evaluate_model(model: Model, k: int = DEFAULT_K, max_queries: int = 2000, seed: int = 0) -> dict | None:
    """Leave-one-out precision@k and MRR of ``model`` on a fixed-seed sample of
    its own talks (each against all the others; relevant: same track), or None
    when the corpus has no track to measure against."""
    if LABEL not in model.columns:
        return None
    return _leave_one_out(model.related_indices, np.asarray(model.talk_column(LABEL), dtype=object), k,
                          max_queries, seed)


def evaluate_configuration(pipeline, model: Model, k: int = DEFAULT_K, max_queries: int = 2000, seed: int = 0
                           ) -> dict | None:
    """:func:`evaluate_model` of another configuration on ``model``'s talks: a clone of
    ``pipeline`` (e.g. the current version's) trained on them, ranking as ``Model.related`` does."""
    import pandas as pd
    from sklearn.base import clone

    if LABEL not in model.columns:
        return None
    fitted = clone(pipeline)
    if "lemmas__progress" in fitted.get_params():
        fitted.set_params(lemmas__progress=False)
    fitted.fit(pd.DataFrame({"title": model.talk_column("title"), "description": model.talk_column("description")}))
    cosine = fitted[-1]

    def related_indices(index: int, n_results: int) -> np.ndarray:
        mask = np.ones(cosine.corpus_.shape[0], dtype=bool)
        mask[index] = False
        return cosine.top_k(cosine.corpus_[index], n_results, mask)[0][0]

    return _leave_one_out(related_indices, np.asarray(model.talk_column(LABEL), dtype=object), k, max_queries, seed)


def _leave_one_out(related_indices, labels: np.ndarray, k: int, max_queries: int, seed: int) -> dict | None:
    labelled = np.flatnonzero(labels != "")
    if len(labelled) < 2:
        return None
    queries = labelled
    if len(queries) > max_queries:
        queries = np.sort(np.random.default_rng(seed).choice(labelled, max_queries, replace=False))
    rankings = [related_indices(int(query), RANKING_DEPTH) for query in queries]
    means = same_label_metrics(rankings, labels[queries], labels, k, exclude=queries).means()
    return {
        f"precision@{k}": round(means[f"precision@{k}"], 4),
        "mrr": round(means["mrr"], 4),
        "n_queries": means["n_queries"],
        "protocol": f"leave-one-out, {len(queries)} queries (seed {seed}), relevant: same {LABEL}",
    }


def data_checks(report: dict, current: StoredVersion | None, thresholds: Thresholds) -> list[Check]:
    """The data sanity checks of a candidate's training ``report`` against ``current``'s."""
    checks = []
    read = max(report["talks"]["read"], 1)
    for key, name, limit in (("empty", "empty rows", thresholds.max_empty_share),
                             ("duplicates", "duplicate rows", thresholds.max_duplicate_share)):
        count = report["talks"][key]
        passed = count / read <= limit
        sign = "≤" if passed else ">"
        checks.append(Check(name, passed, f"{name}: {count:,} of {read:,} read ({count / read:.1%}) {sign} {limit:.0%}"))
    if current is None:
        return checks
    against = f"(current {current.name})"
    current_report = current.report
    current_talks = current_report.get("talks", {}).get("kept")
    if current_talks:
        talks = report["talks"]["kept"]
        passed = talks >= thresholds.min_talks_share * current_talks
        sign = "≥" if passed else "<"
        checks.append(Check("talks", passed,
                            f"talks: {talks:,} {sign} {thresholds.min_talks_share:.0%} of {current_talks:,} {against}"))
    required = sorted(set(TEXT_COLUMNS) | set(current_report.get("columns", [])))
    missing = [column for column in required if column not in report["columns"]]
    checks.append(Check("columns", not missing,
                        f"columns: missing {', '.join(missing)} {against}" if missing
                        else f"columns: all {len(required)} of the current version present"))
    current_editions = current_report.get("editions") or {}
    lost = [edition for edition in current_editions if edition not in report["editions"]]
    checks.append(Check("editions", not lost,
                        f"editions: {len(lost)} of {len(current_editions)} missing: {', '.join(lost)} {against}"
                        if lost else f"editions: all {len(current_editions)} of the current version present"))
    return checks


def quality_checks(report: dict, current: StoredVersion | None, thresholds: Thresholds, enforced: bool = True,
                   ours: dict | None = None, label_suffix: str = "", note: str = "") -> list[Check]:
    """The candidate's figures (``ours``, default its report's) against the current version's,
    within ``quality_tolerance``. Not ``enforced``: reported, never failing (a proxy comparing
    two configurations, see the module)."""
    ours, theirs = ours or report.get("evaluation"), (current.report.get("evaluation") if current else None)
    if not ours or not theirs:
        return []  # nothing to compare: no track column, or a version from before reports
    checks = []
    for name, label in ((f"precision@{DEFAULT_K}", f"P@{DEFAULT_K}"), ("mrr", "MRR")):
        label += label_suffix
        floor = theirs[name] - thresholds.quality_tolerance
        holds = ours[name] >= floor
        sign = "≥" if holds else "<"
        checks.append(Check(label, holds or not enforced, f"{label}: {ours[name]:.3f} {sign} {theirs[name]:.3f} - "
                                                          f"{thresholds.quality_tolerance} (current {current.name}"
                                                          f"{note})"))
    return checks


def configuration_differs(report: dict, current: StoredVersion, current_model: Model | None = None) -> bool:
    """Whether the candidate (its ``report``) was built with other pipeline parameters than ``current``
    (read from its report, else from its model's metadata for a version from before they were reported)."""
    theirs = current.report.get("pipeline_params")
    if theirs is None and current_model is not None:
        theirs = current_model.metadata.get("pipeline_params")
    return theirs != report.get("pipeline_params")


def configuration_checks(model: Model, current: StoredVersion, current_model: Model, judged,
                         thresholds: Thresholds, echo=print) -> tuple[list[Check], dict]:
    """The checks of a candidate whose configuration differs from ``current``'s (see the module):
    the current configuration on the candidate's data (bad data), and both configurations on
    ``judged`` (a :class:`~..quality.judged.JudgedSet`, or None: said, not refused).
    Returns the checks and what to add to the candidate's report."""
    same_configuration = evaluate_configuration(current_model.pipeline, model, DEFAULT_K, thresholds.max_queries,
                                                thresholds.seed)
    added: dict = {"current_configuration_evaluation": same_configuration}
    checks = quality_checks({}, current, thresholds, ours=same_configuration, label_suffix=" (current configuration)",
                            note="; its configuration trained on the new data: a change of data alone")
    if same_configuration:
        echo(f"the current configuration on the new data: P@{DEFAULT_K} "
             f"{same_configuration[f'precision@{DEFAULT_K}']:.3f}, MRR {same_configuration['mrr']:.3f}")
    if judged is None:
        checks.append(Check("judged", True, "judged: the pipeline configuration differs from the current "
                                            f"version {current.name}'s, and no judged file is set (JUDGED_FILE): "
                                            "not compared by judged relevance; the same-track figures, a proxy, "
                                            "refuse nothing (docs/operating.md)"))
        return checks, added
    from ..quality.judged import evaluate_pipeline, fit_on_judged_corpus

    ours = evaluate_pipeline(judged, fit_on_judged_corpus(judged, pipeline=model.pipeline)).overall()["ndcg@10"]
    theirs = evaluate_pipeline(judged, fit_on_judged_corpus(judged, pipeline=current_model.pipeline)
                               ).overall()["ndcg@10"]
    years = ", ".join(map(str, judged.corpus_years))
    holds = ours >= theirs - thresholds.judged_tolerance
    sign = "≥" if holds else "<"
    echo(f"judged nDCG@10 ({judged.source}): {ours:.3f} against the current configuration's {theirs:.3f}")
    checks.append(Check("judged", holds, f"judged nDCG@10: {ours:.3f} {sign} {theirs:.3f} - "
                                         f"{thresholds.judged_tolerance} (current {current.name}'s configuration; "
                                         f"both trained on the talks of {years}, {len(judged.queries)} judged "
                                         f"queries of {judged.source})"))
    added["judged_evaluation"] = {"file": judged.source, "ndcg@10": round(ours, 4),
                                  "current_configuration_ndcg@10": round(theirs, 4)}
    return checks, added


