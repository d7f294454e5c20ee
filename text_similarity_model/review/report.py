"""The review's report (``text_similarity_model review ... -o REPORT``), its
format told by the extension:

- ``.json``: ``{"model_version", "summary", "submissions": [{"id", "row",
  "title", "description", "fields", "related", "duplicates",
  "suggested_tracks", "tracks_note", "track_check"}]}``;
- ``.csv``: one row per submission and related talk (a submission without
  one: one row without a talk), the submission's ``duplicates``,
  ``suggested_tracks`` and ``track_check`` (its status: ``differs`` when its
  own track is not among the suggested ones) as columns;
- ``.html``: one self-contained page in Portuguese (styles and script
  inline, nothing fetched: it opens offline), to read and filter
  (:mod:`.report_html`).

Each is written a submission at a time into a temporary file that replaces
the report only once complete (:func:`.files.atomic_writer`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import PalestrasError
from ..files import atomic_writer, unwritable_file_problem
from ..names import percent
from .batch import CallReview
from .report_html import write_html

FORMATS = {".json": "JSON", ".csv": "CSV", ".html": "HTML", ".htm": "HTML"}


def check_report_path(path: str | Path) -> str:
    """The report format ``path``'s extension names (``"JSON"``, ``"CSV"``,
    ``"HTML"``); raises naming the fix when it names none or can't be written."""
    path = Path(path)
    report_format = FORMATS.get(path.suffix.lower())
    if report_format is None:
        raise PalestrasError(f"{path}: unknown report format {path.suffix or '(no extension)'!r}; "
                             "end the name with .html, .json or .csv")
    problem = unwritable_file_problem(path, "review.html")
    if problem:
        raise PalestrasError(problem)
    return report_format


def write_report(review: CallReview, path: str | Path, report_format: str | None = None) -> None:
    """Write ``review`` to ``path`` atomically, in ``report_format`` (default: by the extension)."""
    report_format = report_format or check_report_path(path)
    writer = {"JSON": _write_json, "CSV": _write_csv, "HTML": write_html}[report_format]
    newline = "" if report_format == "CSV" else None  # the csv module writes its own line ends
    with atomic_writer(path, "w", encoding="utf-8", newline=newline) as handle:
        writer(review, handle)


# -- JSON -----------------------------------------------------------------------


def _write_json(review: CallReview, handle) -> None:
    # CallReview.json()'s document, written piece by piece: the same text json.dump would give.
    head = json.dumps({"model_version": review.model_version, "summary": review.summary()}, ensure_ascii=False)
    handle.write(head[:-1] + ', "submissions": [')
    for position, result in enumerate(review.results()):
        handle.write(("\n" if position == 0 else ",\n") + json.dumps(result, ensure_ascii=False))
    handle.write("\n]}\n")


# -- CSV ------------------------------------------------------------------------

SUBMISSION_COLUMNS = ("submission_id", "submission_title", "duplicates", "suggested_tracks", "track_check", "rank")
RELATED_COLUMNS = ("score", "same_talk", "terms")


def csv_columns(review: CallReview) -> list[str]:
    """The CSV's header: the submission's columns, the past talk's fields, ``score``, ``same_talk``, ``terms``."""
    return [*SUBMISSION_COLUMNS, *review.model.columns, "index", *RELATED_COLUMNS]


# A cell a spreadsheet would take as a formula: submissions are anyone's text,
# and this file is opened in one (OWASP's "CSV injection"). Such text gets a
# leading apostrophe, which spreadsheets show as text and don't display.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """``value``, with a ``'`` before text a spreadsheet would run as a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _write_csv(review: CallReview, handle) -> None:
    writer = csv.writer(handle)
    talk_columns = [*review.model.columns, "index"]
    writer.writerow(csv_columns(review))
    for result in review.results():
        submission = [result["id"], result["title"], "; ".join(map(str, result["duplicates"])),
                      "; ".join(f"{track['name']} ({percent(track['probability'])})" for track in result["suggested_tracks"]),
                      (result["track_check"] or {}).get("status", "")]
        rows = [submission + [""] * (1 + len(talk_columns) + len(RELATED_COLUMNS))] if not result["related"] else [
            submission + [rank] + [talk[column] for column in talk_columns] + [
                f"{talk['score']:.4f}", "true" if talk["same_talk"] else "false",
                "; ".join(term["term"] for term in talk["terms"])]
            for rank, talk in enumerate(result["related"], start=1)]
        writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
