"""Re-given talks: is a query the same talk as a talk of the corpus, submitted
again with light edits (a reworded sentence, a changed title, a typo fixed),
rather than another talk on the same subject?

**Labels** (:func:`repeat_labels`), the ground truth the rule is measured
against, from the text alone (no lemma, no TF-IDF): two talks of a corpus are
the same talk when

- they have the same normalised title or the same normalised description
  (:func:`normalized_text`: lowercase, accents folded, every run of
  punctuation and spaces one space); or
- their titles, or their descriptions, are near-identical: the sets of their
  normalised words overlap by ``NEAR_IDENTICAL_JACCARD`` or more (Jaccard);

and so is every talk linked to them that way (a talk whose title one edition
reused and whose description another did is one talk in all three).

On the real corpus (2,501 talks) the first kind links 64 titles and 38
descriptions (56 and 31 across editions, as issue #15 counts them). No shared
title is a generic one ("Keynote", "Abertura"): each names one talk, even
where its description was rewritten. The exact text misses talks given again
with light edits in both fields, which is what ``same_talk`` is for
("(Nunca) Ouvi falar de Rust... mas como faço um site?", "Desafios de
segurança em arquitetura de microserviços/microsserviços", "CI/CD a base de
containers com Drone" and "CI/CD com Docker e Drone", one description): the
second kind adds them. Its threshold, 0.8 (about one word in five
differs), was chosen by reading the pairs of different text the word overlap
links from 0.7 up: from 0.8 each is one talk given again (two of them one
talk adapted to another language: "busca em .NET Core" / "em PHP", "Docker
e PHP" / "Ruby"); between 0.7 and 0.8 some are ("Mastering Deployments com
Kubernetes & OpenShift" / "Dominando deploys com Kubernetes e OpenShift")
and some are not ("Ruby Koans e a prática Zen" / "Java Koans e a prática
Zen", "O papel do Analista de Negócios na Transformação Digital" / "... na
agilidade"), so they are left out.

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
import re
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from numbers import Real
from operator import mul

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .caching import DropsCachesWhenPickled
from .text import fold_accents

#: Labels: two titles, or two descriptions, are near-identical when the
#: Jaccard similarity of their normalised words reaches this (see the module).
NEAR_IDENTICAL_JACCARD = 0.8

# The rule's thresholds (RepeatDetector.same_talk): the same talk when the
# titles' cosine reaches MIN_TITLE_SIMILARITY, or the descriptions' reaches
# MIN_DESCRIPTION_SIMILARITY, or their mean reaches MIN_MEAN_SIMILARITY.
# Calibrated on the real corpus, every talk against the 2,500 others
# (`text_similarity_model evaluate --repeats`; README, "Re-given talks"):
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

_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def normalized_text(text: str) -> str:
    """``"Porquê  não animações?"`` -> ``"porque nao animacoes"``: lowercase,
    accents folded, each run of anything but letters and digits one space."""
    return _NOT_ALPHANUMERIC.sub(" ", fold_accents(text.lower())).strip()


@dataclass
class RepeatLabels:
    """Which talks of a corpus are one talk given more than once."""

    #: Each group of two or more talks that are one talk, sorted; groups by their first talk.
    groups: list[list[int]]
    #: Every two talks of a group, ``(i, j)`` with ``i < j``.
    pairs: set[tuple[int, int]]
    #: Normalised titles, and descriptions, that more than one talk has.
    shared_titles: int
    shared_descriptions: int
    #: Pairs of talks whose titles, and descriptions, are near-identical (not the same).
    near_identical_titles: int
    near_identical_descriptions: int
    #: Pairs of one edition (same ``ano`` and ``cidade``: a talk listed on
    #: two track pages); None when the corpus has no ``ano``/``cidade``.
    same_edition_pairs: int | None

    @property
    def n_talks(self) -> int:
        return sum(len(group) for group in self.groups)

    def lines(self) -> list[str]:
        edition = "" if self.same_edition_pairs is None else (
            f" ({len(self.pairs) - self.same_edition_pairs} across editions,"
            f" {self.same_edition_pairs} within one edition, on two track pages)")
        return [
            f"labels: two talks are one when they share a normalised title ({self.shared_titles} titles shared)"
            f" or description ({self.shared_descriptions}), or when their titles ({self.near_identical_titles}"
            f" pairs) or descriptions ({self.near_identical_descriptions}) are near-identical"
            f" (words' Jaccard >= {NEAR_IDENTICAL_JACCARD})",
            f"{len(self.groups)} talks given more than once, {self.n_talks} corpus talks,"
            f" {len(self.pairs)} pairs{edition}",
        ]


def repeat_labels(talks: pd.DataFrame) -> RepeatLabels:
    """The labels of ``talks`` (columns ``title``, ``description``, optionally
    ``ano`` and ``cidade``; row ``i`` is talk ``i``), as the module describes."""
    parent = list(range(len(talks)))

    def root(talk: int) -> int:
        while parent[talk] != talk:
            parent[talk] = parent[parent[talk]]
            talk = parent[talk]
        return talk

    def link(first: int, other: int) -> None:
        parent[root(other)] = root(first)

    shared, near_identical = {}, {}
    for column in ("title", "description"):
        texts = [normalized_text(text) for text in talks[column].tolist()]
        by_text: dict[str, list[int]] = {}
        for talk, text in enumerate(texts):
            if text:  # an empty field says nothing
                by_text.setdefault(text, []).append(talk)
        linked = [members for members in by_text.values() if len(members) > 1]
        shared[column] = len(linked)
        for first, *others in linked:
            for other in others:
                link(first, other)
        near = [(first, other) for first, other in _near_identical(texts)
                if texts[first] != texts[other]]
        near_identical[column] = len(near)
        for first, other in near:
            link(first, other)

    members: dict[int, list[int]] = {}
    for talk in range(len(talks)):
        members.setdefault(root(talk), []).append(talk)
    groups = sorted(group for group in members.values() if len(group) > 1)
    pairs = {(a, b) for group in groups for position, a in enumerate(group) for b in group[position + 1:]}
    same_edition = None
    if {"ano", "cidade"} <= set(talks.columns):
        editions = list(zip(talks["ano"].tolist(), talks["cidade"].tolist()))
        same_edition = sum(editions[a] == editions[b] for a, b in pairs)
    return RepeatLabels(groups, pairs, shared["title"], shared["description"],
                        near_identical["title"], near_identical["description"], same_edition)


def _near_identical(texts: list[str], block_cells: int = 1 << 22) -> list[tuple[int, int]]:
    """The pairs ``(i, j)``, ``i < j``, of normalised ``texts`` whose word
    sets' Jaccard similarity reaches ``NEAR_IDENTICAL_JACCARD``: shared words
    counted by a sparse product, a block of rows at a time."""
    rows, columns, vocabulary = [], [], {}
    for row, text in enumerate(texts):
        words = {vocabulary.setdefault(word, len(vocabulary)) for word in text.split()}
        rows += [row] * len(words)
        columns += sorted(words)
    words = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)),
                          shape=(len(texts), max(len(vocabulary), 1)))
    sizes = np.asarray(words.sum(axis=1)).ravel()
    block = max(1, block_cells // max(len(texts), 1))
    pairs = []
    for start in range(0, len(texts), block):
        shared = (words[start:start + block] @ words.T).toarray()
        union = sizes[start:start + block, None] + sizes[None, :] - shared
        # Whole numbers of words: the margin keeps 12 of 15 (0.8) from rounding below 0.8.
        first, other = np.nonzero(shared + 1e-6 >= NEAR_IDENTICAL_JACCARD * np.maximum(union, 1))
        first += start
        later = other > first
        pairs += zip(first[later].tolist(), other[later].tolist())
    return pairs


#: A query vector of one field: ``{term column: weight}``, L2-normalised (empty: no known term).
FieldVector = dict


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

    def similarities(self, title: FieldVector, description: FieldVector,
                     documents: np.ndarray) -> list[tuple[float, float]]:
        """``(title cosine, description cosine)`` of the query to each of
        ``documents`` (corpus indices, shape (n,)).

        Plain Python over the few terms of each field, as
        :meth:`.CosineSimilaritiesEstimator.explain`: a NumPy call per step
        would cost more than the arithmetic.
        """
        talk_vectors = self._talk_vectors
        return [(_dot(title, talk_title), _dot(description, talk_description))
                for talk_title, talk_description in map(talk_vectors, documents.tolist())]

    def same_talks(self, title: FieldVector, description: FieldVector, documents: np.ndarray) -> list[bool]:
        """:meth:`same_talk` of the query and each of ``documents``: the
        answers' path, which skips the descriptions' cosine when the titles'
        decides alone."""
        min_title, same_talk = self.min_title_similarity, self.same_talk
        answers = []
        for talk_title, talk_description in map(self._talk_vectors, documents.tolist()):
            title_similarity = _dot(title, talk_title)
            answers.append(title_similarity >= min_title
                           or same_talk(title_similarity, _dot(description, talk_description)))
        return answers

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
