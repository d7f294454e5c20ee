"""The served model, swappable in place when gunicorn reloads (SIGHUP)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from text_similarity_model import Model, PalestrasError

log = logging.getLogger(__name__)


class ModelHolder:
    """Holds the model loaded from the configured path, and only from there.

    ``reload()`` loads the file again and swaps it in only if it passes every
    check; a bad file is refused and the current model keeps serving.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.model = _warmed_up(Model.deserialize(self.path))  # raises PalestrasError, naming the file

    def reload(self) -> bool:
        """Load the file again; return True if the new model now serves."""
        with self._lock:
            try:
                candidate = _warmed_up(Model.deserialize(self.path))
            except PalestrasError as error:
                log.error("refused new model: %s; still serving version %s", error, self.model.version)
                return False
            previous, self.model = self.model.version, candidate
            log.info("model reloaded: version %s replaces %s", candidate.version, previous)
            return True


def _warmed_up(model: Model) -> Model:
    """Answer one query now, so spaCy's tokenizer is built before gunicorn
    forks (shared by the workers) and no user waits for it."""
    model.predict({"title": "aquecimento", "description": ""}, 1)
    return model
