"""A submission's own track against the tracks the model suggests for it.

The own track is the submission's ``track`` field (a CSV column, pretalx's
``track``), else its ``trilha``. It is compared by topic, as the classifier
learned the corpus' tracks (:func:`.track_groups.track_key`): "Segurança"
is ``trilha-seguranca``. A submission whose own track is a corpus track but
not among its suggested ones is flagged (:data:`DIFFERS`: "submetida em
Arquitetura; parece Cloud computing"); one whose track resembles no corpus
track is said to (:data:`UNKNOWN`), not flagged.

pretalx's API gives ``track`` as a bare id unless asked with
``expand=track``: such a file's tracks can't be compared, which the summary
says once (:data:`PRETALX_IDS`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..track_suggestions import NOTES, TrackSuggester, TrackSuggestion
from .submissions import Submission

#: The fields a submission's own track is read from, the first found first.
TRACK_FIELDS = ("track", "trilha")

# A submission's track_check status.
MATCHES = "matches"  # its track is among the suggested ones
DIFFERS = "differs"  # a corpus track, but not among the suggested ones: flagged
UNKNOWN = "unknown"  # no corpus track resembles it
NO_SUGGESTION = "no-suggestion"  # the model suggests nothing for its text (tracks_note says why)
NOT_COMPARABLE = "not-comparable"  # the file's tracks, or the model's, can't be compared (the summary says why)

#: Why a file's tracks can't be compared, besides the model's notes (:data:`.track_suggestions.NOTES`).
PRETALX_IDS = "pretalx-ids"
WHY_NOT_COMPARABLE = {
    PRETALX_IDS: "pretalx gave each track as its id: save the submissions with ?expand=track to compare them",
    **{note: NOTES[note] for note in ("no-tracks", "one-track", "untrained")},
}


def own_track(submission: Submission) -> str:
    """The submission's own track as it was written, "" when it has none."""
    return next((submission.fields[name] for name in TRACK_FIELDS if submission.fields.get(name)), "")


def not_comparable(submissions: Sequence[Submission], format: str, suggester: TrackSuggester) -> str | None:
    """Why no submission's own track can be compared (a key of
    :data:`WHY_NOT_COMPARABLE`), None when they can."""
    if suggester.unavailable in WHY_NOT_COMPARABLE:
        return suggester.unavailable
    if format.startswith("pretalx") and any(own_track(item).isdigit() for item in submissions):
        return PRETALX_IDS
    return None


def track_check(track: str, suggestion: TrackSuggestion, suggester: TrackSuggester, why_not: str | None) -> dict | None:
    """``{"track", "status", "message"}`` of a submission whose own track is
    ``track`` and whose suggestion is ``suggestion``; None without a track.
    ``message`` (in Portuguese, as the report and the page show it) for the
    :data:`DIFFERS` and :data:`UNKNOWN` ones."""
    if not track:
        return None
    if why_not:
        return _check(track, NOT_COMPARABLE)
    group = suggester.group_of(track)
    if group is None:
        return _check(track, UNKNOWN, f"submetida em {track}: nenhuma trilha das edições anteriores se parece com ela")
    if not suggestion.classes:
        return _check(track, NO_SUGGESTION)
    if suggester.position_of(group) in suggestion.classes:
        return _check(track, MATCHES)
    likely = suggester.groups[suggestion.classes[0]].name
    return _check(track, DIFFERS, f"submetida em {track}; parece {likely}")


def _check(track: str, status: str, message: str | None = None) -> dict:
    return {"track": track, "status": status, "message": message}
