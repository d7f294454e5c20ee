"""Ground truth for re-given talks, from the text alone (no lemma, no TF-IDF):
``evaluate --repeats`` measures ``same_talk`` (:mod:`..steps.same_talk`) against it.

Two talks of a corpus are one talk given again when they have the same
normalised title or description (:func:`normalized_text`), or near-identical
titles or descriptions (their normalised words' Jaccard similarity reaches
``NEAR_IDENTICAL_JACCARD``); so is every talk linked to them that way. How
the threshold was chosen, and what it links on the real corpus: docs/quality.md,
"Re-given talks".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..steps.text import fold_accents

#: Labels: two titles, or two descriptions, are near-identical when the
#: Jaccard similarity of their normalised words reaches this (see the module).
NEAR_IDENTICAL_JACCARD = 0.8

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


