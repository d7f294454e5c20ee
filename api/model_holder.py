"""The served model, swappable in place when gunicorn reloads (SIGHUP)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from text_similarity_model import IncompatibleModelError, Model, PalestrasError
from text_similarity_model.ranking import ranking_backend

log = logging.getLogger(__name__)


class ModelHolder:
    """Holds the model loaded from the configured path, and only from there.

    ``reload()`` loads the file again and swaps it in only if it passes every
    check; a bad file is refused and the current model keeps serving.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.model = _warmed_up(Model.deserialize(self.path), self.path)  # raises PalestrasError, naming the file
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
                candidate = _warmed_up(Model.deserialize(self.path), self.path)
            except PalestrasError as error:
                log.error("refused new model: %s; still serving version %s", error, self.model.version)
                return False
            previous, self.model = self.model.version, candidate
            log.info("model reloaded: version %s replaces %s", candidate.version, previous)
            return True


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
