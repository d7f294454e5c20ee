"""The model store: every trained model kept as an immutable version, one of them current.

Layout of the store's folder (``MODELS_DIR``, default ``models/``)::

    versions/VERSION/model.pkl        the model file (model_file.py's format)
    versions/VERSION/model.pkl.json   its manifest (SHA-256, optional HMAC)
    versions/VERSION/report.json      what its training read, learned, measured and decided
    current.json                      {"version": ..., "history": [current, previous, ...]}
    .lock                             held while a training or a promotion writes the store

A version's folder is written under a hidden name and renamed into
``versions/`` when complete, so a version is there whole or not at all, and
is never written again. ``current.json`` is replaced atomically (write,
fsync, rename): whatever is killed when, it names a complete version, the
one before or the one after. The service serves the version it names
(``api/model_holder.py``) and follows it on ``SIGHUP``, and by itself when a
stat of ``current.json`` changes (``STORE_POLL_SECONDS``: services on other
hosts have no pid file to signal).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ModelFileError, PalestrasError
from ..files import fsync_folder, write_json_atomically

MODEL_FILE = "model.pkl"
REPORT_FILE = "report.json"
POINTER_FILE = "current.json"
VERSIONS_FOLDER = "versions"

#: Versions kept by default; older ones are pruned, never the current or the previous one.
DEFAULT_KEEP = 5


class StoreBusy(PalestrasError):
    """Another training or promotion holds the store's lock."""


@dataclass(frozen=True)
class StoredVersion:
    """One version of the store: its name, folder and training report (``{}``
    when unreadable: ``report_problem`` then says why)."""

    name: str
    folder: Path
    report: dict
    report_problem: str | None = None

    @property
    def model_path(self) -> Path:
        return self.folder / MODEL_FILE

    def load_model(self, signing_key: bytes | None = None):
        """The version's :class:`~.Model`, checked as any model file is, and
        signed for this version's name: another version's files copied into
        this folder are refused (raises :class:`ModelFileError` naming the file)."""
        from ..model import Model

        return Model.deserialize(self.model_path, signing_key, version=self.name)

    @property
    def trained_at(self) -> str:
        return self.report.get("trained_at", "")


