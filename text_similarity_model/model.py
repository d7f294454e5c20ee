"""``Model``: a trained related-talks pipeline together with its corpus."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import dill
import numpy as np
import pandas as pd

from . import artifact
from .data import TALK_COLUMNS, CleaningReport, clean_talks
from .errors import IncompatibleModelError, ModelFileError
from .pipeline import DEFAULT_PARAMS, build_pipeline


@dataclass
class TrainingReport:
    """What ``Model.train`` did: the cleaning report plus the fitted sizes."""

    cleaning: CleaningReport
    n_documents: int
    vocabulary_size: int
    seconds: float

    def lines(self) -> list[str]:
        return self.cleaning.lines() + [
            f"vocabulary: {self.vocabulary_size} terms over {self.n_documents} talks",
            f"trained in {self.seconds:.1f} s",
        ]


class Model:
    """Ranks the talks of a corpus by similarity to a query talk.

    ``pipeline_params`` are passed to :func:`build_pipeline` (e.g.
    ``tfidf__sublinear_tf=True``); ``version`` names the model in answers
    (default: training time and data hash).
    """

    def __init__(self, version: str | None = None, **pipeline_params):
        self.version = version
        self.pipeline_params = pipeline_params
        self.pipeline = None
        self.metadata: dict = {}
        self._columns: dict[str, np.ndarray] = {}

    # -- training -----------------------------------------------------------

    def train(self, talks: pd.DataFrame, data_sha256: str | None = None, progress: bool = False) -> TrainingReport:
        """Fit on ``talks`` (columns ``title`` and ``description``, optionally
        ``trilha``, ``ano``, ``cidade``, ``trilha_url``). Returns what was
        read, dropped and learned. The model is changed only on success.
        """
        started = time.perf_counter()
        corpus, cleaning = clean_talks(talks)
        pipeline = build_pipeline(**self.pipeline_params)
        pipeline.set_params(lemmas__progress=progress)
        pipeline.fit(corpus[["title", "description"]])
        pipeline.set_params(lemmas__progress=False)

        if data_sha256 is None:
            data_sha256 = hashlib.sha256(talks.to_csv(index=False).encode("utf-8")).hexdigest()
        trained_at = datetime.now(timezone.utc).replace(microsecond=0)
        vocabulary_size = len(pipeline.named_steps["tfidf"].vocabulary_)
        seconds = time.perf_counter() - started

        self.pipeline = pipeline
        self._columns = {column: corpus[column].to_numpy() for column in corpus.columns}
        self.version = self.version or f"{trained_at:%Y%m%dT%H%M%SZ}-{data_sha256[:8]}"
        self.metadata = {
            "version": self.version,
            "trained_at": trained_at.isoformat().replace("+00:00", "Z"),
            "n_documents": len(corpus),
            "vocabulary_size": vocabulary_size,
            "data_sha256": data_sha256,
            "dropped": {"empty": cleaning.n_empty, "duplicates": cleaning.n_duplicates},
            "pipeline_params": _json_safe({**DEFAULT_PARAMS, **self.pipeline_params}),
            "libraries": artifact.library_versions(),
        }
        return TrainingReport(cleaning, len(corpus), vocabulary_size, seconds)

    # -- querying -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._columns.get("title", ()))

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def predict(self, query: Mapping[str, str], n_results: int = 3) -> dict:
        """The talks most related to ``query`` (``{"title": ..., "description": ...}``).

        Returns ``{"predictions": [...], "version": ...}``: at most
        ``n_results`` talks, each with its fields plus ``score`` (cosine
        similarity in (0, 1]) and ``index`` (its row in the corpus), by
        decreasing score. Talks with score 0 share nothing with the query and
        are left out.
        """
        self._check_trained()
        title, description = _query_text(query)
        n_results = _check_n_results(n_results)
        vectors = self.pipeline[:-1].transform([(title, description)])
        indices, scores = self.pipeline[-1].top_k(vectors, n_results)[0]
        return self._answer(indices, scores)

    def related(self, index: int, n_results: int = 3) -> dict:
        """The talks most related to corpus talk ``index``, itself excluded."""
        self._check_trained()
        index = self._check_index(index)
        n_results = _check_n_results(n_results)
        cosine = self.pipeline[-1]
        indices, scores = cosine.top_k(cosine.corpus_[index], n_results + 1)[0]
        keep = indices != index
        return self._answer(indices[keep][:n_results], scores[keep][:n_results])

    def talk(self, index: int) -> dict:
        """Corpus talk ``index`` with its fields and ``index``."""
        self._check_trained()
        index = self._check_index(index)
        talk = self._talk_fields(index)
        talk["index"] = index
        return talk

    def _answer(self, indices: np.ndarray, scores: np.ndarray) -> dict:
        predictions = []
        for index, score in zip(indices.tolist(), scores.tolist()):
            prediction = self._talk_fields(index)
            prediction["score"] = score
            prediction["index"] = index
            predictions.append(prediction)
        return {"predictions": predictions, "version": self.version}

    def _talk_fields(self, index: int) -> dict:
        return {column: _plain(values[index]) for column, values in self._columns.items()}

    def _check_trained(self) -> None:
        if self.pipeline is None:
            raise ModelFileError("the model is not trained; call train() or Model.deserialize()")

    def _check_index(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {index!r}")
        if not 0 <= index < len(self):
            raise IndexError(f"no talk {index}: the corpus has talks 0 to {len(self) - 1}")
        return int(index)

    # -- files --------------------------------------------------------------

    def serialize(self, path: str | Path, signing_key: bytes | None = None) -> dict:
        """Write the model to ``path`` (and its manifest ``path.json``) atomically.

        Returns the manifest. Raises :class:`ModelFileError` if the folder is
        missing or not writable.
        """
        self._check_trained()
        payload = dill.dumps(self, protocol=5)
        return artifact.write_model_file(payload, self.metadata, path, signing_key)

    @classmethod
    def deserialize(cls, path: str | Path, signing_key: bytes | None = None) -> "Model":
        """Load a model written by :meth:`serialize`, checking it first.

        Raises :class:`ModelFileError` (or a subclass) naming the file when it
        is missing, not a model, truncated, doesn't match its manifest, or was
        written with incompatible library versions.
        """
        payload, metadata = artifact.read_model_file(path, signing_key)
        try:
            model = dill.loads(payload)
        except Exception as error:  # an unpicklable payload is an incompatible one
            raise IncompatibleModelError(
                f"{path}: can't be loaded with the installed code ({type(error).__name__}: {error}); "
                "retrain it (make train)"
            ) from error
        if not isinstance(model, cls):
            raise ModelFileError(f"{path}: holds a {type(model).__name__}, not a palestras Model")
        return model


def _query_text(query) -> tuple[str, str]:
    if not isinstance(query, Mapping):
        raise TypeError(f"query must be a mapping with 'title' and 'description', got {type(query).__name__}")
    parts = []
    for field in ("title", "description"):
        value = query.get(field, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise TypeError(f"query {field!r} must be a string, got {type(value).__name__}")
        parts.append(value)
    return parts[0], parts[1]


def _check_n_results(n_results) -> int:
    if isinstance(n_results, bool) or not isinstance(n_results, (int, np.integer)) or n_results < 1:
        raise ValueError(f"n_results must be a positive integer, got {n_results!r}")
    return int(n_results)


def _plain(value):
    """NumPy scalars -> Python values, so answers are JSON-serialisable."""
    return value.item() if isinstance(value, np.generic) else value


def _json_safe(params: dict) -> dict:
    return json.loads(json.dumps(params, default=repr))


__all__ = ["Model", "TrainingReport", "TALK_COLUMNS"]
