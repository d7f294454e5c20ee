"""Reading the submissions of a call for papers: one reader for the command
line (``text_similarity_model review FILE``) and the API (``POST /review``).

A CSV with ``title`` and ``description`` columns (``id`` or ``code`` and any
other column kept), or pretalx's submissions JSON (a saved response of
``/api/events/<event>/submissions/``, ``{"count": .., "results": [..]}``, or
a list of submissions). Both callers get the same submissions from the same
input; a row the reader can't trust (not an object, text that is not text,
a CSV row with more fields than its header: an unquoted comma) is
*unreadable*: the command skips it and says which rows, the API refuses the
request naming it (its client wants to know).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import IO
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

# Why a row was skipped, as the summary counts them.
NO_TEXT = "no text"
UNREADABLE = "unreadable"

# A submission's identity and text; other fields are kept as text when they
# are text or numbers, or pretalx's objects worth showing beside the text
# (its answers, slots, resources... are not about the talk's subject).
_ID_FIELDS = ("id", "code")
_TEXT_FIELDS = ("title", "abstract", "description")
_PRETALX_FIELDS = ("speakers", "track", "submission_type")
# The languages an i18n value of pretalx ({"en": .., "pt-br": ..}) is read in, first found first.
_LANGUAGES = ("pt-br", "pt", "en")


@dataclass(slots=True)
class Submission:
    """One submission of a call: ``id`` (the input's ``id`` or ``code``,
    else its row number from 1), its text and the other fields kept."""

    id: str | int
    row: int
    title: str
    description: str
    fields: dict[str, str]

    def json(self) -> dict:
        return {"id": self.id, "row": self.row, "title": self.title, "description": self.description,
                "fields": self.fields}


@dataclass
class Submissions:
    """The submissions read from a file or given in memory, and the rows skipped."""

    #: How the input was read: ``"CSV"``, ``"pretalx submissions JSON (...)"``, ``"records"``.
    format: str
    items: list[Submission] = field(default_factory=list)
    #: Rows skipped, by reason (:data:`NO_TEXT`, :data:`UNREADABLE`).
    skipped: Counter = field(default_factory=Counter)
    #: The first few rows skipped for each reason (row numbers from 1).
    skipped_rows: dict[str, list[int]] = field(default_factory=dict)
    #: What is wrong with the first few unreadable rows: ``"submission 2 is not an object; ..."``.
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def skip(self, row: int, reason: str, problem: str | None = None) -> None:
        self.skipped[reason] += 1
        rows = self.skipped_rows.setdefault(reason, [])
        if len(rows) < 5:
            rows.append(row)
        if problem and len(self.problems) < 5:
            self.problems.append(problem)

    def repeated_ids(self) -> list[str | int]:
        """The ids more than one submission has (a report's ``duplicates`` can't tell those apart)."""
        return [identity for identity, count in Counter(item.id for item in self.items).items() if count > 1]

    def skipped_lines(self) -> list[str]:
        """``skipped 2 rows: no text (rows 4, 9)``, one line per reason; none when nothing was skipped."""
        lines = []
        for reason, count in sorted(self.skipped.items()):
            rows = ", ".join(map(str, self.skipped_rows[reason])) + (", ..." if count > len(self.skipped_rows[reason]) else "")
            lines.append(f"skipped {count} row{'s' if count > 1 else ''}: {reason} (row{'s' if count > 1 else ''} {rows})")
        return lines


class TooManySubmissions(DataError):
    """The input holds more submissions than its reader was allowed to read."""

    def __init__(self, source: str, limit: int):
        super().__init__(f"{source}: more than {limit:,} submissions")
        self.limit = limit


def submissions_from_records(records: Iterable, format: str = "records",
                             max_lengths: Mapping[str, int] | None = None) -> Submissions:
    """Submissions from ``records``, each a mapping with ``title`` and
    ``description`` (and/or ``abstract``, joined to the description), an
    optional ``id`` or ``code``, other fields kept as text. A record that is
    not a mapping, whose text or id is not text, or whose text field is
    longer than ``max_lengths`` gives it (``{"title": 300, ...}``) is skipped
    as unreadable, saying why; one without text, as such."""
    submissions = Submissions(format)
    for row, record in enumerate(records, start=1):
        problem = _record_problem(record, max_lengths or {})
        if problem:
            submissions.skip(row, UNREADABLE, f"submission {row}{problem}")
            continue
        title, abstract, description = (" ".join((record.get(name) or "").split()) for name in _TEXT_FIELDS)
        # pretalx's abstract is the talk in a sentence, its description the rest: together, its description.
        description = "\n\n".join(part for part in (abstract, description) if part)
        if not (title or description):
            submissions.skip(row, NO_TEXT)
            continue
        identity = next((_text(record[name]) for name in _ID_FIELDS if _text(record.get(name))), row)
        fields = {str(name): _text(value) for name, value in record.items()
                  if name not in _ID_FIELDS and name not in _TEXT_FIELDS and name is not None
                  and (name in _PRETALX_FIELDS or isinstance(value, str | int | float) and not isinstance(value, bool))}
        submissions.items.append(Submission(identity, row, title, description, fields))
    return submissions


def _record_problem(record, max_lengths: Mapping[str, int]) -> str | None:
    """Why ``record`` can't be read as a submission (to follow "submission N"), or None."""
    if record is _UNTRUSTED_ROW:
        return (" has more fields than the CSV's header (an unquoted comma?); "
                "put the text in quotes, as a spreadsheet saves it")
    if not isinstance(record, Mapping):
        return ' is not an object; send each as {"title": ..., "description": ...}'
    identity = record.get("id")
    if identity is not None and (isinstance(identity, bool) or not isinstance(identity, str | int)):
        return ": id must be text or a whole number"
    if record.get("code") is not None and not isinstance(record["code"], str):
        return ": code must be text"
    for name in _TEXT_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f": {name} must be text"
        if name in max_lengths and len(value) > max_lengths[name]:
            return f": {name} has {len(value):,} characters, over {max_lengths[name]:,}; shorten it"
    return None


