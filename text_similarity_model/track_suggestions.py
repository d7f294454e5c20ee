"""The tracks a talk seems to belong to, as answers give them.

The model's :class:`.TrackClassifier` is trained on the corpus' track groups
(:func:`.track_groups.track_key`); :class:`TrackSuggester` turns its
classes back into what people read (a name, the corpus' slugs of the group,
how many talks it has) and says what it can't tell (:data:`NOTES`).
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np

from .names import track_name
from .steps.track_classifier import TrackClassifier
from .track_groups import track_key, without_day_or_room

#: How many tracks a suggestion has (``likely_tracks``, ``suggested_tracks``).
N_TRACKS = 3

#: Why a suggestion is empty or weak, by code (answers give the code; names.py
#: has the sentence people read on the page and in the report).
NOTES = {
    "no-tracks": "the corpus has no tracks (its trilha column is empty or absent): no track to suggest",
    "one-track": "the corpus has a single track: there is nothing to tell apart",
    "no-known-words": "no word of the text is in the corpus' vocabulary: no track to suggest",
    "single-talk": "the most likely track has a single talk in the corpus: a weak suggestion",
    "untrained": "the model was trained before tracks were suggested; retrain it (make train)",
}


class TrackSuggestion(NamedTuple):
    """A query's most likely track groups, as numbers."""

    #: Positions in the classifier's ``classes_``, most likely first, and their probabilities.
    classes: list[int]
    probabilities: list[float]
    #: A key of :data:`NOTES` when there is something it can't tell, else None.
    note: str | None


NO_SUGGESTION = TrackSuggestion([], [], None)


class TrackGroup(NamedTuple):
    """A class of the classifier as people read it."""

    key: str
    #: The corpus' slugs of the group, the most common first.
    slugs: list[str]
    #: Its talks in the corpus.
    talks: int

    @property
    def name(self) -> str:
        return track_name(without_day_or_room(self.slugs[0])) if self.slugs else self.key

    def json(self) -> dict:
        return {"trilha": self.slugs[0] if self.slugs else self.key, "name": self.name, "trilhas": self.slugs,
                "talks": self.talks}


def fit_track_classifier(vectors, slugs) -> TrackClassifier:
    """A :class:`.TrackClassifier` of the corpus' TF-IDF ``vectors`` (n_talks,
    n_terms), labelled by the track groups of their ``slugs`` (n_talks,)."""
    return TrackClassifier().fit(vectors, [track_key(slug) for slug in slugs])


class TrackSuggester:
    """A fitted ``classifier`` and the corpus' track ``slugs`` it was trained on
    (one per talk; ``None``: the model has no classifier)."""

    def __init__(self, classifier: TrackClassifier | None, slugs):
        self.classifier = classifier
        self.groups: list[TrackGroup] = []
        if classifier is not None:
            by_key: dict[str, Counter] = {}
            for slug in slugs:
                by_key.setdefault(track_key(slug), Counter())[str(slug)] += 1
            for key, talks in zip(classifier.classes_.tolist(), classifier.class_counts_.tolist()):
                members = sorted(by_key.get(key, {}).items(), key=lambda pair: (-pair[1], pair[0]))
                self.groups.append(TrackGroup(key, [slug for slug, _ in members], talks))
        self._positions = {group.key: position for position, group in enumerate(self.groups)}
        self._items = [group.json() for group in self.groups]
        self._weak = ["single-talk" if group.talks == 1 else None for group in self.groups]
        #: Why the model suggests nothing for any query (a key of NOTES), else None.
        self.unavailable = ("untrained" if classifier is None else "no-tracks" if not self.groups
                            else "one-track" if len(self.groups) == 1 else None)

    def suggest(self, terms: np.ndarray, weights: np.ndarray, n: int = N_TRACKS) -> TrackSuggestion:
        """The ``n`` most likely groups of the query whose TF-IDF vector is
        ``terms``/``weights`` (its non-zero columns and their values)."""
        if self.unavailable:
            return TrackSuggestion([], [], self.unavailable)
        classes, probabilities = self.classifier.top(terms, weights, n)
        if not classes:  # no term in common with any track (or no known term at all)
            return TrackSuggestion([], [], "no-known-words")
        return TrackSuggestion(classes, probabilities, self._weak[classes[0]])

    def items(self, suggestion: TrackSuggestion) -> list[dict]:
        """``[{"trilha": "trilha-cloud-computing", "name": "Cloud computing",
        "trilhas": [the corpus' slugs of the group], "talks": 51,
        "probability": 0.41}, ...]``, most likely first; ``trilha`` is the
        group's most common slug, ``talks`` its talks in the corpus."""
        return [{**self._items[position], "probability": probability}
                for position, probability in zip(suggestion.classes, suggestion.probabilities)]

    def group_of(self, track) -> TrackGroup | None:
        """The corpus group a track written by a person (``"Segurança"``,
        ``"trilha-python"``) belongs to, None when it resembles none."""
        position = self._positions.get(track_key(track))
        return None if position is None else self.groups[position]

    def position_of(self, group: TrackGroup) -> int:
        return self._positions[group.key]
