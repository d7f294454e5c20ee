"""Refreshing the model safely: train a candidate, check it against the current
version (:mod:`.checks`), promote or refuse.

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

from ..errors import PalestrasError, TamperedModelError
from ..model_file import SIGNING_KEY_VARIABLE, read_manifest, signature_matches, signing_key_or_environment
from ..quality.measures import DEFAULT_K
from .checks import Check, configuration_checks, configuration_differs, data_checks, evaluate_model, quality_checks
from .thresholds import DEFAULT_THRESHOLDS, Thresholds
from .versions import ModelStore, StoredVersion

if TYPE_CHECKING:  # the model (spaCy, scikit-learn, pandas) loads only when a command trains or reads one
    from ..model import Model


@dataclass
class UpdateResult:
    candidate: StoredVersion
    promoted: bool
    checks: list[Check] = field(default_factory=list)
    replaced: StoredVersion | None = None
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
        "pipeline_params": metadata.get("pipeline_params"),
    }


def update(data_path: str | Path, store: ModelStore, thresholds: Thresholds = DEFAULT_THRESHOLDS, force: bool = False,
           version: str | None = None, echo: Callable[[str], None] = print,
           judged_file: str | Path | None = None) -> UpdateResult:
    """Train a candidate on ``data_path``, check it against the store's current
    version and promote it if every check holds (or ``force``). Prints each
    step's counts through ``echo``. The store is locked throughout.

    ``judged_file`` (``JUDGED_FILE``): compares the candidate's configuration with
    the current one's on judged relevance when they differ (:mod:`.checks`); it is
    read before the training, and one that doesn't match the data is an error."""
    data_path = Path(data_path)
    with store.lock():
        current = store.current()
        signing = signing_check(current)  # before the training: it can't change what the training writes
        if not signing.passed and not force:
            raise PalestrasError(f"{signing.detail}; nothing trained")
        from ..corpus import read_talks_csv
        from ..model import Model

        talks, data_sha256 = read_talks_csv(data_path)
        judged = _judged_set(judged_file, talks) if current is not None else None
        model = Model(version=version)
        training = model.train(talks, data_sha256=data_sha256, progress=True)
        report = {**model_report(model), "data": str(data_path), "training_seconds": round(training.seconds, 2)}
        echo(f"data: read {report['talks']['read']:,} talks, kept {report['talks']['kept']:,} "
             f"({report['talks']['empty']} empty, {report['talks']['duplicates']} duplicates), "
             f"{len(report['editions'])} editions")
        echo(f"trained in {training.seconds:.1f} s: {training.vocabulary_size:,} terms")
        report["evaluation"] = _evaluated(model, thresholds, echo)
        checks = [signing] + data_checks(report, current, thresholds)
        current_model = _current_model(current, report)
        if current_model is not None:
            # Another configuration: the same-track figures compare configurations by a proxy; they are
            # reported, and bad data and the configuration are each checked on their own (.checks).
            checks += quality_checks(report, current, thresholds, enforced=False,
                                     note="; another configuration: a proxy, not enforced")
            more, added = configuration_checks(model, current, current_model, judged, thresholds, echo)
            checks += more
            report.update(added)
        else:
            checks += quality_checks(report, current, thresholds)
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


def adopt(model_path: str | Path, store: ModelStore, thresholds: Thresholds = DEFAULT_THRESHOLDS,
          echo: Callable[[str], None] = print) -> StoredVersion:
    """Add an existing model file (e.g. ``models/model.pkl`` from before the
    store) as a version, measured like a trained one, and make it current.
    The file is checked (manifest, compatibility) before anything is written."""
    with store.lock():
        from ..model import Model

        model = Model.deserialize(model_path)
        report = {**model_report(model), "adopted_from": str(model_path),
                  "evaluation": _evaluated(model, thresholds, echo), "replaces": store.pointer().get("version"),
                  "promoted": True}
        version = store.add(model, report)
        store.promote(version.name)
        _pruned(store, echo)
        return version


def signing_check(current: StoredVersion | None) -> Check:
    """Would the services accept a version signed (or not) with this process' ``MODEL_SIGNING_KEY``?

    The current version is the witness of the services' key: when it is signed, they check
    signatures (set with a key, they refuse an unsigned or wrongly signed version), so a new
    version must be signed with the key that verifies it. When it is not signed, nothing tells
    a key was set on the services, and any version passes."""
    if current is None:
        return Check("signature", True, "signature: first version of the store")
    try:
        manifest = read_manifest(current.model_path)
    except TamperedModelError:
        return Check("signature", True, f"signature: the current version {current.name} has no readable manifest")
    if "hmac_sha256" not in manifest:
        return Check("signature", True, f"signature: the current version {current.name} is not signed")
    key = signing_key_or_environment()
    if key is None:
        return Check("signature", False, f"signature: the current version {current.name} is signed, so the "
                                         f"services check signatures, but {SIGNING_KEY_VARIABLE} is not set here: "
                                         f"set it to their key")
    if not signature_matches(manifest, key):
        return Check("signature", False, f"signature: {SIGNING_KEY_VARIABLE} is not the key that signed the "
                                         f"current version {current.name}, the services' key: set theirs "
                                         "(changing keys: docs/operating.md)")
    return Check("signature", True, f"signature: {SIGNING_KEY_VARIABLE} verifies the current version {current.name}")


def _judged_set(judged_file, talks):
    """The judged file matched to the talks about to be trained, or None when none is set."""
    if not judged_file:
        return None
    from ..errors import JudgedFileError
    from ..quality.judged import read_judged

    try:
        return read_judged(judged_file, talks)
    except JudgedFileError as error:
        raise PalestrasError(f"judged file (--judged-file, JUDGED_FILE): {error}; nothing trained") from None


def _current_model(current: StoredVersion | None, report: dict) -> Model | None:
    """The current version's model when the candidate's configuration differs from it, else None."""
    if current is None:
        return None
    if current.report.get("pipeline_params") is not None:
        if not configuration_differs(report, current):
            return None
        return current.load_model()
    model = current.load_model()  # a version from before the report kept its parameters
    return model if configuration_differs(report, current, model) else None


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


def _figure(version: StoredVersion, name: str) -> str:
    value = (version.report.get("evaluation") or {}).get(name)
    return "n/a" if value is None else f"{value:.3f}"


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
