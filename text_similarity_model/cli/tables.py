"""Tables printed by the commands, for people (``--json`` gives the same rows to programs)."""

from __future__ import annotations


def versions_table(rows: list[dict]) -> list[str]:
    """``models list``'s table: one line per version, newest first, ``*`` marking the current one."""
    lines = [f"{'':2}{'VERSION':<34}{'TRAINED':<22}{'TALKS':>7}{'P@5':>7}{'MRR':>7}  NOTE"]
    for row in rows:
        note = ("forced" if row["forced"] else "") or ("refused" if row["promoted"] is False else "")
        lines.append(f"{'*' if row['current'] else '':2}{row['version']:<34}{row['trained_at'] or '?':<22}"
                     f"{_number(row['talks'], ',')}{_number(row['precision@5'], '.3f')}{_number(row['mrr'], '.3f')}"
                     f"  {note}")
    lines.append("* current")
    return lines


def _number(value, spec: str) -> str:
    return f"{'-' if value is None else format(value, spec):>7}"
