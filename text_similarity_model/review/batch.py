"""The review of a call for papers: every submission against the past talks,
and against the other submissions of the same call.

For each submission, its most related past talks as :meth:`.Model.predict`
gives them (``terms``, ``same_talk``: the submission *is* that talk, given
again), its ``duplicates``: the other submissions of the batch that are
the same talk (:mod:`.duplicates`), and its ``suggested_tracks``, checked
against its own track (:mod:`.tracks`). :func:`review` returns a
:class:`CallReview`, whose :meth:`CallReview.json` is JSON-able as it is.
Memory grows with the number of submissions, never with its square.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..contract import N_RELATED, check_n_results
from ..model import N_TERMS, Model, Ranking
from .duplicates import BLOCK_CELLS, same_talk_pairs
from ..track_suggestions import N_TRACKS, TrackSuggestion
from .submissions import Submissions, submissions_from_records
from .tracks import DIFFERS, UNKNOWN, WHY_NOT_COMPARABLE, not_comparable, own_track, track_check

#: Submissions ranked between two progress updates; also the unit in which
#: their field vectors are gathered into sparse matrices.
CHUNK_SIZE = 1_000


@dataclass
class CallReview:
    """What :func:`review` found; ``json()`` for all of it, :meth:`results`
    one submission at a time."""

    model: Model
    submissions: Submissions
    n_results: int
    #: (n_submissions, n_results): the related talks' corpus indices (-1: none), scores, same_talk.
    related: np.ndarray
    scores: np.ndarray
    same_talks: np.ndarray
    #: (n_submissions, n_results, N_TERMS): each related talk's shared terms (-1: none) and their shares.
    terms: np.ndarray
    shares: np.ndarray
    #: Symmetric (n_submissions, n_submissions) CSR: which submissions are the same talk.
    duplicates: sp.csr_matrix
    #: (n_submissions, N_TRACKS): the suggested tracks (the classifier's classes, -1: none) and their
    #: probabilities; and per submission, why its suggestion is empty or weak (``tracks_note``).
    track_classes: np.ndarray
    track_probabilities: np.ndarray
    track_notes: list

    @property
    def model_version(self) -> str:
        return self.model.version

    def summary(self) -> dict:
        n_groups, labels = connected_components(self.duplicates, directed=False)
        in_groups = np.bincount(labels, minlength=n_groups) > 1
        return {
            "format": self.submissions.format,
            "submissions": len(self.submissions),
            "skipped": dict(sorted(self.submissions.skipped.items())),
            "already_given": int(self.same_talks.any(axis=1).sum()),
            "duplicate_groups": int(in_groups.sum()),
            "in_duplicate_groups": int(in_groups[labels].sum()),
            "tracks_differ": sum(check is not None and check["status"] == DIFFERS for check in self._track_checks),
            "tracks_unknown": sum(check is not None and check["status"] == UNKNOWN for check in self._track_checks),
            "tracks_not_comparable": self.tracks_not_comparable,
            "n_results": self.n_results,
        }

    def summary_lines(self) -> list[str]:
        summary = self.summary()
        return [f"{summary['submissions']} submissions reviewed against {len(self.model)} past talks "
                f"(model {self.model_version})",
                f"already given (a related talk is the same talk): {summary['already_given']}",
                f"duplicates within the batch: {summary['duplicate_groups']} groups, "
                f"{summary['in_duplicate_groups']} submissions",
                f"own track not among the {N_TRACKS} suggested: {summary['tracks_differ']}"
                + (f" (own track like no past track: {summary['tracks_unknown']})" if summary["tracks_unknown"] else "")
                if not self.tracks_not_comparable else
                f"own tracks not compared: {WHY_NOT_COMPARABLE[self.tracks_not_comparable]}"]

    @cached_property
    def tracks_not_comparable(self) -> str | None:
        """Why no submission's own track can be compared (a key of
        :data:`.tracks.WHY_NOT_COMPARABLE`), None when they can."""
        return not_comparable(self.submissions.items, self.submissions.format, self.model.track_suggester)

    @cached_property
    def _track_checks(self) -> list[dict | None]:
        suggester, why_not = self.model.track_suggester, self.tracks_not_comparable
        return [track_check(own_track(submission), self._suggestion(position), suggester, why_not)
                for position, submission in enumerate(self.submissions.items)]

    def _suggestion(self, position: int) -> TrackSuggestion:
        found = self.track_classes[position] >= 0
        return TrackSuggestion(self.track_classes[position][found].tolist(),
                               self.track_probabilities[position][found].tolist(), self.track_notes[position])

    def best_scores(self) -> np.ndarray:
        """Each submission's best similarity to a past talk (0: none), shape (n_submissions,)."""
        return self.scores[:, 0] if self.n_results else np.zeros(len(self.submissions))

    def results(self) -> Iterator[dict]:
        """Each submission's result, built when asked for (a report of
        100,000 submissions is written one at a time): ``id``, ``row``,
        ``title``, ``description``, ``fields``, ``related`` (predictions as
        :meth:`.Model.predict` gives them), ``duplicates`` (ids),
        ``suggested_tracks`` and ``tracks_note`` (as ``likely_tracks`` and
        ``tracks_note`` of :meth:`.Model.predict`), ``track_check`` (its own
        track against them, :func:`.tracks.track_check`)."""
        items = self.submissions.items
        indptr, indices = self.duplicates.indptr, self.duplicates.indices
        suggester = self.model.track_suggester
        for position, submission in enumerate(items):
            result = submission.json()
            result["related"] = self.model.predictions(self._ranking(position))
            result["duplicates"] = [items[other].id for other in indices[indptr[position]:indptr[position + 1]].tolist()]
            suggestion = self._suggestion(position)
            result["suggested_tracks"] = suggester.items(suggestion)
            result["tracks_note"] = suggestion.note
            result["track_check"] = self._track_checks[position]
            yield result

    def json(self) -> dict:
        """``{"model_version", "summary", "submissions": [...]}``: all of :meth:`results`, JSON-able."""
        return {"model_version": self.model_version, "summary": self.summary(), "submissions": list(self.results())}

    def _ranking(self, position: int) -> Ranking:
        found = self.related[position] >= 0
        explanations = [[(term, share) for term, share in zip(terms.tolist(), shares.tolist()) if term >= 0]
                        for terms, shares in zip(self.terms[position][found], self.shares[position][found])]
        return Ranking(self.related[position][found], self.scores[position][found], explanations,
                       self.same_talks[position][found].tolist(), ({}, {}))