class ModelStore:
    """The versions in ``folder`` and which one is current."""

    def __init__(self, folder: str | Path, keep: int = DEFAULT_KEEP):
        if keep < 2:
            raise PalestrasError(f"keep must be at least 2 (the current and the previous version), got {keep}")
        self.folder = Path(folder)
        self.keep = keep

    # -- reading --------------------------------------------------------------

    @property
    def versions_folder(self) -> Path:
        return self.folder / VERSIONS_FOLDER

    def versions(self) -> list[StoredVersion]:
        """Every complete version, oldest first (by training time, then name)."""
        if not self.versions_folder.is_dir():
            return []
        found = [self.version(path.name) for path in self.versions_folder.iterdir()
                 if path.is_dir() and not path.name.startswith(".")]
        return sorted(found, key=lambda version: (version.trained_at, version.name))

    def version(self, name: str) -> StoredVersion:
        folder = self.versions_folder / name
        if "/" in name or name.startswith(".") or not folder.is_dir():
            raise ModelFileError(
                f"{self.folder}: no version {name!r}; `text_similarity_model models list` shows them")
        # A version is usable without its report (what its training measured, not the model): what
        # can't be read of it is left out, and said.
        location = folder / REPORT_FILE
        try:
            report = json.loads(location.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as error:
            return StoredVersion(name, folder, {}, f"{location}: unreadable ({type(error).__name__})")
        if not isinstance(report, dict):
            return StoredVersion(name, folder, {}, f"{location}: not a JSON object")
        return StoredVersion(name, folder, report)

    def pointer(self) -> dict:
        """``current.json``: ``{"version": NAME, "history": [NAME, ...]}``, or ``{}`` for an empty store.
        Raises :class:`ModelFileError` naming the file and the fix when it is anything else."""
        location = self.folder / POINTER_FILE
        fix = (f"make a version current again with `text_similarity_model models promote VERSION` "
               f"(the versions are the folders in {self.versions_folder})")
        try:
            pointer = json.loads(location.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as error:
            raise ModelFileError(f"{location}: unreadable ({type(error).__name__}); {fix}") from None
        problem = _pointer_problem(pointer)
        if problem:
            raise ModelFileError(f"{location}: {problem}; {fix}")
        return pointer

    def pointer_stamp(self) -> tuple | None:
        """What a stat of ``current.json`` says of it (inode, modification time, size), None if it
        can't be seen: changes whenever a command switches the current version (a new file is
        renamed over it), without reading it."""
        try:
            status = os.stat(self.folder / POINTER_FILE)
        except OSError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size

    def current(self) -> StoredVersion | None:
        name = self.pointer().get("version")
        if name is None:
            return None
        try:
            return self.version(name)
        except ModelFileError:
            raise ModelFileError(
                f"{self.folder / POINTER_FILE}: names version {name!r}, which is not in {self.versions_folder}; "
                "make an existing version current: `text_similarity_model models promote VERSION` "
                "(`models list` shows them)") from None

    def previous(self) -> StoredVersion | None:
        history = self.pointer().get("history", [])
        return self.version(history[1]) if len(history) > 1 else None

    def to_serve(self) -> StoredVersion:
        """The version the service should serve: the current one; raises naming the fix when there is none."""
        current = self.current()
        if current is None:
            raise ModelFileError(f"{self.folder}: no current model version; train one (make train, or make run "
                                 "to train the sample corpus)")
        return current

    def current_model_path(self) -> Path:
        """The model file of :meth:`to_serve`."""
        return self.to_serve().model_path

    # -- writing --------------------------------------------------------------

    @contextmanager
    def lock(self):
        """Hold the store's lock, or raise :class:`StoreBusy` naming who holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise StoreBusy(f"{self.folder} is busy: {holder} is training or promoting a model; "
                                "wait for it to finish and run the command again") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()

    def add(self, model, report: dict) -> StoredVersion:
        """Write ``model`` (a trained :class:`~.Model`) and ``report`` as a new version.

        The version is named after the model's version, with ``-2``, ``-3``...
        when that name is taken: a version is never overwritten. Call with the
        lock held.
        """
        self.versions_folder.mkdir(parents=True, exist_ok=True)
        for stale in self.versions_folder.glob(".incoming-*"):  # left by a training killed mid-write
            shutil.rmtree(stale, ignore_errors=True)
        name = _free_name(self.versions_folder, model.version)
        model.version = model.metadata["version"] = name
        incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.versions_folder))
        try:
            model.serialize(incoming / MODEL_FILE)
            write_json_atomically(incoming / REPORT_FILE, {**report, "version": name})
            os.chmod(incoming, 0o755)
            os.rename(incoming, self.versions_folder / name)
            fsync_folder(self.versions_folder)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        return self.version(name)

    def promote(self, name: str) -> StoredVersion:
        """Make version ``name`` current (it becomes the head of the history). Call with the lock held."""
        version = self.version(name)
        if not version.model_path.is_file():
            raise ModelFileError(f"{version.folder}: has no {MODEL_FILE}; promote a complete version")
        try:
            earlier = self.pointer().get("history", [])
        except ModelFileError:
            earlier = []  # a malformed pointer: promoting a version is its repair
        self._write_pointer([name] + [other for other in earlier if other != name])
        return version

    def rollback_target(self) -> StoredVersion:
        """The version :meth:`rollback` would make current; raises naming why there is none."""
        return self.version(self._rollback_history()[0])

    def rollback(self) -> StoredVersion:
        """Make the previous current version current again. Call with the lock held."""
        remaining = self._rollback_history()
        self._write_pointer(remaining)
        return self.version(remaining[0])

    def _rollback_history(self) -> list[str]:
        history = self.pointer().get("history", [])
        if len(history) < 2:
            raise PalestrasError(f"{self.folder}: no previous version to roll back to "
                                 f"(current: {history[0] if history else 'none'})")
        # Skip versions pruned by hand since they were current.
        remaining = [name for name in history[1:] if (self.versions_folder / name).is_dir()]
        if not remaining:
            raise PalestrasError(f"{self.folder}: the previous versions {history[1:]} are gone; nothing to roll back to")
        return remaining

    def prune(self) -> list[str]:
        """Remove the oldest versions beyond ``keep``, never the current or the
        previous one. Returns the names removed. Call with the lock held."""
        history = self.pointer().get("history", [])
        protected = set(history[:2])
        versions = self.versions()
        excess = len(versions) - self.keep
        removed = []
        for version in versions:  # oldest first
            if excess <= 0:
                break
            if version.name in protected:
                continue
            shutil.rmtree(version.folder)
            removed.append(version.name)
            excess -= 1
        if removed:
            # Pruned versions can't be rolled back to: keep the history to what exists.
            self._write_pointer([name for name in history if name not in removed])
        return removed

    def _write_pointer(self, history: list[str]) -> None:
        now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        write_json_atomically(self.folder / POINTER_FILE,
                          {"version": history[0] if history else None, "history": history, "switched_at": now})


def _pointer_problem(pointer) -> str | None:
    """What is wrong with the content of ``current.json``, None if nothing."""
    if not isinstance(pointer, dict):
        return f"not a JSON object but {json.dumps(pointer)[:40]}"
    name, history = pointer.get("version"), pointer.get("history", [])
    if name is not None and not isinstance(name, str):
        return f"its version {name!r} is not a version name"
    if not isinstance(history, list) or not all(isinstance(other, str) for other in history):
        return "its history is not a list of version names"
    return None


def _free_name(folder: Path, wanted: str) -> str:
    if "/" in wanted or wanted.startswith("."):
        raise PalestrasError(f"version {wanted!r}: a version name can't contain '/' or start with '.'")
    name, suffix = wanted, 1
    while (folder / name).exists():
        suffix += 1
        name = f"{wanted}-{suffix}"
    return name
