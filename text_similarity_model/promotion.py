"""Refreshing the model safely: train a candidate, check it against the current version, promote or refuse.

Google's Rules of Machine Learning #9: detect problems before exporting a
model. A new version becomes current only when, compared with the current
one on the same protocol, every check holds:

- data sanity: enough talks (``min_talks_share`` of the current model's), no
  (year, city) edition of the current model missing, the current model's
  columns present, few empty and duplicate rows;
- quality: leave-one-out precision@5 and MRR (the ``evaluate`` protocol, on a
  fixed-seed sample of at most ``max_queries`` talks) not lower than the
  current version's by more than ``quality_tolerance``. Each version's
  figures are measured at its training, on its own data, and kept in its report.

The first version of an empty store is promoted after the data checks alone.
A refused candidate stays in the store, not current, for inspection
(``text_similarity_model models show VERSION``); pruning removes it in turn.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .contract import LABEL, TEXT_COLUMNS
from .metrics import DEFAULT_K, RANKING_DEPTH, ranking_metrics
from .store import ModelStore, Version

if TYPE_CHECKING:  # the model (spaCy, scikit-learn, pandas) loads only when a command trains or reads one
    from .model import Model


@dataclass(frozen=True)
class Thresholds:
    """What a candidate must hold against the current version; each overridable from the CLI."""

    min_talks_share: float = 0.8
    max_empty_share: float = 0.05
    max_duplicate_share: float = 0.05
    quality_tolerance: float = 0.02
    max_queries: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``detail`` holds both numbers, e.g. ``talks: 312 < 80% of 2,501 (current V)``."""

    name: str
    passed: bool
    detail: str


