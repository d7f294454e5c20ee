"""Reviewing a call for papers (issue #15): every submission against the
past talks, and against the other submissions of the same call.

For each submission, its most related past talks as :meth:`.Model.predict`
gives them (``terms``, ``same_talk``: the submission *is* that talk, given
again), and its ``duplicates``: the other submissions of the batch that are
the same talk (sent to two tracks, or by two co-speakers), decided by the
very rule of ``same_talk`` (:meth:`.RepeatDetector.same_talk`) on the
cosines of their titles and of their descriptions.

Two ways in:

- :func:`read_submissions` reads a file: a CSV with ``title`` and
  ``description`` columns (``id`` or ``code`` and any other column kept), or
  pretalx's submissions JSON (a saved response of
  ``/api/events/<event>/submissions/``, ``{"count": .., "results": [..]}``,
  or a list of submissions); the format is told by the content;
- :func:`submissions_from_records` takes records already in memory (a list
  of dicts, e.g. a request's JSON).

Then :func:`review` with a loaded :class:`.Model` returns a :class:`Review`,
whose :meth:`Review.json` is JSON-able as it is. Memory grows with the
number of submissions (their text, a few numbers per related talk), never
with its square: submissions are ranked a chunk at a time, and the
within-batch comparison is a sparse product a block of rows at a time that
keeps only the pairs the rule flags.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .contract import N_RELATED
from .errors import DataError
from .model import N_TERMS, Model, Ranking
from .repeats import RepeatDetector

#: Submissions ranked between two progress updates; also the unit in which
#: their field vectors are gathered into sparse matrices.
CHUNK_SIZE = 1_000

#: Cells of one block of the within-batch product (a block of rows against
#: every later submission): bounds its memory whatever the batch size.
BLOCK_CELLS = 1 << 22

# Why a row was skipped, as the summary counts them.
NO_TEXT = "no text"
UNREADABLE = "unreadable"

# A submission's identity and text; every other field is kept as it is.
_ID_FIELDS = ("id", "code")
_TEXT_FIELDS = ("title", "abstract", "description")
# pretalx's fields worth showing beside the text (its answers, slots,
# resources... are not about the talk's subject).
_PRETALX_FIELDS = ("speakers", "track", "submission_type", "state", "content_locale")
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

    def __len__(self) -> int:
        return len(self.items)

    def skip(self, row: int, reason: str) -> None:
        self.skipped[reason] += 1
        rows = self.skipped_rows.setdefault(reason, [])
        if len(rows) < 5:
            rows.append(row)

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


def submissions_from_records(records: Iterable, format: str = "records") -> Submissions:
    """Submissions from ``records``, each a mapping with ``title`` and
    ``description`` (and/or ``abstract``, joined to the description), an
    optional ``id`` or ``code``, any other field kept as text. A record that
    is not a mapping, or whose text fields are not text, is skipped as
    unreadable; one without text, as such."""
    submissions = Submissions(format)
    for row, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            submissions.skip(row, UNREADABLE)
            continue
        texts = [record.get(name) for name in _TEXT_FIELDS]
        if not all(text is None or isinstance(text, str) for text in texts):
            submissions.skip(row, UNREADABLE)
            continue
        title, abstract, description = (" ".join((text or "").split()) for text in texts)
        # pretalx's abstract is the talk in a sentence, its description the rest: together, its description.
        description = "\n\n".join(part for part in (abstract, description) if part)
        if not (title or description):
            submissions.skip(row, NO_TEXT)
            continue
        identity = next((_text(record[name]) for name in _ID_FIELDS if _text(record.get(name))), row)
        fields = {str(name): _text(value) for name, value in record.items()
                  if name not in _ID_FIELDS and name not in _TEXT_FIELDS and name is not None}
        submissions.items.append(Submission(identity, row, title, description, fields))
    return submissions


def read_submissions(path: str | Path) -> Submissions:
    """The submissions of the file ``path``: CSV or pretalx JSON, told by its
    content (:attr:`Submissions.format` says which). Every failure a user can
    cause raises :class:`.DataError` naming the file and the fix.

    A CSV is read as a stream, a row at a time: a file of 100,000 rows is
    never held whole (as text and again as the csv module's buffer)."""
    path = Path(path)
    try:
        with _open_text(path) as handle:
            start = _first_character(handle)
            if not start:
                raise DataError(f"{path}: the file is empty; expected a CSV with a header line title,description "
                                "or pretalx's submissions JSON")
            handle.seek(0)
            if start in "{[":
                submissions = _pretalx_submissions(path, handle.read())
            else:
                submissions = _csv_submissions(path, handle)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {_bad_byte_offset(path)}); "
                        "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    if not submissions.items:
        reasons = "; ".join(submissions.skipped_lines())
        raise DataError(f"{path}: no submission has a title or a description ({reasons}); "
                        "fill in each submission's title and description")
    return submissions


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


