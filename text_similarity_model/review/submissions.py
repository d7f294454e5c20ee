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

Input is read as it is counted: a CSV a row at a time (:mod:`.csv_rows`),
JSON an entry at a time (:mod:`.json_entries`), each row or entry bounded in
size, so an input of millions of rows costs nothing past the caller's
:class:`Limits`.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import IO
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .csv_rows import MAX_FIELDS, UNTRUSTED_ROW, csv_rows
from .json_entries import JsonEntries

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

#: How deep pretalx's fields kept beside the text (speakers, track...) may
#: nest: its speakers are a list of objects whose name may be in several languages.
MAX_FIELD_NESTING = 4


@dataclass(frozen=True)
class Limits:
    """What a reader of input from the network allows (the API's); the
    command line reads its owner's files with none."""

    #: Submissions (rows, entries) read; one more raises :class:`TooManySubmissions` at once.
    submissions: int | None = None
    #: The longest each text field may be, in characters (``{"title": 300, ...}``); a longer one is unreadable.
    lengths: Mapping[str, int] = field(default_factory=dict)
    #: Characters of text (title, abstract, description) of all submissions
    #: together; one more raises :class:`TooMuchText` at once.
    text: int | None = None


NO_LIMITS = Limits()


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


class TooMuchText(DataError):
    """The submissions' text is longer, all together, than the reader was allowed to read."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit:,} characters of text (titles, abstracts and descriptions together)")
        self.limit = limit


def submissions_from_records(records: Iterable, format: str = "records", limits: Limits = NO_LIMITS) -> Submissions:
    """Submissions from ``records``, each a mapping with ``title`` and
    ``description`` (and/or ``abstract``, joined to the description), an
    optional ``id`` or ``code``, other fields kept as text. A record that is
    not a mapping, whose text or id is not text, whose text field is longer
    than ``limits.lengths`` gives it or which has too many fields is skipped
    as unreadable, saying why; one without text, as such. Past
    ``limits.text`` characters of text, :class:`TooMuchText` is raised."""
    submissions = Submissions(format)
    text_left = limits.text
    for row, record in enumerate(records, start=1):
        problem = _record_problem(record, limits.lengths)
        if problem:
            submissions.skip(row, UNREADABLE, f"submission {row}{problem}")
            continue
        texts = [record.get(name) or "" for name in _TEXT_FIELDS]
        if text_left is not None:
            text_left -= sum(map(len, texts))
            if text_left < 0:
                raise TooMuchText(limits.text)
        title, abstract, description = (" ".join(text.split()) for text in texts)
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
    if record is UNTRUSTED_ROW:
        return (" has more fields than the CSV's header (an unquoted comma?); "
                "put the text in quotes, as a spreadsheet saves it")
    if not isinstance(record, Mapping):
        return ' is not an object; send each as {"title": ..., "description": ...}'
    if not any(name in record for name in _TEXT_FIELDS):
        return ' has no title, abstract or description; send each as {"title": ..., "description": ...}'
    if len(record) > MAX_FIELDS:
        return f" has {len(record):,} fields, over {MAX_FIELDS:,}; send the submission's own fields"
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
    for name in _PRETALX_FIELDS:
        if _nests_deeper(record.get(name), MAX_FIELD_NESTING):
            return f": {name} nests deeper than {MAX_FIELD_NESTING} levels; pass pretalx's {name} as it sends them"
    return None


def _nests_deeper(value, levels: int) -> bool:
    """Whether ``value`` has lists or mappings nested more than ``levels`` deep (not recursive: any depth is asked)."""
    pending = [(value, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, Mapping):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth == levels:
            return True
        pending.extend((item, depth + 1) for item in value)
    return False


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
            submissions = parse_submissions(handle, str(path), "json" if start in "{[" else "csv")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {_bad_byte_offset(path)}); "
                        "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    if not submissions.items and not submissions.problems:
        reasons = "; ".join(submissions.skipped_lines())
        raise DataError(f"{path}: no submission has a title or a description ({reasons}); "
                        "fill in each submission's title and description")
    return submissions


def parse_submissions(handle: IO[str] | str, source: str, format: str, limits: Limits = NO_LIMITS) -> Submissions:
    """The one reader: the submissions of the text ``handle`` (or of the text
    itself), a ``"csv"`` or ``"json"`` ``format``. ``source`` names the input
    in messages (a path, "the body"). A CSV is read a row at a time: a file
    of 100,000 rows is never held whole; JSON an entry at a time. Past
    ``limits.submissions`` rows or entries, :class:`TooManySubmissions` is
    raised at once; past ``limits.text`` characters of text,
    :class:`TooMuchText`. Raises :class:`.DataError` naming ``source`` and
    the fix when there are no submissions at all. Submissions without text
    are skipped, all of them too: the API answers so (JSON Schema can't
    require one submission of a list to have text), the command line stops
    (:func:`read_submissions`)."""
    if format == "csv":
        rows = csv_rows(io.StringIO(handle, newline="") if isinstance(handle, str) else handle, source)
        submissions = submissions_from_records(_limited(rows, source, limits.submissions), "CSV", limits)
    else:
        submissions = _json_submissions(source, handle if isinstance(handle, str) else handle.read(), limits)
    if not submissions.items and not submissions.skipped:
        raise DataError(f"{source}: no submissions; add one per talk, each with a title and a description")
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


def _json_submissions(source: str, text: str, limits: Limits) -> Submissions:
    entries = JsonEntries(text, source)
    like_submissions = False  # whether an entry has a text field, as pretalx's submissions do

    def noted():
        nonlocal like_submissions
        for entry in entries:
            like_submissions = like_submissions or isinstance(entry, Mapping) and any(name in entry for name in _TEXT_FIELDS)
            yield entry

    submissions = submissions_from_records(_limited(noted(), source, limits.submissions), "JSON", limits)
    if (submissions.items or submissions.skipped) and not like_submissions:
        raise DataError(f"{source}: JSON, but no entry has a title, abstract or description as pretalx's "
                        "submissions do; save the response of /api/events/<event>/submissions/")
    if entries.pretalx_page:
        submissions.format = 'pretalx submissions JSON ({"count", "results"} response)'
        if entries.more_pages:
            submissions.format += "; more pages follow, only this one is read"
    else:
        submissions.format = "pretalx submissions JSON (a list of submissions)"
    return submissions


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


