"""What only the returned talks need, paid per returned talk, never per
corpus talk: why each matched (:func:`explanations`), and the answer dicts
(:class:`Answers`). The ranking itself is :mod:`.steps.ranking`'s; whether a
returned talk is the query's own, given again, is the same-talk detector's
(:meth:`.RepeatDetector.same_talks`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .steps.ranking import compiled_kernel, explain_compiled, takes_rows
from .steps.same_talk import FieldVector
from .track_suggestions import NO_SUGGESTION, TrackSuggestion


class Ranking(NamedTuple):
    """A query's best talks as numbers (:meth:`.Model.rank`)."""

    #: The talks' corpus indices and scores, best first, shape (at most n_results,).
    indices: np.ndarray
    scores: np.ndarray
    #: Per talk, the ``(term column, share of the score)`` pairs it shares with the query, heaviest first.
    explanations: list[list[tuple[int, float]]]
    #: Per talk, whether it is the query's own talk, given again.
    same_talks: list[bool]
    #: The query's title and description vectors (:meth:`.RepeatDetector.query_vectors`).
    fields: tuple[FieldVector, FieldVector]
    #: The query's most likely tracks (``Model.track_suggester``); none for a corpus talk's ranking.
    tracks: TrackSuggestion = NO_SUGGESTION


def explanations(cosine, terms: np.ndarray, weights: np.ndarray, documents: np.ndarray,
                 n: int) -> list[list[tuple[int, float]]]:
    """:meth:`CosineSimilaritiesEstimator.explain <.similarity.CosineSimilaritiesEstimator.explain>`'s
    answer for the fitted ``cosine``: one call into the compiled kernel
    (:func:`.ranking.explain_compiled`) when it was built and takes the
    corpus' rows, else that method's plain Python. The same query weights as
    it uses: L2-normalised, times the TF-IDF part of the score."""
    corpus = cosine.corpus_
    if not takes_rows(corpus, np.float64):
        return cosine.explain(terms, weights, documents, n)
    norm = math.hypot(*weights.tolist())
    scale = cosine.lexical_share() / norm if norm > 0 else 0.0
    return explain_compiled(corpus, terms, weights, scale, documents, n)


class Answers:
    """Builds answers from a corpus' columns (``{name: values by talk}``) and
    the TF-IDF vocabulary by column (``term_names``).

    The columns are kept as lists, whose items are read faster than an
    array's; a column of repeated numbers (years) shares one object per value.
    """

    def __init__(self, columns: dict[str, np.ndarray], term_names: list[str]):
        self.term_names = term_names
        self.columns = [(name, _shared_items(values)) for name, values in columns.items()]

    def talk(self, index: int) -> dict:
        """Corpus talk ``index``'s fields, as Python values (str, int)."""
        return {name: values[index] for name, values in self.columns}

    def predictions(self, ranking: Ranking) -> list[dict]:
        """A :class:`Ranking`'s talks as answers give them: each talk's fields
        plus ``score``, ``index``, ``terms`` (why it matched: the terms it
        shares with the query that add most to its score,
        ``[{"term": "flask", "weight": 0.12}, ...]``, each weight being the
        term's share of the score) and ``same_talk`` (the query's own talk,
        given again). Built by the compiled kernel when it was built, else by
        :meth:`predictions_python`: the same dicts."""
        kernel = compiled_kernel()
        if kernel is None:
            return self.predictions_python(ranking)
        return kernel.predictions(self.columns, self.term_names, ranking.indices.tolist(), ranking.scores.tolist(),
                                  ranking.explanations, ranking.same_talks)

    def predictions_python(self, ranking: Ranking) -> list[dict]:
        """:meth:`predictions` in plain Python."""
        names, talk = self.term_names, self.talk
        predictions = []
        for index, score, shared, same_talk in zip(ranking.indices.tolist(), ranking.scores.tolist(),
                                                   ranking.explanations, ranking.same_talks):
            prediction = talk(index)
            prediction["score"] = score
            prediction["index"] = index
            prediction["terms"] = [{"term": names[term], "weight": weight} for term, weight in shared]
            prediction["same_talk"] = same_talk
            predictions.append(prediction)
        return predictions


def _shared_items(values: np.ndarray) -> list:
    """``values.tolist()`` (Python values, as JSON wants them), equal numbers
    sharing one object: a million talks' years are a few ints, not a million."""
    items = values.tolist()
    if values.dtype.kind in "iufb":
        shared = {}
        items = [shared.setdefault(item, item) for item in items]
    return items
