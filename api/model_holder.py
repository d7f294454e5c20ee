"""The served model, swappable in place when gunicorn reloads (SIGHUP), and
the watch that reloads it when the model store's current version changes."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, NamedTuple

from text_similarity_model import IncompatibleModelError, Model, PalestrasError
from text_similarity_model.errors import ModelFileError
from text_similarity_model.steps.ranking import ranking_backend
from text_similarity_model.store.versions import ModelStore

log = logging.getLogger(__name__)


class _Loaded(NamedTuple):
    path: Path
    model: Model
    version_name: str | None  # the store's name of it (None for a lone file)
    lineage: dict
    report_problem: str | None


class ModelHolder:
    """Holds the model loaded from the configured place, and only from there:
    a model file (``MODEL_PATH``), or the current version of a model store
    (``MODELS_DIR``), looked up again at each reload.

    ``reload()`` loads the file again and swaps it in only if it passes every
    check; whatever is wrong with the files, it is refused with one log line
    and the current model keeps serving.
    """

    def __init__(self, path: str | Path | None = None, store: ModelStore | None = None):
        if (path is None) == (store is None):
            raise ValueError("give a model file path or a model store, not both")
        self.store = store
        self._fixed_path = None if path is None else Path(path)
        self._lock = threading.Lock()
        #: current.json's stamp when it was last read to (re)load: a later change is a new version.
        self.pointer_stamp = None
        loaded = self._load()  # raises PalestrasError, naming the file
        self.path, self.model, self.version_name, self.lineage = loaded[:4]
        _say_report_problem(loaded)
        if ranking_backend() == "compiled":
            log.info("ranking with the compiled kernel")
        else:
            log.warning("the C ranking kernel was not built (no C compiler when installing): ranking with "
                        "NumPy, same answers, slower; install gcc and the Python headers, "
                        "then: make clean install")

    def reload(self) -> bool:
        """Load the file again; return True if the new model now serves."""
        with self._lock:
            try:
                loaded = self._load()
            except PalestrasError as error:
                log.error("refused new model: %s; still serving version %s", error, self.model.version)
                return False
            except Exception:  # a bug, not a bad file: still no reason to stop serving
                log.exception("refused new model: unexpected error (a bug: please report it with this "
                              "traceback); still serving version %s", self.model.version)
                return False
            previous = self.model.version
            self.path, self.model, self.version_name, self.lineage = loaded[:4]
            log.info("model reloaded: version %s replaces %s", loaded.model.version, previous)
            _say_report_problem(loaded)
            return True

    def _load(self) -> _Loaded:
        if self.store is None:
            return _Loaded(self._fixed_path, _warmed_up(Model.deserialize(self._fixed_path), self._fixed_path),
                           None, {}, None)
        self.pointer_stamp = self.store.pointer_stamp()  # before the read: a switch after it is seen as one
        version = self.store.to_serve()
        model = _warmed_up(version.load_model(), version.model_path)
        # What the store knows of it: its evaluation figures, the version it replaced, whether it was forced.
        lineage = {key: version.report.get(key) for key in ("evaluation", "replaces", "forced")}
        return _Loaded(version.model_path, model, version.name, lineage, version.report_problem)

    # -- following the store without a signal (replicas on several hosts) -------

    def store_switched(self, last_seen: tuple | None) -> tuple[bool, tuple | None]:
        """Whether the store's current version differs from the served one, judged from a stat
        of ``current.json`` (read only when the stat changed since ``last_seen`` and since the
        last load); returns that and the stamp to pass next time. A pointer rewritten for the
        served version (pruning) is no switch; a malformed one is (the reload says what's wrong)."""
        stamp = self.store.pointer_stamp()
        if stamp is None or stamp in (last_seen, self.pointer_stamp):
            return False, last_seen if stamp is None else stamp
        try:
            named = self.store.pointer().get("version")
        except ModelFileError:
            named = None
        return named is None or named != self.version_name, stamp

    def watch_store(self, interval: float, reload: Callable[[], None]) -> threading.Thread:
        """Every ``interval`` seconds, a stat of the store's ``current.json``; ``reload()`` when
        the current version switched (gunicorn's master passes: send myself SIGHUP, so the
        switch is SIGHUP's, with no failed request). Runs in a daemon thread of the calling
        process only: forked workers don't inherit it."""
        if self.store is None:
            raise ValueError("a lone model file (MODEL_PATH) has no store to watch")

        def watch() -> None:
            last_seen = self.pointer_stamp
            while True:
                time.sleep(interval)
                try:
                    switched, last_seen = self.store_switched(last_seen)
                    if switched:
                        log.info("%s changed: loading the store's current version (serving %s)",
                                 self.store.folder / "current.json", self.version_name)
                        reload()
                except Exception:  # a bug: say it, and keep watching
                    log.exception("watching %s failed (a bug: please report it)", self.store.folder)

        thread = threading.Thread(target=watch, name="palestras-store-watch", daemon=True)
        thread.start()
        log.info("following %s: a stat every %g s", self.store.folder / "current.json", interval)
        return thread


def _say_report_problem(loaded: _Loaded) -> None:
    if loaded.report_problem:
        log.warning("%s; serving version %s without its figures (GET /version shows none): restore the "
                    "file, or promote a version whose report is whole", loaded.report_problem, loaded.version_name)


def _warmed_up(model: Model, path: Path) -> Model:
    """Answer one query now, so spaCy's tokenizer and the ranking arrays are
    built before gunicorn forks (shared by the workers) and no user waits
    for them; a model this code can't run is refused here, not per request."""
    try:
        model.predict({"title": "aquecimento", "description": "aprendizagem de máquina"}, 1)
    except Exception as error:
        raise IncompatibleModelError(
            f"{path}: can't answer with the installed code ({type(error).__name__}: {error}); "
            "it was probably written by another palestras version: retrain it (make train)"
        ) from error
    return model