def read_submissions(path: str | Path) -> Submissions:
    """The submissions of the file ``path``: CSV or pretalx JSON, told by its
    content (:attr:`Submissions.format` says which). Every failure a user can
    cause raises :class:`.DataError` naming the file and the fix."""
    path = Path(path)
    try:
        with _open_text(path) as handle:
            start = _first_character(handle)
            if not start:
                raise DataError(f"{path}: the file is empty; expected a CSV with a header line title,description "
                                "or pretalx's submissions JSON")
            handle.seek(0)
            return parse_submissions(handle, str(path), "json" if start in "{[" else "csv")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {_bad_byte_offset(path)}); "
                        "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def parse_submissions(handle: IO[str], source: str, format: str, max_submissions: int | None = None,
                      max_lengths: Mapping[str, int] | None = None) -> Submissions:
    """The one reader: the submissions of the text ``handle``, a ``"csv"`` or
    ``"json"`` ``format``. ``source`` names the input in messages (a path,
    "the body"). A CSV is read a row at a time: a file of 100,000 rows is
    never held whole. Past ``max_submissions`` rows, :class:`TooManySubmissions`
    is raised at once; ``max_lengths`` as for :func:`submissions_from_records`.
    Raises :class:`.DataError` naming ``source`` and the fix when there is
    nothing to review."""
    if format == "csv":
        submissions = _csv_submissions(source, handle, max_submissions, max_lengths)
    else:
        submissions = _pretalx_submissions(source, handle.read(), max_submissions, max_lengths)
    if not submissions.items and not submissions.skipped:
        raise DataError(f"{source}: no submissions; add one per talk, each with a title and a description")
    if not submissions.items and not submissions.problems:
        reasons = "; ".join(submissions.skipped_lines())
        raise DataError(f"{source}: no submission has a title or a description ({reasons}); "
                        "fill in each submission's title and description")
    return submissions


