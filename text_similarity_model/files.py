"""Files replaced so that a crash at any instant leaves the old content or the new, never a mix.

Each write goes to a temporary file in the destination's folder (one file
system, so the rename is atomic), is flushed to disk, renamed over the
destination, and the folder itself is flushed so the rename survives a power
loss. Used by the model file (``artifact.py``), the model store
(``store.py``), the crawl (``scraper/crawl.py``) and the review's report
(``review_report.py``).
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def write_atomically(path: str | Path, content: bytes) -> None:
    """Replace ``path`` with ``content``."""
    with atomic_writer(path, "wb") as handle:
        handle.write(content)


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w", **open_arguments):
    """A file handle (``open``'s ``mode`` and arguments) whose content
    replaces ``path`` when the block ends without an error; on an error
    ``path`` is left as it was and nothing else remains. For content written
    piece by piece, too large to hold whole (a report of 100,000 rows)."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, mode, **open_arguments) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would follow the content into its final name
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def write_json_atomically(path: str | Path, content: dict) -> None:
    """Replace ``path`` with ``content`` as indented JSON (keys sorted, other values as text)."""
    text = json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    write_atomically(path, text.encode("utf-8"))


def replace_atomically(source: str | Path, destination: str | Path) -> None:
    """Rename the complete file ``source`` over ``destination`` (same folder), flushed first."""
    with open(source, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, destination)
    fsync_folder(Path(destination).parent)


def fsync_folder(folder: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def unwritable_file_problem(path: Path, example_name: str) -> str | None:
    """Why the file ``path`` can't be written (``"{path}: ..."`` naming the fix),
    or None: checked before long work (a training, a review) rather than after."""
    if path.is_dir():
        return f"{path}: is a folder; give the file's path, e.g. {path / example_name}"
    if not path.parent.is_dir():
        return f"{path}: folder {path.parent} does not exist; create it (mkdir -p {path.parent}) or choose another path"
    if not os.access(path.parent, os.W_OK):
        return f"{path}: folder {path.parent} is not writable; choose another path"
    return None
