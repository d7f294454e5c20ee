"""The entries of a JSON list of submissions, or of pretalx's saved response
``{"count", "next", "results": [...]}``, read one at a time.

``json.loads`` would build the whole document before anything could be
counted: a body of 8 MB holding 2.7 million ``{}`` took a worker's memory
past a gigabyte. Here the list is walked in Python, an entry at a time, and
each entry is decoded by the standard library's C decoder on its own: the
caller stops at the entry it refuses, and nothing after it is ever built.
An entry (or a member of pretalx's response beside its results) is decoded
from a window of at most :data:`MAX_ENTRY_CHARACTERS` of the text, so no
entry can hold more than that much JSON, however it nests; nesting deep
enough to exhaust the decoder's recursion is refused, with the entry named.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from json.decoder import scanstring

from ..errors import DataError

#: The most characters of JSON one entry may have: a submission of pretalx
#: with its speakers, answers and notes has a few thousand.
MAX_ENTRY_CHARACTERS = 256 * 1024

# Most entries fit the first window; only the few larger ones are decoded again from the largest.
_FIRST_WINDOW = 16 * 1024
# A window ends with "\0", which no JSON value holds: a value cut by the window's end fails
# at the "\0", or within the last characters of a number or literal cut short (-Infinity).
_CUT = "\0"
_CUT_MARGIN = 16

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

NOT_A_LIST = ("JSON, but neither a JSON list of submissions nor pretalx's "
              '{"count": .., "results": [..]}; save the response of /api/events/<event>/submissions/')
_FIX = "pass the saved response of pretalx's /api/events/<event>/submissions/ as it is"


class JsonEntries:
    """Iterate over it for the entries of ``text`` (a JSON list, or pretalx's
    response); ``source`` names the input in messages. Once iterated to the
    end, :attr:`pretalx_page` says whether it was pretalx's response and
    :attr:`more_pages` whether that response says more pages follow.
    Raises :class:`.DataError` naming ``source`` and the fix."""

    def __init__(self, text: str, source: str):
        self.text, self.source = text, source
        self.pretalx_page = False
        self.more_pages = False

    def __iter__(self) -> Iterator:
        text = self.text
        start = self._space(0)
        if text.startswith("[", start):
            end = yield from self._list(start)
        elif text.startswith("{", start):
            self.pretalx_page = True
            end = yield from self._page(start)
        else:
            self._decode(start, "the document")  # invalid JSON says so first
            raise DataError(f"{self.source}: {NOT_A_LIST}")
        end = self._space(end)
        if end != len(text):
            raise self._invalid("Extra data", end)

    def _list(self, start: int) -> Iterator:
        """Yields the entries of the list at ``start``; returns where it ends."""
        position = self._space(start + 1)
        if self.text.startswith("]", position):
            return position + 1
        number = 0
        while True:
            number += 1
            entry, position = self._decode(position, f"submission {number}")
            yield entry
            position = self._space(position)
            if self.text.startswith("]", position):
                return position + 1
            if not self.text.startswith(",", position):
                raise self._invalid("Expecting ',' delimiter", position)
            position = self._space(position + 1)

    def _page(self, start: int) -> Iterator:
        """Yields the entries of the ``results`` list of the object at ``start``; returns where it ends."""
        text, results = self.text, False
        position = self._space(start + 1)
        if text.startswith("}", position):
            raise DataError(f"{self.source}: {NOT_A_LIST}")
        while True:
            if not text.startswith('"', position):
                raise self._invalid("Expecting property name enclosed in double quotes", position)
            try:
                name, position = scanstring(text, position + 1)
            except json.JSONDecodeError as error:
                raise self._invalid(error.msg, error.pos) from None
            position = self._space(position)
            if not text.startswith(":", position):
                raise self._invalid("Expecting ':' delimiter", position)
            position = self._space(position + 1)
            if name == "results" and not results and text.startswith("[", position):
                results = True
                position = yield from self._list(position)
            else:
                value, position = self._decode(position, f"the member {name!r}")
                if name == "next" and value:
                    self.more_pages = True
            position = self._space(position)
            if text.startswith("}", position):
                break
            if not text.startswith(",", position):
                raise self._invalid("Expecting ',' delimiter", position)
            position = self._space(position + 1)
        if not results:
            raise DataError(f"{self.source}: {NOT_A_LIST}")
        return position + 1

    def _decode(self, start: int, what: str):
        """The JSON value at ``start`` and where it ends, decoded from a window
        of at most :data:`MAX_ENTRY_CHARACTERS`; ``what`` names it in messages."""
        text = self.text
        for size in (_FIRST_WINDOW, MAX_ENTRY_CHARACTERS):
            whole = start + size >= len(text)
            window, offset = (text, 0) if whole else (text[start:start + size] + _CUT, start)
            try:
                value, end = _DECODER.raw_decode(window, start - offset)
                return value, end + offset
            except json.JSONDecodeError as error:
                if whole or error.pos < size - _CUT_MARGIN:
                    raise self._invalid(error.msg, error.pos + offset) from None
            except RecursionError:
                raise DataError(f"{self.source}: {what} nests lists or objects too deep to read; {_FIX}") from None
            except ValueError:  # a number of more digits than Python converts
                raise DataError(f"{self.source}: {what} has a number of over {sys.get_int_max_str_digits():,} "
                                f"digits; write it as text, or leave it out") from None
        raise DataError(f"{self.source}: {what} has over {MAX_ENTRY_CHARACTERS:,} characters of JSON, more than a "
                        f"submission of pretalx has; {_FIX}")

    def _space(self, position: int) -> int:
        return _SPACE.match(self.text, position).end()

    def _invalid(self, message: str, position: int) -> DataError:
        error = json.JSONDecodeError(message, self.text, position)
        return DataError(f"{self.source}: not valid JSON (line {error.lineno}, column {error.colno}: {message}); {_FIX}")