def _limited(records: Iterable, source: str, max_submissions: int | None) -> Iterator:
    """``records``, raising :class:`TooManySubmissions` as soon as one too many comes."""
    for count, record in enumerate(records, start=1):
        if max_submissions is not None and count > max_submissions:
            raise TooManySubmissions(source, max_submissions)
        yield record


def _open_text(path: Path):
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; pass the submissions (a CSV with title,description, "
                        "or pretalx's submissions JSON)") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder; pass the submissions file inside it") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied; make the file readable") from None


def _first_character(handle) -> str:
    """The first character of ``handle`` that is not white space ("" for none)."""
    while block := handle.read(1 << 16):
        if text := block.lstrip():
            return text[0]
    return ""


def _bad_byte_offset(path: Path) -> int:
    try:
        path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return error.start
    return -1  # pragma: no cover: only called when decoding failed


def _csv_submissions(source: str, handle, max_submissions: int | None, max_lengths) -> Submissions:
    reader = csv.reader(handle)
    try:
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in ("title", "description") if name not in header]
        if missing:
            raise DataError(
                f"{source}: no {' and no '.join(repr(name) for name in missing)} column; the header must name at "
                f"least title,description (found: {','.join(header) or 'nothing'}), or pass pretalx's submissions JSON")
        records = _limited(_csv_records(reader, header), source, max_submissions)
        return submissions_from_records(records, "CSV", max_lengths)
    except csv.Error as error:
        raise DataError(f"{source}: not a valid CSV (line {reader.line_num}: {error}); "
                        "save it again as CSV from the spreadsheet") from None


#: What :func:`_csv_records` yields for a row whose columns can't be trusted.
_UNTRUSTED_ROW = object()


def _csv_records(reader, header: list[str]) -> Iterator:
    """Each data row of ``reader`` as a dict of ``header``; a row with more
    fields than the header (an unquoted comma) can't be trusted to put the
    text in its columns: it is yielded as :data:`_UNTRUSTED_ROW`, which is
    unreadable. Blank lines are no rows."""
    width = len(header)
    for values in reader:
        if not values:
            continue
        if len(values) > width and any(value.strip() for value in values[width:]):
            yield _UNTRUSTED_ROW
            continue
        yield dict(zip(header, values + [""] * (width - len(values))))


def _pretalx_submissions(source: str, text: str, max_submissions: int | None, max_lengths) -> Submissions:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{source}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                        "pass the saved response of pretalx's /api/events/<event>/submissions/ as it is") from None
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        records, kind = document["results"], 'pretalx submissions JSON ({"count", "results"} response)'
        if document.get("next"):
            kind += "; more pages follow, only this one is read"
    elif isinstance(document, list):
        records, kind = document, "pretalx submissions JSON (a list of submissions)"
    else:
        raise DataError(f"{source}: JSON, but neither a JSON list of submissions nor pretalx's "
                        '{"count": .., "results": [..]}; save the response of /api/events/<event>/submissions/')
    if records and not any(isinstance(record, dict) and any(name in record for name in _TEXT_FIELDS)
                           for record in records):
        raise DataError(f"{source}: JSON, but no entry has a title, abstract or description as pretalx's "
                        "submissions do; save the response of /api/events/<event>/submissions/")
    return submissions_from_records(_limited(records, source, max_submissions), kind, max_lengths)


def _text(value) -> str:
    """A field's value as one line of text: pretalx's i18n objects in
    Portuguese (else English, else the first language), its lists of
    speakers by name, numbers as written."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, Mapping):
        if "name" in value:
            return _text(value["name"])
        for language in _LANGUAGES:
            if isinstance(value.get(language), str):
                return value[language].strip()
        return next((text.strip() for text in value.values() if isinstance(text, str)), "")
    if isinstance(value, list):
        return ", ".join(filter(None, map(_text, value)))
    return str(value)


