"""Reading and cleaning the talks corpus (the scraper's CSV)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .contract import TALK_COLUMNS, TEXT_COLUMNS
from .errors import DataError
from .settings import REPO_ROOT, SAMPLE_CSV


@dataclass
class CleaningReport:
    """What ``clean_talks`` kept and dropped, and why."""

    n_read: int
    n_empty: int = 0
    n_duplicates: int = 0
    examples: dict = field(default_factory=dict)

    @property
    def n_kept(self) -> int:
        return self.n_read - self.n_empty - self.n_duplicates

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        lines = [f"read {self.n_read} talks"]
        if self.n_empty:
            lines.append(f"dropped {self.n_empty} with neither title nor description")
        if self.n_duplicates:
            lines.append(
                f"dropped {self.n_duplicates} exact duplicates (same title and description),"
                f" e.g. {self.examples['duplicate']!r}"
            )
        lines.append(f"kept {self.n_kept} talks")
        return lines


def read_talks_csv(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Read a talks CSV; return the DataFrame and the file's SHA-256.

    Every failure a user can cause raises :class:`DataError` naming the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; pass the talks CSV (e.g. {SAMPLE_CSV.relative_to(REPO_ROOT)})")
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder; pass the talks CSV file inside it")
    except PermissionError:
        raise DataError(f"{path}: permission denied; make the file readable")
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}: not UTF-8 text (bad byte at offset {error.start}); "
            "save the CSV as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        )
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header line {','.join(TALK_COLUMNS)}")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: not a valid CSV ({str(error).strip()})")
    missing = [column for column in TEXT_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: no {' and no '.join(repr(c) for c in missing)} column; "
            f"the header must name at least {','.join(TEXT_COLUMNS)} (found: {','.join(map(str, frame.columns))})"
        )
    if frame.empty:
        raise DataError(f"{path}: has a header but no talks")
    return frame, sha256


def clean_talks(frame: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    """Strip text, drop talks without text and exact duplicates.

    Returns the kept talks (index reset: row ``i`` is talk ``i`` of the model)
    with the corpus columns present in ``frame``, and what was dropped.
    """
    missing = [column for column in TEXT_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(f"training data has no {' and no '.join(missing)} column")
    columns = [column for column in TALK_COLUMNS if column in frame.columns]
    talks = frame[columns].copy()
    for column in columns:
        if column != "ano":
            talks[column] = talks[column].fillna("").astype(str).str.strip()
    report = CleaningReport(n_read=len(talks))

    empty = (talks["title"] == "") & (talks["description"] == "")
    report.n_empty = int(empty.sum())
    talks = talks[~empty]

    duplicated = talks.duplicated(subset=list(TEXT_COLUMNS), keep="first")
    report.n_duplicates = int(duplicated.sum())
    if report.n_duplicates:
        report.examples["duplicate"] = talks.loc[duplicated, "title"].iloc[0]
    talks = talks[~duplicated].reset_index(drop=True)

    if talks.empty:
        raise DataError("no talk has a title or a description; nothing to train on")
    if "ano" in talks.columns:
        talks["ano"] = _years(talks["ano"])
    return talks, report


def _years(column: pd.Series) -> pd.Series:
    """Years as integers; a row without a readable year gets 0 (unknown)."""
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers.fillna(0).astype("int64")
