"""CSV bodies and files written as a spreadsheet would save them (header from the first row)."""

from __future__ import annotations

import csv
import io
from pathlib import Path


def csv_text(rows: list[dict], fieldnames: list[str] | None = None) -> str:
    """``rows`` as CSV text, with a header of ``fieldnames`` (default: the first row's keys)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fieldnames or list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def write_csv(path: Path, rows: list[dict]) -> Path:
    """``rows`` written as a UTF-8 CSV file at ``path``; returns ``path``."""
    path.write_text(csv_text(rows), encoding="utf-8", newline="")
    return path
