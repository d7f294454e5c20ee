"""The rows of a CSV of submissions, one at a time: each a dict of the
header's columns, none longer than :data:`MAX_ROW_CHARACTERS`.

``csv.reader`` builds all of a row's fields before giving it: an input of
one endless row (a quote left open, or millions of commas) would be built
whole. Here each row is refused as soon as its lines together pass the
bound, and the header may name at most :data:`MAX_FIELDS` columns, so a
row's dict costs what a submission's should.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from ..errors import DataError
from .json_entries import MAX_ENTRY_CHARACTERS

#: The most characters one row may have, its lines together: as many as a
#: JSON entry (two fields at the csv module's own limit of 128 KB).
MAX_ROW_CHARACTERS = MAX_ENTRY_CHARACTERS

#: The most fields a submission may have: a CSV's columns, a JSON entry's
#: members. pretalx's submissions have about twenty.
MAX_FIELDS = 1000

#: What :func:`csv_rows` yields for a row whose columns can't be trusted.
UNTRUSTED_ROW = object()


def csv_rows(handle: IO[str], source: str) -> Iterator:
    """Each data row of the CSV ``handle`` as a dict of its header's columns
    (which must name title and description). A row with more fields than the
    header (an unquoted comma) can't be trusted to put the text in its
    columns: it is yielded as :data:`UNTRUSTED_ROW`. Blank lines are no rows.
    Raises :class:`.DataError` naming ``source`` and the fix."""
    lines = _RowLines(handle, source)
    reader = csv.reader(lines)
    try:
        header = [name.strip() for name in next(reader, [])]
        if len(header) > MAX_FIELDS:
            raise DataError(f"{source}: the header has {len(header):,} columns, over {MAX_FIELDS:,}; "
                            "keep the submissions' own columns")
        missing = [name for name in ("title", "description") if name not in header]
        if missing:
            raise DataError(
                f"{source}: no {' and no '.join(repr(name) for name in missing)} column; the header must name at "
                f"least title,description (found: {','.join(header) or 'nothing'}), or pass pretalx's submissions JSON")
        width = len(header)
        lines.row_characters = 0
        for values in reader:
            lines.row_characters = 0
            if not values:
                continue
            if len(values) > width and any(value.strip() for value in values[width:]):
                yield UNTRUSTED_ROW
                continue
            yield dict(zip(header, values + [""] * (width - len(values))))
    except csv.Error as error:
        raise DataError(f"{source}: not a valid CSV (line {reader.line_num}: {error}); "
                        "save it again as CSV from the spreadsheet") from None


class _RowLines:
    """The lines of ``handle`` for ``csv.reader``, refusing a row whose lines
    together pass :data:`MAX_ROW_CHARACTERS` (the reader sets
    ``row_characters`` back to 0 at each row it gets)."""

    def __init__(self, handle: IO[str], source: str):
        self.handle, self.source = handle, source
        self.line = 0
        self.row_characters = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.handle.readline(MAX_ROW_CHARACTERS + 1)
        if not line:
            raise StopIteration
        self.line += 1
        self.row_characters += len(line)
        if self.row_characters > MAX_ROW_CHARACTERS:
            raise DataError(f"{self.source}: the row reaching line {self.line:,} has over {MAX_ROW_CHARACTERS:,} "
                            "characters, more than a submission has; look for a quote left open before it")
        return line
