"""``Model``: a trained related-talks pipeline together with its corpus."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from . import model_file
from .steps.caching import DropsCachesWhenPickled
from .contract import FILTER_COLUMNS, N_RESULTS, TALK_COLUMNS, check_n_results
from .corpus import CleaningReport, clean_talks
from .errors import IncompatibleModelError, ModelFileError
from .answers import Answers, Ranking, explanations
from .jsonable import jsonable
from .steps.pipeline import DEFAULT_PARAMS, build_pipeline, configuration_name, fit_with_talk_vectors
from .steps.same_talk import FieldVector, RepeatDetector, fit_repeat_detector
from .steps.text import as_documents
from .steps.track_classifier import TrackClassifier
from .track_suggestions import NO_SUGGESTION, TrackSuggester, TrackSuggestion, fit_track_classifier

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


class _Steps(NamedTuple):
    """The pipeline's steps, by the names ``build_pipeline`` gives them."""

    lemmas: object
    tfidf: object
    cosine: object


class Model(DropsCachesWhenPickled):
    """Ranks the talks of a corpus by similarity to a query talk.

    ``pipeline_params`` are passed to :func:`build_pipeline` (e.g.
    ``tfidf__sublinear_tf=True``); ``version`` names the model in answers
    (default: training time and data hash).
    """

    def __init__(self, version: str | None = None, **pipeline_params):
        self.version = version
        self.pipeline_params = pipeline_params
        self.pipeline = None
        #: The fitted :class:`.RepeatDetector`: which predictions are the query's own talk, given again.
        self.repeats: RepeatDetector | None = None
        #: The fitted :class:`.TrackClassifier`: the tracks a query seems to belong to.
        self.tracks: TrackClassifier | None = None
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
        talk_vectors = fit_with_talk_vectors(pipeline, corpus[["title", "description"]])
        pipeline.set_params(lemmas__progress=False)
        repeats = fit_repeat_detector(pipeline.named_steps["lemmas"], pipeline.named_steps["tfidf"],
                                      as_documents(corpus))
        # Over the talks' vectors as queries, which is what it classifies.
        tracks = fit_track_classifier(talk_vectors, corpus["trilha"] if "trilha" in corpus else [""] * len(corpus))
        del talk_vectors

        if data_sha256 is None:
            data_sha256 = hashlib.sha256(talks.to_csv(index=False).encode("utf-8")).hexdigest()
        trained_at = datetime.now(timezone.utc).replace(microsecond=0)
        vocabulary_size = len(pipeline.named_steps["tfidf"].vocabulary_)
        seconds = time.perf_counter() - started

        self.pipeline = pipeline
        self.repeats = repeats
        self.tracks = tracks
        self._drop_caches()
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
            "pipeline_params": jsonable({**DEFAULT_PARAMS, **self.pipeline_params}),
            "libraries": model_file.library_versions(),
        }
        return TrainingReport(cleaning, len(corpus), vocabulary_size, seconds)

    # -- querying -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._columns.get("title", ()))

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def predict(self, query: Mapping[str, str], n_results: int = N_RESULTS, filters: Filters | None = None) -> dict:
        """The talks most related to ``query`` (``{"title": ..., "description": ...}``).

        Returns ``{"predictions": [...], "version": ...}``: at most
        ``n_results`` talks, each with its fields plus ``score`` (cosine
        similarity in (0, 1]), ``index`` (its row in the corpus) and
        ``terms`` (why it matched: see :meth:`_answer`), by decreasing
        score. Talks with score 0 share nothing with the query and are left out.
        Also ``likely_tracks``, the query's most likely track groups
        (:meth:`.TrackSuggester.items`), and ``tracks_note``: why they are empty or weak
        (a key of :data:`.track_suggestions.NOTES`), else None.

        ``filters`` (e.g. ``{"ano": [2018], "cidade": ["saopaulo"]}``) keeps
        only the talks whose value of each named column is one of those given,
        before the best ``n_results`` are taken; an empty list or ``None``
        doesn't filter that column, a value no talk has matches nothing.
        """
        ranking = self.rank(query, n_results, filters)
        answer = self._answer(ranking)
        answer["likely_tracks"] = self.track_suggester.items(ranking.tracks)
        answer["tracks_note"] = ranking.tracks.note
        return answer

    def rank(self, query: Mapping[str, str], n_results: int = N_RESULTS, filters: Filters | None = None) -> Ranking:
        """:meth:`predict`'s talks as numbers, before they are made answers
        (:meth:`predictions`): what a batch keeps of each query (``review``)."""
        self._check_trained()
        title, description = _query_text(query)
        n_results = check_n_results(n_results)
        mask = self._filter_mask(filters)
        # The steps one query at a time: the same computation as the Pipeline's,
        # without its per-call checks (this is the service's hot path).
        lemmas, tfidf, cosine = self._steps
        title_lemmas, description_lemmas = lemmas.lemmatize_fields((title, description))
        terms, weights = tfidf.transform_one(lemmas.combine(title_lemmas, description_lemmas))
        indices, scores = cosine.transform_one(terms, weights, n_results, mask)
        # A query without a known term has empty fields: no need to vectorize them.
        fields = self.repeats.query_vectors(
            tfidf.weights_one(lemmas.field_document(title_lemmas)),
            tfidf.weights_one(lemmas.field_document(description_lemmas)),
        ) if len(terms) else ({}, {})
        return self._ranking(indices, scores, terms, weights, fields, self.track_suggester.suggest(terms, weights))

    @cached_property
    def track_suggester(self) -> TrackSuggester:
        """The fitted track classifier, read as people read tracks: a
        :class:`Ranking`'s ``tracks`` as answers give them (``items``)."""
        return TrackSuggester(self.tracks, self._columns.get("trilha", ()))

    def related(self, index: int, n_results: int = N_RESULTS, filters: Filters | None = None) -> dict:
        """The talks most related to corpus talk ``index``, itself excluded;
        ``filters`` as for :meth:`predict`."""
        (terms, weights), (indices, scores) = self._related_ranking(index, n_results, filters)
        return self._answer(self._ranking(indices, scores, terms, weights, self.repeats.talk_vectors(index)))

    def related_indices(self, index: int, n_results: int) -> np.ndarray:
        """The corpus indices of :meth:`related`'s talks, best first, without
        building the answer (the quality check ranks thousands of talks)."""
        return self._related_ranking(index, n_results, None)[1][0]

    def _related_ranking(self, index, n_results, filters):
        """Talk ``index``'s vector as a query ``(terms, weights)`` and its
        ranking ``(indices, scores)``, itself excluded. The query vector is
        its text's, as :meth:`rank` makes it: the corpus' rows may be weighted
        otherwise (BM25, :class:`.QueryTfidfVectorizer`)."""
        self._check_trained()
        index = self._check_index(index)
        n_results = check_n_results(n_results)
        mask = self._filter_mask(filters)
        lemmas, tfidf, cosine = self._steps
        terms, weights = tfidf.transform_one(lemmas.transform_one(
            (self._columns["title"].item(index), self._columns["description"].item(index))))
        if mask is None:
            mask = np.ones(len(self), dtype=bool)
        mask[index] = False
        return (terms, weights), cosine.transform_one(terms, weights, n_results, mask)

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
        return self._facets

    @cached_property
    def _facets(self) -> dict[str, list]:
        facets = {}
        for column in FILTER_COLUMNS:
            values = np.unique(self._columns[column]) if column in self._columns else []
            facets[column] = [_plain(value) for value in values if value not in (0, "")]
        return facets

    def talk(self, index: int) -> dict:
        """Corpus talk ``index`` with its fields and ``index``."""
        self._check_trained()
        index = self._check_index(index)
        talk = self._talk_fields(index)
        talk["index"] = index
        return talk

    def _ranking(self, indices: np.ndarray, scores: np.ndarray, terms: np.ndarray, weights: np.ndarray,
                 fields: tuple[FieldVector, FieldVector], tracks: TrackSuggestion = NO_SUGGESTION) -> Ranking:
        """The :class:`Ranking` of talks ``indices``/``scores`` for the query
        ``terms``/``weights``, whose title and description are ``fields``
        (:meth:`.RepeatDetector.query_vectors`): why each matched
        (:meth:`CosineSimilaritiesEstimator.explain <.similarity.CosineSimilaritiesEstimator.explain>`)
        and whether it is the query's own talk, given again (:mod:`.repeats`)."""
        return Ranking(indices, scores, explanations(self._steps.cosine, terms, weights, indices, N_TERMS),
                       self.repeats.same_talks(*fields, indices), fields, tracks)

    def _answer(self, ranking: Ranking) -> dict:
        return {"predictions": self.predictions(ranking), "version": self.version}

    def predictions(self, ranking: Ranking) -> list[dict]:
        """A :class:`Ranking`'s talks as answers give them (:meth:`.Answers.predictions`):
        each talk's fields plus ``score``, ``index``, ``terms`` (the ``N_TERMS`` terms it
        shares with the query that add most to its score) and ``same_talk``."""
        return self._answers.predictions(ranking)

    @cached_property
    def _answers(self) -> Answers:
        return Answers(self._columns, self._term_names)

    @cached_property
    def _steps(self) -> _Steps:
        named = self.pipeline.named_steps
        return _Steps(named["lemmas"], named["tfidf"], named["cosine"])

    @cached_property
    def _term_names(self) -> list[str]:
        """The TF-IDF vocabulary by column."""
        return self._steps.tfidf.get_feature_names_out().tolist()

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
        return self._answers.talk(index)

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
        payload = model_file.pickle_model(self)
        return model_file.write_model_file(payload, self.metadata, path, signing_key)

    @classmethod
    def deserialize(cls, path: str | Path, signing_key: bytes | None = None, version: str | None = None) -> "Model":
        """Load a model written by :meth:`serialize`, checking it first.

        Raises :class:`ModelFileError` (or a subclass) naming the file when it
        is missing, not a model, truncated, doesn't match its manifest, was
        written with incompatible library versions, or (given ``version``, the
        name a model store knows it by) was written as another version.
        """
        payload, metadata = model_file.read_model_file(path, signing_key, version)
        try:
            model = model_file.unpickle_model(payload)
        except Exception as error:  # an unpicklable payload is an incompatible one
            raise IncompatibleModelError(
                f"{path}: can't be loaded with the installed code ({type(error).__name__}: {error}); "
                "retrain it (make train)"
            ) from error
        if not isinstance(model, cls):
            raise ModelFileError(f"{path}: holds a {type(model).__name__}, not a palestras Model")
        model.__dict__.setdefault("tracks", None)  # trained before tracks were suggested: no suggestion
        if getattr(model, "repeats", None) is None:
            raise IncompatibleModelError(
                f"{path}: was trained before re-given talks were detected (no same_talk); retrain it (make train)"
            )
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


def _plain(value):
    """NumPy scalars -> Python values, so answers are JSON-serialisable."""
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["FILTER_COLUMNS", "Model", "Ranking", "TrainingReport", "TALK_COLUMNS"]