def review(submissions: Submissions | Iterable[Mapping], model: Model, n_results: int = N_RELATED,
           progress: bool = False, chunk_size: int = CHUNK_SIZE, block_cells: int = BLOCK_CELLS) -> CallReview:
    """CallReview ``submissions`` (:class:`Submissions`, or records as
    :func:`submissions_from_records` takes them) against ``model``: each
    one's ``n_results`` most related past talks and the other submissions
    that are the same talk. ``progress``: a progress bar on stderr."""
    if not isinstance(submissions, Submissions):
        submissions = submissions_from_records(submissions)
    n_results = check_n_results(n_results)
    count = len(submissions)
    related = np.full((count, n_results), -1, dtype=np.int32)
    scores = np.zeros((count, n_results))
    same_talks = np.zeros((count, n_results), dtype=bool)
    terms = np.full((count, n_results, N_TERMS), -1, dtype=np.int32)
    shares = np.zeros((count, n_results, N_TERMS))
    track_classes = np.full((count, N_TRACKS), -1, dtype=np.int32)
    track_probabilities = np.zeros((count, N_TRACKS))
    track_notes = [None] * count
    title_chunks, description_chunks = [], []
    bar = _progress_bar(count, progress)
    for start in range(0, count, chunk_size):
        chunk = submissions.items[start:start + chunk_size]
        fields = []
        for position, submission in enumerate(chunk, start=start):
            ranking = model.rank({"title": submission.title, "description": submission.description}, n_results)
            found = len(ranking.indices)
            related[position, :found] = ranking.indices
            scores[position, :found] = ranking.scores
            same_talks[position, :found] = ranking.same_talks
            suggested = len(ranking.tracks.classes)
            track_classes[position, :suggested] = ranking.tracks.classes
            track_probabilities[position, :suggested] = ranking.tracks.probabilities
            track_notes[position] = ranking.tracks.note
            for rank, shared in enumerate(ranking.explanations):
                for slot, (term, share) in enumerate(shared):
                    terms[position, rank, slot] = term
                    shares[position, rank, slot] = share
            fields.append(ranking.fields)
        n_terms = model.repeats.titles_.shape[1]
        title_chunks.append(_field_matrix([title for title, _ in fields], n_terms))
        description_chunks.append(_field_matrix([description for _, description in fields], n_terms))
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    titles = sp.vstack(title_chunks, format="csr") if title_chunks else sp.csr_matrix((0, 0), dtype=np.float32)
    descriptions = (sp.vstack(description_chunks, format="csr") if description_chunks
                    else sp.csr_matrix((0, 0), dtype=np.float32))
    duplicates = same_talk_pairs(titles, descriptions, model.repeats, block_cells)
    return CallReview(model, submissions, n_results, related, scores, same_talks, terms, shares, duplicates,
                      track_classes, track_probabilities, track_notes)


def _field_matrix(vectors: list[dict[int, float]], n_terms: int) -> sp.csr_matrix:
    """Field vectors (``{term: weight}``, L2-normalised) as the rows of a float32 CSR."""
    indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
    np.cumsum([len(vector) for vector in vectors], out=indptr[1:])
    indices = np.fromiter((term for vector in vectors for term in vector), dtype=np.int32, count=indptr[-1])
    data = np.fromiter((weight for vector in vectors for weight in vector.values()), dtype=np.float32,
                       count=indptr[-1])
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(vectors), n_terms))
    matrix.sort_indices()
    return matrix


def _progress_bar(total: int, progress: bool):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="reviewing", unit="submission", mininterval=0.5)