@dataclass
class UpdateResult:
    candidate: Version
    promoted: bool
    checks: list[Check] = field(default_factory=list)
    replaced: Version | None = None
    pruned: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The last line of ``update``: what happened."""
        name = self.candidate.name
        if not self.promoted:
            failed = ", ".join(check.name for check in self.checks if not check.passed)
            current = self.replaced.name if self.replaced else "none"
            return (f"refused: {failed} failed; current stays {current}; "
                    f"candidate kept as {name}, not current (models show {name})")
        forced = " (forced)" if self.candidate.report.get("forced") else ""
        if self.replaced is None:
            return f"promoted {name}{forced} (first version of the store)"
        before, after = _figure(self.replaced, "precision@5"), _figure(self.candidate, "precision@5")
        return f"promoted {name}{forced} (P@5 {before} → {after}), replacing {self.replaced.name}"


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
    counts = dict(zip(*np.unique(labels[labelled].astype(str), return_counts=True)))
    rankings = [model.related_indices(int(query), RANKING_DEPTH) for query in queries]
    n_relevant = [counts[labels[query]] - 1 for query in queries]
    means = ranking_metrics(rankings, labels[queries], labels, n_relevant, k).means()
    return {
        f"precision@{k}": round(means[f"precision@{k}"], 4),
        "mrr": round(means["mrr"], 4),
        "n_queries": means["n_queries"],
        "protocol": f"leave-one-out, {len(queries)} queries (seed {seed}), relevant: same {LABEL}",
    }


def data_checks(report: dict, current: Version | None, thresholds: Thresholds) -> list[Check]:
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


def quality_checks(report: dict, current: Version | None, thresholds: Thresholds) -> list[Check]:
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


def model_report(model: Model) -> dict:
    """What a version's ``report.json`` says of its model, from the model
    itself and its metadata: talks read, kept and dropped, columns, editions
    (``"2018 saopaulo": 573``), vocabulary, configuration, data hash."""
    metadata = model.metadata
    dropped = metadata.get("dropped", {})
    kept = len(model)
    editions = {}
    if {"ano", "cidade"} <= set(model.columns):
        years, cities = model.talk_column("ano"), model.talk_column("cidade")
        pairs, counts = np.unique([f"{year} {city}" for year, city in zip(years.tolist(), cities.tolist())],
                                  return_counts=True)
        editions = {pair: int(count) for pair, count in zip(pairs.tolist(), counts.tolist())}
    return {
        "trained_at": metadata.get("trained_at"),
        "data_sha256": metadata.get("data_sha256"),
        "columns": model.columns,
        "talks": {"read": kept + dropped.get("empty", 0) + dropped.get("duplicates", 0), "kept": kept,
                  "empty": dropped.get("empty", 0), "duplicates": dropped.get("duplicates", 0)},
        "editions": editions,
        "vocabulary_size": metadata.get("vocabulary_size"),
        "configuration": metadata.get("configuration"),
    }


def update(data_path: str | Path, store: ModelStore, thresholds: Thresholds = Thresholds(), force: bool = False,
           version: str | None = None, echo: Callable[[str], None] = print) -> UpdateResult:
    """Train a candidate on ``data_path``, check it against the store's current
    version and promote it if every check holds (or ``force``). Prints each
    step's counts through ``echo``. The store is locked throughout."""
    data_path = Path(data_path)
    with store.lock():
        current = store.current()
        from .data import read_talks_csv
        from .model import Model

        talks, data_sha256 = read_talks_csv(data_path)
        model = Model(version=version)
        training = model.train(talks, data_sha256=data_sha256, progress=True)
        report = {**model_report(model), "data": str(data_path), "training_seconds": round(training.seconds, 2)}
        echo(f"data: read {report['talks']['read']:,} talks, kept {report['talks']['kept']:,} "
             f"({report['talks']['empty']} empty, {report['talks']['duplicates']} duplicates), "
             f"{len(report['editions'])} editions")
        echo(f"trained in {training.seconds:.1f} s: {training.vocabulary_size:,} terms")
        report["evaluation"] = _evaluated(model, thresholds, echo)
        checks = data_checks(report, current, thresholds) + quality_checks(report, current, thresholds)
        failed = [check for check in checks if not check.passed]
        promoted = force or not failed
        report["checks"] = [asdict(check) for check in checks]
        report["thresholds"] = asdict(thresholds)
        report["promoted"] = promoted
        report["replaces"] = current.name if (promoted and current) else None
        if force and failed:
            report["forced"] = {"by": _who(), "failed_checks": [check.detail for check in failed]}
        candidate = store.add(model, report)
        for check in failed:
            echo(check.detail)
        result = UpdateResult(candidate, promoted, checks, current)
        if promoted:
            store.promote(candidate.name)
        result.pruned = _pruned(store, echo)
        return result


def adopt(model_path: str | Path, store: ModelStore, thresholds: Thresholds = Thresholds(),
          echo: Callable[[str], None] = print) -> Version:
    """Add an existing model file (e.g. ``models/model.pkl`` from before the
    store) as a version, measured like a trained one, and make it current.
    The file is checked (manifest, compatibility) before anything is written."""
    with store.lock():
        from .model import Model

        model = Model.deserialize(model_path)
        report = {**model_report(model), "adopted_from": str(model_path),
                  "evaluation": _evaluated(model, thresholds, echo), "replaces": store.pointer().get("version"),
                  "promoted": True}
        version = store.add(model, report)
        store.promote(version.name)
        _pruned(store, echo)
        return version


def _evaluated(model: Model, thresholds: Thresholds, echo) -> dict | None:
    evaluation = evaluate_model(model, DEFAULT_K, thresholds.max_queries, thresholds.seed)
    if evaluation:
        echo(f"evaluated: P@{DEFAULT_K} {evaluation[f'precision@{DEFAULT_K}']:.3f}, MRR {evaluation['mrr']:.3f} "
             f"({evaluation['protocol']})")
    return evaluation


def _pruned(store: ModelStore, echo) -> list[str]:
    removed = store.prune()
    for name in removed:
        echo(f"pruned {name} (keeping the {store.keep} newest versions)")
    return removed


def _figure(version: Version, name: str) -> str:
    value = (version.report.get("evaluation") or {}).get(name)
    return "n/a" if value is None else f"{value:.3f}"


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
