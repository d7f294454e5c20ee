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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..contract import LABEL, TEXT_COLUMNS
from ..errors import PalestrasError
from ..quality.measures import DEFAULT_K, RANKING_DEPTH, same_label_metrics
from .versions import StoredVersion

if TYPE_CHECKING:  # the model (spaCy, scikit-learn, pandas) loads only when a command trains or reads one
    from ..model import Model


@dataclass(frozen=True)
class Thresholds:
    """What a candidate must hold against the current version; each overridable from the CLI."""

    min_talks_share: float = 0.8
    max_empty_share: float = 0.05
    max_duplicate_share: float = 0.05
    quality_tolerance: float = 0.02
    max_queries: int = 2000
    seed: int = 0

    def __post_init__(self):
        for name in ("min_talks_share", "max_empty_share", "max_duplicate_share", "quality_tolerance"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ThresholdError(name, f"must be between 0 and 1, got {value}")
        if self.max_queries < 1:
            raise ThresholdError("max_queries", f"must be at least 1, got {self.max_queries}")


class ThresholdError(PalestrasError):
    """A threshold out of its range; ``name`` is the :class:`Thresholds` field."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name} {problem}")
        self.name, self.problem = name, problem


#: The thresholds unless told otherwise (each overridable from the command line).
DEFAULT_THRESHOLDS = Thresholds()


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
    labels = np.asarray(model.talk_column(LABEL), dtype=object)
    labelled = np.flatnonzero(labels != "")
    if len(labelled) < 2:
        return None
    queries = labelled
    if len(queries) > max_queries:
        queries = np.sort(np.random.default_rng(seed).choice(labelled, max_queries, replace=False))
    rankings = [model.related_indices(int(query), RANKING_DEPTH) for query in queries]
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


def quality_checks(report: dict, current: StoredVersion | None, thresholds: Thresholds) -> list[Check]:
    """The candidate's figures against the current version's, within ``quality_tolerance``."""
    ours, theirs = report.get("evaluation"), (current.report.get("evaluation") if current else None)
    if not ours or not theirs:
        return []  # nothing to compare: no track column, or a version from before reports
    checks = []
    for name, label in ((f"precision@{DEFAULT_K}", f"P@{DEFAULT_K}"), ("mrr", "MRR")):
        floor = theirs[name] - thresholds.quality_tolerance
        passed = ours[name] >= floor
        sign = "≥" if passed else "<"
        checks.append(Check(label, passed, f"{label}: {ours[name]:.3f} {sign} {theirs[name]:.3f} - "
                                           f"{thresholds.quality_tolerance} (current {current.name})"))
    return checks


