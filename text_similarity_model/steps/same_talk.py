"""Re-given talks: is a query the same talk as a talk of the corpus, submitted
again with light edits (a reworded sentence, a changed title, a typo fixed),
rather than another talk on the same subject?

**Evidence** (:class:`RepeatDetector`): the cosine of the query's title and
of its description to the talk's, each field a TF-IDF vector of its own in
the fitted vectorizer's vocabulary and idf (the pipeline's vectors mix the
two fields, the title counted several times).

**Rule** (:meth:`RepeatDetector.same_talk`): the same talk when the titles
are nearly the same, or the descriptions are, or both are close; the
thresholds below.
"""

from __future__ import annotations

import math
from functools import cached_property
from itertools import repeat
from numbers import Real
from operator import mul

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .caching import DropsCachesWhenPickled
from .ranking import row_dots_compiled, takes_rows

# The rule's thresholds (RepeatDetector.same_talk): the same talk when the
# titles' cosine reaches MIN_TITLE_SIMILARITY, or the descriptions' reaches
# MIN_DESCRIPTION_SIMILARITY, or their mean reaches MIN_MEAN_SIMILARITY.
# Calibrated on the real corpus, every talk against the 2,500 others
# (`text_similarity_model evaluate --repeats`; docs/quality.md, "Re-given talks"):
# - a non-repeat's title cosine never reaches 0.91 nor its description's 0.93,
#   nor their mean 0.72, except for two pairs whose title lemmas are the very
#   same ("O lado coach do agile coach" / "Como fazer o Coach do seu Agile
#   Coach": cosine 1); the repeats with a rewritten field sit at 1 on the
#   other (the same title, the same description), those edited in both at a
#   mean of 0.82 to 0.89, but for six below 0.78, the misses;
# - so 0.95, 0.95 and 0.80, each inside its gap: every combination of 0.91 to
#   0.99 (title), 0.93 to 0.99 (description) and 0.74 to 0.82 (mean) gives
#   precision 0.977-0.978 and recall 0.923-0.967 (0.977 and 0.934 here).
MIN_TITLE_SIMILARITY = 0.95
MIN_DESCRIPTION_SIMILARITY = 0.95
MIN_MEAN_SIMILARITY = 0.80

#: A query vector of one field: ``{term column: weight}``, L2-normalised (empty: no known term).
FieldVector = dict

#: Talks lemmatized and vectorized at a time when fitting (:func:`fit_repeat_detector`):
#: their lemma lists are dropped once vectorized, so a million talks' never all exist at once.
_FIT_CHUNK = 50_000