def _csv_submissions(path: Path, handle) -> Submissions:
    reader = csv.reader(handle)
    try:
        header = [name.strip() for name in next(reader)]
        missing = [name for name in ("title", "description") if name not in header]
        if missing:
            raise DataError(
                f"{path}: no {' and no '.join(repr(name) for name in missing)} column; the header must name at "
                f"least title,description (found: {','.join(header)}), or pass pretalx's submissions JSON")
        submissions = submissions_from_records(_csv_records(reader, header), "CSV")
    except csv.Error as error:
        raise DataError(f"{path}: not a valid CSV (line {reader.line_num}: {error}); "
                        "save it again as CSV from the spreadsheet") from None
    if not submissions.items and not submissions.skipped:
        raise DataError(f"{path}: has a header but no submissions; add one row per submission")
    return submissions


def _csv_records(reader, header: list[str]) -> Iterator:
    """Each data row of ``reader`` as a dict of ``header``; a row with more
    fields than the header (an unquoted comma) can't be trusted to put the
    text in its columns: it is yielded as ``None``, which is skipped as
    unreadable. Blank lines are no rows."""
    width = len(header)
    for values in reader:
        if not values:
            continue
        if len(values) > width and any(value.strip() for value in values[width:]):
            yield None
            continue
        yield dict(zip(header, values + [""] * (width - len(values))))


def _pretalx_submissions(path: Path, text: str) -> Submissions:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                        "pass the saved response of pretalx's /api/events/<event>/submissions/ as it is") from None
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        records, kind = document["results"], 'pretalx submissions JSON ({"count", "results"} response)'
        if document.get("next"):
            kind += "; more pages follow, only this one is read"
    elif isinstance(document, list):
        records, kind = document, "pretalx submissions JSON (a list of submissions)"
    else:
        raise DataError(f"{path}: JSON, but not pretalx's submissions (expected {{\"count\": .., \"results\": [..]}} "
                        "or a list of submissions); save the response of /api/events/<event>/submissions/")
    if records and not any(isinstance(record, dict) and any(name in record for name in _TEXT_FIELDS)
                           for record in records):
        raise DataError(f"{path}: JSON, but no entry has a title, abstract or description as pretalx's "
                        "submissions do; save the response of /api/events/<event>/submissions/")
    # pretalx's other fields are objects (speakers, i18n track names): only those worth showing are kept.
    kept = [{name: value for name, value in record.items() if name in _ID_FIELDS + _TEXT_FIELDS + _PRETALX_FIELDS}
            if isinstance(record, dict) else record for record in records]
    return submissions_from_records(kept, kind)


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


# -- the review ----------------------------------------------------------------


@dataclass
class Review:
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
            "n_results": self.n_results,
        }

    def summary_lines(self) -> list[str]:
        summary = self.summary()
        return [f"{summary['submissions']} submissions reviewed against {len(self.model)} past talks "
                f"(model {self.model_version})",
                f"already given (a related talk is the same talk): {summary['already_given']}",
                f"duplicates within the batch: {summary['duplicate_groups']} groups, "
                f"{summary['in_duplicate_groups']} submissions"]

    def best_scores(self) -> np.ndarray:
        """Each submission's best similarity to a past talk (0: none), shape (n_submissions,)."""
        return self.scores[:, 0] if self.n_results else np.zeros(len(self.submissions))

    def results(self) -> Iterator[dict]:
        """Each submission's result, built when asked for (a report of
        100,000 submissions is written one at a time): ``id``, ``row``,
        ``title``, ``description``, ``fields``, ``related`` (predictions as
        :meth:`.Model.predict` gives them), ``duplicates`` (ids)."""
        items = self.submissions.items
        indptr, indices = self.duplicates.indptr, self.duplicates.indices
        for position, submission in enumerate(items):
            result = submission.json()
            result["related"] = self.model.predictions(self._ranking(position))
            result["duplicates"] = [items[other].id for other in indices[indptr[position]:indptr[position + 1]].tolist()]
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
           progress: bool = False, chunk_size: int = CHUNK_SIZE, block_cells: int = BLOCK_CELLS) -> Review:
    """Review ``submissions`` (:class:`Submissions`, or records as
    :func:`submissions_from_records` takes them) against ``model``: each
    one's ``n_results`` most related past talks and the other submissions
    that are the same talk. ``progress``: a progress bar on stderr."""
    if not isinstance(submissions, Submissions):
        submissions = submissions_from_records(submissions)
    if isinstance(n_results, bool) or not isinstance(n_results, int) or n_results < 1:
        raise ValueError(f"n_results must be a positive integer, got {n_results!r}")
    count = len(submissions)
    related = np.full((count, n_results), -1, dtype=np.int32)
    scores = np.zeros((count, n_results))
    same_talks = np.zeros((count, n_results), dtype=bool)
    terms = np.full((count, n_results, N_TERMS), -1, dtype=np.int32)
    shares = np.zeros((count, n_results, N_TERMS))
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
    return Review(model, submissions, n_results, related, scores, same_talks, terms, shares, duplicates)


