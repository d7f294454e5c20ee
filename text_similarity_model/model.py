"""``Model``: a trained related-talks pipeline together with its corpus."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

import dill
import numpy as np
import pandas as pd

from . import artifact
from .data import TALK_COLUMNS, CleaningReport, clean_talks
from .errors import IncompatibleModelError, ModelFileError
from .pipeline import DEFAULT_PARAMS, build_pipeline, configuration_name

#: Corpus columns predictions can be filtered by (``Model.facets()`` lists their values).
FILTER_COLUMNS = ("ano", "cidade", "trilha")
#: ``{"ano": [2018], "cidade": ["saopaulo"]}``: per column, the values to keep.
Filters = Mapping[str, Iterable]
#: How many shared terms explain each prediction's score.
N_TERMS = 5


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
            "configuration": configuration_name(self.pipeline_params),
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

    def predict(self, query: Mapping[str, str], n_results: int = 3, filters: Filters | None = None) -> dict:
        """The talks most related to ``query`` (``{"title": ..., "description": ...}``).

        Returns ``{"predictions": [...], "version": ...}``: at most
        ``n_results`` talks, each with its fields plus ``score`` (cosine
        similarity in (0, 1]), ``index`` (its row in the corpus) and
        ``terms`` (why it matched: see :meth:`_shared_terms`), by decreasing
        score. Talks with score 0 share nothing with the query and are left out.

        ``filters`` (e.g. ``{"ano": [2018], "cidade": ["saopaulo"]}``) keeps
        only the talks whose value of each named column is one of those given,
        before the best ``n_results`` are taken; an empty list or ``None``
        doesn't filter that column, a value no talk has matches nothing.
        """
        self._check_trained()
        title, description = _query_text(query)
        n_results = _check_n_results(n_results)
        mask = self._filter_mask(filters)
        # The steps one by one: the same computation as the Pipeline's, without
        # its per-call checks (this is the service's hot path).
        (_, lemmas), (_, tfidf), (_, cosine) = self.pipeline.steps
        terms, weights = tfidf.vectorize(lemmas.lemmas_of((title, description)))
        indices, scores = cosine.rank(terms, weights, n_results, mask)
        return self._answer(indices, scores, (terms, weights))

    def related(self, index: int, n_results: int = 3, filters: Filters | None = None) -> dict:
        """The talks most related to corpus talk ``index``, itself excluded;
        ``filters`` as for :meth:`predict`."""
        talk_vector, (indices, scores) = self._related_ranking(index, n_results, filters)
        return self._answer(indices, scores, (talk_vector.indices, talk_vector.data))

    def related_indices(self, index: int, n_results: int) -> np.ndarray:
        """The corpus indices of :meth:`related`'s talks, best first, without
        building the answer (the quality check ranks thousands of talks)."""
        return self._related_ranking(index, n_results, None)[1][0]

    def _related_ranking(self, index, n_results, filters):
        """Talk ``index``'s vector and its ranking ``(indices, scores)``, itself excluded."""
        self._check_trained()
        index = self._check_index(index)
        n_results = _check_n_results(n_results)
        mask = self._filter_mask(filters)
        cosine = self.pipeline[-1]
        talk_vector = cosine.corpus_[index]
        if mask is None:
            mask = np.ones(len(self), dtype=bool)
        mask[index] = False
        return talk_vector, cosine.top_k(talk_vector, n_results, mask)[0]

    def talk_column(self, column: str) -> np.ndarray:
        """The corpus' values of ``column`` (e.g. ``"trilha"``), by talk index."""
        self._check_trained()
        return self._columns[column]

    def facets(self) -> dict[str, list]:
        """The values predictions can be filtered by, per filter column:
        ``{"ano": [2016, 2017], "cidade": ["portoalegre", ...], "trilha": [...]}``,
        sorted, without the unknown ones (year 0, empty text). A column the
        corpus doesn't have gets an empty list."""
        self._check_trained()
        facets = self.__dict__.get("_facets_cache")
        if facets is None:
            facets = {}
            for column in FILTER_COLUMNS:
                values = np.unique(self._columns[column]) if column in self._columns else []
                facets[column] = [_plain(value) for value in values if value not in (0, "")]
            self.__dict__["_facets_cache"] = facets
        return facets

    def talk(self, index: int) -> dict:
        """Corpus talk ``index`` with its fields and ``index``."""
        self._check_trained()
        index = self._check_index(index)
        talk = self._talk_fields(index)
        talk["index"] = index
        return talk

    def _answer(self, indices: np.ndarray, scores: np.ndarray, query: tuple[np.ndarray, np.ndarray]) -> dict:
        """The answer for ranked talks ``indices``/``scores`` of ``query``
        (its terms and weights). Plain Python over a few dozen numbers: a
        NumPy call per step would cost more than the arithmetic."""
        # The query as {term: weight x share}, its weights L2-normalised as the scores see them.
        cosine = self.pipeline.steps[-1][1]
        weights = query[1].tolist()
        norm = math.hypot(*weights)
        scale = self._lexical_share(cosine) / norm if norm > 0 else 0.0
        query_weights = dict(zip(query[0].tolist(), [weight * scale for weight in weights]))
        corpus, names = cosine.corpus_, self._term_names()
        predictions = []
        for index, score in zip(indices.tolist(), scores.tolist()):
            prediction = self._talk_fields(index)
            prediction["score"] = score
            prediction["index"] = index
            prediction["terms"] = self._shared_terms(query_weights, index, corpus, names)
            predictions.append(prediction)
        return {"predictions": predictions, "version": self.version}

    def _shared_terms(self, query_weights: dict[int, float], index: int, corpus, names: list[str]) -> list[dict]:
        """Why talk ``index`` matched: the ``N_TERMS`` terms it shares with the
        query that add most to its score, ``[{"term": "flask", "weight": 0.12}, ...]``.

        A term's weight is its share of the score: ``q[t] * d[t]`` (both
        vectors L2-normalised) times :meth:`_lexical_share`. The weights of all
        shared terms add up to the TF-IDF part of the score, which is the whole
        score unless the estimator blends in a latent similarity.
        ``query_weights`` maps the query's terms to their normalised weight
        times that share; ``corpus`` is the estimator's (normalised) corpus
        and ``names`` the vocabulary by column.
        """
        start, end = corpus.indptr.item(index), corpus.indptr.item(index + 1)
        # (-weight, term): heaviest first, ties by term (the vocabulary is alphabetical).
        shared = sorted(
            (-query_weights[term] * value, term)
            for term, value in zip(corpus.indices[start:end].tolist(), corpus.data[start:end].tolist())
            if term in query_weights
        )
        return [{"term": names[term], "weight": -weight} for weight, term in shared[:N_TERMS] if weight]

    def _lexical_share(self, cosine=None) -> float:
        """How much of a score the TF-IDF cosine makes: 1, or ``1 - latent_weight``
        when the estimator (``cosine``, default the pipeline's) blends in a
        latent (LSA) similarity."""
        cosine = self.pipeline.steps[-1][1] if cosine is None else cosine
        if getattr(cosine, "latent_corpus_", None) is None:
            return 1.0
        return 1.0 - cosine.latent_weight

    def _term_names(self) -> list[str]:
        """The TF-IDF vocabulary by column, built on first use and never pickled."""
        names = self.__dict__.get("_term_names_cache")
        if names is None:
            names = self.pipeline.named_steps["tfidf"].get_feature_names_out().tolist()
            self.__dict__["_term_names_cache"] = names
        return names

    def _filter_mask(self, filters: Filters | None) -> np.ndarray | None:
        """Boolean mask over the corpus of the talks ``filters`` keeps; None when it keeps all."""
        if not filters:
            return None
        unknown = set(filters) - set(FILTER_COLUMNS)
        if unknown:
            raise ValueError(f"can't filter by {sorted(unknown)}; filters are {', '.join(FILTER_COLUMNS)}")
        mask = None
        for column, values in filters.items():
            values = [] if values is None else [values] if np.ndim(values) == 0 else list(values)
            if not values:
                continue
            if column in self._columns:
                matches = np.isin(self._columns[column], values)
            else:
                matches = np.zeros(len(self), dtype=bool)
            mask = matches if mask is None else mask & matches
        return mask

    def _talk_fields(self, index: int) -> dict:
        # ndarray.item gives Python values (str, int), as JSON wants them.
        return {column: values.item(index) for column, values in self._columns.items()}

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

    def __getstate__(self):
        # Caches (``*_cache``) are cheap to rebuild on first use: kept out of the model file.
        return {key: value for key, value in self.__dict__.items() if not key.endswith("_cache")}

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


__all__ = ["FILTER_COLUMNS", "Model", "TrainingReport", "TALK_COLUMNS"]