class RepeatDetector(DropsCachesWhenPickled, BaseEstimator):
    """Decides whether a query is the same talk as a corpus talk, from the
    cosine of their titles and of their descriptions, field by field.

    Parameters
    ----------
    min_title_similarity : float in [0, 1], default MIN_TITLE_SIMILARITY
    min_description_similarity : float in [0, 1], default MIN_DESCRIPTION_SIMILARITY
    min_mean_similarity : float in [0, 1], default MIN_MEAN_SIMILARITY
        The rule (:meth:`same_talk`): a query is the same talk as a corpus
        talk when their titles' cosine reaches ``min_title_similarity``, or
        their descriptions' reaches ``min_description_similarity``, or the
        mean of the two reaches ``min_mean_similarity``.

    Attributes
    ----------
    titles_, descriptions_ : scipy.sparse.csr_matrix of shape (n_documents, n_terms), float32
        Each corpus talk's title, and description, as an L2-normalised TF-IDF
        row (an empty field: an empty row). Single precision: a cosine to
        7 digits is plenty for a threshold, at two thirds of the model file
        float64 would take.
    """

    _parameter_constraints: dict = {
        "min_title_similarity": [Interval(Real, 0, 1, closed="both")],
        "min_description_similarity": [Interval(Real, 0, 1, closed="both")],
        "min_mean_similarity": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, min_title_similarity: float = MIN_TITLE_SIMILARITY,
                 min_description_similarity: float = MIN_DESCRIPTION_SIMILARITY,
                 min_mean_similarity: float = MIN_MEAN_SIMILARITY):
        self.min_title_similarity = min_title_similarity
        self.min_description_similarity = min_description_similarity
        self.min_mean_similarity = min_mean_similarity

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, titles, descriptions):
        """Keep the corpus' ``titles`` and ``descriptions``, TF-IDF matrices of
        shape (n_documents, n_terms) (rows L2-normalised here)."""
        if titles.shape != descriptions.shape:
            raise ValueError(f"titles {titles.shape} and descriptions {descriptions.shape} differ in shape")
        self._drop_caches()
        self.titles_, self.descriptions_ = (
            normalize(sp.csr_matrix(matrix, dtype=np.float32), norm="l2", copy=True)
            for matrix in (titles, descriptions))
        return self

    def same_talk(self, title_similarity, description_similarity):
        """The rule, on two cosines (floats: a bool) or two arrays of them
        (element-wise: a boolean array)."""
        return ((title_similarity >= self.min_title_similarity)
                | (description_similarity >= self.min_description_similarity)
                | ((title_similarity + description_similarity) * 0.5 >= self.min_mean_similarity))

    def floors(self) -> tuple[float, float]:
        """``(title, description)``: every pair :meth:`same_talk` flags has a
        titles' cosine of at least the first or a descriptions' cosine of at
        least the second (a mean of ``min_mean_similarity`` needs the titles'
        cosine at ``2 * min_mean_similarity - 1``, as the other is at most 1). A search
        for flagged pairs may leave out every pair below both
        (:func:`.review.same_talk_pairs`)."""
        return min(self.min_title_similarity, 2 * self.min_mean_similarity - 1), self.min_description_similarity

    # -- one query against a few talks (the service's path) -----------------

    def query_vectors(self, title: dict[int, float], description: dict[int, float]) -> tuple[FieldVector, FieldVector]:
        """A query's fields, each given as a vectorizer's ``{term: weight}``
        (:meth:`.QueryTfidfVectorizer.weights_one`), as the vectors
        :meth:`similarities` takes."""
        return _unit_vector(title), _unit_vector(description)

    def talk_vectors(self, index: int) -> tuple[FieldVector, FieldVector]:
        """Corpus talk ``index``'s fields as a query's (:meth:`query_vectors`)."""
        return self._talk_vectors(index)

    def same_talks(self, title: FieldVector, description: FieldVector, documents: np.ndarray) -> list[bool]:
        """:meth:`same_talk` of the query and each of ``documents``: the
        answers' path, one call into the compiled kernel per field
        (:func:`.ranking.row_dots_compiled`) when it was built, else
        :meth:`same_talks_python`'s."""
        if not self._rows_compiled:
            return self.same_talks_python(title, description, documents)
        return self.same_talk(row_dots_compiled(self.titles_, title, documents),
                              row_dots_compiled(self.descriptions_, description, documents)).tolist()

    def same_talks_python(self, title: FieldVector, description: FieldVector, documents: np.ndarray) -> list[bool]:
        """:meth:`same_talks` in plain Python, which skips the descriptions'
        cosine when the titles' decides alone: without the kernel, and the
        reference the kernel's path is held to (tests/test_answer_kernels.py)."""
        min_title, same_talk = self.min_title_similarity, self.same_talk
        answers = []
        for talk_title, talk_description in map(self._talk_vectors, documents.tolist()):
            title_similarity = _dot(title, talk_title)
            answers.append(title_similarity >= min_title
                           or same_talk(title_similarity, _dot(description, talk_description)))
        return answers

    @cached_property
    def _rows_compiled(self) -> bool:
        return takes_rows(self.titles_, np.float32) and takes_rows(self.descriptions_, np.float32)

    @cached_property
    def _talk_vectors(self):
        """``index -> (title, description)`` of a corpus talk as dicts, each
        built on first use and kept (at most the corpus, a few MB; never
        pickled): a talk's terms are then looked up, not sliced out of the
        matrices, for each answer it is in."""
        titles, descriptions = self.titles_, self.descriptions_
        built: dict[int, tuple[FieldVector, FieldVector]] = {}

        def talk_vectors(index: int) -> tuple[FieldVector, FieldVector]:
            vectors = built.get(index)
            if vectors is None:
                vectors = built[index] = (_row_vector(titles, index), _row_vector(descriptions, index))
            return vectors

        return talk_vectors

    # -- every pair of the corpus (the evaluation's path) ---------------------

    def corpus_pairs(self, block_cells: int = 1 << 22) -> set[tuple[int, int]]:
        """Every pair ``(i, j)``, ``i < j``, of corpus talks :meth:`same_talk`
        flags: each talk against all the others, through sparse products, a
        block of rows (of about ``block_cells`` cells) at a time."""
        check_is_fitted(self)
        titles, descriptions = self.titles_, self.descriptions_
        n_documents = titles.shape[0]
        block = max(1, block_cells // max(n_documents, 1))
        flagged = set()
        for start in range(0, n_documents, block):
            end = min(start + block, n_documents)
            flags = self.same_talk((titles[start:end] @ titles.T).toarray(),
                                   (descriptions[start:end] @ descriptions.T).toarray())
            rows, columns = np.nonzero(flags)
            rows += start
            later = columns > rows  # each pair once, never a talk with itself
            flagged.update(zip(rows[later].tolist(), columns[later].tolist()))
        return flagged


def _unit_vector(weights: dict[int, float]) -> FieldVector:
    norm = math.hypot(*weights.values())
    if norm == 0:
        return {}
    if norm == 1.0:  # the vectorizer's own L2 norm, the default
        return weights
    return {term: weight / norm for term, weight in weights.items()}


def _row_vector(matrix: sp.csr_matrix, row: int) -> FieldVector:
    start, end = matrix.indptr.item(row), matrix.indptr.item(row + 1)
    return dict(zip(matrix.indices[start:end].tolist(), matrix.data[start:end].tolist()))


def _dot(query: FieldVector, talk: FieldVector) -> float:
    """The cosine of two L2-normalised field vectors, over the smaller's terms."""
    if len(talk) < len(query):
        query, talk = talk, query
    return sum(map(mul, map(talk.get, query, repeat(0.0)), query.values()))


def fit_repeat_detector(lemmas, tfidf, documents: list) -> RepeatDetector:
    """A :class:`RepeatDetector` of the corpus ``documents`` (``(title,
    description)`` pairs), each field vectorized on its own by a fitted
    pipeline's ``lemmas`` (:class:`.LemmatizationTransformer`) and ``tfidf``
    (:class:`.QueryTfidfVectorizer`) steps, a chunk of talks at a time.

    The fields are vectorized by scikit-learn's own ``TfidfVectorizer.transform``,
    a few times faster on a batch than the query path's one talk at a time, to
    the same values but for the last bit (the rows are kept in float32 anyway)."""
    titles, descriptions = [], []
    for start in range(0, len(documents), _FIT_CHUNK):
        fields = [lemmas.lemmatize_fields(document) for document in documents[start:start + _FIT_CHUNK]]
        # In single precision at once, as fit keeps them: a chunk's float64 rows never pile up.
        titles.append(TfidfVectorizer.transform(tfidf, [lemmas.field_document(title) for title, _ in fields])
                      .astype(np.float32))
        descriptions.append(TfidfVectorizer.transform(
            tfidf, [lemmas.field_document(description) for _, description in fields]).astype(np.float32))
    return RepeatDetector().fit(sp.vstack(titles, format="csr"), sp.vstack(descriptions, format="csr"))

