"""The served model, swappable in place when gunicorn reloads (SIGHUP)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from text_similarity_model import IncompatibleModelError, Model, PalestrasError
from text_similarity_model.steps.ranking import ranking_backend
from text_similarity_model.store.versions import ModelStore

log = logging.getLogger(__name__)


class ModelHolder:
    """Holds the model loaded from the configured place, and only from there:
    a model file (``MODEL_PATH``), or the current version of a model store
    (``MODELS_DIR``), looked up again at each reload.

    ``reload()`` loads the file again and swaps it in only if it passes every
    check; a bad file is refused and the current model keeps serving.
    """

    def __init__(self, path: str | Path | None = None, store: ModelStore | None = None):
        if (path is None) == (store is None):
            raise ValueError("give a model file path or a model store, not both")
        self.store = store
        self._fixed_path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self.path = self._locate()
        self.model = _warmed_up(Model.deserialize(self.path), self.path)  # raises PalestrasError, naming the file
        self.lineage = self._lineage()
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
                path = self._locate()
                candidate = _warmed_up(Model.deserialize(path), path)
            except PalestrasError as error:
                log.error("refused new model: %s; still serving version %s", error, self.model.version)
                return False
            previous = self.model.version
            self.path, self.model = path, candidate
            self.lineage = self._lineage()
            log.info("model reloaded: version %s replaces %s", candidate.version, previous)
            return True

    def _locate(self) -> Path:
        return self._fixed_path if self.store is None else self.store.current_model_path()

    def _lineage(self) -> dict:
        """What the store knows of the served version: its evaluation figures,
        the version it replaced, whether it was forced (empty for a lone file)."""
        if self.store is None:
            return {}
        report = self.store.version(self.path.parent.name).report
        return {key: report.get(key) for key in ("evaluation", "replaces", "forced")}


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