def same_talk_pairs(titles: sp.csr_matrix, descriptions: sp.csr_matrix, detector: RepeatDetector,
                    block_cells: int = BLOCK_CELLS) -> sp.csr_matrix:
    """Which rows of a batch are the same talk: ``detector.same_talk``
    (:meth:`.RepeatDetector.same_talk`, the rule) on the cosines of the titles
    and of the descriptions of every pair of rows of ``titles`` and
    ``descriptions`` (each shape (n, n_terms), rows L2-normalised), as a
    symmetric boolean CSR of shape (n, n) without its diagonal.

    Every pair the rule flags has a titles' cosine of at least one floor or
    a descriptions' of at least the other (:meth:`.RepeatDetector.floors`),
    so each field only looks for pairs above its floor, by prefix filtering
    (as all-pairs similarity search does): a row's most common terms whose
    weights' norm stays below the floor are left out of the index, since a
    pair sharing no other term can't reach it; the index is most talks' few
    rarest terms. The candidates come from a sparse product, a block of rows
    against every row at a time (about ``block_cells`` cells each, of which
    each pair is kept once), and get their exact cosines before the rule is
    applied: the same pairs as the rule on every pair, without the
    product of 100,000 descriptions by each other."""
    count = titles.shape[0]
    indexes = [_prefix_filtered(matrix, floor) for matrix, floor in zip((titles, descriptions), detector.floors())]
    firsts, others = [], []
    block = max(1, block_cells // max(count, 1))
    for start in range(0, count, block):
        end = min(start + block, count)
        candidates = np.concatenate([_candidates(matrix[start:end], *index, start)
                                     for matrix, index in zip((titles, descriptions), indexes)])
        candidates.sort()  # a sort and a comparison: several times faster here than np.unique's hashing
        distinct = np.ones(len(candidates), dtype=bool)
        distinct[1:] = candidates[1:] != candidates[:-1]
        candidates = candidates[distinct]
        first, other = candidates // count + start, candidates % count
        flags = np.asarray(detector.same_talk(_row_dots(titles, first, other), _row_dots(descriptions, first, other)),
                           dtype=bool)
        firsts.append(first[flags])
        others.append(other[flags])
    first = np.concatenate(firsts) if firsts else np.empty(0, dtype=np.int64)
    other = np.concatenate(others) if others else np.empty(0, dtype=np.int64)
    pairs = sp.coo_matrix((np.ones(2 * len(first), dtype=bool),
                           (np.concatenate([first, other]), np.concatenate([other, first]))), shape=(count, count))
    return pairs.tocsr()


def _prefix_filtered(matrix: sp.csr_matrix, floor: float) -> tuple[sp.csr_matrix, np.ndarray, float]:
    """``(indexed, prefix_norms, floor)``: ``matrix`` without each row's
    prefix, its most common terms (in the batch) whose weights' norm stays
    below ``floor``, transposed (shape (n_terms, n_rows)), and the norm of
    each row's prefix. A row ``x`` and a row
    ``y`` sharing no term of ``y``'s indexed part have ``x . y <= |y's
    prefix| < floor``."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    frequency = np.bincount(matrix.indices, minlength=matrix.shape[1])
    rank = np.empty(matrix.shape[1], dtype=np.int64)
    rank[np.argsort(-frequency, kind="stable")] = np.arange(matrix.shape[1])
    order = np.lexsort((rank[matrix.indices], rows))  # each row's terms, most common first
    squares = matrix.data[order].astype(np.float64) ** 2
    cumulative = np.cumsum(squares)
    before_row = np.concatenate([[0.0], cumulative])[matrix.indptr[:-1]]
    # A margin below the floor: rounding must never leave a pair out.
    margin = 1e-6
    in_prefix = cumulative - before_row[rows] < max(floor - margin, 0.0) ** 2
    prefix_norms = np.sqrt(np.bincount(rows, weights=squares * in_prefix, minlength=matrix.shape[0]))
    kept = order[~in_prefix]
    # Transposed once (terms by rows): each block's product then reads it as it is.
    indexed = sp.csr_matrix((matrix.data[kept], (matrix.indices[kept], rows[kept])), shape=matrix.shape[::-1])
    return indexed, prefix_norms, floor - margin


def _candidates(block: sp.csr_matrix, indexed: sp.csr_matrix, prefix_norms: np.ndarray, floor: float,
                start: int) -> np.ndarray:
    """The pairs (row of ``block``, a later row of the batch; the block
    starts at row ``start``) whose cosine may reach ``floor``, as keys
    ``row * n_rows + other``: those sharing an indexed term (``indexed``:
    terms by rows), with their shared part plus the prefix's norm at the
    floor or more."""
    partial = (block @ indexed).tocoo()
    possible = (partial.data + prefix_norms[partial.col] >= floor) & (partial.col > partial.row + start)
    return partial.row[possible].astype(np.int64) * indexed.shape[1] + partial.col[possible]


def _row_dots(matrix: sp.csr_matrix, first: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The dot product of rows ``first[k]`` and ``other[k]`` of ``matrix``, for each k."""
    if not len(first):
        return np.zeros(0)
    return np.asarray(matrix[first].multiply(matrix[other]).sum(axis=1), dtype=np.float64).ravel()


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


__all__ = ["N_RELATED", "Review", "Submission", "Submissions", "read_submissions", "review",
           "same_talk_pairs", "submissions_from_records"]
